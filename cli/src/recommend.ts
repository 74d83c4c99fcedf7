/**
 * `npm run recommend -- --user <id> [--k 10] [--exclude a,b] [--addr 127.0.0.1:50051] [--debug] [--deadline-ms 2000]`
 *
 * Calls the gateway and prints the recommendations as a table.
 */
import { parseArgs } from 'node:util';
import { callUnary, createClient } from '@recsys/grpc-kit';
import { GatewayServiceClient, Stage, retrievalSourceName } from '@recsys/proto';

function positiveInt(flag: string, raw: string): number {
  const v = Number(raw);
  if (!Number.isInteger(v) || v < 0) throw new Error(`--${flag} must be a non-negative integer, got "${raw}"`);
  return v;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      user: { type: 'string' },
      k: { type: 'string', default: '10' },
      exclude: { type: 'string', default: '' },
      addr: { type: 'string', default: process.env.GATEWAY_ADDR ?? '127.0.0.1:50051' },
      debug: { type: 'boolean', default: false },
      'deadline-ms': { type: 'string', default: '2000' },
    },
    strict: true,
  });
  if (!values.user) throw new Error('--user <id> is required');
  const client = createClient(GatewayServiceClient, values.addr);
  try {
    const res = await callUnary(
      client.recommend.bind(client),
      {
        userId: values.user,
        k: positiveInt('k', values.k),
        excludeItemIds: values.exclude ? values.exclude.split(',') : [],
        debug: values.debug,
      },
      { deadline: Date.now() + positiveInt('deadline-ms', values['deadline-ms']) },
    );
    const rows = res.items.map((it, i) => [
      String(i + 1),
      it.itemId,
      it.score.toFixed(6),
      retrievalSourceName(it.source) ?? `unknown (${it.source})`,
    ]);
    const header = ['#', 'item', 'score', 'source'];
    const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] as string).length)));
    const fmt = (r: string[]): string => r.map((cell, c) => cell.padEnd(widths[c] as number)).join('  ');
    const out = [
      `recommendations for user ${values.user} (model ${res.modelVersion || '-'}, artifact ${res.artifactVersion || '-'}${res.variant ? `, variant ${res.variant}` : ''})`,
      fmt(header),
      fmt(widths.map((w) => '-'.repeat(w))),
      ...rows.map(fmt),
    ];
    if (res.traceId) out.push(`trace: ${res.traceId}`);
    for (const d of res.degradedStages) out.push(`degraded: ${Stage[d.stage]} (${d.reason})`);
    for (const t of res.timings) {
      const ms = (t.duration?.seconds ?? 0) * 1000 + (t.duration?.nanos ?? 0) / 1e6;
      out.push(`timing: ${Stage[t.stage]?.replace('STAGE_', '').toLowerCase()} ${ms.toFixed(2)} ms`);
    }
    process.stdout.write(out.join('\n') + '\n');
  } finally {
    client.close();
  }
}

main().catch((err: unknown) => {
  const e = err as Error & { details?: string; code?: number };
  process.stderr.write(`recommend: ${e.details ?? e.message}\n`);
  process.exit(1);
});

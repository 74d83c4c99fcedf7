/**
 * Shadow scoring through the mesh: the ranker's experiment names a shadow variant (a pinned
 * second model with no traffic); the gateway scores each request with it after replying,
 * logs the comparison and exposes its distribution, and skips it (counted) under overload.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseRecord, type RequestLogRecord } from '@recsys/gateway/request-log';
import type { RecommendResponse } from '@recsys/proto';
import { counterValue, testArtifactsRoot } from '../support/helpers';
import { useMesh } from '../support/mesh';
import { writeRankerVariant } from '../support/model-variant';

jest.setTimeout(180_000);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'recsys-shadow-'));
const file = path.join(dir, 'experiment.json');
const logFile = path.join(dir, 'requests.jsonl');
let variantDir: string;
const experiment = (shadow: boolean) =>
  JSON.stringify({
    name: 'shadow-test',
    variants: [
      { name: 'live', artifacts: 'current', weight: 100 },
      { name: 'candidate', artifacts: variantDir, weight: 0 },
    ],
    ...(shadow ? { shadow: { variant: 'candidate', sample: 1 } } : {}),
  });
const writeExperiment = (text: string): void => {
  fs.writeFileSync(`${file}.tmp`, text);
  fs.renameSync(`${file}.tmp`, file);
};
beforeAll(() => {
  variantDir = writeRankerVariant(testArtifactsRoot(), dir, 11);
  writeExperiment(experiment(true));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const mesh = useMesh(() => ({
  serviceEnv: {
    ranker: { EXPERIMENT_FILE: file, EXPERIMENT_POLL_MS: '200', LOG_LEVEL: 'info' },
    // A generous budget: on a loaded machine a stage past its budget would degrade, and a
    // degraded answer is not the one to compare.
    gateway: { SHADOW_MAX_IN_FLIGHT: '1', REQUEST_LOG_SAMPLE: '1', REQUEST_LOG_FILE: logFile, REQUEST_TIMEOUT_MS: '20000' },
  },
}));

const USERS = Array.from({ length: 25 }, (_, i) => String(i + 1));
const strip = (r: RecommendResponse) => ({ ...r, requestId: '' });
const records = (): RequestLogRecord[] => (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').split('\n').filter(Boolean).map(parseRecord) : []);
const metric = (name: string, labels: Record<string, string> = {}) => counterValue(mesh.metricsPort('gateway'), name, labels);
async function settle(pred: () => Promise<boolean> | boolean, ms = 15_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await pred()) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
}

describe('shadow scoring', () => {
  let withShadow: Map<string, RecommendResponse>;

  it('scores the shadow after the reply, logs top-k overlap and rank correlation, and /metrics has their distribution', async () => {
    withShadow = new Map();
    for (const u of USERS) {
      withShadow.set(u, await mesh.recommend({ userId: u, k: 10 }, 20_000));
      expect(withShadow.get(u)?.degradedStages).toEqual([]);
      // One at a time (SHADOW_MAX_IN_FLIGHT=1): let this request's shadow finish.
      await settle(async () => (await metric('recsys_shadow_total')) >= withShadow.size);
    }
    await settle(() => records().filter((r) => r.shadow).length >= USERS.length);
    const recs = records();
    const scored = recs.filter((r) => r.shadow?.outcome === 'scored');
    expect(scored.length).toBeGreaterThanOrEqual(USERS.length - 3);
    for (const r of scored) {
      expect(r.variant).toBe('live');
      expect(r.shadow).toMatchObject({ variant: 'candidate', model_version: path.basename(variantDir) });
      expect(r.shadow?.topk_overlap).toBeGreaterThanOrEqual(0);
      expect(r.shadow?.topk_overlap).toBeLessThanOrEqual(1);
      expect(r.shadow?.rank_correlation).toBeGreaterThanOrEqual(-1);
      expect(r.shadow?.rank_correlation).toBeLessThanOrEqual(1);
      expect(r.shadow?.items).toHaveLength(r.items.length);
      // The shadow's list obeys the same rules: none of the served request's exclusions, no repeats.
      expect(new Set(r.shadow?.items).size).toBe(r.items.length);
    }
    // An untrained model ranks differently: the comparison sees it.
    expect(scored.some((r) => (r.shadow?.topk_overlap ?? 1) < 1)).toBe(true);
    expect(await metric('recsys_shadow_topk_overlap_count', { variant: 'candidate' })).toBe(scored.length);
    expect(await metric('recsys_shadow_rank_correlation_count', { variant: 'candidate' })).toBe(scored.filter((r) => r.shadow?.rank_correlation !== undefined).length);
    expect(await metric('recsys_shadow_total', { outcome: 'scored' })).toBe(scored.length);
  });

  it('never changes a reply: the same users with the shadow off get identical answers', async () => {
    writeExperiment(experiment(false));
    await settle(() => mesh.services.ranker.output.some((l) => l.includes('experiment in force') && !l.includes('"shadow"')));
    const before = await metric('recsys_shadow_total');
    for (const u of USERS) expect(strip(await mesh.recommend({ userId: u, k: 10 }, 20_000))).toEqual(strip(withShadow.get(u) as RecommendResponse));
    expect(await metric('recsys_shadow_total')).toBe(before);
    writeExperiment(experiment(true));
    await settle(async () => {
      await mesh.recommend({ userId: '1', k: 10 });
      return (await metric('recsys_shadow_total')) > before;
    });
  });

  it('is skipped under overload, counted, and every reply still served in full', async () => {
    const skippedBefore = await metric('recsys_shadow_total', { outcome: 'skipped_load' });
    const burst = await Promise.all(Array.from({ length: 40 }, (_, i) => mesh.recommend({ userId: USERS[i % USERS.length] as string, k: 10 }, 20_000)));
    for (const [i, r] of burst.entries()) expect(strip(r)).toEqual(strip(withShadow.get(USERS[i % USERS.length] as string) as RecommendResponse));
    const skipped = (await metric('recsys_shadow_total', { outcome: 'skipped_load' })) - skippedBefore;
    expect(skipped).toBeGreaterThan(0);
    await settle(() => records().filter((r) => r.shadow?.outcome === 'skipped_load').length >= skipped);
    expect(records().filter((r) => r.shadow?.outcome === 'skipped_load').length).toBeGreaterThanOrEqual(skipped);
  });
});

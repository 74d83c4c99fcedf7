/**
 * Shared pieces of the fault-injection suite (test/integration/fault-*.test.ts): a
 * closed-loop load generator that records every outcome, a TCP proxy that makes a
 * service slow without touching its code, and the scale switch between the short form
 * run by `npm test` and the full form run by `npm run chaos`.
 */
import * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { createClient } from '@recsys/grpc-kit';
import { freePort } from '@recsys/local';
import { GatewayServiceClient, RecommendRequest, RecommendResponse, Stage } from '@recsys/proto';
import { recommendOn } from './mesh';

/** True under `npm run chaos` (CHAOS_FULL=1): longer runs, more load, more requests. */
const CHAOS_FULL = process.env.CHAOS_FULL === '1';

/** `short` in `npm test`, `full` in `npm run chaos`. */
export function scale<T>(short: T, full: T): T {
  return CHAOS_FULL ? full : short;
}

/** One finished call of a load run. */
export interface Outcome {
  /** Start, ms since epoch. */
  start: number;
  latencyMs: number;
  /** gRPC status code (0 = OK). */
  code: grpc.status;
  details: string;
  /** Degraded stages of a successful Recommend. */
  degraded: Stage[];
  /** Their reasons, same order. */
  reasons: string[];
  items: number;
  /** Index of the worker that issued it. */
  worker: number;
}

/** Status code name for messages. */
const codeName = (c: grpc.status): string => grpc.status[c] ?? String(c);

/** Counts outcomes by status name, e.g. `{ OK: 120, RESOURCE_EXHAUSTED: 30 }`. */
export function countCodes(outcomes: readonly Outcome[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const o of outcomes) out[codeName(o.code)] = (out[codeName(o.code)] ?? 0) + 1;
  return out;
}

/**
 * Runs `concurrency` workers, each calling `call` back to back, until `stop()` returns
 * true (checked before each call). Never throws: every call's result is an Outcome.
 */
export async function closedLoop(
  concurrency: number,
  call: (worker: number, n: number) => Promise<RecommendResponse | unknown>,
  stop: () => boolean,
): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  let n = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      while (!stop()) {
        const start = Date.now();
        try {
          const res = (await call(worker, n++)) as Partial<RecommendResponse> | undefined;
          outcomes.push({
            start,
            latencyMs: Date.now() - start,
            code: grpc.status.OK,
            details: '',
            degraded: (res?.degradedStages ?? []).map((d) => d.stage),
            reasons: (res?.degradedStages ?? []).map((d) => d.reason),
            items: res?.items?.length ?? 0,
            worker,
          });
        } catch (err) {
          const e = err as Partial<grpc.ServiceError>;
          outcomes.push({
            start,
            latencyMs: Date.now() - start,
            code: typeof e.code === 'number' ? e.code : grpc.status.UNKNOWN,
            details: e.details ?? String(err),
            degraded: [],
            reasons: [],
            items: 0,
            worker,
          });
        }
      }
    }),
  );
  return outcomes;
}

/** Runs {@link closedLoop} for `ms` milliseconds. */
export function loadFor(ms: number, concurrency: number, call: (worker: number, n: number) => Promise<unknown>): Promise<Outcome[]> {
  const until = Date.now() + ms;
  return closedLoop(concurrency, call, () => Date.now() >= until);
}

/** Runs {@link closedLoop} until `total` calls have been issued. */
export function loadCount(total: number, concurrency: number, call: (worker: number, n: number) => Promise<unknown>): Promise<Outcome[]> {
  let issued = 0;
  return closedLoop(concurrency, call, () => issued++ >= total);
}

/** A gateway client and a Recommend call with an explicit client deadline ({@link recommendOn}). */
export function gatewayCaller(address: string, credentials?: grpc.ChannelCredentials) {
  const client = createClient(GatewayServiceClient, address, { credentials });
  return {
    client,
    recommend: (req: Partial<RecommendRequest>, timeoutMs = 5000): Promise<RecommendResponse> => recommendOn(client, req, timeoutMs),
    close: () => client.close(),
  };
}

/** Summary of a run for failure messages: codes, degraded stage counts, latency max. */
export function summary(outcomes: readonly Outcome[]): string {
  const degraded: Record<string, number> = {};
  for (const o of outcomes) for (const s of o.degraded) degraded[Stage[s] ?? s] = (degraded[Stage[s] ?? s] ?? 0) + 1;
  const lat = outcomes.map((o) => o.latencyMs).sort((a, b) => a - b);
  const errors = outcomes.filter((o) => o.code !== grpc.status.OK).slice(0, 5).map((o) => `${codeName(o.code)}: ${o.details}`);
  const reasons = [...new Set(outcomes.flatMap((o) => o.reasons))].slice(0, 5);
  return JSON.stringify({ calls: outcomes.length, codes: countCodes(outcomes), degraded, maxMs: lat[lat.length - 1], p50Ms: lat[lat.length >> 1], firstErrors: errors, reasons });
}

/**
 * A TCP proxy in front of one service: every chunk from the client side is held for
 * `delayMs` before it is forwarded, which makes the service look slow (every request,
 * also health checks over the proxy) without touching its code. `delayMs` can change at
 * any time; it applies to bytes arriving from then on.
 */
export class DelayProxy {
  delayMs = 0;
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  constructor(private readonly targetPort: number, private readonly targetHost = '127.0.0.1') {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Listens on `port` (default: a free one). */
  async start(port?: number): Promise<this> {
    this.port = port ?? (await freePort());
    this.server = net.createServer((client) => {
      const upstream = net.connect(this.targetPort, this.targetHost);
      this.sockets.add(client).add(upstream);
      // Each chunk is released `delayMs` after it arrived, never before the chunk ahead of
      // it (same-or-later expiry timers fire in insertion order), so order is kept and the
      // delay does not pile up across requests.
      let lastRelease = 0;
      client.on('data', (chunk) => {
        const at = Math.max(Date.now() + this.delayMs, lastRelease);
        lastRelease = at;
        const write = (): void => {
          if (!upstream.destroyed) upstream.write(chunk);
        };
        if (at <= Date.now()) write();
        else setTimeout(write, at - Date.now());
      });
      upstream.pipe(client);
      const close = (): void => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('error', close).on('close', close);
      upstream.on('error', close).on('close', close);
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.port, '127.0.0.1', () => resolve());
    });
    return this;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** Waits until `check` resolves true (polling every `everyMs`), or fails after `timeoutMs` with `what`. */
export async function eventually(what: string, timeoutMs: number, check: () => Promise<boolean>, everyMs = 200): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    if (await check().catch(() => false)) return Date.now() - t0;
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what}: not true after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

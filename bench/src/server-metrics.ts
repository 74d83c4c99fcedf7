/**
 * Server-side handler time per method from the services' Prometheus histograms
 * (`grpc_server_handling_seconds`): the mean over a window is Δsum / Δcount. Set beside
 * the gateway's per-stage wall times, the difference is what the RPC itself costs.
 */

/** Cumulative sum (s) and count per method of one scrape. */
export type HandlingTotals = Record<string, { sum: number; count: number }>;

/** Parses `grpc_server_handling_seconds_{sum,count}{method="…"}` lines of a /metrics text. */
export function parseHandlingTotals(text: string): HandlingTotals {
  const out: HandlingTotals = {};
  for (const line of text.split('\n')) {
    const m = /^grpc_server_handling_seconds_(sum|count)\{[^}]*method="([^"]+)"[^}]*\}\s+([0-9.eE+-]+)$/.exec(line);
    if (!m) continue;
    const t = (out[m[2]!] ??= { sum: 0, count: 0 });
    t[m[1] as 'sum' | 'count'] += Number(m[3]);
  }
  return out;
}

/** Scrapes one service's /metrics; an unreachable endpoint gives no totals (never fails the run). */
export async function scrapeHandlingTotals(metricsPort: number): Promise<HandlingTotals> {
  try {
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { signal: AbortSignal.timeout(2000) });
    return parseHandlingTotals(await res.text());
  } catch {
    return {};
  }
}

/** Mean handler time (ms) and calls per method between two scrapes. */
export function handlingBetween(before: HandlingTotals, after: HandlingTotals): Record<string, { calls: number; mean_ms: number }> {
  const out: Record<string, { calls: number; mean_ms: number }> = {};
  for (const [method, a] of Object.entries(after)) {
    const b = before[method] ?? { sum: 0, count: 0 };
    const calls = a.count - b.count;
    if (calls <= 0) continue;
    out[method] = { calls, mean_ms: Math.round(((a.sum - b.sum) / calls) * 1e6) / 1000 };
  }
  return out;
}

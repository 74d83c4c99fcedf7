/** Exact latency statistics (sorted array, nearest-rank percentiles) and CPU accounting. */
import * as fs from 'node:fs';

/** One load level's figures; the keys bench.json promises. */
export interface LevelStats {
  rps: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  max_ms: number;
}

/** Nearest-rank percentile `p` (0–100) of ascending `sorted` values; NaN when empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const rank = Math.ceil((p / 100) * n);
  return sorted[Math.min(n - 1, Math.max(0, rank - 1))] as number;
}

/** Throughput and latency percentiles of `latenciesMs` completed in `wallMs`. */
export function summarize(latenciesMs: ArrayLike<number>, wallMs: number): LevelStats {
  const sorted = Float64Array.from(latenciesMs).sort();
  const round = (v: number): number => Math.round(v * 1000) / 1000;
  return {
    rps: wallMs > 0 ? Math.round((sorted.length / wallMs) * 1000 * 10) / 10 : 0,
    p50_ms: round(percentile(sorted, 50)),
    p90_ms: round(percentile(sorted, 90)),
    p99_ms: round(percentile(sorted, 99)),
    max_ms: round(sorted.length ? (sorted[sorted.length - 1] as number) : NaN),
  };
}

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ; 100 on Linux). */
const CLOCK_TICKS = 100;

/**
 * CPU seconds (user + system) a process has used so far, from `/proc/<pid>/stat`;
 * undefined where /proc is unavailable or the process is gone.
 */
export function cpuSeconds(pid: number): number | undefined {
  return statCpuSeconds(`/proc/${pid}/stat`);
}

/**
 * CPU seconds (user + system) from a `stat` file of /proc: a process's
 * (`/proc/<pid>/stat`) or one thread's (`/proc/<pid>/task/<tid>/stat`); undefined when unreadable.
 */
export function statCpuSeconds(file: string): number | undefined {
  try {
    const stat = fs.readFileSync(file, 'utf8');
    // The command name (field 2) may hold spaces; fields after its closing paren are fixed.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return (utime + stime) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/** Snapshot of several processes' CPU seconds. */
export function cpuSnapshot(pids: Record<string, number | undefined>): Record<string, number | undefined> {
  const out: Record<string, number | undefined> = {};
  for (const [name, pid] of Object.entries(pids)) out[name] = pid === undefined ? undefined : cpuSeconds(pid);
  return out;
}

/** CPU use between two snapshots as a percentage of one core over `wallMs`. */
export function cpuPercent(before: Record<string, number | undefined>, after: Record<string, number | undefined>, wallMs: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, a] of Object.entries(after)) {
    const b = before[name];
    if (a === undefined || b === undefined || wallMs <= 0) continue;
    out[name] = Math.round(((a - b) / (wallMs / 1000)) * 1000) / 10;
  }
  return out;
}

import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '@recsys/local';

const execFileP = promisify(execFile);

/** Artifact root built once per test run by global-setup.ts. */
export function testArtifactsRoot(): string {
  const dir = process.env.RECSYS_TEST_ARTIFACTS;
  if (!dir) throw new Error('RECSYS_TEST_ARTIFACTS is not set: the integration project must run with its globalSetup');
  return dir;
}

/** redis-server on a free loopback port: shared with the benchmark, see deploy/local/src/redis.ts. */
export { startRedis, type RedisServer } from '@recsys/local';

/** Runs a built CLI of the repository (`node <path>`), rejecting with its output on failure. */
export async function runNode(script: string, args: string[], env: Record<string, string> = {}): Promise<{ stdout: string; stderr: string }> {
  try {
    return await execFileP(process.execPath, [path.join(REPO_ROOT, script), ...args], {
      env: { ...process.env, ...env },
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string };
    throw new Error(`${script} ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

/** Result of one grpc_probe.py run. */
export interface ProbeResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the project's independent reflection client `tools/grpc_probe.py --strict` (Python
 * gRPC C-core, as grpcurl would see the server) and returns its exit code and output.
 */
export async function probe(address: string, ...args: string[]): Promise<ProbeResult> {
  const tool = path.join(REPO_ROOT, 'tools', 'grpc_probe.py');
  try {
    const { stdout, stderr } = await execFileP('/usr/bin/python3', [tool, '--strict', address, ...args], { timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as Error & { code?: number; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** Reads a Prometheus counter's total over all label sets matching `labels`. */
export async function counterValue(metricsPort: number, name: string, labels: Record<string, string> = {}): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
  const text = await res.text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(\{[^}]*\})?\s+([0-9.eE+-]+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const lbl = m[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => lbl.includes(`${k}="${v}"`))) total += Number(m[3]);
  }
  return total;
}

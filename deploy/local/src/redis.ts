import { ChildProcess, execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './processes';

const execFileP = promisify(execFile);

/** A redis-server started by {@link startRedis} on a loopback port (nothing persisted). */
export interface RedisServer {
  port: number;
  url: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Starts `redis-server` on a free loopback port (or `port`) with persistence off, plus
 * `extraArgs` (e.g. cluster mode), and waits until it answers PING. Shared by the
 * integration tests and the benchmark.
 */
export async function startRedis(port?: number, extraArgs: string[] = []): Promise<RedisServer> {
  const p = port ?? (await freePort());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'recsys-redis-'));
  const child = spawn('redis-server', ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log: string[] = [];
  child.stdout?.on('data', (d: Buffer) => log.push(d.toString()));
  child.stderr?.on('data', (d: Buffer) => log.push(d.toString()));
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const until = Date.now() + 10_000;
  for (;;) {
    try {
      const { stdout } = await execFileP('redis-cli', ['-p', String(p), 'ping']);
      if (stdout.trim() === 'PONG') break;
    } catch {
      /* not up yet */
    }
    const failed = await Promise.race([spawnError, new Promise<undefined>((r) => setTimeout(() => r(undefined), 50))]);
    if (failed) throw new Error(`redis-server could not be started (is it installed?): ${failed.message}`);
    if (child.exitCode !== null || Date.now() > until) throw new Error(`redis-server on port ${p} did not start:\n${log.join('')}`);
  }
  return {
    port: p,
    url: `redis://127.0.0.1:${p}`,
    process: child,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

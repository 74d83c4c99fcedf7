/**
 * Helpers of the hardening suites (test/integration/hardening-*.test.ts): calls with raw
 * request bytes (what a client the project did not write can send), process RSS, the
 * address a port listens on, and the raw HTTP/2 client `raw_h2.py` (Debian's python3-h2 /
 * hyperframe / hpack under /usr/bin/python3: frames grpc-js would never send).
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';

const execFileP = promisify(execFile);

/** A unary call whose request is the given bytes, as is; resolves to the raw response bytes or rejects with the ServiceError. */
export function rawUnary(client: grpc.Client, method: string, bytes: Buffer, timeoutMs = 10_000): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(method, (b: Buffer) => b, (b: Buffer) => b, bytes, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) =>
      err ? reject(err) : resolve(res as Buffer),
    ),
  );
}

/** The error a promise rejects with (fails the test when it resolves). */
export async function failure(p: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as grpc.ServiceError;
  }
  throw new Error('expected the call to fail, it succeeded');
}

/** Resident set size of a process, in MB (from /proc/<pid>/status). */
export function rssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

/** Local addresses (`127.0.0.1`, `0.0.0.0`, `::`, …) listening on TCP `port`, from /proc/net/tcp{,6}. */
export function listenAddresses(port: number): string[] {
  const out: string[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!fs.existsSync(file)) continue;
    for (const line of fs.readFileSync(file, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 4 || f[3] !== '0A') continue; // 0A = LISTEN
      const [addr, p] = (f[1] as string).split(':') as [string, string];
      if (parseInt(p, 16) !== port) continue;
      if (addr.length === 8) out.push((addr.match(/../g) as string[]).reverse().map((h) => parseInt(h, 16)).join('.'));
      else out.push(/^0+$/.test(addr) ? '::' : addr === '00000000000000000000000001000000' ? '::1' : addr);
    }
  }
  return out;
}

const RAW_H2 = path.join(__dirname, 'raw_h2.py');

/** Runs test/support/raw_h2.py with /usr/bin/python3; returns its JSON report. */
export async function rawH2<T = Record<string, unknown>>(args: string[], timeoutMs = 120_000): Promise<T> {
  const { stdout } = await execFileP('/usr/bin/python3', [RAW_H2, ...args], { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 });
  return JSON.parse(stdout.trim().split('\n').pop() as string) as T;
}

import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError } from '@recsys/core';
import { PARENT_FD_VAR, parentFdFromEnv, watchParent } from '@recsys/grpc-kit';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parent-watch-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/**
 * A FIFO whose write end is held by a separate `sh` process (the "parent") and whose read
 * end is open here, as the launcher's pipe is in a service.
 */
async function pipeHeldByAnotherProcess(name: string) {
  const fifo = path.join(dir, name);
  execFileSync('mkfifo', [fifo]);
  // The shell's open for writing blocks until this process opens the read end.
  const holder = spawn('sh', ['-c', 'exec 3>"$0"; echo ready; exec sleep 60', fifo], { stdio: ['ignore', 'pipe', 'inherit'] });
  const fd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
  const exited = new Promise<void>((resolve) => holder.once('exit', () => resolve()));
  return { fd, holder, exited };
}

describe('parentFdFromEnv', () => {
  it('is undefined when the variable is unset or empty (a service started by hand or by Kubernetes)', () => {
    expect(parentFdFromEnv({})).toBeUndefined();
    expect(parentFdFromEnv({ [PARENT_FD_VAR]: '' })).toBeUndefined();
  });

  it.each([
    ['abc', /must be a file descriptor number, got "abc"/],
    ['-3', /must be a file descriptor number/],
    ['1', /must be 3 or more/],
    ['987654', /descriptor 987654, which is not open/],
  ])('rejects %s naming the variable', (raw, message) => {
    expect(() => parentFdFromEnv({ [PARENT_FD_VAR]: raw })).toThrow(message);
    expect(() => parentFdFromEnv({ [PARENT_FD_VAR]: raw })).toThrow(ConfigError);
    expect(() => parentFdFromEnv({ [PARENT_FD_VAR]: raw })).toThrow(PARENT_FD_VAR);
  });

  it('rejects a descriptor that is a regular file', () => {
    const file = path.join(dir, 'plain');
    fs.writeFileSync(file, 'x');
    const fd = fs.openSync(file, 'r');
    try {
      expect(() => parentFdFromEnv({ [PARENT_FD_VAR]: String(fd) })).toThrow(/not a pipe or socket/);
    } finally {
      fs.closeSync(fd);
    }
  });

  it('accepts an open pipe', async () => {
    const { fd, holder, exited } = await pipeHeldByAnotherProcess('accept');
    try {
      expect(parentFdFromEnv({ [PARENT_FD_VAR]: String(fd) })).toBe(fd);
    } finally {
      holder.kill('SIGKILL');
      await exited;
      fs.closeSync(fd);
    }
  });
});

describe('watchParent', () => {
  it('calls onGone once the process holding the other end is SIGKILLed, not before', async () => {
    const { fd, holder, exited } = await pipeHeldByAnotherProcess('kill');
    const calls: string[] = [];
    const gone = new Promise<string>((resolve) =>
      watchParent(fd, (why) => {
        calls.push(why);
        resolve(why);
      }),
    );
    // A round trip through the event loop with the holder alive: no end-of-file yet.
    await new Promise((r) => setImmediate(r));
    expect(calls).toEqual([]);
    holder.kill('SIGKILL');
    await exited;
    expect(await gone).toMatch(/launcher/);
    await new Promise((r) => setImmediate(r));
    expect(calls).toHaveLength(1);
  });

  it('close() stops the watch without calling onGone', async () => {
    const { fd, holder, exited } = await pipeHeldByAnotherProcess('close');
    const calls: string[] = [];
    const watch = watchParent(fd, (why) => calls.push(why));
    watch.close();
    holder.kill('SIGKILL');
    await exited;
    await new Promise((r) => setTimeout(r, 50));
    expect(calls).toEqual([]);
  });
});

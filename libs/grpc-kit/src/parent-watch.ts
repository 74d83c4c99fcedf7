/**
 * A service started by a supervising launcher exits when the launcher is gone, however it
 * died (SIGKILL included): the launcher hands each child one end of a pipe and names its
 * descriptor in {@link PARENT_FD_VAR}; the kernel closes the launcher's end when the
 * launcher exits, the child reads end-of-file and drains. Without the variable (Kubernetes,
 * a service started by hand) nothing is watched.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { ConfigError } from '@recsys/core';

/** Environment variable a launcher sets to the number of the inherited pipe descriptor it holds the other end of. */
export const PARENT_FD_VAR = 'RECSYS_PARENT_FD';

/**
 * The descriptor named by {@link PARENT_FD_VAR}, or `undefined` when the variable is unset
 * or empty. Throws a {@link ConfigError} naming the variable when it is not an integer ≥ 3
 * or not an open pipe or socket.
 */
export function parentFdFromEnv(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const raw = env[PARENT_FD_VAR];
  if (raw === undefined || raw.trim() === '') return undefined;
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(PARENT_FD_VAR, `must be a file descriptor number, got "${raw}"`);
  const fd = Number(raw);
  if (fd < 3) throw new ConfigError(PARENT_FD_VAR, `must be 3 or more (0–2 are stdin, stdout, stderr), got ${fd}`);
  let stat: fs.Stats;
  try {
    stat = fs.fstatSync(fd);
  } catch {
    throw new ConfigError(PARENT_FD_VAR, `names descriptor ${fd}, which is not open in this process`);
  }
  if (!stat.isFIFO() && !stat.isSocket()) throw new ConfigError(PARENT_FD_VAR, `names descriptor ${fd}, which is not a pipe or socket`);
  return fd;
}

/** A running watch; {@link close} stops it without calling `onGone`. */
export interface ParentWatch {
  close(): void;
}

/**
 * Calls `onGone` once when the other end of the pipe `fd` closes (the parent exited) or
 * the pipe fails. Bytes the parent might write are read and ignored. The watch does not
 * keep the event loop alive.
 */
export function watchParent(fd: number, onGone: (why: string) => void): ParentWatch {
  const pipe = new net.Socket({ fd, readable: true, writable: false });
  let done = false;
  const gone = (why: string): void => {
    if (done) return;
    done = true;
    pipe.destroy();
    onGone(why);
  };
  pipe.on('data', () => {});
  pipe.once('end', () => gone('the launcher closed its end of the pipe'));
  pipe.once('close', () => gone('the pipe to the launcher closed'));
  pipe.once('error', (err) => gone(`the pipe to the launcher failed: ${err.message}`));
  pipe.unref();
  return {
    close: () => {
      done = true;
      pipe.destroy();
    },
  };
}

/** The line a service writes to its launcher's pipe once it is SERVING: `ready <grpc port>`. */
export const READY_LINE_PREFIX = 'ready ';

/**
 * Tells the launcher on the pipe `fd` that this process is SERVING on `port`: the launcher
 * then knows the port it polls is held by this process, not by another one that took it
 * first (a free port picked by one launcher can be taken by another before the service
 * binds it). A launcher that is gone is no error here: the watch handles that.
 */
export function notifyParentReady(fd: number, port: number): void {
  try {
    fs.writeSync(fd, `${READY_LINE_PREFIX}${port}\n`);
  } catch {
    /* the launcher is gone or does not read: watchParent reacts to that */
  }
}

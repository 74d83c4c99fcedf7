/**
 * The micro-benchmarks' process: forked by the harness with the services' V8 flags
 * (SERVICE_NODE_FLAGS), so each module is timed under the heap settings it serves with,
 * not under the harness's (whose default heap kept V8's incremental marker running and
 * slowed the JavaScript side of an op, never its native floor). Protocol over IPC:
 *   parent → {cmd:'run', targets}   worker → {type:'log', line}…, then {type:'result', results, execArgv}
 * A failure is reported as {type:'error', message} and the worker exits 1.
 */
import { fork } from 'node:child_process';
import * as path from 'node:path';
import { runMicroBenchmarks, type MicroResult, type MicroTargets } from './micro';

type Reply = { type: 'log'; line: string } | { type: 'result'; results: MicroResult[]; execArgv: string[] } | { type: 'error'; message: string };

/** The micro-benchmarks' results, and the V8/Node flags their process ran with (its own `process.execArgv`). */
export interface MicroRun {
  results: MicroResult[];
  execArgv: string[];
}

/** Runs {@link runMicroBenchmarks} in a child process started with `execArgv`. */
export function runMicroBenchmarksInChild(targets: Omit<MicroTargets, 'log'>, log: (line: string) => void, execArgv: readonly string[]): Promise<MicroRun> {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(__dirname, 'micro-worker.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [...execArgv] });
    let settled = false;
    const settle = (f: () => void): void => {
      if (settled) return;
      settled = true;
      f();
    };
    child.on('message', (msg: Reply) => {
      if (msg.type === 'log') log(msg.line);
      else if (msg.type === 'result') settle(() => resolve({ results: msg.results, execArgv: msg.execArgv }));
      else settle(() => reject(new Error(`micro-benchmarks failed: ${msg.message}`)));
    });
    child.on('error', (err) => settle(() => reject(err)));
    child.on('exit', (code, signal) => settle(() => reject(new Error(`micro-benchmark process exited (${signal ?? `code ${code}`}) before its results`))));
    child.send({ cmd: 'run', targets });
  });
}

if (require.main === module) {
  if (!process.send) {
    process.stderr.write('micro-worker: run by the bench harness (cli/dist/bench.js), not directly\n');
    process.exit(2);
  }
  const send = (msg: Reply, then?: () => void): void => {
    process.send?.(msg, undefined, {}, () => then?.());
  };
  // The harness gone (interrupted, killed): stop at once rather than finish the benchmarks for nobody.
  process.once('disconnect', () => process.exit(1));
  process.once('message', (msg: { cmd: 'run'; targets: Omit<MicroTargets, 'log'> }) => {
    runMicroBenchmarks({ ...msg.targets, log: (line) => send({ type: 'log', line }) })
      .then((results) => {
        // Exit once the results are handed over (the process holds sessions and timers of its own).
        send({ type: 'result', results, execArgv: process.execArgv }, () => process.exit(0));
      })
      .catch((err: unknown) => {
        send({ type: 'error', message: (err as Error)?.stack ?? String(err) }, () => process.exit(1));
      });
  });
}

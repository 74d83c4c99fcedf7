/**
 * The bench's worker process (forked by the harness, with the flags it chooses): the load
 * generator, driving the load from a separate process, and the micro-benchmarks, timed
 * under the services' V8 flags rather than the harness's default heap (where V8's
 * incremental marker kept running and slowed the JavaScript side of an op, never its
 * native floor). Protocol over the IPC channel:
 *   parent → {cmd:'open', target, k}            worker → {type:'opened'}
 *   parent → {cmd:'observe', users, k, n}        worker → {type:'observed', answers}
 *   parent → {cmd:'run', level}                  worker → {type:'measuring'}, {type:'window-end'}, then {type:'result', result}
 *   parent → {cmd:'micro', targets}              worker → {type:'log', line}…, then {type:'micro', results, execArgv}
 *   parent → {cmd:'close'}                       worker exits
 * Any failure is reported as {type:'error', message} and the worker exits 1; so does the
 * worker when the harness is gone (the IPC channel closed).
 */
import { runClosedLoop, type LoadLevel } from './closed-loop';
import { runMicroBenchmarks, type MicroTargets } from './micro';
import type { ObservedAnswer } from './reference';
import { openTarget, type Target, type TargetSpec } from './targets';

/** Messages the harness sends. */
export type WorkerCommand =
  | { cmd: 'open'; target: TargetSpec; k: number }
  | { cmd: 'observe'; users: string[]; k: number; numCandidates: number }
  | { cmd: 'run'; level: LoadLevel }
  | { cmd: 'micro'; targets: Omit<MicroTargets, 'log'> }
  | { cmd: 'close' };

let target: Target | undefined;

function send(msg: unknown): void {
  process.send?.(msg);
}

async function handle(msg: WorkerCommand): Promise<void> {
  switch (msg.cmd) {
    case 'open':
      target = await openTarget(msg.target, msg.k);
      send({ type: 'opened' });
      return;
    case 'observe': {
      if (!target) throw new Error('observe before open');
      const answers: Record<string, ObservedAnswer> = {};
      for (const u of msg.users) answers[u] = await target.observe(u, msg.k, msg.numCandidates);
      send({ type: 'observed', answers });
      return;
    }
    case 'run': {
      if (!target) throw new Error('run before open');
      const result = await runClosedLoop(
        target.recommend,
        msg.level,
        () => send({ type: 'measuring' }),
        () => send({ type: 'window-end' }),
      );
      send({ type: 'result', result });
      return;
    }
    case 'micro': {
      const results = await runMicroBenchmarks({ ...msg.targets, log: (line) => send({ type: 'log', line }) });
      // The process's own flags: what the micro-benchmarks really ran under.
      send({ type: 'micro', results, execArgv: process.execArgv });
      return;
    }
    case 'close':
      await target?.close();
      process.disconnect?.();
      process.exit(0);
  }
}

if (!process.send) {
  process.stderr.write('load-worker: run by the bench harness (cli/dist/bench.js), not directly\n');
  process.exit(2);
}
// The harness gone (interrupted, killed): stop rather than go on for nobody.
process.once('disconnect', () => process.exit(1));
process.on('message', (msg: WorkerCommand) => {
  handle(msg).catch((err: unknown) => {
    send({ type: 'error', message: (err as Error)?.stack ?? String(err) });
    setTimeout(() => process.exit(1), 100);
  });
});

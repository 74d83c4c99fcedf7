/** The harness's side of a bench worker process (see load-worker.ts for the protocol). */
import { ChildProcess, fork } from 'node:child_process';
import * as path from 'node:path';
import type { LoadLevel, LoadResult } from './closed-loop';
import type { WorkerCommand } from './load-worker';
import type { MicroResult, MicroTargets } from './micro';
import type { ObservedAnswer } from './reference';
import type { TargetSpec } from './targets';

type WorkerMessage =
  | { type: 'opened' }
  | { type: 'observed'; answers: Record<string, ObservedAnswer> }
  | { type: 'measuring' }
  | { type: 'window-end' }
  | { type: 'result'; result: LoadResult }
  | { type: 'micro'; results: MicroResult[]; execArgv: string[] }
  | { type: 'error'; message: string };

/** The micro-benchmarks' results, and the Node/V8 flags their process ran with (its own `process.execArgv`). */
export interface MicroRun {
  results: MicroResult[];
  execArgv: string[];
}

/** A forked bench worker: a load generator, or the micro-benchmarks' process. */
export class LoadWorker {
  private readonly child: ChildProcess;
  private waiters: ((msg: WorkerMessage) => void)[] = [];
  private failure: Error | undefined;
  /** Where the worker's progress lines go ({@link micro}). */
  private onLog: (line: string) => void = () => {};

  private constructor(
    readonly name: string,
    execArgv: string[],
  ) {
    this.child = fork(path.join(__dirname, 'load-worker.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv });
    this.child.on('message', (msg: WorkerMessage | { type: 'log'; line: string }) => {
      if (msg.type === 'log') return this.onLog(msg.line);
      if (msg.type === 'error') this.failure = new Error(`${name} load worker failed: ${msg.message}`);
      const w = this.waiters.shift();
      w?.(msg);
    });
    this.child.on('exit', (code) => {
      this.failure ??= new Error(`${name} load worker exited (code ${code})`);
      for (const w of this.waiters.splice(0)) w({ type: 'error', message: this.failure.message });
    });
  }

  /** Forks a worker and connects it to `target`. */
  static async open(name: string, target: TargetSpec, k: number, execArgv: string[] = []): Promise<LoadWorker> {
    const w = new LoadWorker(name, execArgv);
    await w.request({ cmd: 'open', target, k }, 'opened');
    return w;
  }

  /** Forks a worker that opens no target (for {@link micro}). */
  static start(name: string, execArgv: string[] = []): LoadWorker {
    return new LoadWorker(name, execArgv);
  }

  /** Runs the micro-benchmarks in the worker, its progress lines through `log`. */
  async micro(targets: Omit<MicroTargets, 'log'>, log: (line: string) => void): Promise<MicroRun> {
    this.onLog = log;
    const { results, execArgv } = await this.request({ cmd: 'micro', targets }, 'micro');
    return { results, execArgv };
  }

  /** Process id (for CPU accounting). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  private next(): Promise<WorkerMessage> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private async expect<T extends WorkerMessage['type']>(type: T): Promise<Extract<WorkerMessage, { type: T }>> {
    const msg = await this.next();
    if (msg.type === 'error') throw this.failure ?? new Error(msg.message);
    if (msg.type !== type) throw new Error(`${this.name} load worker: expected ${type}, got ${msg.type}`);
    return msg as Extract<WorkerMessage, { type: T }>;
  }

  private async request<T extends WorkerMessage['type']>(cmd: WorkerCommand, reply: T): Promise<Extract<WorkerMessage, { type: T }>> {
    const answer = this.expect(reply);
    this.child.send(cmd);
    return answer;
  }

  /** The target's answers for the reference users. */
  async observe(users: string[], k: number, numCandidates: number): Promise<Record<string, ObservedAnswer>> {
    return (await this.request({ cmd: 'observe', users, k, numCandidates }, 'observed')).answers;
  }

  /** Runs one level; `onMeasuring` fires when the warm-up is over, `onWindowEnd` when the window closes. */
  async run(level: LoadLevel, onMeasuring: () => void, onWindowEnd: () => void = () => {}): Promise<LoadResult> {
    const measuring = this.expect('measuring');
    const windowEnd = this.expect('window-end');
    const result = this.expect('result');
    this.child.send({ cmd: 'run', level } satisfies WorkerCommand);
    await measuring;
    onMeasuring();
    await windowEnd;
    onWindowEnd();
    return (await result).result;
  }

  /** Closes the target and waits for the worker's exit. */
  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.send({ cmd: 'close' } satisfies WorkerCommand);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

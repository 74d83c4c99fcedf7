/**
 * Supervision of the local mesh (`npm start`): a service that exits without being asked
 * to is started again on the same ports after a backoff, while the others keep serving
 * (the gateway degrades meanwhile, see the README's failure table). A service that keeps
 * crashing, {@link RestartPolicy.maxCrashes} times within {@link RestartPolicy.windowMs},
 * stops the whole mesh with the reason and its last output lines.
 */
import { SERVICE_NAMES, ServiceName, ServiceProcess, ServiceStartError, ProcessExit, describeExit } from './processes';

/** When to restart a service that exited, and when to give up. */
export interface RestartPolicy {
  /** Wait before the first restart; doubles with each further crash within the window. */
  backoffMs: number;
  /** Longest wait between restarts. */
  maxBackoffMs: number;
  /** This many crashes of one service within {@link windowMs} give up (1 = never restart). */
  maxCrashes: number;
  windowMs: number;
}

/** 0.5 s doubling to at most 10 s; five crashes within 60 s give up. */
export const DEFAULT_RESTART_POLICY: Readonly<RestartPolicy> = { backoffMs: 500, maxBackoffMs: 10_000, maxCrashes: 5, windowMs: 60_000 };

/** What {@link CrashWindow.record} decided. */
export type CrashVerdict = { giveUp: false; crashes: number; delayMs: number } | { giveUp: true; crashes: number };

/**
 * The crash history of one service. Crashes older than the window are forgotten, so a
 * service that ran well for a while restarts quickly again after its next crash.
 */
export class CrashWindow {
  private readonly times: number[] = [];

  constructor(private readonly policy: RestartPolicy) {}

  /**
   * Records a crash at `now` (ms) and returns whether to give up or how long to wait
   * before the restart: `backoffMs × 2^(n−1)`, capped at `maxBackoffMs`, where n counts
   * the crashes within the window, this one included.
   */
  record(now: number): CrashVerdict {
    this.times.push(now);
    while (this.times.length > 0 && this.times[0]! <= now - this.policy.windowMs) this.times.shift();
    const crashes = this.times.length;
    if (crashes >= this.policy.maxCrashes) return { giveUp: true, crashes };
    const delayMs = Math.min(this.policy.maxBackoffMs, this.policy.backoffMs * 2 ** Math.min(crashes - 1, 30));
    return { giveUp: false, crashes, delayMs };
  }
}

/** What the supervisor needs of a running mesh (a {@link Mesh} is one). */
export interface SupervisedMesh {
  /** The current process of each service; {@link restart} replaces an entry. */
  readonly services: Record<ServiceName, ServiceProcess>;
  /** Starts `name` again with its ports and environment; rejects if it does not reach SERVING. */
  restart(name: ServiceName): Promise<ServiceProcess>;
  /** Stops every service, including one being restarted. */
  stop(): Promise<void>;
}

/** Why the supervisor stopped the mesh. */
export interface GiveUp {
  service: ServiceName;
  /** Crashes within the window, the last one included. */
  crashes: number;
  /** How the last attempt ended. */
  exit: ProcessExit | undefined;
  /** Its last output lines. */
  lastLines: readonly string[];
  /** A message for the operator: the service, the count, how it ended, its last lines. */
  message: string;
}

/** How a {@link Supervisor} restarts and reports. */
export interface SupervisorOptions {
  /** Default {@link DEFAULT_RESTART_POLICY}. */
  policy?: RestartPolicy;
  /** Receives every restart and give-up message (one line each, or a block for a give-up). */
  log: (message: string) => void;
  /** Output lines shown in a give-up message (default 20). */
  lastLines?: number;
  /** Renders an output line for a message (default: as written). */
  formatLine?: (service: ServiceName, line: string) => string;
  /** Clock, for tests. */
  now?: () => number;
}

/**
 * Watches every service of `mesh` and restarts the one that exits by itself. Once one has
 * crashed {@link RestartPolicy.maxCrashes} times within the window, it stops the whole mesh
 * and resolves {@link gaveUp}. {@link stop} (Ctrl-C) stops the mesh without restarts.
 */
export class Supervisor {
  /** Resolves after a give-up, once the mesh has stopped. */
  readonly gaveUp: Promise<GiveUp>;
  private resolveGaveUp!: (g: GiveUp) => void;
  private stopping: Promise<void> | undefined;
  private readonly policy: RestartPolicy;
  private readonly windows = new Map<ServiceName, CrashWindow>();
  private readonly timers = new Set<{ timer: NodeJS.Timeout; done: () => void }>();
  private readonly now: () => number;

  constructor(
    private readonly mesh: SupervisedMesh,
    private readonly opts: SupervisorOptions,
  ) {
    this.policy = opts.policy ?? DEFAULT_RESTART_POLICY;
    this.now = opts.now ?? Date.now;
    this.gaveUp = new Promise((resolve) => (this.resolveGaveUp = resolve));
    for (const name of SERVICE_NAMES) {
      this.windows.set(name, new CrashWindow(this.policy));
      this.watch(name, mesh.services[name]);
    }
  }

  /** True once {@link stop} was called or the supervisor gave up. */
  get stopped(): boolean {
    return this.stopping !== undefined;
  }

  /** Stops supervising and stops the mesh (idempotent). */
  stop(): Promise<void> {
    if (!this.stopping) {
      for (const t of this.timers) {
        clearTimeout(t.timer);
        t.done();
      }
      this.timers.clear();
      this.stopping = this.mesh.stop();
    }
    return this.stopping;
  }

  private watch(name: ServiceName, proc: ServiceProcess): void {
    void proc.exited.then((exit) => {
      if (this.stopping || this.mesh.services[name] !== proc) return;
      void this.recover(name, exit, proc.output);
    });
  }

  /** Restarts `name` until it is SERVING again, or gives up. */
  private async recover(name: ServiceName, firstExit: ProcessExit, firstOutput: readonly string[]): Promise<void> {
    let exit: ProcessExit | undefined = firstExit;
    let output = firstOutput;
    let what = `exited unexpectedly (${describeExit(firstExit)})`;
    for (;;) {
      const verdict = this.windows.get(name)!.record(this.now());
      if (verdict.giveUp) return this.giveUp(name, verdict.crashes, exit, output);
      const { maxCrashes, windowMs } = this.policy;
      this.opts.log(
        `${name} ${what}; restarting in ${formatMs(verdict.delayMs)} (crash ${verdict.crashes} of ${maxCrashes} allowed within ${formatMs(windowMs)})`,
      );
      await this.sleep(verdict.delayMs);
      if (this.stopping) return;
      try {
        const proc = await this.mesh.restart(name);
        if (this.stopping) return;
        this.opts.log(`${name} restarted (pid ${proc.child.pid}) and SERVING on ${proc.address}`);
        this.watch(name, proc);
        return;
      } catch (err) {
        if (this.stopping) return;
        exit = err instanceof ServiceStartError ? err.exit : undefined;
        output = err instanceof ServiceStartError ? err.output : [];
        what = err instanceof ServiceStartError && err.exit ? `failed to start (${describeExit(err.exit)})` : `failed to start (${firstLine((err as Error).message)})`;
      }
    }
  }

  private async giveUp(name: ServiceName, crashes: number, exit: ProcessExit | undefined, output: readonly string[]): Promise<void> {
    if (this.stopping) return;
    const lines = output.slice(-(this.opts.lastLines ?? 20));
    const format = this.opts.formatLine ?? ((_s: ServiceName, l: string) => l);
    const how = exit ? `, the last time with ${describeExit(exit)}` : '';
    const message = [
      `${name} crashed ${crashes} times within ${formatMs(this.policy.windowMs)}${how}: giving up and stopping the mesh.`,
      lines.length ? `Last output of ${name}:` : `${name} wrote no output.`,
      ...lines.map((l) => `  ${format(name, l)}`),
    ].join('\n');
    this.opts.log(message);
    await this.stop();
    this.resolveGaveUp({ service: name, crashes, exit, lastLines: lines, message });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const entry = { timer: setTimeout(() => done(), ms), done: () => resolve() };
      const done = (): void => {
        this.timers.delete(entry);
        resolve();
      };
      this.timers.add(entry);
    });
  }
}

/** `500 ms`, `2 s`, `1.5 s`. */
function formatMs(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Number((ms / 1000).toFixed(1))} s`;
}

const firstLine = (s: string): string => s.split('\n')[0] ?? s;

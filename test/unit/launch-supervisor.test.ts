import { ChildProcess } from 'node:child_process';
import {
  CrashWindow,
  ProcessExit,
  RestartPolicy,
  SERVICE_NAMES,
  ServiceName,
  ServiceProcess,
  ServiceStartError,
  SupervisedMesh,
  Supervisor,
} from '@recsys/local';

describe('CrashWindow', () => {
  const policy: RestartPolicy = { backoffMs: 500, maxBackoffMs: 3000, maxCrashes: 5, windowMs: 60_000 };

  it('doubles the wait with each crash in the window, capped, and gives up at maxCrashes', () => {
    const w = new CrashWindow(policy);
    expect([0, 1000, 2000, 3000].map((t) => w.record(t))).toEqual([
      { giveUp: false, crashes: 1, delayMs: 500 },
      { giveUp: false, crashes: 2, delayMs: 1000 },
      { giveUp: false, crashes: 3, delayMs: 2000 },
      { giveUp: false, crashes: 4, delayMs: 3000 },
    ]);
    expect(w.record(4000)).toEqual({ giveUp: true, crashes: 5 });
  });

  it('forgets crashes older than the window', () => {
    const w = new CrashWindow(policy);
    for (const t of [0, 10_000, 20_000, 30_000]) w.record(t);
    // At 65 s the crash at 0 has left the window: four remain with this one.
    expect(w.record(65_000)).toEqual({ giveUp: false, crashes: 4, delayMs: 3000 });
    // Long after, a crash starts over at the first backoff.
    expect(w.record(500_000)).toEqual({ giveUp: false, crashes: 1, delayMs: 500 });
  });

  it('with maxCrashes 1 gives up at the first crash', () => {
    expect(new CrashWindow({ ...policy, maxCrashes: 1 }).record(0)).toEqual({ giveUp: true, crashes: 1 });
  });

  it('does not overflow with a huge number of crashes', () => {
    const w = new CrashWindow({ ...policy, maxCrashes: 1000, maxBackoffMs: 10_000 });
    let last = w.record(0);
    for (let i = 1; i < 999; i++) last = w.record(i);
    expect(last).toEqual({ giveUp: false, crashes: 999, delayMs: 10_000 });
  });
});

/** A stand-in for a service process whose exit the test decides. */
class FakeProcess implements ServiceProcess {
  static pids = 1000;
  readonly exited: Promise<ProcessExit>;
  readonly child: ChildProcess;
  readonly output: string[];
  exit!: (e: ProcessExit) => void;
  stopped = false;

  constructor(
    readonly name: ServiceName,
    lines: string[] = [],
  ) {
    this.exited = new Promise((resolve) => (this.exit = resolve));
    this.child = { pid: FakeProcess.pids++ } as ChildProcess;
    this.output = lines;
  }
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }
  get port(): number {
    return 50000 + SERVICE_NAMES.indexOf(this.name);
  }
  get metricsPort(): number {
    return this.port - 40960;
  }
  stop(): Promise<ProcessExit> {
    this.stopped = true;
    this.exit({ code: 0, signal: null });
    return this.exited;
  }
}

/** A mesh whose restarts follow a script: `'ok'` or a start failure, per attempt. */
class FakeMesh implements SupervisedMesh {
  readonly services = Object.fromEntries(SERVICE_NAMES.map((n) => [n, new FakeProcess(n)])) as Record<ServiceName, FakeProcess>;
  readonly restarts: ServiceName[] = [];
  stops = 0;
  constructor(private readonly script: ('ok' | ServiceStartError)[] = []) {}

  async restart(name: ServiceName): Promise<ServiceProcess> {
    this.restarts.push(name);
    const next = this.script.shift() ?? 'ok';
    if (next !== 'ok') throw next;
    const p = new FakeProcess(name);
    this.services[name] = p;
    return p;
  }
  async stop(): Promise<void> {
    this.stops++;
    await Promise.all(SERVICE_NAMES.map((n) => this.services[n].stop()));
  }
}

const fast: RestartPolicy = { backoffMs: 1, maxBackoffMs: 4, maxCrashes: 3, windowMs: 60_000 };

/** Resolves once `cond` holds (checked after each macrotask), failing after `ms`. */
async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 1));
  }
}

describe('Supervisor', () => {
  it('restarts a service that exited, leaves the others alone, and watches the new process', async () => {
    const mesh = new FakeMesh();
    const log: string[] = [];
    const sup = new Supervisor(mesh, { policy: fast, log: (m) => log.push(m) });
    const first = mesh.services.ranker;
    first.exit({ code: null, signal: 'SIGKILL' });
    await until(() => mesh.services.ranker !== first);
    expect(mesh.restarts).toEqual(['ranker']);
    expect(log[0]).toBe('ranker exited unexpectedly (signal SIGKILL); restarting in 1 ms (crash 1 of 3 allowed within 60 s)');
    expect(log[1]).toMatch(/^ranker restarted \(pid \d+\) and SERVING on 127\.0\.0\.1:\d+$/);
    expect(SERVICE_NAMES.filter((n) => n !== 'ranker').every((n) => !mesh.services[n].stopped)).toBe(true);
    // The replacement is supervised too.
    const second = mesh.services.ranker;
    second.exit({ code: 1, signal: null });
    await until(() => mesh.services.ranker !== second);
    expect(mesh.restarts).toEqual(['ranker', 'ranker']);
    expect(log[2]).toBe('ranker exited unexpectedly (code 1); restarting in 2 ms (crash 2 of 3 allowed within 60 s)');
    expect(mesh.stops).toBe(0);
    await sup.stop();
  });

  it('counts failed restarts as crashes and gives up with the service, the count and its last lines', async () => {
    const fail = (n: number) => new ServiceStartError('ranker exited before it was SERVING', 'ranker', [`line ${n}a`, `line ${n}b`], { code: 1, signal: null });
    const mesh = new FakeMesh([fail(1), fail(2), 'ok']);
    const log: string[] = [];
    const sup = new Supervisor(mesh, { policy: fast, log: (m) => log.push(m), formatLine: (s, l) => `[${s}] ${l}` });
    mesh.services.ranker.exit({ code: null, signal: 'SIGKILL' });
    const g = await sup.gaveUp;
    expect(mesh.restarts).toEqual(['ranker', 'ranker']);
    expect(log.slice(0, 2)).toEqual([
      'ranker exited unexpectedly (signal SIGKILL); restarting in 1 ms (crash 1 of 3 allowed within 60 s)',
      'ranker failed to start (code 1); restarting in 2 ms (crash 2 of 3 allowed within 60 s)',
    ]);
    expect(g).toMatchObject({ service: 'ranker', crashes: 3, exit: { code: 1, signal: null }, lastLines: ['line 2a', 'line 2b'] });
    expect(g.message).toBe(
      [
        'ranker crashed 3 times within 60 s, the last time with code 1: giving up and stopping the mesh.',
        'Last output of ranker:',
        '  [ranker] line 2a',
        '  [ranker] line 2b',
      ].join('\n'),
    );
    expect(log[2]).toBe(g.message);
    expect(mesh.stops).toBe(1);
    expect(SERVICE_NAMES.every((n) => mesh.services[n].stopped)).toBe(true);
    expect(sup.stopped).toBe(true);
  });

  it('gives up on a service killed again and again', async () => {
    const mesh = new FakeMesh();
    const sup = new Supervisor(mesh, { policy: fast, log: () => {} });
    for (let i = 0; i < 2; i++) {
      const p = mesh.services.gateway;
      p.output.push(`gateway run ${i}`);
      p.exit({ code: null, signal: 'SIGKILL' });
      await until(() => mesh.services.gateway !== p);
    }
    mesh.services.gateway.output.push('last words');
    mesh.services.gateway.exit({ code: null, signal: 'SIGKILL' });
    const g = await sup.gaveUp;
    expect(g).toMatchObject({ service: 'gateway', crashes: 3, exit: { signal: 'SIGKILL' }, lastLines: ['last words'] });
    expect(mesh.restarts).toEqual(['gateway', 'gateway']);
  });

  it('stop() during a backoff cancels the restart and stops the mesh once', async () => {
    const mesh = new FakeMesh();
    const log: string[] = [];
    const sup = new Supervisor(mesh, { policy: { ...fast, backoffMs: 60_000, maxBackoffMs: 60_000 }, log: (m) => log.push(m) });
    mesh.services['feature-store'].exit({ code: 1, signal: null });
    await until(() => log.length === 1);
    expect(log[0]).toMatch(/^feature-store exited unexpectedly \(code 1\); restarting in 60 s/);
    await Promise.all([sup.stop(), sup.stop()]);
    await new Promise((r) => setTimeout(r, 5));
    expect(mesh.restarts).toEqual([]);
    expect(mesh.stops).toBe(1);
  });

  it('exits caused by stop() are not crashes', async () => {
    const mesh = new FakeMesh();
    const log: string[] = [];
    const sup = new Supervisor(mesh, { policy: fast, log: (m) => log.push(m) });
    await sup.stop();
    await new Promise((r) => setTimeout(r, 5));
    expect(log).toEqual([]);
    expect(mesh.restarts).toEqual([]);
  });

  it('a start failure without an exit (timeout) is named by its message', async () => {
    const timeout = new ServiceStartError('candidate-generator: 127.0.0.1:1 not SERVING after 60000 ms (last: no answer)\nmore', 'candidate-generator', []);
    const mesh = new FakeMesh([timeout]);
    const log: string[] = [];
    const sup = new Supervisor(mesh, { policy: fast, log: (m) => log.push(m) });
    const p = mesh.services['candidate-generator'];
    p.exit({ code: null, signal: 'SIGSEGV' });
    await until(() => mesh.services['candidate-generator'] !== p);
    expect(log[1]).toBe(
      'candidate-generator failed to start (candidate-generator: 127.0.0.1:1 not SERVING after 60000 ms (last: no answer)); restarting in 2 ms (crash 2 of 3 allowed within 60 s)',
    );
    await sup.stop();
  });
});

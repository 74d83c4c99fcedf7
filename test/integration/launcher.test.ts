/**
 * The `npm start` launcher as a user runs it (`node cli/dist/start.js`, real
 * service processes): it restarts a service killed with SIGKILL while the gateway keeps
 * answering degraded; it gives up, naming the service and its last lines, on a service
 * that cannot start again; killed itself with SIGKILL, it leaves no service behind; two
 * launchers on different ports run side by side.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadArtifacts } from '@recsys/core';
import { METRICS_PORT_OFFSET, PORT_VARIABLES, REPO_ROOT, SERVICE_NAMES, SERVICE_NODE_FLAGS, ServiceName, freePort } from '@recsys/local';
import { Stage } from '@recsys/proto';
import { testArtifactsRoot } from '../support/helpers';
import { closedLoop, eventually, gatewayCaller, summary } from '../support/fault-helpers';

jest.setTimeout(180_000);

const START = path.join(REPO_ROOT, 'cli', 'dist', 'start.js');

/** How long a service may take to drain and exit once its launcher is gone (DRAIN_TIMEOUT_MS is 10 s). */
const ORPHAN_BOUND_MS = 20_000;

/** One `npm start` process and everything it printed. */
class Launcher {
  readonly lines: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private constructor(readonly child: ChildProcess) {
    for (const stream of [child.stdout!, child.stderr!]) {
      let partial = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        const parts = (partial + chunk).split('\n');
        partial = parts.pop() ?? '';
        this.lines.push(...parts);
      });
    }
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  static start(env: Record<string, string>): Launcher {
    return new Launcher(
      spawn(process.execPath, [START], {
        env: { ...process.env, ARTIFACTS_DIR: testArtifactsRoot(), LOG_LEVEL: 'warn', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
  }

  get pid(): number {
    return this.child.pid!;
  }

  get output(): string {
    return this.lines.join('\n');
  }

  /** Waits for a line matching `re` (failing with the output if the launcher exits first). */
  async waitFor(re: RegExp, timeoutMs = 90_000): Promise<RegExpMatchArray> {
    const until = Date.now() + timeoutMs;
    let exited = false;
    void this.exited.then(() => (exited = true));
    for (;;) {
      for (const line of this.lines) {
        const m = re.exec(line);
        if (m) return m;
      }
      if (exited || Date.now() > until) throw new Error(`no line matching ${re} (${exited ? 'launcher exited' : 'timed out'}); output:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Waits for the banner; returns each service's pid and addresses as printed. */
  async serving(): Promise<Record<ServiceName, { pid: number; address: string; metricsPort: number }>> {
    await this.waitFor(/^recsys mesh is SERVING:$/);
    const out = {} as Record<ServiceName, { pid: number; address: string; metricsPort: number }>;
    for (const name of SERVICE_NAMES) {
      const m = await this.waitFor(new RegExp(`^  ${name} +(\\S+) +metrics http://[^:]+:(\\d+)/metrics +pid (\\d+)$`));
      out[name] = { address: m[1]!, metricsPort: Number(m[2]), pid: Number(m[3]) };
    }
    return out;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    await this.exited;
  }
}

const launchers: Launcher[] = [];
function launch(env: Record<string, string>): Launcher {
  // The gateway's HTTP API on a free port (0: resolved by the launcher), never a fixed 8080 another mesh may hold.
  const l = Launcher.start({ HTTP_PORT: '0', ...env });
  launchers.push(l);
  return l;
}
afterEach(async () => {
  await Promise.all(launchers.splice(0).map((l) => l.stop()));
});

/** Environment for eight free ports, every one set explicitly. */
async function explicitPorts(): Promise<Record<string, string>> {
  const env: Record<string, string> = {};
  for (const name of SERVICE_NAMES) {
    env[PORT_VARIABLES[name].grpc] = String(await freePort());
    env[PORT_VARIABLES[name].metrics] = String(await freePort());
  }
  return env;
}

const canListen = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });

/**
 * Four consecutive free gRPC ports whose derived metrics ports (− METRICS_PORT_OFFSET) are
 * free too, so only the gRPC variables are set, as a user moving a second mesh would do.
 */
async function derivablePorts(): Promise<Record<string, string>> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 42_000 + Math.floor(Math.random() * 18_000);
    const all = [0, 1, 2, 3].flatMap((i) => [base + i, base + i - METRICS_PORT_OFFSET]);
    if ((await Promise.all(all.map(canListen))).every(Boolean)) {
      return Object.fromEntries(SERVICE_NAMES.map((n, i) => [PORT_VARIABLES[n].grpc, String(base + i)]));
    }
  }
  throw new Error('no free derivable port range found');
}

/** True while `pid` runs (a zombie waiting for its reaper has exited: not running). */
function running(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] !== 'Z';
  } catch {
    return false;
  }
}

/** The command line of `pid` after the node binary: its node flags, then the script. */
function nodeArgs(pid: number): string[] {
  return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).slice(1);
}

/** Pids whose parent is `ppid`. */
function childrenOf(ppid: number): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === ppid) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out.sort((a, b) => a - b);
}

it('kill -9 of the ranker: the gateway keeps answering flagged STAGE_RANKING, and within 10 s the ranker is back and answers are not degraded', async () => {
  const l = launch(await explicitPorts());
  const services = await l.serving();
  const gw = gatewayCaller(services.gateway.address);
  try {
    const before = await gw.recommend({ k: 10 });
    expect(before.degradedStages).toEqual([]);
    expect(before.modelVersion).not.toBe('');

    process.kill(services.ranker.pid, 'SIGKILL');
    const killedAt = Date.now();
    // Calls back to back until a call started after the launcher reported the ranker back
    // is answered without degradation, or 10 s have passed.
    let backAt = 0;
    let recovered = false;
    const outcomes = await closedLoop(
      2,
      async () => {
        const startedAfterBack = backAt > 0;
        const res = await gw.recommend({ k: 10 });
        if (startedAfterBack && res.degradedStages.length === 0) recovered = true;
        if (!backAt && l.lines.some((x) => /\[launcher\] ranker restarted/.test(x))) backAt = Date.now();
        return res;
      },
      () => recovered || Date.now() - killedAt > 10_000,
    );
    const why = summary(outcomes);
    expect({ why, recovered }).toEqual({ why, recovered: true });
    // Every call answered; while the ranker was away they fell back to retrieval order, flagged.
    expect(outcomes.filter((o) => o.code !== grpc.status.OK)).toEqual([]);
    const degraded = outcomes.filter((o) => o.degraded.length > 0);
    expect(degraded.length).toBeGreaterThan(0);
    expect(degraded.filter((o) => o.degraded.join() !== String(Stage.STAGE_RANKING))).toEqual([]);
    expect(outcomes.every((o) => o.items === 10)).toBe(true);

    const after = await gw.recommend({ k: 10 });
    expect(after.degradedStages).toEqual([]);
    expect(after.modelVersion).toBe(before.modelVersion);
    expect(l.output).toContain('[launcher] ranker exited unexpectedly (signal SIGKILL); restarting in 500 ms (crash 1 of 5 allowed within 60 s)');
    const restarted = Number((await l.waitFor(/\[launcher\] ranker restarted \(pid (\d+)\) and SERVING on (\S+)$/))[1]);
    expect(restarted).not.toBe(services.ranker.pid);
    expect(running(restarted)).toBe(true);
    // Every service, the restarted one too, runs with the services' V8 flags before its script.
    for (const pid of [restarted, services.gateway.pid, services['candidate-generator'].pid, services['feature-store'].pid]) {
      expect(nodeArgs(pid).slice(0, SERVICE_NODE_FLAGS.length + 1)).toEqual([...SERVICE_NODE_FLAGS, expect.stringMatching(/services\/[a-z-]+\/dist\/main\.js$/)]);
    }
    // The others were left alone, and the launcher supervises the new ranker.
    for (const n of ['gateway', 'candidate-generator', 'feature-store'] as const) expect(running(services[n].pid)).toBe(true);
    expect(childrenOf(l.pid)).toEqual([restarted, services.gateway.pid, services['candidate-generator'].pid, services['feature-store'].pid].sort((a, b) => a - b));
  } finally {
    gw.close();
  }
  await l.stop();
  expect(await l.exited).toEqual({ code: 0, signal: null });
  expect(l.output).toContain('all services stopped');
});

it('kill -9 of the launcher: every service process exits by itself', async () => {
  const l = launch(await explicitPorts());
  const services = await l.serving();
  const pids = SERVICE_NAMES.map((n) => services[n].pid);
  // The launcher's children are exactly the four services of the banner.
  expect(childrenOf(l.pid)).toEqual([...pids].sort((a, b) => a - b));
  expect(pids.every(running)).toBe(true);
  // A call in flight to the gateway while the launcher dies.
  const gw = gatewayCaller(services.gateway.address);
  try {
    await gw.recommend({});
    process.kill(l.pid, 'SIGKILL');
    expect(await l.exited).toEqual({ code: null, signal: 'SIGKILL' });
    await eventually(`services ${pids.join(', ')} gone`, ORPHAN_BOUND_MS, async () => !pids.some(running), 100);
  } finally {
    gw.close();
    for (const pid of pids.filter(running)) process.kill(pid, 'SIGKILL');
  }
});

it('gives up after repeated crashes: a ranker that cannot start again stops the mesh, exit 1, with its last lines', async () => {
  // A private copy of the artifact whose model is damaged once the mesh is up: the
  // running ranker is unaffected, every restart fails verifying it.
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'recsys-launcher-'));
  try {
    fs.cpSync(testArtifactsRoot(), copy, { recursive: true });
    const l = launch({ ...(await explicitPorts()), ARTIFACTS_DIR: copy, RESTART_MAX_CRASHES: '3', RESTART_BACKOFF_MS: '200' });
    const services = await l.serving();
    const { dir, manifest } = loadArtifacts(copy, []);
    fs.writeFileSync(path.join(dir, manifest.ranker.file), 'not a model');
    process.kill(services.ranker.pid, 'SIGKILL');
    expect(await l.exited).toEqual({ code: 1, signal: null });
    const out = l.output;
    expect(out).toContain('[launcher] ranker exited unexpectedly (signal SIGKILL); restarting in 200 ms (crash 1 of 3 allowed within 60 s)');
    expect(out).toContain('[launcher] ranker failed to start (code 1); restarting in 400 ms (crash 2 of 3 allowed within 60 s)');
    expect(out).toContain('[launcher] ranker crashed 3 times within 60 s, the last time with code 1: giving up and stopping the mesh.\nLast output of ranker:\n');
    const last = out.slice(out.indexOf('Last output of ranker:'));
    expect(last).toMatch(/\n {2}\[ranker\] .*initialisation failed: .*ranker\.onnx: file is corrupt/);
    expect(out.trimEnd().split('\n').pop()).toBe('npm start: stopped because ranker kept crashing');
    // It stopped the others before exiting.
    const others = (['gateway', 'candidate-generator', 'feature-store'] as const).map((n) => services[n].pid);
    await eventually('the other services stopped', ORPHAN_BOUND_MS, async () => !others.some(running), 100);
  } finally {
    fs.rmSync(copy, { recursive: true, force: true });
  }
});

it('a bad port variable stops the launcher before anything starts, exit 2, naming the variable', async () => {
  const bad = launch({ RANKER_METRICS_PORT: 'abc' });
  expect(await bad.exited).toEqual({ code: 2, signal: null });
  expect(bad.output).toContain('npm start: configuration: RANKER_METRICS_PORT must be an integer, got "abc"');
  const underivable = launch({ GATEWAY_PORT: '8080' });
  expect(await underivable.exited).toEqual({ code: 2, signal: null });
  expect(underivable.output).toMatch(/npm start: configuration: GATEWAY_METRICS_PORT is not set and cannot be derived from GATEWAY_PORT=8080 .*set GATEWAY_METRICS_PORT/);
  expect(underivable.output).not.toContain('starting the mesh');
});

it('two launchers at once on different ports both come up (the second with only its gRPC ports set)', async () => {
  // Each its own HTTP port: two launchers picking a free one at the same moment can pick the same.
  const httpA = await freePort();
  let httpB = await freePort();
  while (httpB === httpA) httpB = await freePort();
  const a = launch({ ...(await explicitPorts()), HTTP_PORT: String(httpA) });
  const bEnv = await derivablePorts();
  const b = launch({ ...bEnv, HTTP_PORT: String(httpB) });
  const [sa, sb] = await Promise.all([a.serving(), b.serving()]);
  for (const name of SERVICE_NAMES) {
    expect(sb[name].address).toBe(`127.0.0.1:${bEnv[PORT_VARIABLES[name].grpc]}`);
    expect(sb[name].metricsPort).toBe(Number(bEnv[PORT_VARIABLES[name].grpc]) - METRICS_PORT_OFFSET);
    const text = await (await fetch(`http://127.0.0.1:${sb[name].metricsPort}/metrics`)).text();
    expect(text).toContain(`service="${name}"`);
  }
  // Each banner's HTTP lines: the curl command as printed (run here as the request it makes) and the console URL.
  const httpOf = async (l: Launcher): Promise<string> => {
    const curl = await l.waitFor(/^  curl -s -X POST (http:\/\/127\.0\.0\.1:\d+)\/v1\/recommendations -H 'content-type: application\/json' -d '(\{.*\})'$/);
    const res = await fetch(`${curl[1]}/v1/recommendations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: curl[2] });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { items: unknown[] }).items).toHaveLength(10);
    const consoleUrl = await l.waitFor(/^  open (http:\/\/\S+\/console\/\?user=\S+) in a browser$/);
    expect((await fetch(consoleUrl[1] as string)).status).toBe(200);
    return curl[1] as string;
  };
  const [ha, hb] = await Promise.all([httpOf(a), httpOf(b)]);
  expect(ha).not.toBe(hb);
  for (const s of [sa, sb]) {
    const gw = gatewayCaller(s.gateway.address);
    try {
      const res = await gw.recommend({ k: 5 });
      expect(res.items).toHaveLength(5);
      expect(res.degradedStages).toEqual([]);
    } finally {
      gw.close();
    }
  }
  await Promise.all([a.stop(), b.stop()]);
  expect(await a.exited).toEqual({ code: 0, signal: null });
  expect(await b.exited).toEqual({ code: 0, signal: null });
  const pids = [sa, sb].flatMap((s) => SERVICE_NAMES.map((n) => s[n].pid));
  expect(pids.filter(running)).toEqual([]);
});

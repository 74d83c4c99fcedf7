/**
 * The dev overlay as the processes would see it, without a cluster: each pod's emptyDir
 * volumes become temporary folders, the init container's own command copies the
 * artifact image's root into them, the materialize Job's command fills a real Redis, and
 * the four services start with exactly the environment their rendered ConfigMaps and
 * env entries give them (Secret references → the test Redis; Service DNS names → the
 * loopback ports of the other processes). A Recommend call must then succeed without
 * any degraded stage.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ServiceName, ServiceProcess, freePort, startServiceProcess } from '@recsys/local';
import { Container, K8sObject, Workload, containerEnv, meshServiceOf, renderOverlay, workloads } from '../support/deploy-checks';
import { RedisServer, probe, runNode, startRedis, testArtifactsRoot } from '../support/helpers';

jest.setTimeout(180_000);

let objects: K8sObject[];
let redis: RedisServer;
let work: string;
const started: ServiceProcess[] = [];

/** The artifact image's content: what `COPY . /artifacts` puts there. */
let imageRoot: string;

beforeAll(async () => {
  objects = renderOverlay('dev');
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'recsys-pods-'));
  imageRoot = path.join(work, 'image-artifacts');
  fs.cpSync(testArtifactsRoot(), imageRoot, { recursive: true });
  redis = await startRedis();
});

afterAll(async () => {
  await Promise.all(started.map((s) => s.stop()));
  await redis?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

function workload(kind: string, name: string): Workload {
  const w = workloads(objects).find((x) => x.kind === kind && x.name === name);
  if (!w) throw new Error(`${kind}/${name} is not rendered`);
  return w;
}

/** A pod's filesystem: a host folder per volume, and the container paths mapped onto them. */
class SimulatedPod {
  private readonly mounts = new Map<string, string>();

  constructor(readonly w: Workload) {
    for (const c of [...(w.template.spec.initContainers ?? []), ...w.template.spec.containers]) {
      for (const m of (c as unknown as { volumeMounts?: { name: string; mountPath: string }[] }).volumeMounts ?? []) {
        const host = path.join(work, w.name, m.name);
        fs.mkdirSync(host, { recursive: true });
        this.mounts.set(m.mountPath, host);
      }
    }
  }

  /** Host path of a container path under a volume mount (or the artifact image's /artifacts). */
  hostPath(p: string, image?: string): string {
    if (image?.startsWith('recsys-artifacts') && (p === '/artifacts' || p.startsWith('/artifacts/'))) return imageRoot + p.slice('/artifacts'.length);
    for (const [mount, host] of this.mounts) if (p === mount || p.startsWith(`${mount}/`)) return host + p.slice(mount.length);
    return p;
  }

  /** Runs every init container's command, with container paths mapped to the host. */
  runInitContainers(): void {
    for (const c of this.w.template.spec.initContainers ?? []) {
      const [cmd = '', ...args] = (c.command ?? []).map((a) => this.hostPath(a, c.image));
      execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    }
  }

  /** The container's environment as the kubelet would build it, with test substitutes. */
  env(c: Container, substitutes: Record<string, string>): Record<string, string> {
    const problems: string[] = [];
    const env = containerEnv(objects, c, this.w.name, problems);
    expect(problems).toEqual([]);
    const out: Record<string, string> = {};
    for (const [k, v] of env) {
      if (typeof v !== 'string') {
        const sub = substitutes[v.secret];
        if (sub === undefined) throw new Error(`no test value for secret ${v.secret}`);
        out[k] = sub;
      } else out[k] = substitutes[k] ?? this.hostPath(v);
    }
    return out;
  }
}

const mainOf = (w: Workload): Container => {
  const c = w.template.spec.containers[0];
  if (!c) throw new Error(`${w.name} has no container`);
  return c;
};

/** Starts a mesh Deployment's container as a local process with its pod's environment. */
async function startDeployment(name: ServiceName, substitutes: Record<string, string>): Promise<ServiceProcess> {
  const pod = new SimulatedPod(workload('Deployment', name));
  pod.runInitContainers();
  const c = mainOf(pod.w);
  expect(meshServiceOf(c)).toBe(name);
  const { GRPC_PORT: _grpc, METRICS_PORT: _metrics, ...env } = pod.env(c, substitutes);
  const proc = await startServiceProcess(name, { port: await freePort(), metricsPort: await freePort(), env: { ...env, LOG_LEVEL: 'warn' }, readyTimeoutMs: 120_000 });
  started.push(proc);
  return proc;
}

it('init containers give each artifact reader a complete artifact root at ARTIFACTS_DIR', () => {
  const pod = new SimulatedPod(workload('Deployment', 'ranker'));
  pod.runInitContainers();
  const env = pod.env(mainOf(pod.w), {});
  const dir = env.ARTIFACTS_DIR ?? '';
  const current = fs.readFileSync(path.join(dir, 'CURRENT'), 'utf8').trim();
  expect(current).toBe(fs.readFileSync(path.join(imageRoot, 'CURRENT'), 'utf8').trim());
  expect(fs.existsSync(path.join(dir, current, 'ranker.onnx'))).toBe(true);
});

it('the materialize Job, then the four services from their manifests, serve a Recommend call', async () => {
  const secrets = { 'recsys-redis/url': redis.url };
  const job = new SimulatedPod(workload('Job', 'feature-store-materialize'));
  job.runInitContainers();
  const jc = mainOf(job.w);
  const [script = '', ...args] = jc.args ?? [];
  const { stdout } = await runNode(script, args, job.env(jc, secrets));
  expect(stdout).toMatch(/materialized .* live pointer switched/);

  // allSettled: every process that did start is in `started` before a failure is
  // reported, so afterAll stops it (Promise.all would leave late starters running).
  const results = await Promise.allSettled([
    startDeployment('candidate-generator', secrets),
    startDeployment('feature-store', secrets),
    startDeployment('ranker', secrets),
  ]);
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed.length > 0) throw new Error(failed.map((r) => (r.reason as Error).message).join('\n'));
  const [cg, fs_, ranker] = results.map((r) => (r as PromiseFulfilledResult<ServiceProcess>).value);
  // The gateway's ConfigMap names headless Services; here they are the processes above.
  const gateway = await startDeployment('gateway', {
    ...secrets,
    CANDIDATE_GENERATOR_ADDR: cg!.address,
    FEATURE_STORE_ADDR: fs_!.address,
    RANKER_ADDR: ranker!.address,
  });
  const res = await probe(gateway.address, 'call', 'recsys.v1.GatewayService/Recommend', '{"userId":"1","k":5}');
  expect(res.stderr).toBe('');
  const body = JSON.parse(res.stdout) as { items?: unknown[]; degradedStages?: unknown[] };
  expect(body.items).toHaveLength(5);
  expect(body.degradedStages ?? []).toEqual([]);
});

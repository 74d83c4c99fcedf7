/**
 * The Kubernetes manifests, rendered by `kubectl kustomize` exactly as `kubectl apply -k`
 * would, checked against the invariants of deploy/README.md and against the services'
 * own config specs. Every check also runs once on a deliberately broken copy, to show
 * it can fail.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  REPO_ROOT,
  Container,
  K8sObject,
  Workload,
  admittedEdges,
  checkConfig,
  checkContainers,
  checkGatewayAddresses,
  checkMeshContainers,
  checkServicePorts,
  containerEnv,
  meshServiceOf,
  parseManifests,
  policyPods,
  readRepoFile,
  ref,
  renderKustomization,
  workloads,
} from '../support/deploy-checks';
import { SERVICE_CONFIGS } from '../support/service-configs';

const MESH = ['gateway', 'candidate-generator', 'feature-store', 'ranker'];

/** Variables whose spec defaults only suit a laptop (127.0.0.1 addresses, ./artifacts). */
const REQUIRED: Record<string, string[]> = {
  gateway: ['GRPC_HOST', 'GRPC_PORT', 'METRICS_PORT', 'SHUTDOWN_DELAY_MS', 'DRAIN_TIMEOUT_MS', 'CANDIDATE_GENERATOR_ADDR', 'FEATURE_STORE_ADDR', 'RANKER_ADDR'],
  'candidate-generator': ['GRPC_HOST', 'GRPC_PORT', 'METRICS_PORT', 'SHUTDOWN_DELAY_MS', 'DRAIN_TIMEOUT_MS', 'ARTIFACTS_DIR'],
  'feature-store': ['GRPC_HOST', 'GRPC_PORT', 'METRICS_PORT', 'SHUTDOWN_DELAY_MS', 'DRAIN_TIMEOUT_MS', 'FEATURE_STORE_BACKEND', 'REDIS_URL'],
  ranker: ['GRPC_HOST', 'GRPC_PORT', 'METRICS_PORT', 'SHUTDOWN_DELAY_MS', 'DRAIN_TIMEOUT_MS', 'ARTIFACTS_DIR'],
};

/** Which gateway variable names which callee. */
const CALLEES = { CANDIDATE_GENERATOR_ADDR: 'candidate-generator', FEATURE_STORE_ADDR: 'feature-store', RANKER_ADDR: 'ranker' };

const OVERLAYS = ['dev', 'prod'] as const;
const cache = new Map<string, K8sObject[]>();
/** What kubectl printed on stderr while rendering each directory (warnings). */
const stderrOf = new Map<string, string>();
const K8S_DIR = path.join(REPO_ROOT, 'deploy', 'k8s');

/** The overlay's rendered objects (rendered once, in beforeAll). */
function rendered(overlay: string): K8sObject[] {
  const objects = cache.get(overlay);
  if (!objects) throw new Error(`overlay ${overlay} was not rendered`);
  return objects;
}

/** The first (main) container of a workload. */
function main(w: Workload): Container {
  const c = w.template.spec.containers[0];
  if (!c) throw new Error(`${ref(w)} has no container`);
  return c;
}

function clone(objects: K8sObject[]): K8sObject[] {
  return JSON.parse(JSON.stringify(objects)) as K8sObject[];
}

function deployment(objects: K8sObject[], name: string) {
  const w = workloads(objects).find((x) => x.kind === 'Deployment' && x.name === name);
  if (!w) throw new Error(`Deployment/${name} is not rendered`);
  return w;
}

function configMapOf(objects: K8sObject[], service: string): K8sObject {
  const name = main(deployment(objects, service)).envFrom?.[0]?.configMapRef?.name;
  const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === name);
  if (!cm?.data) throw new Error(`${service} has no ConfigMap`);
  return cm;
}

/** Variables the materialize CLI reads: its `process.env.X` uses. */
function materializeCliVariables(): Set<string> {
  const src = readRepoFile('cli/src/materialize.ts');
  return new Set([...src.matchAll(/process\.env\.([A-Z0-9_]+)/g)].map((m) => m[1] ?? ''));
}

beforeAll(() => {
  for (const o of OVERLAYS) {
    const r = renderKustomization(path.join(K8S_DIR, 'overlays', o));
    cache.set(o, r.objects);
    stderrOf.set(o, r.stderr);
  }
  stderrOf.set('base', renderKustomization(path.join(K8S_DIR, 'base')).stderr);
});

describe('kustomize', () => {
  it.each(['base', ...OVERLAYS])('%s renders with nothing on stderr (no deprecated field, no warning)', (dir) => {
    expect(stderrOf.get(dir)).toBe('');
  });

  it('a kustomization with a deprecated field does print a warning (so the check above can fail)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'recsys-kustomize-'));
    try {
      fs.writeFileSync(path.join(dir, 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: "1"\n');
      fs.writeFileSync(path.join(dir, 'kustomization.yaml'), 'commonLabels:\n  a: b\nresources:\n  - cm.yaml\n');
      expect(renderKustomization(dir).stderr).toMatch(/commonLabels.*deprecated/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each(OVERLAYS)('%s: selectors stay what earlier releases applied (part-of and name), as Deployment selectors are immutable', (overlay) => {
    const objects = rendered(overlay);
    for (const s of MESH) {
      const want = { 'app.kubernetes.io/name': s, 'app.kubernetes.io/part-of': 'recsys-mesh' };
      const d = deployment(objects, s);
      expect((d.object.spec as { selector?: unknown }).selector).toEqual({ matchLabels: want });
      expect(d.template.metadata.labels).toMatchObject(want);
      const svc = objects.find((o) => o.kind === 'Service' && o.metadata.name === s);
      expect((svc?.spec as { selector?: Record<string, string> }).selector).toEqual(want);
    }
  });
});

describe.each(OVERLAYS)('overlay %s', (overlay) => {
  it('renders the four services, each with a ServiceAccount, a Service with a grpc port and a Deployment', () => {
    const objects = rendered(overlay);
    for (const s of MESH) {
      expect(objects.find((o) => o.kind === 'ServiceAccount' && o.metadata.name === s)).toBeDefined();
      const svc = objects.find((o) => o.kind === 'Service' && o.metadata.name === s);
      expect((svc?.spec as { ports: { name: string }[] }).ports.map((p) => p.name)).toContain('grpc');
      const w = deployment(objects, s);
      expect(meshServiceOf(main(w))).toBe(s);
      expect(main(w).image).not.toMatch(/:latest$/);
    }
    // Every object lands in the overlay's namespace.
    const namespaces = new Set(objects.map((o) => o.metadata.namespace));
    expect([...namespaces]).toEqual([overlay === 'dev' ? 'recsys-dev' : 'recsys']);
  });

  it('every container has requests/limits, runs non-root, read-only, no capabilities, seccomp RuntimeDefault; servers have all three probes', () => {
    expect(checkContainers(rendered(overlay))).toEqual([]);
  });

  it('mesh containers probe their GRPC_PORT natively and their shutdown fits the grace period', () => {
    expect(checkMeshContainers(rendered(overlay), SERVICE_CONFIGS)).toEqual([]);
  });

  it('every Service port reaches a container port the service really listens on', () => {
    expect(checkServicePorts(rendered(overlay), SERVICE_CONFIGS)).toEqual([]);
  });

  it('manifests set only variables the services read, with values the services accept', () => {
    expect(checkConfig(rendered(overlay), SERVICE_CONFIGS, REQUIRED)).toEqual([]);
  });

  it('the gateway reaches each callee through a headless Service on the callee GRPC_PORT', () => {
    expect(checkGatewayAddresses(rendered(overlay), SERVICE_CONFIGS, CALLEES)).toEqual([]);
  });

  it('the materialize Job sets only what the materialize CLI reads, with the Redis URL from a Secret', () => {
    const job = workloads(rendered(overlay)).find((w) => w.kind === 'Job');
    expect(job).toBeDefined();
    const c = main(job!);
    expect(c.args).toEqual(['cli/dist/materialize.js']);
    const problems: string[] = [];
    const env = containerEnv(rendered(overlay), c, ref(job!), problems);
    expect(problems).toEqual([]);
    const reads = materializeCliVariables();
    expect(reads.size).toBeGreaterThan(0);
    for (const name of env.keys()) expect([name, reads.has(name)]).toEqual([name, true]);
    expect(env.get('REDIS_URL')).toEqual({ secret: 'recsys-redis/url' });
    // Same artifacts mount path as the services that read artifacts.
    const rankerEnv = containerEnv(rendered(overlay), main(deployment(rendered(overlay), 'ranker')), 'ranker', problems);
    expect(env.get('ARTIFACTS_DIR')).toBe(rankerEnv.get('ARTIFACTS_DIR'));
  });

  it('artifact readers get the artifact image through an init container into the mounted ARTIFACTS_DIR', () => {
    for (const w of workloads(rendered(overlay)).filter((x) => x.name !== 'redis')) {
      const c = main(w);
      const problems: string[] = [];
      const env = containerEnv(rendered(overlay), c, ref(w), problems);
      const dir = env.get('ARTIFACTS_DIR');
      const backend = env.get('FEATURE_STORE_BACKEND');
      if (backend === 'redis' || meshServiceOf(c) === 'gateway') {
        expect([ref(w), dir]).toEqual([ref(w), undefined]);
        continue;
      }
      expect([ref(w), typeof dir]).toEqual([ref(w), 'string']);
      const init = (w.template.spec.initContainers ?? []).find((c) => c.name === 'artifacts');
      expect(init?.command?.join(' ')).toBe(`cp -R /artifacts/. ${String(dir)}/`);
      const mounts = (c as unknown as { volumeMounts: { mountPath: string; readOnly?: boolean }[] }).volumeMounts;
      expect(mounts).toContainEqual(expect.objectContaining({ mountPath: dir, readOnly: true }));
    }
  });
});

describe('dev overlay', () => {
  it('runs one replica of each service and an in-cluster Redis whose password comes from a Secret', () => {
    const objects = rendered('dev');
    for (const s of MESH) expect([s, (deployment(objects, s).object.spec as { replicas?: number }).replicas ?? 1]).toEqual([s, 1]);
    const redis = workloads(objects).find((w) => w.kind === 'StatefulSet' && w.name === 'redis');
    expect(redis).toBeDefined();
    const env = containerEnv(objects, main(redis!), 'redis', []);
    expect(env.get('REDIS_PASSWORD')).toEqual({ secret: 'recsys-redis/password' });
    expect(main(redis!).args).toContain('$(REDIS_PASSWORD)');
    expect(objects.filter((o) => o.kind === 'NetworkPolicy')).toEqual([]);
  });
});

describe('prod overlay', () => {
  it('every service has an HPA with at least 2 replicas (and no fixed count to fight it), a PDB and topology spread', () => {
    const objects = rendered('prod');
    for (const s of MESH) {
      const d = deployment(objects, s);
      expect([s, (d.object.spec as { replicas?: number }).replicas]).toEqual([s, undefined]);
      const hpa = objects.find((o) => o.kind === 'HorizontalPodAutoscaler' && (o.spec as { scaleTargetRef: { name: string } }).scaleTargetRef.name === s);
      expect([s, (hpa?.spec as { minReplicas?: number } | undefined)?.minReplicas ?? 0]).toEqual([s, expect.any(Number)]);
      expect((hpa!.spec as { minReplicas: number }).minReplicas).toBeGreaterThanOrEqual(2);
      const pdb = objects.find(
        (o) => o.kind === 'PodDisruptionBudget' && (o.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels['app.kubernetes.io/name'] === s,
      );
      expect([s, pdb !== undefined]).toEqual([s, true]);
      const spread = (d.template.spec as { topologySpreadConstraints?: { topologyKey: string }[] }).topologySpreadConstraints ?? [];
      expect([s, spread.map((t) => t.topologyKey).sort()]).toEqual([s, ['kubernetes.io/hostname', 'topology.kubernetes.io/zone']]);
    }
  });

  it('NetworkPolicies admit exactly the call graph: anyone → gateway, gateway → the three services, feature store → Redis', () => {
    // prod brings no Redis of its own: evaluate the policies with the dev overlay's Redis pod.
    const redis = policyPods(rendered('dev')).filter((p) => p.name === 'redis');
    expect(redis).toHaveLength(1);
    const pods = [...policyPods(rendered('prod')), ...redis, UNLISTED];
    expect(admittedEdges(rendered('prod'), pods)).toEqual(expectedEdges(pods.map((p) => p.name)));
  });
});

/** A pod someone adds later without a policy of its own: the default deny must isolate it. */
const UNLISTED = { name: 'unlisted', labels: { 'app.kubernetes.io/name': 'unlisted' }, ports: [{ port: 8080 }] };

/** The call graph, as `from → to:port` edges, for the given pod names. */
function expectedEdges(podNames: string[]): string[] {
  // The gateway's gRPC port and its HTTP/JSON API are open to everyone.
  const edges = [...podNames, 'outside'].flatMap((src) => [`${src} → gateway:50051`, `${src} → gateway:8080`]);
  edges.push('gateway → candidate-generator:50052', 'gateway → feature-store:50053', 'gateway → ranker:50054');
  edges.push('feature-store → redis:6379', 'feature-store-materialize → redis:6379');
  return [...new Set(edges)].sort();
}

describe('the checks fail on broken manifests', () => {
  const broken = (mutate: (objects: K8sObject[]) => void): K8sObject[] => {
    const objects = clone(rendered('prod'));
    mutate(objects);
    return objects;
  };
  const ranker = (objects: K8sObject[]) => deployment(objects, 'ranker').template.spec;

  it('a missing probe, limit, read-only root or dropped capability is reported', () => {
    const objects = broken((o) => {
      const c = main(deployment(o, 'ranker'));
      delete c.readinessProbe;
      delete c.resources!.limits!.memory;
      c.securityContext!.readOnlyRootFilesystem = false;
      c.securityContext!.capabilities = { drop: [] };
      ranker(o).initContainers![0]!.securityContext!.runAsNonRoot = false;
    });
    const problems = checkContainers(objects);
    expect(problems).toEqual(
      expect.arrayContaining([
        'Deployment/ranker container ranker: no limits.memory',
        'Deployment/ranker container ranker: readOnlyRootFilesystem is not true',
        'Deployment/ranker container ranker: capabilities do not drop ALL',
        'Deployment/ranker container ranker: no readinessProbe',
        'Deployment/ranker container artifacts: runAsNonRoot is not true',
      ]),
    );
  });

  it('a ConfigMap port the Service and probes do not use is reported', () => {
    const objects = broken((o) => {
      configMapOf(o, 'ranker').data!.GRPC_PORT = '50055';
    });
    expect(checkServicePorts(objects, SERVICE_CONFIGS)).toContain(
      'Service/ranker port grpc → Deployment/ranker: container port 50054, but ranker listens on GRPC_PORT 50055',
    );
    expect(checkMeshContainers(objects, SERVICE_CONFIGS)).toContain('Deployment/ranker container ranker: readinessProbe checks port 50054 but GRPC_PORT is 50055');
    expect(checkGatewayAddresses(objects, SERVICE_CONFIGS, CALLEES)).toContain(
      'Deployment/gateway container gateway: RANKER_ADDR uses port 50054, but ranker listens on GRPC_PORT 50055',
    );
  });

  it('a Service targetPort that is no container port is reported', () => {
    const objects = broken((o) => {
      const svc = o.find((x) => x.kind === 'Service' && x.metadata.name === 'feature-store')!;
      const metrics = (svc.spec as { ports: { name: string; targetPort: string }[] }).ports.find((p) => p.name === 'metrics')!;
      metrics.targetPort = 'prometheus';
    });
    expect(checkServicePorts(objects, SERVICE_CONFIGS)).toEqual(['Service/feature-store port metrics → Deployment/feature-store: targetPort prometheus is not a container port']);
  });

  it('a variable no service reads, a missing one, an invalid value and a literal password are reported', () => {
    const objects = broken((o) => {
      configMapOf(o, 'ranker').data!.ORT_THREADS = '2';
      configMapOf(o, 'ranker').data!.MAX_CANDIDATES = '0';
      delete configMapOf(o, 'candidate-generator').data!.ARTIFACTS_DIR;
      const fs = main(deployment(o, 'feature-store'));
      fs.env = [{ name: 'REDIS_URL', value: 'redis://:hunter2@redis:6379/0' }];
    });
    expect(checkConfig(objects, SERVICE_CONFIGS, REQUIRED).sort()).toEqual(
      [
        'Deployment/ranker container ranker (ranker): sets ORT_THREADS, which services/ranker/src/config.ts does not read',
        'Deployment/ranker container ranker (ranker): configuration: MAX_CANDIDATES must be between 1 and 100000, got 0',
        'Deployment/candidate-generator container candidate-generator (candidate-generator): does not set ARTIFACTS_DIR',
        'Deployment/feature-store container feature-store (feature-store): REDIS_URL carries a literal password; use a secretKeyRef',
      ].sort(),
    );
  });

  it('a shutdown longer than the grace period, or too short for the readiness probe, is reported', () => {
    const objects = broken((o) => {
      ranker(o).terminationGracePeriodSeconds = 10;
      configMapOf(o, 'gateway').data!.SHUTDOWN_DELAY_MS = '500';
    });
    expect(checkMeshContainers(objects, SERVICE_CONFIGS).sort()).toEqual(
      [
        'Deployment/ranker container ranker: terminationGracePeriodSeconds 10 s does not exceed preStop 3000 ms + SHUTDOWN_DELAY_MS 5000 + DRAIN_TIMEOUT_MS 10000',
        'Deployment/gateway container gateway: SHUTDOWN_DELAY_MS 500 is shorter than the readiness probe needs to see NOT_SERVING (4000 ms)',
      ].sort(),
    );
  });

  it('a gateway address through a ClusterIP Service is reported', () => {
    const objects = broken((o) => {
      const svc = o.find((x) => x.kind === 'Service' && x.metadata.name === 'candidate-generator')!;
      delete (svc.spec as { clusterIP?: string }).clusterIP;
    });
    expect(checkGatewayAddresses(objects, SERVICE_CONFIGS, CALLEES)).toEqual([
      'Deployment/gateway container gateway: CANDIDATE_GENERATOR_ADDR names Service candidate-generator, which is not headless (clusterIP: None)',
    ]);
  });

  it('a NetworkPolicy that opens the ranker to everyone, or a missing default deny, changes the admitted edges', () => {
    const redis = policyPods(rendered('dev')).filter((p) => p.name === 'redis');
    const open = broken((o) => {
      const p = o.find((x) => x.kind === 'NetworkPolicy' && x.metadata.name === 'ranker-ingress')!;
      (p.spec as { ingress: unknown[] }).ingress.push({ ports: [{ port: 50054 }] });
    });
    const pods = [...policyPods(open), ...redis, UNLISTED];
    const edges = admittedEdges(open, pods);
    expect(edges).toContain('outside → ranker:50054');
    expect(edges).not.toEqual(expectedEdges(pods.map((p) => p.name)));

    const noDeny = broken((o) => o.splice(o.findIndex((x) => x.kind === 'NetworkPolicy' && x.metadata.name === 'default-deny-ingress'), 1));
    const open2 = admittedEdges(noDeny, [...policyPods(noDeny), ...redis, UNLISTED]);
    expect(open2).toContain('outside → unlisted:8080');
  });

  it('parseManifests refuses invalid YAML', () => {
    expect(() => parseManifests('a: [1, 2\n')).toThrow(/invalid YAML/);
  });
});

/**
 * Checks over rendered Kubernetes manifests (the output of `kubectl kustomize`), as pure
 * functions: each returns a list of problems, empty when the manifests are right.
 * deploy-manifests.test.ts runs them on the dev and prod overlays, and also on broken
 * copies, so that every check is shown to fail when it should.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ConfigSpec, loadConfig } from '@recsys/grpc-kit';

/* ---------------------------------------------------------------- types */

/** The parts of the Kubernetes objects the checks read (everything else is ignored). */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
}

interface Probe {
  grpc?: { port: number; service?: string };
  tcpSocket?: { port: number | string };
  exec?: { command: string[] };
  periodSeconds?: number;
  failureThreshold?: number;
}

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name: string; key: string };
    configMapKeyRef?: { name: string; key: string };
  };
}

/** A container as far as the checks look at it. */
export interface Container {
  name: string;
  image?: string;
  args?: string[];
  command?: string[];
  env?: EnvVar[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  ports?: { name?: string; containerPort: number }[];
  startupProbe?: Probe;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: SecurityContext;
}

interface SecurityContext {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  readOnlyRootFilesystem?: boolean;
  allowPrivilegeEscalation?: boolean;
  capabilities?: { drop?: string[]; add?: string[] };
  seccompProfile?: { type: string };
}

/** A pod template of a Deployment, StatefulSet or Job. */
export interface PodTemplate {
  metadata: { labels?: Record<string, string> };
  spec: {
    containers: Container[];
    initContainers?: Container[];
    securityContext?: SecurityContext;
    terminationGracePeriodSeconds?: number;
  };
}

/** One workload (Deployment, StatefulSet or Job) and its pod template. */
export interface Workload {
  kind: string;
  name: string;
  template: PodTemplate;
  object: K8sObject;
}

interface ServicePort {
  name?: string;
  port: number;
  targetPort?: number | string;
}

interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: unknown[];
}

interface NetworkPolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: unknown;
}

interface NetworkPolicySpec {
  podSelector: LabelSelector;
  policyTypes?: string[];
  ingress?: { from?: NetworkPolicyPeer[]; ports?: { port?: number | string; protocol?: string }[] }[];
}

/* ---------------------------------------------------------------- rendering */

/** The repository root (this file is test/support/deploy-checks.ts). */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** What `kubectl kustomize` printed for one directory. */
export interface Rendered {
  objects: K8sObject[];
  /** Everything kustomize wrote to stderr: deprecation and other warnings (empty when clean). */
  stderr: string;
}

/**
 * Renders a kustomization directory with the kubectl on PATH (or $KUBECTL) and parses
 * every document. The files use current kustomize fields (`resources`, `patches`,
 * `labels`), which need kubectl ≥ 1.27 (kustomize v5); an older one fails here with
 * kustomize's own message.
 */
export function renderKustomization(dir: string): Rendered {
  const kubectl = process.env.KUBECTL ?? 'kubectl';
  const r = spawnSync(kubectl, ['kustomize', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 16 * 1024 * 1024 });
  if (r.error) {
    if ((r.error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(`${kubectl} not found: install kubectl ≥ 1.27 (its built-in kustomize v5 renders deploy/k8s), or set KUBECTL`);
    }
    throw new Error(`${kubectl} kustomize ${dir} failed: ${r.error.message}`);
  }
  if (r.status !== 0) throw new Error(`${kubectl} kustomize ${dir} failed (exit ${r.status}; needs kubectl ≥ 1.27): ${r.stderr}`);
  return { objects: parseManifests(r.stdout), stderr: r.stderr };
}

/** Renders `deploy/k8s/overlays/<overlay>` (see renderKustomization). */
export function renderOverlay(overlay: string): K8sObject[] {
  return renderKustomization(path.join(REPO_ROOT, 'deploy', 'k8s', 'overlays', overlay)).objects;
}

/** Parses a multi-document YAML stream, failing on any YAML error. */
export function parseManifests(text: string): K8sObject[] {
  const objects: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`invalid YAML: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value = doc.toJS() as K8sObject | null;
    if (value) objects.push(value);
  }
  return objects;
}

/* ---------------------------------------------------------------- lookups */

/** `Kind/name` of an object, for messages. */
export function ref(o: { kind: string; metadata: { name: string } } | Workload): string {
  return 'metadata' in o ? `${o.kind}/${o.metadata.name}` : `${o.kind}/${o.name}`;
}

/** Every Deployment, StatefulSet and Job with its pod template. */
export function workloads(objects: K8sObject[]): Workload[] {
  return objects
    .filter((o) => ['Deployment', 'StatefulSet', 'Job', 'DaemonSet'].includes(o.kind))
    .map((o) => ({ kind: o.kind, name: o.metadata.name, template: (o.spec as { template: PodTemplate }).template, object: o }));
}

/** The mesh service a container runs (`services/<name>/dist/main.js`), if any. */
export function meshServiceOf(c: Container): string | undefined {
  const argv = [...(c.command ?? []), ...(c.args ?? [])];
  for (const a of argv) {
    const m = /^services\/([a-z-]+)\/dist\/main\.js$/.exec(a);
    if (m) return m[1];
  }
  return undefined;
}

function find(objects: K8sObject[], kind: string, name: string): K8sObject | undefined {
  return objects.find((o) => o.kind === kind && o.metadata.name === name);
}

/**
 * The environment a container gets: `value`s and ConfigMap entries as strings, Secret
 * references as `{secret}` markers. Unresolvable references are reported as problems.
 */
export function containerEnv(objects: K8sObject[], c: Container, where: string, problems: string[]): Map<string, string | { secret: string }> {
  const env = new Map<string, string | { secret: string }>();
  for (const from of c.envFrom ?? []) {
    if (from.secretRef) {
      problems.push(`${where}: envFrom secretRef ${from.secretRef.name} imports unknown keys; reference each secret key by name`);
      continue;
    }
    const name = from.configMapRef?.name ?? '';
    const cm = find(objects, 'ConfigMap', name);
    if (!cm) {
      problems.push(`${where}: envFrom ConfigMap ${name} is not in the rendered manifests`);
      continue;
    }
    for (const [k, v] of Object.entries(cm.data ?? {})) env.set(k, v);
  }
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env.set(e.name, e.value);
    else if (e.valueFrom?.secretKeyRef) env.set(e.name, { secret: `${e.valueFrom.secretKeyRef.name}/${e.valueFrom.secretKeyRef.key}` });
    else if (e.valueFrom?.configMapKeyRef) {
      const { name, key } = e.valueFrom.configMapKeyRef;
      const value = find(objects, 'ConfigMap', name)?.data?.[key];
      if (value === undefined) problems.push(`${where}: ${e.name} refers to ConfigMap ${name} key ${key}, which does not exist`);
      else env.set(e.name, value);
    } else problems.push(`${where}: ${e.name} has neither a value nor a supported valueFrom`);
  }
  return env;
}

/** The value a service will use for `name`: what the manifest sets, else the spec default. */
export function effective(spec: ConfigSpec, env: Map<string, string | { secret: string }>, name: string): unknown {
  const setting = spec[name];
  if (!setting) throw new Error(`${name} is not in the service's config spec`);
  const raw = env.get(name);
  return typeof raw === 'string' ? setting.parse(raw) : setting.default;
}

function matches(selector: LabelSelector | undefined, labels: Record<string, string> | undefined): boolean {
  if (!selector) return false;
  if (selector.matchExpressions && selector.matchExpressions.length > 0) {
    throw new Error('matchExpressions are not evaluated by these checks; use matchLabels');
  }
  return Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels?.[k] === v);
}

function allContainers(w: Workload): { c: Container; init: boolean }[] {
  return [
    ...(w.template.spec.initContainers ?? []).map((c) => ({ c, init: true })),
    ...w.template.spec.containers.map((c) => ({ c, init: false })),
  ];
}

/* ---------------------------------------------------------------- checks */

/**
 * Every container (init containers and Jobs included): requests and limits for CPU and
 * memory, non-root, read-only root filesystem, no privilege escalation, all capabilities
 * dropped, seccomp RuntimeDefault. Long-running containers (not Jobs, not init
 * containers) also have startup, readiness and liveness probes.
 */
export function checkContainers(objects: K8sObject[]): string[] {
  const problems: string[] = [];
  for (const w of workloads(objects)) {
    const pod = w.template.spec.securityContext ?? {};
    for (const { c, init } of allContainers(w)) {
      const where = `${ref(w)} container ${c.name}`;
      for (const kind of ['requests', 'limits'] as const) {
        for (const r of ['cpu', 'memory']) if (!c.resources?.[kind]?.[r]) problems.push(`${where}: no ${kind}.${r}`);
      }
      const sc = c.securityContext ?? {};
      if ((sc.runAsNonRoot ?? pod.runAsNonRoot) !== true) problems.push(`${where}: runAsNonRoot is not true`);
      if ((sc.runAsUser ?? pod.runAsUser) === 0) problems.push(`${where}: runs as uid 0`);
      if (sc.readOnlyRootFilesystem !== true) problems.push(`${where}: readOnlyRootFilesystem is not true`);
      if (sc.allowPrivilegeEscalation !== false) problems.push(`${where}: allowPrivilegeEscalation is not false`);
      if (!(sc.capabilities?.drop ?? []).includes('ALL')) problems.push(`${where}: capabilities do not drop ALL`);
      if ((sc.capabilities?.add ?? []).length > 0) problems.push(`${where}: adds capabilities ${sc.capabilities?.add?.join(', ')}`);
      if ((sc.seccompProfile ?? pod.seccompProfile)?.type !== 'RuntimeDefault') problems.push(`${where}: seccompProfile is not RuntimeDefault`);
      if (!init && w.kind !== 'Job') {
        for (const p of ['startupProbe', 'readinessProbe', 'livenessProbe'] as const) if (!c[p]) problems.push(`${where}: no ${p}`);
      }
    }
  }
  return problems;
}

/** Seconds a preStop `sleep N` waits (0 without one). */
function preStopSeconds(c: Container): number {
  const cmd = c.lifecycle?.preStop?.exec?.command ?? [];
  return cmd[0] === 'sleep' ? Number(cmd[1]) : 0;
}

/**
 * Mesh services (`services/<name>/dist/main.js`): gRPC probes on the port the service
 * listens on (readiness on the service's own health name), and a shutdown that fits the
 * grace period: preStop + SHUTDOWN_DELAY_MS + DRAIN_TIMEOUT_MS < terminationGracePeriod,
 * with SHUTDOWN_DELAY_MS long enough for the readiness probe to see NOT_SERVING.
 */
export function checkMeshContainers(objects: K8sObject[], specs: Record<string, ConfigSpec>): string[] {
  const problems: string[] = [];
  for (const w of workloads(objects)) {
    for (const c of w.template.spec.containers) {
      const service = meshServiceOf(c);
      if (!service) continue;
      const where = `${ref(w)} container ${c.name}`;
      const spec = specs[service];
      if (!spec) {
        problems.push(`${where}: runs unknown service ${service}`);
        continue;
      }
      const env = containerEnv(objects, c, where, problems);
      const grpcPort = effective(spec, env, 'GRPC_PORT') as number;
      for (const p of ['startupProbe', 'readinessProbe', 'livenessProbe'] as const) {
        const probe = c[p];
        if (!probe) continue;
        if (!probe.grpc) problems.push(`${where}: ${p} is not a native gRPC probe`);
        else if (probe.grpc.port !== grpcPort) problems.push(`${where}: ${p} checks port ${probe.grpc.port} but GRPC_PORT is ${grpcPort}`);
      }
      const readiness = c.readinessProbe?.grpc?.service ?? '';
      if (!/^recsys\.v1\.[A-Za-z]+Service$/.test(readiness)) {
        problems.push(`${where}: readinessProbe should check the service's own health name (recsys.v1.*Service), got "${readiness}"`);
      }
      const delay = effective(spec, env, 'SHUTDOWN_DELAY_MS') as number;
      const drain = effective(spec, env, 'DRAIN_TIMEOUT_MS') as number;
      const grace = (w.template.spec.terminationGracePeriodSeconds ?? 30) * 1000;
      const preStop = preStopSeconds(c) * 1000;
      if (preStop === 0) problems.push(`${where}: no preStop sleep (endpoints must drop before the listener closes)`);
      if (preStop + delay + drain >= grace) {
        problems.push(`${where}: terminationGracePeriodSeconds ${grace / 1000} s does not exceed preStop ${preStop} ms + SHUTDOWN_DELAY_MS ${delay} + DRAIN_TIMEOUT_MS ${drain}`);
      }
      const rp = c.readinessProbe;
      const seen = (rp?.periodSeconds ?? 10) * (rp?.failureThreshold ?? 3) * 1000;
      if (delay < seen) problems.push(`${where}: SHUTDOWN_DELAY_MS ${delay} is shorter than the readiness probe needs to see NOT_SERVING (${seen} ms)`);
    }
  }
  return problems;
}

/**
 * Configuration: every variable a mesh container sets is one its service reads (from
 * services/<name>/src/config.ts), passes that service's own validation, and the
 * variables whose defaults only suit a laptop are set. Secrets only by reference.
 */
export function checkConfig(objects: K8sObject[], specs: Record<string, ConfigSpec>, required: Record<string, string[]>): string[] {
  const problems: string[] = [];
  for (const o of objects) if (o.kind === 'Secret') problems.push(`${ref(o)}: a literal Secret in the manifests; reference one created out of band`);
  for (const w of workloads(objects)) {
    for (const c of w.template.spec.containers) {
      const service = meshServiceOf(c);
      if (!service || !specs[service]) continue;
      const where = `${ref(w)} container ${c.name} (${service})`;
      const spec = specs[service];
      const env = containerEnv(objects, c, where, problems);
      for (const name of env.keys()) {
        if (!(name in spec)) problems.push(`${where}: sets ${name}, which services/${service}/src/config.ts does not read`);
      }
      for (const name of required[service] ?? []) if (!env.has(name)) problems.push(`${where}: does not set ${name}`);
      const raw: NodeJS.ProcessEnv = {};
      for (const [k, v] of env) if (typeof v === 'string' && k in spec) raw[k] = v;
      try {
        loadConfig(spec, raw);
      } catch (err) {
        problems.push(`${where}: ${(err as Error).message}`);
      }
      for (const [k, v] of env) {
        if (typeof v === 'string' && /:\/\/[^/@\s]*:[^/@\s]+@/.test(v)) problems.push(`${where}: ${k} carries a literal password; use a secretKeyRef`);
      }
    }
  }
  return problems;
}

/**
 * Service → pod wiring: every Service selects at least one pod template, every port's
 * targetPort is a declared container port, and for mesh services the port named `grpc`
 * is GRPC_PORT and every other port is GRPC_PORT or METRICS_PORT — the values the
 * service really listens on (its ConfigMap, else its spec default).
 */
export function checkServicePorts(objects: K8sObject[], specs: Record<string, ConfigSpec>): string[] {
  const problems: string[] = [];
  const ws = workloads(objects).filter((w) => w.kind !== 'Job');
  for (const svc of objects.filter((o) => o.kind === 'Service')) {
    const spec = svc.spec as { selector?: Record<string, string>; ports: ServicePort[] };
    const selected = ws.filter((w) => matches({ matchLabels: spec.selector }, w.template.metadata.labels));
    if (!spec.selector || selected.length === 0) {
      problems.push(`${ref(svc)}: selects no pod template`);
      continue;
    }
    for (const w of selected) {
      for (const port of spec.ports) {
        const target = port.targetPort ?? port.port;
        const hit = w.template.spec.containers
          .flatMap((c) => (c.ports ?? []).map((p) => ({ c, p })))
          .find(({ p }) => (typeof target === 'string' ? p.name === target : p.containerPort === target));
        const where = `${ref(svc)} port ${port.name ?? port.port} → ${ref(w)}`;
        if (!hit) {
          problems.push(`${where}: targetPort ${target} is not a container port`);
          continue;
        }
        const service = meshServiceOf(hit.c);
        if (!service || !specs[service]) continue;
        const env = containerEnv(objects, hit.c, where, problems);
        const grpc = effective(specs[service], env, 'GRPC_PORT') as number;
        const metrics = effective(specs[service], env, 'METRICS_PORT') as number;
        // The gateway also listens on HTTP_PORT (its HTTP/JSON API) unless HTTP_ENABLED is false.
        const http = specs[service].HTTP_PORT && effective(specs[service], env, 'HTTP_ENABLED') !== false ? (effective(specs[service], env, 'HTTP_PORT') as number) : undefined;
        const listening = port.name === 'grpc' ? [grpc] : port.name === 'http' && http !== undefined ? [http] : [grpc, metrics, ...(http !== undefined ? [http] : [])];
        if (!listening.includes(hit.p.containerPort)) {
          problems.push(
            `${where}: container port ${hit.p.containerPort}, but ${service} listens on ${port.name === 'grpc' ? `GRPC_PORT ${grpc}` : `${grpc} (gRPC)${http !== undefined ? `, ${http} (HTTP)` : ''} and ${metrics} (metrics)`}`,
          );
        }
      }
    }
    const meshBehind = selected.some((w) => w.template.spec.containers.some((c) => meshServiceOf(c)));
    if (meshBehind && !spec.ports.some((p) => p.name === 'grpc')) problems.push(`${ref(svc)}: no port named grpc`);
  }
  return problems;
}

/**
 * The gateway's downstream addresses: each `dns:<name>:<port>` names a headless Service
 * (so the gateway balances per call over pod IPs) whose port reaches the callee's
 * GRPC_PORT.
 */
export function checkGatewayAddresses(objects: K8sObject[], specs: Record<string, ConfigSpec>, callees: Record<string, string>): string[] {
  const problems: string[] = [];
  const gatewaySpec = specs.gateway;
  if (!gatewaySpec) return ['no gateway config spec'];
  for (const w of workloads(objects)) {
    for (const c of w.template.spec.containers) {
      if (meshServiceOf(c) !== 'gateway') continue;
      const where = `${ref(w)} container ${c.name}`;
      const env = containerEnv(objects, c, where, problems);
      for (const [variable, callee] of Object.entries(callees)) {
        const value = String(effective(gatewaySpec, env, variable));
        const m = /^dns:(?:\/\/\/)?([a-z0-9-]+):(\d+)$/.exec(value);
        const calleeSpec = specs[callee];
        if (!m?.[1] || !calleeSpec) {
          problems.push(`${where}: ${variable}=${value} is not dns:<service>:<port>`);
          continue;
        }
        const svc = find(objects, 'Service', m[1]);
        if (!svc) {
          problems.push(`${where}: ${variable} names Service ${m[1]}, which does not exist`);
          continue;
        }
        const sspec = svc.spec as { clusterIP?: string; selector?: Record<string, string>; ports: ServicePort[] };
        if (sspec.clusterIP !== 'None') problems.push(`${where}: ${variable} names Service ${m[1]}, which is not headless (clusterIP: None)`);
        // A headless Service resolves to pod IPs: the port in the address must be the pod's.
        const pods = workloads(objects).filter((x) => x.kind !== 'Job' && matches({ matchLabels: sspec.selector }, x.template.metadata.labels));
        const runsCallee = pods.flatMap((x) => x.template.spec.containers).filter((x) => meshServiceOf(x) === callee);
        if (runsCallee.length === 0) problems.push(`${where}: ${variable} names Service ${m[1]}, whose pods do not run ${callee}`);
        for (const cc of runsCallee) {
          const port = effective(calleeSpec, containerEnv(objects, cc, where, problems), 'GRPC_PORT');
          if (Number(m[2]) !== port) problems.push(`${where}: ${variable} uses port ${m[2]}, but ${callee} listens on GRPC_PORT ${String(port)}`);
        }
      }
    }
  }
  return problems;
}

/** One admitted connection: `from` (a pod's name label, or `outside`) → `to`:port. */
export type Edge = string;

/** A pod that NetworkPolicies may select: its labels and TCP ports. */
export interface PolicyPod {
  name: string;
  labels: Record<string, string>;
  ports: { name?: string; port: number }[];
}

/** Pods of the rendered workloads, named by their app.kubernetes.io/name label. */
export function policyPods(objects: K8sObject[]): PolicyPod[] {
  return workloads(objects).map((w) => ({
    name: w.template.metadata.labels?.['app.kubernetes.io/name'] ?? w.name,
    labels: w.template.metadata.labels ?? {},
    ports: w.template.spec.containers.flatMap((c) => (c.ports ?? []).map((p) => ({ name: p.name, port: p.containerPort }))),
  }));
}

/**
 * Evaluates the namespace's NetworkPolicies (ingress, matchLabels, TCP ports) the way
 * Kubernetes does: a pod selected by no policy admits everything; a selected pod admits
 * the union of its policies' rules. Returns every admitted `from → to:port` edge,
 * `from` being another pod of `pods` or `outside` (anything beyond the namespace).
 */
export function admittedEdges(objects: K8sObject[], pods: PolicyPod[]): Edge[] {
  const policies = objects.filter((o) => o.kind === 'NetworkPolicy').map((o) => o.spec as unknown as NetworkPolicySpec);
  const sources = [...pods.map((p) => p.name), 'outside'];
  const edges = new Set<Edge>();
  for (const dst of pods) {
    const selecting = policies.filter((p) => matches(p.podSelector, dst.labels) && (p.policyTypes ?? ['Ingress']).includes('Ingress'));
    for (const port of dst.ports) {
      for (const src of sources) {
        const srcPod = pods.find((p) => p.name === src);
        const admitted =
          selecting.length === 0 ||
          selecting.some((policy) =>
            (policy.ingress ?? []).some((rule) => {
              const portOk = !rule.ports || rule.ports.length === 0 || rule.ports.some((rp) => rp.port === undefined || rp.port === port.port || rp.port === port.name);
              if (!portOk) return false;
              if (!rule.from || rule.from.length === 0) return true;
              return rule.from.some((peer) => {
                if (peer.ipBlock || peer.namespaceSelector) return true; // reaches beyond the namespace
                return srcPod !== undefined && matches(peer.podSelector, srcPod.labels);
              });
            }),
          );
        if (admitted) edges.add(`${src} → ${dst.name}:${port.port}`);
      }
    }
  }
  return [...edges].sort();
}

/** Reads the file under the repository root. */
export function readRepoFile(rel: string): string {
  return fs.readFileSync(path.join(REPO_ROOT, rel), 'utf8');
}

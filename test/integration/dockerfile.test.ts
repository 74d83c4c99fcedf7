/**
 * The Dockerfile, without a Docker engine: its stages are replayed in a clean temporary
 * folder (the same COPY lines from a context filtered by .dockerignore, the same
 * `npm ci` and `tsc -b`, the same production install), and the final stage's own start
 * command must bring services to SERVING. What the replay cannot show — the base image,
 * the user switch — is checked by reading the file.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO_ROOT, SERVICE_NODE_FLAGS, freePort, waitForServing } from '@recsys/local';
import { Replay, dockerignore, parseDockerfile, replayDockerfile } from '../support/dockerfile-replay';
import { testArtifactsRoot } from '../support/helpers';

const DOCKERFILE = path.join(REPO_ROOT, 'Dockerfile');

describe('Dockerfile', () => {
  let work: string;
  let replay: Replay;
  const children: ChildProcess[] = [];

  beforeAll(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'recsys-docker-replay-'));
    const lines: string[] = [];
    try {
      replay = replayDockerfile(DOCKERFILE, REPO_ROOT, work, (line) => lines.push(line));
    } catch (err) {
      const e = err as Error & { stderr?: Buffer; stdout?: Buffer };
      throw new Error(`replaying the Dockerfile failed after:\n${lines.join('\n')}\n${e.message}\n${e.stdout?.toString() ?? ''}${e.stderr?.toString() ?? ''}`);
    }
  }, 600_000);

  afterAll(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    fs.rmSync(work, { recursive: true, force: true });
  });

  /** Starts the image's command (node …) in the runtime folder, with `args` replacing CMD (as a pod's `args` do). */
  async function startFromImage(args: string[] | undefined, env: Record<string, string>): Promise<{ address: string; child: ChildProcess; output: string[] }> {
    const [entry, ...rest] = replay.command;
    expect(entry).toBe('node');
    const cmdArgs = args ? [...replay.entrypoint.slice(1), ...args] : rest;
    const port = await freePort();
    const child = spawn(process.execPath, cmdArgs, {
      cwd: replay.finalDir,
      // Only the image's ENV and what a pod sets: nothing inherited from the repository.
      // HTTP_PORT: the gateway's HTTP/JSON API on a free port, not the default 8080 another process may hold.
      env: { PATH: process.env.PATH ?? '', ...replay.env, GRPC_HOST: '127.0.0.1', GRPC_PORT: String(port), METRICS_PORT: '-1', HTTP_PORT: String(await freePort()), LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    const output: string[] = [];
    child.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
    child.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
    const address = `127.0.0.1:${port}`;
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code) => reject(new Error(`${cmdArgs.join(' ')} exited with ${code} before SERVING:\n${output.join('')}`))),
    );
    await Promise.race([waitForServing(address, 120_000), exited]);
    exited.catch(() => {});
    return { address, child, output };
  }

  it('builds from the repository root with one copy of the contracts and installs production dependencies only', () => {
    const app = replay.finalDir;
    // Compiled services and the descriptor set reflection serves, once, in the shared workspace package.
    for (const s of ['gateway', 'candidate-generator', 'feature-store', 'ranker']) {
      expect(fs.existsSync(path.join(app, 'services', s, 'dist', 'main.js'))).toBe(true);
      expect(fs.existsSync(path.join(app, 'services', s, 'src'))).toBe(false);
    }
    expect(fs.existsSync(path.join(app, 'libs', 'proto', 'descriptors', 'recsys.binpb'))).toBe(true);
    expect(fs.existsSync(path.join(app, 'proto'))).toBe(false);
    // --omit=dev: no compiler, test runner or code generator in the image.
    for (const dev of ['typescript', 'jest', 'ts-proto', '@bufbuild/buf', 'yaml']) {
      expect([dev, fs.existsSync(path.join(app, 'node_modules', dev))]).toEqual([dev, false]);
    }
    expect(fs.existsSync(path.join(app, 'node_modules', 'onnxruntime-node'))).toBe(true);
    // The build stage really compiled (its dist is what the runtime copied).
    expect(fs.existsSync(path.join(replay.stageDirs.build ?? '', 'services', 'ranker', 'dist', 'main.js'))).toBe(true);
  });

  it('runs as a non-root user, on a pinned Node 20 base, with the service chosen by the command', () => {
    expect(replay.user).toBe('1000:1000');
    const text = fs.readFileSync(DOCKERFILE, 'utf8');
    expect(text).toMatch(/^ARG NODE_IMAGE=node:20-[a-z0-9.-]+$/m);
    expect(replay.command).toEqual(['node', ...SERVICE_NODE_FLAGS, 'services/gateway/dist/main.js']);
    const stages = parseDockerfile(text);
    expect(stages.map((s) => s.name)).toEqual(['build', 'runtime']);
  });

  it('runs every service with the V8 flags the local launcher uses', () => {
    // The ENTRYPOINT, not CMD: the Kubernetes manifests replace CMD with their `args`.
    expect(replay.entrypoint).toEqual(['node', ...SERVICE_NODE_FLAGS]);
  });

  it('the default command starts the gateway and it reaches SERVING', async () => {
    const { address, child } = await startFromImage(undefined, {});
    expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(code).toBe(0);
  }, 180_000);

  it('ships the materialize command the Kubernetes Job runs, and it starts', () => {
    const run = (args: string[]) =>
      spawnSync(process.execPath, ['cli/dist/materialize.js', ...args], { cwd: replay.finalDir, env: { PATH: process.env.PATH ?? '', ...replay.env }, encoding: 'utf8', timeout: 60_000 });
    const help = run(['--help']);
    expect({ status: help.status, stderr: help.stderr }).toEqual({ status: 0, stderr: '' });
    expect(help.stdout).toMatch(/^Usage: npm run materialize/);
    // Without a Redis URL it names what is missing instead of crashing on a missing module.
    const bare = run([]);
    expect(bare.status).toBe(1);
    expect(bare.stderr).toMatch(/^materialize: --redis \(or REDIS_URL\) is required/);
  });

  it('the ranker, chosen by its command, loads the ONNX model from ARTIFACTS_DIR and reaches SERVING', async () => {
    const { child } = await startFromImage(['services/ranker/dist/main.js'], { ARTIFACTS_DIR: testArtifactsRoot() });
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(code).toBe(0);
  }, 180_000);
});

describe('dockerignore matching used by the replay', () => {
  it('matches paths and their parents the way Docker does for the patterns the repository uses', () => {
    const ignored = dockerignore('**/node_modules\n**/dist\nartifacts\n*.md\n**/*.tsbuildinfo\n');
    expect(ignored('node_modules/x')).toBe(true);
    expect(ignored('libs/core/dist/index.js')).toBe(true);
    expect(ignored('libs/core/src/index.ts')).toBe(false);
    expect(ignored('artifacts')).toBe(true);
    expect(ignored('libs/artifacts.ts')).toBe(false);
    expect(ignored('README.md')).toBe(true);
    expect(ignored('libs/core/tsconfig.tsbuildinfo')).toBe(true);
  });
});

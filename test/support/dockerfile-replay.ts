/**
 * Replays the repository's Dockerfile without a Docker engine: each stage becomes a
 * folder, COPY copies from the build context (honouring .dockerignore) or from an
 * earlier stage's folder, RUN runs with `sh -c` in the stage folder with the stage's ENV.
 * Only the instructions the Dockerfile uses are understood; anything else is an error,
 * so the replay cannot silently skip a step.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** One instruction: keyword, flags (`--from=build`) and arguments. */
export interface Instruction {
  keyword: string;
  flags: Record<string, string>;
  args: string[];
  /** The original text (continuations joined), for messages. */
  text: string;
}

/** One `FROM … AS name` stage and its instructions. */
export interface Stage {
  name: string;
  instructions: Instruction[];
}

/** Splits a Dockerfile into stages (comments dropped, `\` continuations joined). */
export function parseDockerfile(text: string): Stage[] {
  const logical: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (current === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1)} `;
      continue;
    }
    logical.push(current + line);
    current = '';
  }
  const stages: Stage[] = [];
  for (const line of logical) {
    const [keyword = '', ...rest] = line.split(/\s+/);
    const flags: Record<string, string> = {};
    while (rest[0]?.startsWith('--')) {
      const [k = '', v = ''] = (rest.shift() ?? '').slice(2).split('=');
      flags[k] = v;
    }
    const ins: Instruction = { keyword: keyword.toUpperCase(), flags, args: rest, text: line };
    if (ins.keyword === 'FROM') {
      const as = rest.findIndex((a) => a.toUpperCase() === 'AS');
      stages.push({ name: as >= 0 ? (rest[as + 1] ?? '') : String(stages.length), instructions: [] });
    } else if (ins.keyword === 'ARG' && stages.length === 0) {
      continue; // build arguments before the first FROM only parameterise FROM lines
    }
    const stage = stages[stages.length - 1];
    if (!stage) throw new Error(`Dockerfile: ${line} before the first FROM`);
    stage.instructions.push(ins);
  }
  return stages;
}

/** The JSON-array form of ENTRYPOINT/CMD (the exec form; the shell form is refused). */
function execForm(ins: Instruction): string[] {
  const json = ins.text.slice(ins.text.indexOf(ins.args[0] ?? '['));
  const value = JSON.parse(json) as unknown;
  if (!Array.isArray(value)) throw new Error(`Dockerfile: ${ins.text} is not in exec form`);
  return value.map(String);
}

/** Patterns of a .dockerignore as matchers (`**`, `*`, `?`; no `!` exceptions). */
export function dockerignore(text: string): (rel: string) => boolean {
  const patterns = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  if (patterns.some((p) => p.startsWith('!'))) throw new Error('.dockerignore exceptions (!) are not supported by the replay');
  const regexes = patterns.map((p) => {
    const body = p
      .replace(/^\/+|\/+$/g, '')
      .split('/')
      .map((seg) => (seg === '**' ? '(?:.*/)?' : `${seg.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}/`))
      .join('');
    // A pattern matches the path itself or any parent directory of it.
    return new RegExp(`^${body}`);
  });
  return (rel) => regexes.some((r) => r.test(`${rel}/`));
}

/** What a replay produced: one folder per stage, the final stage's ENV and start command. */
export interface Replay {
  stageDirs: Record<string, string>;
  finalDir: string;
  env: Record<string, string>;
  /** ENTRYPOINT then CMD. */
  command: string[];
  /** ENTRYPOINT alone: what a Kubernetes container's `args` (replacing CMD) keep. */
  entrypoint: string[];
  user: string | undefined;
}

/**
 * An npm cache of the replay's own under `workDir`, so that a RUN like `npm cache clean
 * --force` (what an image build does to stay small) cleans the replay's cache, never the
 * user's. Seeded with hard links to the user's cache when it has one: cacache's content
 * files are never rewritten in place, and a clean only unlinks the replay's links.
 */
function privateNpmCache(workDir: string): string {
  const cache = path.join(workDir, 'npm-cache');
  const home = process.env.npm_config_cache ?? path.join(os.homedir(), '.npm');
  const cacache = path.join(home, '_cacache');
  if (fs.existsSync(cacache)) {
    fs.mkdirSync(cache, { recursive: true });
    try {
      execFileSync('cp', ['-al', cacache, path.join(cache, '_cacache')], { stdio: 'ignore' });
    } catch {
      // another file system: start from an empty cache (slower, same result)
    }
  }
  return cache;
}

/**
 * Replays every stage of `dockerfilePath` under `workDir`, with `contextDir` as the build
 * context. `log` receives a line per instruction (progress on a slow install).
 */
export function replayDockerfile(dockerfilePath: string, contextDir: string, workDir: string, log: (line: string) => void = () => {}): Replay {
  const stages = parseDockerfile(fs.readFileSync(dockerfilePath, 'utf8'));
  const ignorePath = path.join(contextDir, '.dockerignore');
  const ignored = dockerignore(fs.existsSync(ignorePath) ? fs.readFileSync(ignorePath, 'utf8') : '');
  const stageDirs: Record<string, string> = {};
  const workdirs: Record<string, string> = {};
  let env: Record<string, string> = {};
  let entrypoint: string[] = [];
  let cmd: string[] = [];
  let user: string | undefined;
  const npmCache = privateNpmCache(workDir);
  for (const stage of stages) {
    const dir = path.join(workDir, stage.name);
    fs.mkdirSync(dir, { recursive: true });
    stageDirs[stage.name] = dir;
    env = {};
    entrypoint = [];
    cmd = [];
    user = undefined;
    for (const ins of stage.instructions) {
      log(`[${stage.name}] ${ins.text}`);
      switch (ins.keyword) {
        case 'FROM':
        case 'ARG':
        case 'EXPOSE':
          break;
        case 'WORKDIR':
          workdirs[stage.name] = ins.args[0] ?? '/';
          break;
        case 'ENV':
          for (const kv of ins.args) {
            const [k = '', ...v] = kv.split('=');
            env[k] = v.join('=');
          }
          break;
        case 'USER':
          user = ins.args[0];
          break;
        case 'ENTRYPOINT':
          entrypoint = execForm(ins);
          break;
        case 'CMD':
          cmd = execForm(ins);
          break;
        case 'COPY':
          copy(ins, dir, contextDir, ignored, stageDirs, workdirs);
          break;
        case 'RUN':
          // prefer-offline: the only deviation from a docker build, so a warm npm cache answers
          // without registry round trips (same packages, same lockfile).
          execFileSync('sh', ['-c', ins.args.join(' ')], {
            cwd: dir,
            env: { ...process.env, npm_config_prefer_offline: 'true', npm_config_cache: npmCache, ...env },
            stdio: ['ignore', 'pipe', 'pipe'],
          });
          break;
        default:
          throw new Error(`Dockerfile: the replay does not understand ${ins.keyword} (${ins.text})`);
      }
    }
  }
  const last = stages[stages.length - 1];
  if (!last) throw new Error('Dockerfile: no stage');
  return { stageDirs, finalDir: stageDirs[last.name] ?? '', env, command: [...entrypoint, ...cmd], entrypoint: [...entrypoint], user };
}

function copy(
  ins: Instruction,
  stageDir: string,
  contextDir: string,
  ignored: (rel: string) => boolean,
  stageDirs: Record<string, string>,
  workdirs: Record<string, string>,
): void {
  const args = [...ins.args];
  const dest = args.pop();
  if (!dest || args.length === 0) throw new Error(`Dockerfile: ${ins.text} needs a source and a destination`);
  const from = ins.flags.from;
  for (const src of args) {
    if (/[*?[]/.test(src)) throw new Error(`Dockerfile: the replay does not expand globs (${ins.text})`);
    let srcPath: string;
    let filter: (abs: string) => boolean = () => true;
    if (from !== undefined) {
      const fromDir = stageDirs[from];
      if (!fromDir) throw new Error(`Dockerfile: ${ins.text} copies from unknown stage ${from}`);
      // Absolute paths in the source stage are relative to its WORKDIR in the replay.
      const base = workdirs[from] ?? '/';
      const rel = path.posix.isAbsolute(src) ? path.posix.relative(base, src) : src;
      if (rel.startsWith('..')) throw new Error(`Dockerfile: ${src} is outside the ${from} stage's WORKDIR ${base}`);
      srcPath = path.join(fromDir, rel);
    } else {
      const normal = path.posix.normalize(src);
      const rel = normal === '.' || normal === './' ? '' : normal.replace(/^\.\//, '');
      if (rel && ignored(rel)) throw new Error(`Dockerfile: ${ins.text} copies ${src}, which .dockerignore leaves out of the context`);
      srcPath = path.join(contextDir, rel);
      filter = (abs) => {
        const r = path.relative(contextDir, abs).split(path.sep).join('/');
        return r === '' || !ignored(r);
      };
    }
    if (!fs.existsSync(srcPath)) throw new Error(`Dockerfile: ${ins.text}: ${src} does not exist`);
    const workdir = workdirs[Object.keys(stageDirs).find((k) => stageDirs[k] === stageDir) ?? ''] ?? '/';
    const destRel = path.posix.isAbsolute(dest) ? path.posix.relative(workdir, dest) : path.posix.normalize(dest).replace(/^\.\/?$/, '');
    if (destRel.startsWith('..')) throw new Error(`Dockerfile: ${ins.text} writes outside WORKDIR ${workdir}`);
    const isDir = fs.statSync(srcPath).isDirectory();
    // Docker copies a directory's contents into dest; a file into dest/ when dest ends in '/' (or several sources).
    const target = isDir
      ? path.join(stageDir, destRel)
      : dest.endsWith('/') || args.length > 1
        ? path.join(stageDir, destRel, path.basename(srcPath))
        : path.join(stageDir, destRel);
    fs.mkdirSync(isDir ? target : path.dirname(target), { recursive: true });
    fs.cpSync(srcPath, target, { recursive: true, filter, verbatimSymlinks: true });
  }
}

import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError, InvalidArgumentError, quotePrefix } from '@recsys/core';
import { LIVE_MODEL, assignVariant, parseExperiment, type ExperimentConfig } from './experiment';

/** A model the router can hold: its version and a way to free it. */
export interface RoutableModel {
  readonly version: string;
  close(): Promise<void>;
}

/** Which model scores one request, and under which names. */
export interface Selection<M> {
  model: M;
  /** The variant (empty without an experiment). */
  variant: string;
  /** The variant the caller should shadow-score this request with, or ''. */
  shadowVariant: string;
}

export interface RouterOptions<M> {
  /** The live model (ARTIFACTS_DIR, hot-reloaded); undefined before the first load. */
  live: () => M | undefined;
  /** Loads the model of an artifact directory (a version, or a root: its CURRENT once). */
  load: (dir: string) => Promise<M>;
  /** Models held at once, the live one included; a config that needs more is refused. */
  maxModels: number;
  /** How long a model no variant uses any more stays open for requests that picked it. */
  graceMs?: number;
  onCloseError?: (err: unknown) => void;
}

/**
 * The ranker's experiment: the config in force, the pinned models its variants name (loaded
 * side by side with the live one), and per-request selection. {@link apply} loads what a new
 * config needs before switching to it, so a bad artifact or a config over the memory bound
 * leaves the old one serving.
 */
export class ExperimentRouter<M extends RoutableModel> {
  private exp: ExperimentConfig | undefined;
  private pinned = new Map<string, M>();

  constructor(private readonly opts: RouterOptions<M>) {}

  get experiment(): ExperimentConfig | undefined {
    return this.exp;
  }

  /** Models held now, the live one included. */
  get modelCount(): number {
    return this.pinned.size + (this.opts.live() ? 1 : 0);
  }

  /** The model and version serving `variant` now (for metrics and logs). */
  modelOf(variant: string): M | undefined {
    const v = this.exp?.variants.find((x) => x.name === variant);
    if (!v) return undefined;
    return v.artifacts === LIVE_MODEL ? this.opts.live() : this.pinned.get(v.artifacts);
  }

  /**
   * The model for `userId`: the variant its hash falls in, or `forced` (a RankRequest.variant:
   * shadow scoring, replay) which must name a variant. Undefined when no model is loaded yet.
   * @throws InvalidArgumentError naming `variant` for an unknown forced variant
   */
  select(userId: string, forced: string): Selection<M> | undefined {
    const exp = this.exp;
    if (!exp) {
      if (forced !== '') throw new InvalidArgumentError('variant', `no experiment is configured, so there is no variant ${quotePrefix(forced)}`);
      const model = this.opts.live();
      return model && { model, variant: '', shadowVariant: '' };
    }
    let v = forced === '' ? assignVariant(exp, userId) : exp.variants.find((x) => x.name === forced);
    if (!v) throw new InvalidArgumentError('variant', `experiment "${exp.name}" has no variant ${quotePrefix(forced)} (it has ${exp.variants.map((x) => x.name).join(', ')})`);
    const model = v.artifacts === LIVE_MODEL ? this.opts.live() : this.pinned.get(v.artifacts);
    if (!model) return undefined;
    const s = exp.shadow;
    const shadowVariant = forced === '' && s && s.variant !== v.name && s.sample > 0 && (s.sample >= 1 || Math.random() < s.sample) ? s.variant : '';
    return { model, variant: v.name, shadowVariant };
  }

  /**
   * Makes `next` the experiment (undefined: none): loads the pinned models it needs that are
   * not held yet, then switches; models no variant names any more are closed after the grace
   * period. Throws (keeping the old config) when a model fails to load or more than
   * `maxModels` would be held.
   */
  async apply(next: ExperimentConfig | undefined, source: string): Promise<void> {
    const dirs = new Set((next?.variants ?? []).filter((v) => v.artifacts !== LIVE_MODEL).map((v) => v.artifacts));
    if (dirs.size + 1 > this.opts.maxModels) {
      throw new ConfigError(source, `variants: needs ${dirs.size + 1} models side by side (the live one and ${dirs.size} pinned), more than MAX_MODELS=${this.opts.maxModels}`);
    }
    const loaded = new Map<string, M>();
    try {
      for (const dir of dirs) {
        const have = this.pinned.get(dir);
        loaded.set(dir, have ?? (await this.opts.load(dir)));
      }
    } catch (err) {
      for (const [dir, m] of loaded) if (!this.pinned.has(dir)) void m.close().catch(() => {});
      throw err;
    }
    const old = this.pinned;
    this.pinned = loaded;
    this.exp = next;
    for (const [dir, m] of old) {
      if (loaded.has(dir)) continue;
      const timer = setTimeout(() => void m.close().catch((e: unknown) => this.opts.onCloseError?.(e)), this.opts.graceMs ?? 30_000);
      timer.unref();
    }
  }

  /** Closes the pinned models (shutdown; the live one belongs to its slot). */
  async close(): Promise<void> {
    const all = [...this.pinned.values()];
    this.pinned.clear();
    await Promise.all(all.map((m) => m.close()));
  }
}

/** The experiment in `file`, or undefined for `{}` / no variants; a ConfigError naming the file and field otherwise. */
export function readExperimentFile(file: string): ExperimentConfig | undefined {
  let text: string;
  try {
    const st = fs.statSync(file);
    if (st.size > 64 * 1024) throw new ConfigError(`EXPERIMENT_FILE ${file}`, `is ${st.size} bytes, more than 65536`);
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`EXPERIMENT_FILE ${file}`, `cannot be read: ${(err as Error).message}`);
  }
  return parseExperiment(text, `EXPERIMENT_FILE ${file}`, path.dirname(path.resolve(file)));
}

/**
 * Polls `file` every `intervalMs` and calls `onChange` with its text when the text changed
 * (weights edited in place, or a new file renamed over it). Returns a stop function.
 */
export function watchFile(file: string, intervalMs: number, initial: string, onChange: (text: string) => Promise<void>, onError: (err: unknown) => void): () => void {
  let last = initial;
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      if (last !== '\0missing') onError(new Error(`experiment file ${file} cannot be read (${(err as Error).message}); the current experiment stays`));
      last = '\0missing';
      return;
    }
    if (text === last) return;
    last = text;
    busy = true;
    onChange(text)
      .catch(onError)
      .finally(() => {
        busy = false;
      });
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

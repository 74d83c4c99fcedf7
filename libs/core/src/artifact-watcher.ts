/**
 * Hot reload: one watcher shared by every service that serves an artifact (candidate
 * generator, ranker, memory feature store). It polls the artifact root's `CURRENT`
 * pointer and, when it names another version, lets the service load that version while
 * the old one keeps serving; the service swaps its reference only once the new version is
 * fully loaded and verified, so no request sees a half-loaded model and none is dropped.
 * A version that fails to load is reported once and the old one stays live.
 */
import { resolveArtifactDir } from './artifacts';

/** Default interval of {@link ArtifactWatcher} polls. */
export const DEFAULT_ARTIFACT_POLL_MS = 1000;

/** Options of {@link ArtifactWatcher}. */
export interface ArtifactWatcherOptions {
  /** Artifact root (with `CURRENT`) or version directory, as the service was configured. */
  root: string;
  /** The version directory the service loaded at start. */
  initialDir: string;
  /** Poll interval in milliseconds. */
  intervalMs: number;
  /** Loads the version in `dir` and makes it live; throw to keep the old one. */
  load: (dir: string) => Promise<void> | void;
  /** Called once per version that failed to resolve or load. */
  onError?: (err: unknown, dir: string | undefined) => void;
}

/**
 * Polls `CURRENT` and hands new version directories to `load`, one at a time.
 *
 * @example
 * const watcher = new ArtifactWatcher({ root, initialDir: dir, intervalMs: 1000,
 *   load: async (d) => { model = await RankerModel.load(loadArtifacts(d, ['ranker'])); } });
 * watcher.start();
 */
export class ArtifactWatcher {
  private current: string;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  /** The last version that failed, so a broken version is reported once, not every poll. */
  private failed: string | undefined;

  constructor(private readonly options: ArtifactWatcherOptions) {
    this.current = options.initialDir;
  }

  /**
   * What every service does at start: resolves `root`, loads that version with `load`
   * (an error propagates: a service must not start without its artifact), then starts
   * watching for the next one. Stop the returned watcher at shutdown.
   */
  static async loadAndWatch(options: Omit<ArtifactWatcherOptions, 'initialDir'>): Promise<ArtifactWatcher> {
    const initialDir = resolveArtifactDir(options.root);
    await options.load(initialDir);
    const watcher = new ArtifactWatcher({ ...options, initialDir });
    watcher.start();
    return watcher;
  }

  /** The version directory live now. */
  get dir(): string {
    return this.current;
  }

  /** Starts polling (no-op when `intervalMs` ≤ 0). The timer does not keep the process alive. */
  start(): void {
    if (this.timer !== undefined || this.options.intervalMs <= 0) return;
    this.timer = setInterval(() => void this.check(), this.options.intervalMs);
    this.timer.unref();
  }

  /** Stops polling and waits for a load in progress. */
  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** Checks `CURRENT` once; resolves when a resulting load is done. Overlapping calls share one check. */
  check(): Promise<void> {
    this.running ??= this.checkOnce().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async checkOnce(): Promise<void> {
    let dir: string;
    try {
      dir = resolveArtifactDir(this.options.root);
    } catch (err) {
      // A CURRENT being replaced is renamed atomically, so this is a real problem: report it once.
      if (this.failed !== '') this.options.onError?.(err, undefined);
      this.failed = '';
      return;
    }
    if (this.failed === '') this.failed = undefined;
    if (dir === this.current || dir === this.failed) return;
    try {
      await this.options.load(dir);
      this.current = dir;
      this.failed = undefined;
    } catch (err) {
      this.failed = dir;
      this.options.onError?.(err, dir);
    }
  }
}

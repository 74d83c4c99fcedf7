/** How long a replaced model stays open for requests that picked it up before the swap. */
const RETIRED_MODEL_GRACE_MS = 30_000;

/** What the slot holds: anything that can be closed (a RankerModel). */
export interface Closable {
  close(): Promise<void>;
}

/**
 * The ranker's live model and the ones it replaced. {@link swap} makes a new model live at
 * once; the old one stays open for `graceMs`, so requests already scoring on it finish,
 * and is closed then (its onnxruntime session freed). {@link close} closes all of them.
 */
export class ModelSlot<M extends Closable> {
  private live: M | undefined;
  private readonly retired = new Map<M, ReturnType<typeof setTimeout>>();

  constructor(
    private readonly graceMs = RETIRED_MODEL_GRACE_MS,
    /** Called when a retired model fails to close (logged by the caller). */
    private readonly onCloseError: (err: unknown) => void = () => {},
  ) {}

  /** The model serving now (undefined before the first load). */
  current(): M | undefined {
    return this.live;
  }

  /** Models replaced but not closed yet. */
  retiredCount(): number {
    return this.retired.size;
  }

  /** Makes `next` live; the previous model is closed after the grace period. Returns the previous one. */
  swap(next: M): M | undefined {
    const old = this.live;
    this.live = next;
    if (old && old !== next) {
      const timer = setTimeout(() => {
        this.retired.delete(old);
        old.close().catch(this.onCloseError);
      }, this.graceMs);
      timer.unref();
      this.retired.set(old, timer);
    }
    return old;
  }

  /** Closes the live model and every retired one now (shutdown). */
  async close(): Promise<void> {
    const all = [...this.retired.keys(), ...(this.live ? [this.live] : [])];
    for (const timer of this.retired.values()) clearTimeout(timer);
    this.retired.clear();
    this.live = undefined;
    await Promise.all(all.map((m) => m.close()));
  }
}

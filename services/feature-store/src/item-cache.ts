/**
 * A bounded in-process cache with a time to live, least recently used out first, nearly:
 * a hit moves its entry to the front of the recency order only when the entry has fallen
 * into the older half (`maxEntries / 2` or more insertions and moves behind), so the hits
 * of a hot working set are one Map lookup each instead of a delete and an insert. An entry
 * is evicted only if it has not been hit since it fell into the older half. The
 * Redis backend keeps decoded item entities in it (keyed by id, each entry naming its
 * snapshot version), so hot items skip Redis for up to `ttlMs`; a new snapshot version
 * never hits old entries. A hit allocates nothing: `get` hands out the entry itself, and a
 * caller reading many keys passes one `now` for all of them.
 */
export class TtlCache<V> {
  private readonly entries = new Map<string, { value: V; expires: number; stamp: number }>();
  /** Insertions and moves to the front so far: an entry's `stamp` is the count at its last one. */
  private clock = 0;
  hits = 0;
  misses = 0;

  constructor(
    readonly maxEntries: number,
    readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new Error(`maxEntries must be a positive integer, got ${maxEntries}`);
  }

  /** The cached entry (its `value` may itself be `undefined` or null), or `undefined` when absent or expired at `now`. */
  get(key: string, now = this.now()): { readonly value: V } | undefined {
    const e = this.entries.get(key);
    if (!e || e.expires <= now) {
      if (e) this.entries.delete(key);
      this.misses++;
      return undefined;
    }
    // Map order is the recency order: re-insert an entry that has fallen into the older half.
    if (this.clock - e.stamp >= this.maxEntries / 2) {
      this.entries.delete(key);
      e.stamp = ++this.clock;
      this.entries.set(key, e);
    }
    this.hits++;
    return e;
  }

  set(key: string, value: V, now = this.now()): void {
    this.entries.delete(key);
    this.entries.set(key, { value, expires: now + this.ttlMs, stamp: ++this.clock });
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
  }

  get size(): number {
    return this.entries.size;
  }
}

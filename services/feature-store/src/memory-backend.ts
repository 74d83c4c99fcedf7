import type { LoadedArtifacts } from '@recsys/core';
import { columnsFromVectors, EntityValue, FeatureBackend, FeatureRead, isExpired, mergeContext, UserContextRead } from './backend';
import { DEFAULT_REALTIME, IngestResult, InteractionEvent, MemoryRealtime, RealtimeOptions } from './realtime';
import { FeatureRegistry, NO_TTL, ResolvedFeature, ViewName, ViewTtls } from './registry';

/** Options of the memory backend; the defaults serve the artifact as it is. */
export interface MemoryBackendOptions {
  /** Per-view TTL (default: none). */
  ttlSeconds?: ViewTtls;
  /** When the snapshot's values count as written, unix seconds (default: now). */
  writtenAtSec?: number;
  realtime?: RealtimeOptions;
  /**
   * Real-time state to carry on (from the backend of the previous snapshot on a hot
   * reload): events live beside the snapshot, not in it, and must survive its swap.
   */
  realtimeState?: MemoryRealtime;
}

/** The embedded feature store: the artifact's snapshot and the real-time features held in process memory. */
export class MemoryBackend implements FeatureBackend {
  readonly kind = 'memory';
  private readonly reg: FeatureRegistry;
  private readonly writtenAtSec: number;
  private readonly rt: MemoryRealtime;
  private readonly rtOpts: RealtimeOptions;

  constructor(
    private readonly artifacts: LoadedArtifacts,
    opts: MemoryBackendOptions = {},
  ) {
    this.reg = new FeatureRegistry(artifacts.manifest.feature_views, opts.ttlSeconds ?? NO_TTL, artifacts.manifest.version);
    this.writtenAtSec = opts.writtenAtSec ?? Math.floor(Date.now() / 1000);
    this.rtOpts = opts.realtime ?? DEFAULT_REALTIME;
    this.rt = opts.realtimeState ?? new MemoryRealtime(this.rtOpts);
  }

  /** The real-time state, to hand to the backend of the next snapshot. */
  get realtimeState(): MemoryRealtime {
    return this.rt;
  }

  version(): string {
    return this.artifacts.manifest.version;
  }

  registry(): FeatureRegistry {
    return this.reg;
  }

  servingRecentItems(): number | undefined {
    return this.artifacts.manifest.serving?.recent_items;
  }

  private vector(view: ViewName, id: string, nowMs: number): EntityValue {
    const a = this.artifacts;
    const width = this.reg.width(view);
    const row = view === 'user' ? a.userIndex.get(id) : a.itemIndex.get(id);
    if (row === undefined) return undefined;
    if (isExpired(this.writtenAtSec, this.reg.ttlSeconds[view], nowMs)) return 'expired';
    const m = view === 'user' ? a.userFeatures : a.itemFeatures;
    return m.subarray(row * width, (row + 1) * width);
  }

  async read(view: ViewName, entityIds: readonly string[], features: readonly ResolvedFeature[]): Promise<FeatureRead> {
    const now = Date.now();
    return columnsFromVectors(view, entityIds.map((id) => this.vector(view, id, now)), features);
  }

  async userContext(userId: string, maxRecent: number): Promise<UserContextRead> {
    const now = Date.now();
    const history = this.artifacts.userHistory.get(userId) ?? [];
    const vec = this.vector('user', userId, now);
    const features = columnsFromVectors('user', [vec], this.reg.resolve('user', []).features);
    return mergeContext(history, this.rt.read(userId, now, maxRecent), maxRecent, features, vec !== undefined);
  }

  async ingest(events: readonly InteractionEvent[]): Promise<IngestResult> {
    return this.rt.ingest(events, Date.now());
  }

  async close(): Promise<void> {}
}

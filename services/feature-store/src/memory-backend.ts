import type { LoadedArtifacts } from '@recsys/core';
import { columnsFromVectors, FeatureBackend, FeatureRead, UserContextRead } from './backend';
import { FeatureRegistry, ResolvedFeature, ViewName } from './registry';

/** The embedded feature store: the artifact's snapshot held in process memory. */
export class MemoryBackend implements FeatureBackend {
  readonly kind = 'memory';
  private readonly reg: FeatureRegistry;

  constructor(private readonly artifacts: LoadedArtifacts) {
    this.reg = new FeatureRegistry(artifacts.manifest.feature_views);
  }

  version(): string {
    return this.artifacts.manifest.version;
  }

  registry(): FeatureRegistry {
    return this.reg;
  }

  private vector(view: ViewName, id: string): Float32Array | undefined {
    const a = this.artifacts;
    const width = this.reg.width(view);
    const row = view === 'user' ? a.userIndex.get(id) : a.itemIndex.get(id);
    if (row === undefined) return undefined;
    const m = view === 'user' ? a.userFeatures : a.itemFeatures;
    return m.subarray(row * width, (row + 1) * width);
  }

  async read(view: ViewName, entityIds: readonly string[], features: readonly ResolvedFeature[]): Promise<FeatureRead> {
    return columnsFromVectors(view, entityIds.map((id) => this.vector(view, id)), features);
  }

  async userContext(userId: string, maxRecent: number): Promise<UserContextRead> {
    const history = this.artifacts.userHistory.get(userId) ?? [];
    const vec = this.vector('user', userId);
    return {
      recent: history.slice(0, maxRecent),
      seen: history,
      features: columnsFromVectors('user', [vec], this.reg.resolve('user', []).features),
      known: vec !== undefined || history.length > 0,
    };
  }

  async close(): Promise<void> {}
}

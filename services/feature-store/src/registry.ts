import type { FeatureDefinition, FeatureViewSpec } from '@recsys/core';
import { InvalidArgumentError, quotePrefix } from '@recsys/core';

export type ViewName = 'user' | 'item';

/** A requested feature resolved against its view: position in the stored vector, default. */
export interface ResolvedFeature {
  name: string;
  offset: number;
  default: number;
}

/** Per-view time to live in seconds (0 = values never expire). */
export type ViewTtls = Record<ViewName, number>;

/** No expiry: what a snapshot gets unless its load declared TTLs. */
export const NO_TTL: ViewTtls = { user: 0, item: 0 };

/** What the registry shows about one view (the ListFeatureViews entry). */
export interface FeatureViewDescription {
  name: ViewName;
  entity: string;
  features: { name: string; type: 'float32'; default: number; description: string }[];
  ttlSeconds: number;
  version: string;
  description: string;
}

const VIEW_DESCRIPTIONS: Record<ViewName, string> = {
  user: 'batch features of a user, one value per feature (from the artifact snapshot)',
  item: 'batch features of an item, one value per feature (from the artifact snapshot)',
};

/**
 * The feature views of one snapshot, declared once in the artifact manifest's
 * `feature_views` (names, defaults, descriptions) plus the TTLs the load declared: used
 * to validate and resolve requests and served as the registry by ListFeatureViews.
 */
export class FeatureRegistry {
  private readonly byView: Map<string, { spec: FeatureViewSpec; byName: Map<string, ResolvedFeature>; all: ResolvedFeature[] }>;

  constructor(
    readonly views: { user: FeatureViewSpec; item: FeatureViewSpec },
    readonly ttlSeconds: ViewTtls = NO_TTL,
    readonly version = '',
  ) {
    this.byView = new Map();
    for (const spec of [views.user, views.item]) {
      const all = spec.features.map((f: FeatureDefinition, offset) => ({ name: f.name, offset, default: f.default }));
      this.byView.set(spec.name, { spec, byName: new Map(all.map((f) => [f.name, f])), all });
    }
  }

  /** Width of the stored vector of a view. */
  width(view: ViewName): number {
    return this.view(view).all.length;
  }

  /** Resolves requested names (empty = all), throwing INVALID_ARGUMENT naming the bad one. */
  resolve(view: string, names: readonly string[]): { view: ViewName; features: ResolvedFeature[] } {
    const v = this.byView.get(view);
    if (!v) throw new InvalidArgumentError('feature_view', `unknown view ${quotePrefix(view)}; known: ${[...this.byView.keys()].join(', ')}`);
    if (names.length === 0) return { view: view as ViewName, features: v.all };
    const features = names.map((n, i) => {
      const f = v.byName.get(n);
      if (!f) throw new InvalidArgumentError(`feature_names[${i}]`, `unknown feature ${quotePrefix(n)} in view "${view}"`);
      return f;
    });
    return { view: view as ViewName, features };
  }

  /** Every view, as ListFeatureViews shows it. */
  describe(): FeatureViewDescription[] {
    return (['user', 'item'] as const).map((name) => {
      const spec = this.view(name).spec;
      return {
        name,
        entity: spec.entity,
        features: spec.features.map((f) => ({ name: f.name, type: 'float32' as const, default: f.default, description: f.description })),
        ttlSeconds: this.ttlSeconds[name],
        version: this.version,
        description: VIEW_DESCRIPTIONS[name],
      };
    });
  }

  private view(name: ViewName) {
    const v = this.byView.get(name);
    if (!v) throw new Error(`no view ${name}`);
    return v;
  }
}

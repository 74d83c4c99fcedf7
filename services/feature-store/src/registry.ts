import type { FeatureDefinition, FeatureViewSpec } from '@recsys/core';
import { InvalidArgumentError } from '@recsys/grpc-kit';

export type ViewName = 'user' | 'item';

/** A requested feature resolved against its view: position in the stored vector, default. */
export interface ResolvedFeature {
  name: string;
  offset: number;
  default: number;
}

/**
 * The feature views of one snapshot, for validating and resolving requests.
 */
export class FeatureRegistry {
  private readonly byView: Map<string, { spec: FeatureViewSpec; byName: Map<string, ResolvedFeature>; all: ResolvedFeature[] }>;

  constructor(readonly views: { user: FeatureViewSpec; item: FeatureViewSpec }) {
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
    if (!v) throw new InvalidArgumentError('feature_view', `unknown view "${view}"; known: ${[...this.byView.keys()].join(', ')}`);
    if (names.length === 0) return { view: view as ViewName, features: v.all };
    const features = names.map((n, i) => {
      const f = v.byName.get(n);
      if (!f) throw new InvalidArgumentError(`feature_names[${i}]`, `unknown feature "${n}" in view "${view}"`);
      return f;
    });
    return { view: view as ViewName, features };
  }

  private view(name: ViewName) {
    const v = this.byView.get(name);
    if (!v) throw new Error(`no view ${name}`);
    return v;
  }
}

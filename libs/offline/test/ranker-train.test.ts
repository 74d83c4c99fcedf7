import { validateRankerSpec } from '@recsys/core';
import {
  alsEmbeddings,
  computeFeatures,
  defaultRankerFeatures,
  generateSynthetic,
  indexDataset,
  partItemSets,
  rankerInputFor,
  rerank,
  retrieveCandidates,
  selectHistory,
  splitByUser,
  trainAls,
  itemKnn,
  trainRanker,
  crossValidateRanker,
  candidateFeatureData,
  gbdtScore,
} from '@recsys/offline';
import { CandidateFeaturizer } from '@recsys/core';

function stageA() {
  const ix = indexDataset(generateSynthetic({ users: 250, items: 400, interactions: 7000, seed: 12 }));
  const part = splitByUser(ix);
  const fit = selectHistory(ix, part, ['fit']);
  const snapshot = computeFeatures(fit, { genres: ix.genres, itemGenres: ix.itemGenres, itemYear: ix.itemYear });
  const embeddings = alsEmbeddings(trainAls(fit, { factors: 8, iterations: 4 }));
  const models = { embeddings, neighbors: itemKnn(fit, 20) };
  return { ix, part, fit, snapshot, models, val: partItemSets(ix, part, 'val') };
}

describe('ranker training pieces', () => {
  const a = stageA();

  it('the default spec only uses features of the computed views', () => {
    expect(() => validateRankerSpec(defaultRankerFeatures(18), a.snapshot.views)).not.toThrow();
  });

  it('retrieves merged candidates excluding the user history and never-seen items', async () => {
    const seenAnywhere = new Set(a.fit.items);
    const [c] = await retrieveCandidates(a.models, a.fit, [5], 50);
    const own = new Set(a.fit.items.subarray(a.fit.userPtr[5]!, a.fit.userPtr[6]!));
    expect(c!.items).toHaveLength(50);
    for (const i of c!.items) {
      expect(own.has(i)).toBe(false);
      expect(seenAnywhere.has(i)).toBe(true);
    }
    for (let j = 1; j < 50; j++) expect(c!.scores[j]!).toBeLessThanOrEqual(c!.scores[j - 1]!);
    // Both personal sources contributed, each score kept where its source found the item.
    const found = (s: Float32Array | undefined): number => Array.from(s ?? []).filter((v) => !Number.isNaN(v)).length;
    expect(found(c!.sourceScores.embedding)).toBeGreaterThan(0);
    expect(found(c!.sourceScores.covisitation)).toBeGreaterThan(0);
  });

  it('builds model rows from the snapshot like the serving path', async () => {
    const spec = defaultRankerFeatures(18);
    const [c] = await retrieveCandidates(a.models, a.fit, [3], 20);
    const x = rankerInputFor(spec, a.snapshot, c!);
    const width = spec.length;
    const col = (name: string): number => spec.findIndex((f) => f.name === name);
    const iw = a.snapshot.views.item.features.length;
    const uw = a.snapshot.views.user.features.length;
    // item_log_pop of candidate 4 and user_activity of user 3, read directly.
    expect(x[4 * width + col('item_log_pop')]).toBe(a.snapshot.itemFeatures[c!.items[4]! * iw]);
    expect(x[4 * width + col('user_activity')]).toBe(a.snapshot.userFeatures[3 * uw]);
    expect(x[4 * width + col('retrieval_rank')]).toBe(5);
    const als = c!.sourceScores.embedding![4]!;
    expect(x[4 * width + col('als_source_score')]).toBe(Number.isNaN(als) ? 0 : als);
    expect(x[4 * width + col('retrieval_score')]).toBe(c!.scores[4]);
    expect(x).toHaveLength(20 * width);
  });

  it('rerank sorts by score descending and keeps retrieval order on ties', async () => {
    expect(rerank([0.1, 0.5, 0.5, 0.9])).toEqual([3, 1, 2, 0]);
  });

  it('trains a ranker that beats chance on held-out users, deterministically', async () => {
    const spec = defaultRankerFeatures(18);
    const input = { history: a.fit, snapshot: a.snapshot, models: a.models, targets: a.val, spec };
    const options = { candidates: 100, model: 'mlp' as const, mlp: { epochs: 3 } };
    const r1 = await trainRanker(input, options);
    expect(r1.metrics['ranker_holdout_users']).toBeGreaterThan(20);
    expect(r1.metrics['val_auc']).toBeGreaterThan(0.6);
    expect(r1.mlp!.layers[0]!.weight).toBeInstanceOf(Float32Array);
    const r2 = await trainRanker(input, options);
    expect(Array.from(r2.mlp!.layers[0]!.weight)).toEqual(Array.from(r1.mlp!.layers[0]!.weight));
  }, 60_000);

  it('maxUsers caps the users the ranker learns from (training and held out together)', async () => {
    const spec = defaultRankerFeatures(18);
    const input = { history: a.fit, snapshot: a.snapshot, models: a.models, targets: a.val, spec };
    const options = { candidates: 100, model: 'mlp' as const, mlp: { epochs: 1 } };
    const all = await trainRanker(input, options);
    expect(all.metrics['ranker_holdout_users']! + all.metrics['ranker_train_users']!).toBeGreaterThan(100);
    const capped = await trainRanker(input, { ...options, maxUsers: 100 });
    expect(capped.metrics['ranker_holdout_users']).toBe(20);
    expect(capped.metrics['ranker_train_users']).toBeLessThanOrEqual(80);
    await expect(trainRanker(input, { ...options, maxUsers: 1 })).rejects.toThrow(/maxUsers must be an integer >= 2, got 1/);
  }, 60_000);

  it('refit trains the served model on all users, keeping the held-out metrics', async () => {
    const spec = defaultRankerFeatures(18);
    const input = { history: a.fit, snapshot: a.snapshot, models: a.models, targets: a.val, spec };
    const options = { candidates: 100, model: 'mlp' as const, mlp: { epochs: 3 } };
    const plain = await trainRanker(input, options);
    const refit = await trainRanker(input, { ...options, refit: true });
    expect(refit.metrics['val_auc']).toBe(plain.metrics['val_auc']);
    expect(refit.metrics['ranker_refit_users']).toBeGreaterThan(plain.metrics['ranker_train_users']!);
    expect(refit.metrics['ranker_refit_rows']).toBeGreaterThan(plain.metrics['ranker_train_rows']!);
    expect(Array.from(refit.mlp!.layers[0]!.weight)).not.toEqual(Array.from(plain.mlp!.layers[0]!.weight));
  }, 60_000);

  it('candidate features enter the model rows as the candidate generator computes them', async () => {
    const spec = defaultRankerFeatures(18, true);
    const featurizer = new CandidateFeaturizer(candidateFeatureData(a.fit, { genres: a.ix.genres, itemGenres: a.ix.itemGenres, itemYear: a.ix.itemYear }, a.snapshot, a.models));
    const [c] = await retrieveCandidates(a.models, a.fit, [3], 20);
    const emb = a.models.embeddings;
    const cf = featurizer.compute({ userEmbedding: emb.user.subarray(3 * emb.dim, 4 * emb.dim), recentItems: [], exclude: new Set(), refDay: 0 }, c!.items);
    const x = rankerInputFor(spec, a.snapshot, c!, cf);
    const width = spec.length;
    const col = (name: string): number => spec.findIndex((f) => f.name === name);
    for (let j = 0; j < 20; j++) {
      expect(x[j * width + col('als_score')]).toBe(cf.get('als_score')![j]);
      expect(x[j * width + col('als_rank')]).toBe(cf.get('als_rank')![j]);
    }
    // Without the features (e.g. a cached fallback list) the spec defaults are used.
    const bare = rankerInputFor(spec, a.snapshot, c!);
    expect(bare[width + col('als_rank')]).toBe(100_000);
  });

  it('GBDT: early-stopped trees on held-out users; cold-start rows are added; deterministic', async () => {
    const spec = defaultRankerFeatures(18, true);
    const attrs = { genres: a.ix.genres, itemGenres: a.ix.itemGenres, itemYear: a.ix.itemYear };
    const input = {
      history: a.fit,
      snapshot: a.snapshot,
      models: a.models,
      targets: a.val,
      spec,
      candidateFeatures: new CandidateFeaturizer(candidateFeatureData(a.fit, attrs, a.snapshot, a.models)),
    };
    const options = { candidates: 100, gbdt: { trees: 60, maxDepth: 4 } };
    const r1 = await trainRanker(input, options);
    expect(r1.kind).toBe('gbdt');
    expect(r1.metrics['val_auc']).toBeGreaterThan(0.6);
    expect(r1.metrics['ranker_trees']).toBeLessThanOrEqual(60);
    const shares = spec.map((f) => r1.metrics[`gain_share_${f.name}`]!);
    expect(shares.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 6);
    const noCold = await trainRanker(input, { ...options, coldStartFraction: 0 });
    expect(r1.metrics['ranker_train_rows']).toBeGreaterThan(noCold.metrics['ranker_train_rows']!);
    const r2 = await trainRanker(input, options);
    const probe = Float32Array.from({ length: 5 * spec.length }, (_, k) => (k * 7919) % 13);
    expect(Array.from(gbdtScore(r2.gbdt!, probe, 5))).toEqual(Array.from(gbdtScore(r1.gbdt!, probe, 5)));
    await expect(trainRanker({ ...input, candidateFeatures: undefined }, options)).rejects.toThrow(/candidate featurizer/);
  }, 120_000);

  it('GBDT: a fixed tree count without early stopping, and a bag of models served as one ensemble', async () => {
    const spec = defaultRankerFeatures(18, true);
    const attrs = { genres: a.ix.genres, itemGenres: a.ix.itemGenres, itemYear: a.ix.itemYear };
    const input = {
      history: a.fit,
      snapshot: a.snapshot,
      models: a.models,
      targets: a.val,
      spec,
      candidateFeatures: new CandidateFeaturizer(candidateFeatureData(a.fit, attrs, a.snapshot, a.models)),
    };
    const options = { candidates: 100, earlyStopping: false, refit: true, gbdt: { trees: 12, maxDepth: 3, evalEvery: 4 } };
    const one = await trainRanker(input, options);
    expect(one.metrics['ranker_trees']).toBe(12);
    const bag = await trainRanker(input, { ...options, bags: 3 });
    expect(bag.metrics['ranker_trees']).toBe(36);
    expect(bag.metrics['ranker_bags']).toBe(3);
    expect(bag.gbdt!.trees.length).toBe(36);
    expect(bag.metrics['val_auc']).toBeGreaterThan(0.6);
    const probe = Float32Array.from({ length: 5 * spec.length }, (_, k) => (k * 7919) % 13);
    expect(Array.from(gbdtScore(bag.gbdt!, probe, 5))).not.toEqual(Array.from(gbdtScore(one.gbdt!, probe, 5)));
    await expect(trainRanker(input, { ...options, bags: 0 })).rejects.toThrow(/bags must be an integer in 1..16, got 0/);
  }, 120_000);

  it('cross-validation: a mean NDCG@10 curve over folds of the validation users, every evalEvery trees; deterministic', async () => {
    const spec = defaultRankerFeatures(18, true);
    const attrs = { genres: a.ix.genres, itemGenres: a.ix.itemGenres, itemYear: a.ix.itemYear };
    const input = {
      history: a.fit,
      snapshot: a.snapshot,
      models: a.models,
      targets: a.val,
      spec,
      candidateFeatures: new CandidateFeaturizer(candidateFeatureData(a.fit, attrs, a.snapshot, a.models)),
    };
    const options = { candidates: 100, bags: 2, gbdt: { trees: 10, maxDepth: 3, evalEvery: 4 } };
    const cv = await crossValidateRanker(input, options, 3);
    expect(cv.trees).toEqual([4, 8, 10]);
    expect(cv.folds).toHaveLength(3);
    for (const f of cv.folds) expect(f).toHaveLength(3);
    cv.ndcg.forEach((v, i) => expect(v).toBeCloseTo((cv.folds[0]![i]! + cv.folds[1]![i]! + cv.folds[2]![i]!) / 3, 12));
    // Better than ranking at random: the retrieval order alone scores above 0 on this data.
    for (const v of cv.ndcg) expect(v).toBeGreaterThan(0.05);
    expect(await crossValidateRanker(input, options, 3)).toEqual(cv);
    await expect(crossValidateRanker(input, options, 1)).rejects.toThrow(/folds must be an integer in 2..20, got 1/);
    await expect(crossValidateRanker(input, { ...options, model: 'mlp' }, 3)).rejects.toThrow(/model must be gbdt, got mlp/);
  }, 120_000);
});

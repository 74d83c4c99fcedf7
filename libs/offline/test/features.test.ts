import { computeFeatures, featureColumn, SECONDS_PER_DAY, type History } from '@recsys/offline';

// 2 users, 3 items, 2 genres. User 0: item 0 (ts 1 day, r 4), item 1 (ts 3 days, r 2).
// User 1: item 1 (ts 2 days, r 5). User 2: nothing. Item 2: never seen, year unknown.
const history: History = {
  nUsers: 3,
  nItems: 3,
  userPtr: Int32Array.from([0, 2, 3, 3]),
  items: Int32Array.from([0, 1, 1]),
  ratings: Float32Array.from([4, 2, 5]),
  ts: Float64Array.from([1, 3, 2].map((d) => d * SECONDS_PER_DAY)),
};
const attrs = {
  genres: ['A', 'B'],
  itemGenres: Uint8Array.from([1, 0, 1, 1, 0, 1]),
  itemYear: Float64Array.from([1990, 2010, NaN]),
};

describe('computeFeatures', () => {
  const snap = computeFeatures(history, attrs);
  const item = (i: number, name: string): number => snap.itemFeatures[i * snap.views.item.features.length + featureColumn(snap.views.item, name)]!;
  const user = (u: number, name: string): number => snap.userFeatures[u * snap.views.user.features.length + featureColumn(snap.views.user, name)]!;

  it('declares the views with docs/EVALUATION.md features and genre_k columns', () => {
    expect(snap.views.item.features.map((f) => f.name)).toEqual(['item_log_pop', 'item_mean_rating', 'item_year', 'item_last_ts_days', 'genre_0', 'genre_1']);
    expect(snap.views.user.features.map((f) => f.name)).toEqual(['user_activity', 'user_mean_rating', 'user_last_ts_days', 'genre_0', 'genre_1']);
    expect(snap.itemFeatures).toHaveLength(3 * 6);
    expect(snap.userFeatures).toHaveLength(3 * 5);
  });

  it('computes item features from the history', () => {
    expect(Array.from(snap.itemPopularity)).toEqual([1, 2, 0]);
    expect(item(1, 'item_log_pop')).toBeCloseTo(Math.log(3), 6);
    expect(item(1, 'item_mean_rating')).toBeCloseTo(3.5, 6);
    expect(item(0, 'item_year')).toBe(1990);
    expect(item(1, 'item_last_ts_days')).toBeCloseTo(3, 4);
    expect([item(1, 'genre_0'), item(1, 'genre_1')]).toEqual([1, 1]);
  });

  it('gives unseen items and unknown years the view defaults', () => {
    const defaults = new Map(snap.views.item.features.map((f) => [f.name, f.default]));
    expect(defaults.get('item_mean_rating')).toBeCloseTo(11 / 3, 5);
    expect(defaults.get('item_year')).toBe(2000);
    expect(item(2, 'item_log_pop')).toBe(0);
    expect(item(2, 'item_mean_rating')).toBe(defaults.get('item_mean_rating'));
    expect(item(2, 'item_year')).toBe(2000);
    expect(item(2, 'item_last_ts_days')).toBeCloseTo(1, 4);
  });

  it('computes user features, with the genre distribution summing to 1', () => {
    expect(user(0, 'user_activity')).toBe(2);
    expect(user(0, 'user_mean_rating')).toBe(3);
    expect(user(0, 'user_last_ts_days')).toBeCloseTo(3, 4);
    // Genres of items 0 (A) and 1 (A, B): counts A 2, B 1 → 2/3, 1/3.
    expect(user(0, 'genre_0')).toBeCloseTo(2 / 3, 6);
    expect(user(0, 'genre_1')).toBeCloseTo(1 / 3, 6);
    expect(user(1, 'genre_0') + user(1, 'genre_1')).toBeCloseTo(1, 6);
    expect(user(2, 'user_activity')).toBe(0);
    expect([user(2, 'genre_0'), user(2, 'genre_1')]).toEqual([0, 0]);
    expect(user(2, 'user_last_ts_days')).toBeCloseTo(3, 4);
  });
});

import { ExperimentRouter } from '@recsys/ranker/router';
import { assignVariant, bucketOf, parseExperiment } from '@recsys/ranker/experiment';

const exp = (weights: number[], extra: Record<string, unknown> = {}) =>
  JSON.stringify({ name: 'e1', variants: weights.map((w, i) => ({ name: `v${i}`, artifacts: i === 0 ? 'current' : `/a/v${i}`, weight: w })), ...extra });

describe('parseExperiment', () => {
  it('reads variants, resolves relative artifact paths against the base folder, defaults shadow.sample to 1', () => {
    const e = parseExperiment(JSON.stringify({ name: 'x', variants: [{ name: 'a', artifacts: 'current', weight: 1 }, { name: 'b', artifacts: 'art/v2', weight: 0 }], shadow: { variant: 'b' } }), 'f', '/base');
    expect(e).toEqual({ name: 'x', variants: [{ name: 'a', artifacts: 'current', weight: 1 }, { name: 'b', artifacts: '/base/art/v2', weight: 0 }], shadow: { variant: 'b', sample: 1 } });
  });

  it('{} and an empty variants list mean no experiment', () => {
    expect(parseExperiment('{}', 'f')).toBeUndefined();
    expect(parseExperiment('{"name":"x","variants":[]}', 'f')).toBeUndefined();
  });

  it.each([
    ['[1]', '(file): must be a JSON object'],
    ['{"name":"x","variants":[{"name":"a","artifacts":"current","weight":0}]}', 'variants: weights must not all be 0'],
    ['{"name":"x","variants":[{"name":"a","artifacts":"current","weight":-1}]}', 'variants[0].weight: must be a number between 0 and 1000000'],
    ['{"name":"x","variants":[{"name":"a","artifacts":"current","weight":1},{"name":"a","artifacts":"/v","weight":1}]}', 'variants[1].name: "a" appears twice'],
    ['{"name":"x","variants":[{"name":"a","artifacts":"","weight":1}]}', 'variants[0].artifacts: must be "current" or an artifact directory'],
    ['{"name":"x y","variants":[{"name":"a","artifacts":"current","weight":1}]}', 'name: must be 1–64 characters'],
    ['{"name":"x","variants":[{"name":"a","artifacts":"current","weight":1}],"shadow":{"variant":"b"}}', 'shadow.variant: must name one of the variants (a)'],
    ['{"name":"x","variants":[{"name":"a","artifacts":"current","weight":1}],"shadow":{"variant":"a","sample":2}}', 'shadow.sample: must be a number between 0 and 1'],
    ['{"name":"x","variants":[{"name":"a","artifacts":"current","weight":1,"wieght":2}]}', 'variants[0].wieght: unknown field'],
    ['{"nme":"x"}', 'nme: unknown field'],
  ])('refuses %s naming the field', (text, message) => {
    expect(() => parseExperiment(text, 'EXPERIMENT_FILE f.json')).toThrow(`configuration: EXPERIMENT_FILE f.json ${message}`);
  });
});

describe('assignment', () => {
  it('is a stable function of (experiment, user): the same bucket every time, another experiment reshuffles', () => {
    expect(bucketOf('e1', 'u1')).toBe(bucketOf('e1', 'u1'));
    expect(bucketOf('e1', 'u1')).toBeGreaterThanOrEqual(0);
    expect(bucketOf('e1', 'u1')).toBeLessThan(1);
    const users = Array.from({ length: 1000 }, (_, i) => `u${i}`);
    const same = users.filter((u) => bucketOf('e1', u) < 0.5 === bucketOf('e2', u) < 0.5).length;
    expect(same).toBeGreaterThan(400);
    expect(same).toBeLessThan(600);
  });

  it('follows the weights, never picks a weight-0 variant, and moving weight moves only the users in between', () => {
    const users = Array.from({ length: 10_000 }, (_, i) => `u${i}`);
    const e = parseExperiment(exp([70, 0, 30]), 'f')!;
    const counts = new Map<string, number>();
    for (const u of users) {
      const name = assignVariant(e, u).name;
      counts.set(name, (counts.get(name) ?? 0) + 1);
    }
    expect(counts.get('v1')).toBeUndefined();
    expect(Math.abs((counts.get('v0') ?? 0) / 10_000 - 0.7)).toBeLessThan(0.02);
    const e2 = parseExperiment(exp([80, 0, 20]), 'f')!;
    for (const u of users) if (assignVariant(e2, u).name === 'v2') expect(assignVariant(e, u).name).toBe('v2');
  });
});

describe('ExperimentRouter', () => {
  const model = (version: string) => ({ version, closed: false, async close() { this.closed = true; } });
  type M = ReturnType<typeof model>;

  it('loads pinned models before switching; a load failure or the memory bound keeps the old config', async () => {
    const live = model('live');
    const loads: string[] = [];
    const r = new ExperimentRouter<M>({ live: () => live, load: async (d) => (loads.push(d), d.endsWith('bad') ? Promise.reject(new Error('corrupt')) : model(d)), maxModels: 2, graceMs: 1 });
    expect(r.select('u', '')).toEqual({ model: live, variant: '', shadowVariant: '' });
    expect(() => r.select('u', 'v1')).toThrow('variant: no experiment is configured');
    await r.apply(parseExperiment(exp([0, 1]), 'f'), 'f');
    expect(r.select('u', '')?.model.version).toBe('/a/v1');
    expect(r.select('u', 'v0')?.model).toBe(live);
    await expect(r.apply(parseExperiment(exp([1, 1, 1]), 'f'), 'f')).rejects.toThrow('needs 3 models side by side');
    await expect(r.apply(parseExperiment(JSON.stringify({ name: 'e1', variants: [{ name: 'v0', artifacts: '/a/bad', weight: 1 }] }), 'f'), 'f')).rejects.toThrow('corrupt');
    expect(r.select('u', '')?.model.version).toBe('/a/v1');
    const pinned = r.modelOf('v1')!;
    await r.apply(undefined, 'f');
    expect(r.select('u', '')?.model).toBe(live);
    await new Promise((res) => setTimeout(res, 20));
    expect(pinned.closed).toBe(true);
    expect(live.closed).toBe(false);
  });

  it('asks for a shadow only on sampled, unforced requests of another variant', async () => {
    const r = new ExperimentRouter<M>({ live: () => model('live'), load: async (d) => model(d), maxModels: 4 });
    await r.apply(parseExperiment(exp([1, 0], { shadow: { variant: 'v1', sample: 1 } }), 'f'), 'f');
    expect(r.select('u', '')).toMatchObject({ variant: 'v0', shadowVariant: 'v1' });
    expect(r.select('u', 'v1')).toMatchObject({ variant: 'v1', shadowVariant: '' });
    await r.apply(parseExperiment(exp([1, 0], { shadow: { variant: 'v1', sample: 0 } }), 'f'), 'f');
    expect(r.select('u', '')).toMatchObject({ shadowVariant: '' });
  });
});

import { ModelSlot } from '@recsys/ranker/model-slot';

class FakeModel {
  closed = 0;
  constructor(readonly name: string) {}
  async close(): Promise<void> {
    this.closed++;
  }
}

describe('ModelSlot', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('serves the new model at once and closes the replaced one only after the grace period', async () => {
    const slot = new ModelSlot<FakeModel>(30_000);
    const a = new FakeModel('a');
    const b = new FakeModel('b');
    expect(slot.current()).toBeUndefined();
    expect(slot.swap(a)).toBeUndefined();
    expect(slot.swap(b)).toBe(a);
    expect(slot.current()).toBe(b);
    expect(slot.retiredCount()).toBe(1);
    jest.advanceTimersByTime(29_999);
    expect(a.closed).toBe(0); // requests that picked `a` up before the swap may still score on it
    jest.advanceTimersByTime(1);
    await Promise.resolve();
    expect(a.closed).toBe(1);
    expect(b.closed).toBe(0);
    expect(slot.retiredCount()).toBe(0);
  });

  it('close() closes the live model and every retired one once, and cancels their timers', async () => {
    const slot = new ModelSlot<FakeModel>(30_000);
    const models = ['a', 'b', 'c'].map((n) => new FakeModel(n));
    for (const m of models) slot.swap(m);
    expect(slot.retiredCount()).toBe(2);
    await slot.close();
    expect(models.map((m) => m.closed)).toEqual([1, 1, 1]);
    expect(slot.current()).toBeUndefined();
    jest.advanceTimersByTime(60_000);
    await Promise.resolve();
    expect(models.map((m) => m.closed)).toEqual([1, 1, 1]);
  });

  it('swapping in the model that is already live retires nothing', () => {
    const slot = new ModelSlot<FakeModel>(10);
    const a = new FakeModel('a');
    slot.swap(a);
    slot.swap(a);
    expect(slot.retiredCount()).toBe(0);
  });

  it('reports a retired model that fails to close instead of throwing from a timer', async () => {
    const errors: unknown[] = [];
    const slot = new ModelSlot<{ close(): Promise<void> }>(5, (err) => errors.push(err));
    slot.swap({ close: () => Promise.reject(new Error('session busy')) });
    slot.swap(new FakeModel('b'));
    jest.advanceTimersByTime(5);
    await Promise.resolve();
    await Promise.resolve();
    expect(errors).toEqual([new Error('session busy')]);
  });
});

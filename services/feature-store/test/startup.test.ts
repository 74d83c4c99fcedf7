import { waitForSnapshot } from '@recsys/feature-store/startup';

describe('waitForSnapshot', () => {
  it('fails at once with the first error when waiting is off', async () => {
    const waited: unknown[] = [];
    await expect(waitForSnapshot(async () => Promise.reject(new Error('no snapshot')), 0, 100, (e) => waited.push(e))).rejects.toThrow('no snapshot');
    expect(waited).toEqual([]);
  });

  it('retries until the attempt succeeds, reporting each wait', async () => {
    let clock = 0;
    let calls = 0;
    const waited: string[] = [];
    await waitForSnapshot(
      async () => {
        if (++calls < 3) throw new Error(`try ${calls}`);
      },
      10_000,
      1000,
      (e) => waited.push((e as Error).message),
      async (ms) => void (clock += ms),
      () => clock,
    );
    expect(calls).toBe(3);
    expect(waited).toEqual(['try 1', 'try 2']);
  });

  it('gives up with the last error when the wait is over', async () => {
    let clock = 0;
    let calls = 0;
    await expect(
      waitForSnapshot(
        async () => Promise.reject(new Error(`try ${++calls}`)),
        2500,
        1000,
        () => {},
        async (ms) => void (clock += ms),
        () => clock,
      ),
    ).rejects.toThrow('try 3');
  });
});

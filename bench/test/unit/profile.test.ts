/** The CPU profile summary of `npm run bench -- --profile`: categories, and counting only the measured window. */
import * as inspector from 'node:inspector';
import { categorize, monotonicUs, summarizeProfile } from '../../src/profile';

// Three functions; samples 1–3 are start-up (a module compile), 4–6 the measured load.
const profile = {
  startTime: 1_000_000,
  nodes: [
    { id: 1, callFrame: { functionName: '(idle)', url: '', lineNumber: -1 } },
    { id: 2, callFrame: { functionName: 'wrapSafe', url: 'node:internal/modules/cjs/loader', lineNumber: 1421 } },
    { id: 3, callFrame: { functionName: 'retrieve', url: 'file:///repo/services/candidate-generator/dist/retrieval.js', lineNumber: 73 } },
    { id: 4, callFrame: { functionName: '(garbage collector)', url: '', lineNumber: -1 } },
  ],
  samples: [2, 2, 2, 3, 4, 1],
  timeDeltas: [100_000, 100_000, 100_000, 300_000, 100_000, 400_000],
};

describe('CPU profile summary', () => {
  it('puts functions in their category', () => {
    expect(categorize('wrapSafe', 'node:internal/modules/cjs/loader')).toBe('node internals / native');
    expect(categorize('x', 'file:///repo/node_modules/@grpc/grpc-js/build/src/server.js')).toBe('grpc-js');
    expect(categorize('(garbage collector)', '')).toBe('garbage collection');
  });

  it('counts the whole profile without a window', () => {
    const text = summarizeProfile(profile).join('\n');
    // busy = 0.3 (start-up) + 0.3 + 0.1 s; idle 0.4 s left out of busy.
    expect(text).toContain('busy 0.70 s of 1.10 s profiled;');
    expect(text).toMatch(/42\.9%\s+wrapSafe/);
  });

  it('counts only the samples inside the window', () => {
    // Sample i is taken at startTime + the deltas up to it: 1.1, 1.2, 1.3, 1.6, 1.7, 2.1 s.
    const text = summarizeProfile(profile, 12, { startUs: 1_350_000, endUs: 1_800_000 }).join('\n');
    expect(text).toContain('busy 0.40 s of 0.40 s profiled (the measured window);');
    expect(text).not.toContain('wrapSafe');
    expect(text).toMatch(/75\.0%\s+our code/);
    expect(text).toMatch(/25\.0%\s+garbage collection/);
  });

  it('reads the clock V8 stamps its profiles with', async () => {
    const session = new inspector.Session();
    session.connect();
    const post = (method: string): Promise<unknown> => new Promise((resolve, reject) => session.post(method, (err, res) => (err ? reject(err) : resolve(res))));
    await post('Profiler.enable');
    const before = monotonicUs();
    await post('Profiler.start');
    const res = (await post('Profiler.stop')) as { profile: { startTime: number; endTime: number } };
    const after = monotonicUs();
    session.disconnect();
    // Same clock: the profile's span lies within ours (a few ms of slack for rounding).
    expect(res.profile.startTime).toBeGreaterThanOrEqual(before - 5_000);
    expect(res.profile.endTime).toBeLessThanOrEqual(after + 5_000);
    expect(res.profile.endTime).toBeGreaterThanOrEqual(res.profile.startTime);
  });
});

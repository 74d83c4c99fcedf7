/**
 * Runs `attempt` until it succeeds or `waitMs` has passed, retrying every `everyMs` and
 * reporting each failure. With `waitMs` 0 the first failure is thrown at once. The feature
 * store uses it so that a pod started before Redis or before the first materialization
 * waits NOT_SERVING instead of crash-looping; the last error is thrown when time is up.
 */
export async function waitForSnapshot(
  attempt: () => Promise<void>,
  waitMs: number,
  everyMs: number,
  onWaiting: (err: unknown) => void,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  now: () => number = Date.now,
): Promise<void> {
  const until = now() + waitMs;
  for (;;) {
    try {
      await attempt();
      return;
    } catch (err) {
      if (now() + everyMs > until) throw err;
      onWaiting(err);
      await sleep(everyMs);
    }
  }
}

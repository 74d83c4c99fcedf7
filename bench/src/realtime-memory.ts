/**
 * Heap held by the memory backend's real-time state at its caps: ingests rounds of users
 * (EVENTS events each) until the caps evict, and prints users, entries, heap after a full
 * GC and bytes per entry after each round. Run with the GC exposed:
 *
 *   node --expose-gc bench/dist/realtime-memory.js [EVENTS_PER_USER] [MAX_USERS] [MAX_ENTRIES]
 */
import { DEFAULT_REALTIME, MemoryRealtime } from '@recsys/feature-store/realtime';

const [perUser = 1, maxUsers = 100_000, maxEntries = 2_000_000] = process.argv.slice(2).map(Number);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
const heapMb = (): number => {
  gc();
  return process.memoryUsage().heapUsed / 1048576;
};
const rt = new MemoryRealtime(DEFAULT_REALTIME, { maxUsers, maxEntries });
const now = Date.now();
const base = heapMb();
const usersPerRound = Math.max(1, Math.ceil(Math.min(maxUsers, maxEntries / perUser) / 2));
let next = 0;
for (let round = 0; round < 6; round++) {
  for (let u = 0; u < usersPerRound; u += 1) {
    const user = `u${next++}`;
    const events = Array.from({ length: perUser }, (_, i) => ({ eventId: `${user}-${i}`, userId: user, itemId: String((next * 31 + i * 7) % 9000), eventType: 'click', timeMs: now - i }));
    rt.ingest(events, now);
  }
  const heap = heapMb();
  const { users, entries } = rt.size;
  process.stdout.write(`round ${round}: users ${users}, entries ${entries}, evicted ${rt.evicted}, heap ${heap.toFixed(1)} MB (+${(heap - base).toFixed(1)}), ${(((heap - base) * 1048576) / entries).toFixed(0)} B per entry\n`);
}

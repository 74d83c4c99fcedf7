/**
 * Preloaded with `NODE_OPTIONS=--require …/cpu-prof-preload.js` (Node refuses --cpu-prof in
 * NODE_OPTIONS): starts the V8 CPU profiler in this process and writes
 * `CPU.<time>.<pid>.0.001.cpuprofile` into RECSYS_CPU_PROF_DIR when the process exits,
 * the file name and format `node --cpu-prof` uses.
 */
import * as fs from 'node:fs';
import * as inspector from 'node:inspector';
import * as path from 'node:path';

const dir = process.env.RECSYS_CPU_PROF_DIR;
if (dir) {
  const session = new inspector.Session();
  session.connect();
  session.post('Profiler.enable');
  // 1 ms sampling keeps the overhead small on a loaded 2-core box.
  session.post('Profiler.setSamplingInterval', { interval: 1000 });
  session.post('Profiler.start');
  process.once('exit', () => {
    // A same-thread inspector session answers synchronously, so this completes before exit.
    session.post('Profiler.stop', (err, res) => {
      if (err || !res) return;
      const stamp = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, `CPU.${stamp}.${process.pid}.0.001.cpuprofile`), JSON.stringify(res.profile));
    });
  });
}

#!/usr/bin/env node
// CPU per request of each service process, split by thread (the main thread against V8's
// helper threads: concurrent marking, parallel scavenge, compilation), under a closed loop of
// Recommend calls against a running gateway. Run from the repository root after
// `npm run build`, with the pids `npm start` prints (Linux: /proc/<pid>/task):
//
//   node bench/scripts/thread-cpu.cjs <gateway host:port> <seconds> [--in-flight N] <pid>...
//
// 300 warm-up calls for users 1–500, then calls back to back for <seconds>.
'use strict';
const fs = require('node:fs');
const { createClient } = require('@recsys/grpc-kit');
const { GatewayServiceClient, RecommendRequest } = require('@recsys/proto');
const { statCpuSeconds } = require('../dist/stats.js');

/** CPU seconds of each thread of `pid`, by thread id (a thread that ended meanwhile is left out). */
function threads(pid) {
  const out = {};
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    const secs = statCpuSeconds(`/proc/${pid}/task/${tid}/stat`);
    if (secs !== undefined) out[tid] = secs;
  }
  return out;
}

function serviceOf(pid) {
  const script = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').find((a) => a.endsWith('main.js'));
  return script ? script.split('/').slice(-3, -2)[0] : `pid ${pid}`;
}

async function main() {
  const args = process.argv.slice(2);
  const fl = args.indexOf('--in-flight');
  const inFlight = fl >= 0 ? Number(args.splice(fl, 2)[1]) : 1;
  const [addr, secsArg, ...pidArgs] = args;
  const secs = Number(secsArg);
  const pids = pidArgs.map(Number);
  if (!addr || !(secs > 0 && secs <= 600) || !Number.isInteger(inFlight) || inFlight < 1 || inFlight > 256 || pids.length === 0 || pids.some((p) => !Number.isInteger(p) || !fs.existsSync(`/proc/${p}`))) {
    console.error('usage: node bench/scripts/thread-cpu.cjs <gateway host:port> <seconds 1–600> [--in-flight 1–256] <pid of a running process>...');
    process.exit(2);
  }
  const client = createClient(GatewayServiceClient, addr);
  const call = (u) => new Promise((resolve, reject) => client.recommend(RecommendRequest.fromPartial({ userId: String(u), k: 10 }), (e, r) => (e ? reject(e) : resolve(r))));
  for (let i = 0; i < 300; i++) await call(1 + (i % 500));
  const before = new Map(pids.map((p) => [p, threads(p)]));
  const t0 = Date.now();
  let n = 0;
  await Promise.all(Array.from({ length: inFlight }, async () => { while (Date.now() - t0 < secs * 1000) await call(1 + (n++ % 500)); }));
  const elapsed = (Date.now() - t0) / 1000;
  console.log(`${n} requests in ${elapsed.toFixed(1)} s, ${inFlight} in flight: ${(n / elapsed).toFixed(1)} req/s, ${((elapsed * 1000 * inFlight) / n).toFixed(2)} ms each`);
  for (const p of pids) {
    const now = threads(p);
    const was = before.get(p);
    const ms = (tid) => ((now[tid] - (was[tid] ?? 0)) * 1000) / n;
    const main = ms(String(p));
    const helpers = Object.keys(now).filter((t) => t !== String(p)).reduce((sum, t) => sum + ms(t), 0);
    console.log(`${serviceOf(p)} (pid ${p}): ${(main + helpers).toFixed(2)} CPU-ms per request, main thread ${main.toFixed(2)}, other threads ${helpers.toFixed(2)}`);
  }
  process.exit(0);
}
main().catch((e) => { console.error(e.message); process.exit(1); });

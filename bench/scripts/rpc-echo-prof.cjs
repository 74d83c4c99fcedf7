#!/usr/bin/env node
// CPU per unary call of each gRPC client against one server in another process: the echo
// test behind README "Where the time goes" (the lean client). Run from the repository root
// after `npm run build`:
//
//   node bench/scripts/rpc-echo.cjs grpc-js | grpc-js-no-retries | grpc-js-no-stack | http2 | unary-channel [--server grpc-js|http2] [--in-flight N]
//
// A 2,000-byte message, 16 calls in flight (--in-flight: 1–256), 2,000 warm-up calls, then 20,000 measured; the
// client's CPU from process.cpuUsage, the server's from /proc/<pid>/stat (Linux).
'use strict';
const http2 = require('node:http2');
const { fork } = require('node:child_process');
const grpc = require('@grpc/grpc-js');
const { cpuSeconds } = require('../dist/stats.js');

const CLIENTS = ['grpc-js', 'grpc-js-no-retries', 'grpc-js-no-stack', 'http2', 'unary-channel'];
const PATH = '/t.Test/Echo';
const N = 20000;
const WARMUP = 2000;
const identity = (b) => b;

function serveGrpcJs() {
  process.on('SIGTERM', () => process.exit(0));
  const server = new grpc.Server({ 'grpc.enable_channelz': 0 });
  const def = { echo: { path: PATH, requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity } };
  server.addService(def, { echo: (call, cb) => cb(null, call.request) });
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) throw err;
    process.send(port);
  });
}

function serveHttp2() {
  const srv = http2.createServer();
  srv.on('stream', (stream) => {
    const chunks = [];
    stream.on('data', (d) => chunks.push(d));
    stream.on('end', () => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(Buffer.concat(chunks));
    });
  });
  srv.listen(0, '127.0.0.1', () => process.send(srv.address().port));
}

async function client(kind, port) {
  const payload = Buffer.alloc(2000, 7);
  if (kind.startsWith('grpc-js')) {
    const Client = grpc.makeGenericClientConstructor({ echo: { path: PATH, requestStream: false, responseStream: false, requestSerialize: identity, responseDeserialize: identity } });
    const c = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.enable_channelz': 0, ...(kind !== 'grpc-js' ? { 'grpc.enable_retries': 0 } : {}) });
    if (kind === 'grpc-js-no-stack') Error.stackTraceLimit = 0;
    return () => new Promise((resolve, reject) => c.echo(payload, new grpc.Metadata(), { deadline: Date.now() + 5000 }, (e, r) => (e ? reject(e) : resolve(r))));
  }
  if (kind === 'unary-channel') {
    const { UnaryChannel } = require('@recsys/grpc-kit');
    const ch = new UnaryChannel(`127.0.0.1:${port}`);
    const def = { path: PATH, requestSerialize: identity, responseDeserialize: identity };
    return () => ch.call(def, payload, { deadline: Date.now() + 5000 });
  }
  const session = http2.connect(`http://127.0.0.1:${port}`);
  await new Promise((r) => session.once('connect', r));
  const frame = Buffer.allocUnsafe(5 + payload.length);
  frame[0] = 0;
  frame.writeUInt32BE(payload.length, 1);
  payload.copy(frame, 5);
  return () =>
    new Promise((resolve, reject) => {
      const st = session.request({ ':method': 'POST', ':path': PATH, 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': '5S' });
      const chunks = [];
      st.on('data', (d) => chunks.push(d));
      st.on('trailers', (t) => t['grpc-status'] !== '0' && reject(new Error(`grpc-status ${t['grpc-status']}`)));
      st.on('end', () => resolve(Buffer.concat(chunks)));
      st.on('error', reject);
      st.end(frame);
    });
}

async function main() {
  if (process.argv[2] === '--serve') return process.argv[3] === 'http2' ? serveHttp2() : serveGrpcJs();
  const kind = process.argv[2];
  const at = process.argv.indexOf('--server');
  const serverKind = at > 0 ? process.argv[at + 1] : 'grpc-js';
  const fl = process.argv.indexOf('--in-flight');
  const inFlight = fl > 0 ? Number(process.argv[fl + 1]) : 16;
  if (!CLIENTS.includes(kind) || !['grpc-js', 'http2'].includes(serverKind) || !Number.isInteger(inFlight) || inFlight < 1 || inFlight > 256) {
    console.error(`usage: node bench/scripts/rpc-echo.cjs ${CLIENTS.join('|')} [--server grpc-js|http2] [--in-flight 1–256]`);
    process.exit(2);
  }
  const child = fork(__filename, ["--serve", serverKind], { execArgv: ["--cpu-prof", "--cpu-prof-dir=/tmp/prof"] });
  const port = await new Promise((r) => child.once('message', r));
  const serverCpuUs = () => cpuSeconds(child.pid) * 1e6;
  const call = await client(kind, port);
  for (let i = 0; i < WARMUP; i++) await call();
  const c0 = process.cpuUsage();
  const s0 = serverCpuUs();
  const t0 = Date.now();
  let started = 0;
  await Promise.all(Array.from({ length: inFlight }, async () => { while (started++ < N) await call(); }));
  const c = process.cpuUsage(c0);
  const s = serverCpuUs() - s0;
  const secs = (Date.now() - t0) / 1000;
  console.log(`${kind} client, ${serverKind} server: client ${((c.user + c.system) / N).toFixed(1)} µs CPU per call, server ${(s / N).toFixed(1)} µs, ${(N / secs).toFixed(0)} calls/s, ${inFlight} in flight: ${((secs * 1e6 * inFlight) / N).toFixed(0)} µs per call`);
  child.kill();
  process.exit(0);
}
main();

#!/usr/bin/env node
// Exact top-300 retrieval as other ONNX graphs than ExactIndex's (README "Where the time
// goes", 2026-12-04): the graph in use, without the eligibility Add, the items transposed,
// Gemm with the bias as C. Run from the repository root after `npm run build`:
//
//   node bench/scripts/retrieval-graphs.cjs <workload dir>     (the standard workload's folder)
//
// CPU per search (process.cpuUsage), best of three runs of 4,000 after 300 to warm up, one
// thread; then whether each variant returns the same rows.
'use strict';
const ort = require('onnxruntime-node');
const core = require('@recsys/core');
const { onnx } = require('onnx-proto');
const fs = require('fs');
const path = require('path');
const dir = process.argv[2];
if (!dir || !fs.existsSync(path.join(dir, 'item_emb.f32')) || !fs.existsSync(path.join(dir, 'user_emb.f32'))) {
  console.error('usage: node bench/scripts/retrieval-graphs.cjs <workload dir with item_emb.f32 and user_emb.f32 (32-wide float32)>');
  process.exit(2);
}
const items = new Float32Array(fs.readFileSync(path.join(dir, 'item_emb.f32')).buffer.slice(0));
const users = new Float32Array(fs.readFileSync(path.join(dir, 'user_emb.f32')).buffer.slice(0));
const dim = 32, n = items.length / dim;
const FLOAT = onnx.TensorProto.DataType.FLOAT, INT64 = onnx.TensorProto.DataType.INT64, INT = onnx.AttributeProto.AttributeType.INT;
const value = (name, elemType, dims) => ({ name, type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } } });
function graph(nodes, inputs, outputs, init = []) {
  return onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 7, opsetImport: [{ domain: '', version: 13 }], graph: { name: 'g', node: nodes, input: inputs, output: outputs, initializer: init } })).finish();
}
const topk = (inp) => ({ opType: 'TopK', input: [inp, 'k'], output: ['values', 'indices'], attribute: [{ name: 'axis', type: INT, i: -1 }, { name: 'largest', type: INT, i: 1 }, { name: 'sorted', type: INT, i: 1 }] });
const outs = [value('values', FLOAT, [1, 'k']), value('indices', INT64, [1, 'k'])];
async function time(label, sess, feeds, N = 4000) {
  for (let i = 0; i < 300; i++) await sess.run(feeds(i));
  let best = 1e9;
  for (let rep = 0; rep < 3; rep++) { const t0 = process.cpuUsage(); for (let i = 0; i < N; i++) await sess.run(feeds(i)); const t = process.cpuUsage(t0); best = Math.min(best, (t.user + t.system) / N); }
  console.log(`${label}: ${best.toFixed(1)} µs CPU per search`);
}
(async () => {
  const nUsers = users.length / dim;
  const q = (u) => users.subarray((u % nUsers) * dim, (u % nUsers) * dim + dim);
  const K = () => new ort.Tensor('int64', BigInt64Array.of(300n), [1]);
  const itemsT = new ort.Tensor('float32', items, [n, dim]);
  const bias = new ort.Tensor('float32', new Float32Array(n), [1, n]);
  const cur = await ort.InferenceSession.create(core.exactRetrievalGraph(dim), core.RETRIEVAL_SESSION_OPTIONS);
  await time('current', cur, (i) => ({ items: itemsT, query: new ort.Tensor('float32', q(i), [dim, 1]), bias, k: K() }));
  const shape = Buffer.alloc(16); shape.writeBigInt64LE(1n, 0); shape.writeBigInt64LE(-1n, 8);
  const rs = [{ name: 'row_shape', dims: [2], dataType: INT64, rawData: shape }];
  const noadd = await ort.InferenceSession.create(graph([{ opType: 'MatMul', input: ['items', 'query'], output: ['dots'] }, { opType: 'Reshape', input: ['dots', 'row_shape'], output: ['row'] }, topk('row')], [value('items', FLOAT, ['n', dim]), value('query', FLOAT, [dim, 1]), value('k', INT64, [1])], outs, rs), core.RETRIEVAL_SESSION_OPTIONS);
  await time('current no add', noadd, (i) => ({ items: itemsT, query: new ort.Tensor('float32', q(i), [dim, 1]), k: K() }));
  const tr = new Float32Array(n * dim); for (let r = 0; r < n; r++) for (let d = 0; d < dim; d++) tr[d * n + r] = items[r * dim + d];
  const trT = new ort.Tensor('float32', tr, [dim, n]);
  const t1 = await ort.InferenceSession.create(graph([{ opType: 'MatMul', input: ['query', 'itemsT'], output: ['row'] }, topk('row')], [value('query', FLOAT, [1, dim]), value('itemsT', FLOAT, [dim, 'n']), value('k', INT64, [1])], outs), core.RETRIEVAL_SESSION_OPTIONS);
  await time('transposed no add', t1, (i) => ({ query: new ort.Tensor('float32', q(i), [1, dim]), itemsT: trT, k: K() }));
  const t2 = await ort.InferenceSession.create(graph([{ opType: 'MatMul', input: ['query', 'itemsT'], output: ['row'] }, { opType: 'Add', input: ['row', 'bias'], output: ['scores'] }, topk('scores')], [value('query', FLOAT, [1, dim]), value('itemsT', FLOAT, [dim, 'n']), value('bias', FLOAT, [1, 'n']), value('k', INT64, [1])], outs), core.RETRIEVAL_SESSION_OPTIONS);
  await time('transposed + add', t2, (i) => ({ query: new ort.Tensor('float32', q(i), [1, dim]), itemsT: trT, bias, k: K() }));
  // Gemm with bias as C
  const t3 = await ort.InferenceSession.create(graph([{ opType: 'Gemm', input: ['query', 'itemsT', 'bias'], output: ['scores'] }, topk('scores')], [value('query', FLOAT, [1, dim]), value('itemsT', FLOAT, [dim, 'n']), value('bias', FLOAT, [1, 'n']), value('k', INT64, [1])], outs), core.RETRIEVAL_SESSION_OPTIONS);
  await time('transposed gemm(bias)', t3, (i) => ({ query: new ort.Tensor('float32', q(i), [1, dim]), itemsT: trT, bias, k: K() }));
  // Gemm transB with row-major items (no transposed copy)
  const t4 = await ort.InferenceSession.create(graph([{ opType: 'Gemm', input: ['query', 'items', 'bias'], output: ['scores'], attribute: [{ name: 'transB', type: INT, i: 1 }] }, topk('scores')], [value('query', FLOAT, [1, dim]), value('items', FLOAT, ['n', dim]), value('bias', FLOAT, [1, 'n']), value('k', INT64, [1])], outs), core.RETRIEVAL_SESSION_OPTIONS);
  await time('gemm transB(bias)', t4, (i) => ({ query: new ort.Tensor('float32', q(i), [1, dim]), items: itemsT, bias, k: K() }));
  // check results equal
  const a = await cur.run({ items: itemsT, query: new ort.Tensor('float32', q(7), [dim, 1]), bias, k: K() });
  for (const [nm, s, f] of [['transposed no add', t1, { query: new ort.Tensor('float32', q(7), [1, dim]), itemsT: trT, k: K() }], ['transposed gemm(bias)', t3, { query: new ort.Tensor('float32', q(7), [1, dim]), itemsT: trT, bias, k: K() }], ['gemm transB(bias)', t4, { query: new ort.Tensor('float32', q(7), [1, dim]), items: itemsT, bias, k: K() }]]) {
    const b = await s.run(f); let same = 0, maxd = 0; for (let j = 0; j < 300; j++) { if (a.indices.data[j] === b.indices.data[j]) same++; maxd = Math.max(maxd, Math.abs(a.values.data[j] - b.values.data[j])); }
    console.log(`${nm}: ${same} of 300 rows as the graph in use, largest score difference ${maxd}`);
  }
})().catch(e => { console.error(e); process.exit(1); });

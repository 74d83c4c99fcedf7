import { execFile } from 'node:child_process';

/** One named float32 input of an ONNX run. */
export interface OrtFeed {
  name: string;
  data: ArrayLike<number>;
  dims: number[];
}

// Runs in a separate Node process: inside Jest's sandbox, onnxruntime-node's output
// tensors are Float32Arrays of another realm and fail onnxruntime-common's type check.
const SCRIPT = `
const ort = require(process.argv[1]);
let raw = '';
process.stdin.on('data', (c) => (raw += c));
process.stdin.on('end', async () => {
  const req = JSON.parse(raw);
  const session = await ort.InferenceSession.create(Buffer.from(req.model, 'base64'));
  const feeds = {};
  for (const f of req.feeds) feeds[f.name] = new ort.Tensor('float32', Float32Array.from(f.data, (v) => (v === 'NaN' ? NaN : v)), f.dims);
  const out = await session.run(feeds);
  const result = { inputNames: session.inputNames, outputNames: session.outputNames, outputs: {} };
  for (const [name, t] of Object.entries(out)) result.outputs[name] = { dims: t.dims, data: Array.from(t.data) };
  process.stdout.write(JSON.stringify(result));
});
`;

/** What one onnxruntime-node run returned. */
export interface OrtResult {
  inputNames: string[];
  outputNames: string[];
  outputs: Record<string, { dims: number[]; data: number[] }>;
}

/** Loads `model` (NaN inputs are carried as NaN) with onnxruntime-node (`InferenceSession.create(buffer)`) and runs it once. */
export function runOnnx(model: Uint8Array, feeds: OrtFeed[]): Promise<OrtResult> {
  const request = JSON.stringify({ model: Buffer.from(model).toString('base64'), feeds: feeds.map((f) => ({ ...f, data: Array.from(f.data, (v) => (Number.isNaN(v) ? 'NaN' : v)) })) });
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, ['-e', SCRIPT, require.resolve('onnxruntime-node')], { maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`onnxruntime run failed: ${stderr || err.message}`));
      else resolve(JSON.parse(stdout) as OrtResult);
    });
    child.stdin!.end(request);
  });
}

// The jest test environment of every project: jest's node environment whose typed-array
// constructors are the host realm's. Native addons (onnxruntime-node) create their output
// arrays in the host realm, and onnxruntime-common checks `data instanceof Float32Array`
// against the sandbox's constructor: without sharing them, every session.run inside jest
// fails with "A float32 tensor's data must be type of function Float32Array()".
const { TestEnvironment } = require('jest-environment-node');

const SHARED = [
  'ArrayBuffer',
  'SharedArrayBuffer',
  'DataView',
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
];

class HostTypedArraysEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of SHARED) this.global[name] = globalThis[name];
  }
}

module.exports = HostTypedArraysEnvironment;

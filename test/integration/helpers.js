"use strict";
var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    var desc = Object.getOwnPropertyDescriptor(m, k);
    if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
      desc = { enumerable: true, get: function() { return m[k]; } };
    }
    Object.defineProperty(o, k2, desc);
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __setModuleDefault = (this && this.__setModuleDefault) || (Object.create ? (function(o, v) {
    Object.defineProperty(o, "default", { enumerable: true, value: v });
}) : function(o, v) {
    o["default"] = v;
});
var __importStar = (this && this.__importStar) || (function () {
    var ownKeys = function(o) {
        ownKeys = Object.getOwnPropertyNames || function (o) {
            var ar = [];
            for (var k in o) if (Object.prototype.hasOwnProperty.call(o, k)) ar[ar.length] = k;
            return ar;
        };
        return ownKeys(o);
    };
    return function (mod) {
        if (mod && mod.__esModule) return mod;
        var result = {};
        if (mod != null) for (var k = ownKeys(mod), i = 0; i < k.length; i++) if (k[i] !== "default") __createBinding(result, mod, k[i]);
        __setModuleDefault(result, mod);
        return result;
    };
})();
Object.defineProperty(exports, "__esModule", { value: true });
exports.startRedis = exports.SHARED_DIR = void 0;
exports.testArtifactsRoot = testArtifactsRoot;
exports.runNode = runNode;
exports.probe = probe;
exports.counterValue = counterValue;
const node_child_process_1 = require("node:child_process");
const path = __importStar(require("node:path"));
const node_util_1 = require("node:util");
const local_1 = require("@recsys/local");
const execFileP = (0, node_util_1.promisify)(node_child_process_1.execFile);
/** The shared folder beside the repository (datasets, tools, bench workload). */
exports.SHARED_DIR = process.env.RECSYS_SHARED_DIR ?? path.resolve(local_1.REPO_ROOT, '..', 'shared');
/** Artifact root built once per test run by global-setup.ts. */
function testArtifactsRoot() {
    const dir = process.env.RECSYS_TEST_ARTIFACTS;
    if (!dir)
        throw new Error('RECSYS_TEST_ARTIFACTS is not set: the integration project must run with its globalSetup');
    return dir;
}
/** redis-server on a free loopback port: shared with the benchmark, see deploy/local/src/redis.ts. */
var local_2 = require("@recsys/local");
Object.defineProperty(exports, "startRedis", { enumerable: true, get: function () { return local_2.startRedis; } });
/** Runs a built CLI of the repository (`node <path>`), rejecting with its output on failure. */
async function runNode(script, args, env = {}) {
    try {
        return await execFileP(process.execPath, [path.join(local_1.REPO_ROOT, script), ...args], {
            env: { ...process.env, ...env },
            maxBuffer: 64 * 1024 * 1024,
        });
    }
    catch (err) {
        const e = err;
        throw new Error(`${script} ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
    }
}
/**
 * Runs the independent reflection client `shared/tools/grpc_probe.py --strict` (Python
 * gRPC C-core, as grpcurl would see the server) and returns its exit code and output.
 */
async function probe(address, ...args) {
    const tool = path.join(exports.SHARED_DIR, 'tools', 'grpc_probe.py');
    try {
        const { stdout, stderr } = await execFileP('/usr/bin/python3', [tool, '--strict', address, ...args], { timeout: 30_000 });
        return { code: 0, stdout, stderr };
    }
    catch (err) {
        const e = err;
        if (typeof e.code !== 'number')
            throw err;
        return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
}
/** Reads a Prometheus counter's total over all label sets matching `labels`. */
async function counterValue(metricsPort, name, labels = {}) {
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    const text = await res.text();
    let total = 0;
    for (const line of text.split('\n')) {
        if (!line.startsWith(name))
            continue;
        const m = /^([a-z_]+)(\{[^}]*\})?\s+([0-9.eE+-]+)$/.exec(line);
        if (!m || m[1] !== name)
            continue;
        const lbl = m[2] ?? '';
        if (Object.entries(labels).every(([k, v]) => lbl.includes(`${k}="${v}"`)))
            total += Number(m[3]);
    }
    return total;
}
//# sourceMappingURL=helpers.js.map
/** The shared folder beside the repository (datasets, tools, bench workload). */
export declare const SHARED_DIR: string;
/** Artifact root built once per test run by global-setup.ts. */
export declare function testArtifactsRoot(): string;
/** redis-server on a free loopback port: shared with the benchmark, see deploy/local/src/redis.ts. */
export { startRedis, type RedisServer } from '@recsys/local';
/** Runs a built CLI of the repository (`node <path>`), rejecting with its output on failure. */
export declare function runNode(script: string, args: string[], env?: Record<string, string>): Promise<{
    stdout: string;
    stderr: string;
}>;
/** Result of one grpc_probe.py run. */
export interface ProbeResult {
    code: number;
    stdout: string;
    stderr: string;
}
/**
 * Runs the independent reflection client `shared/tools/grpc_probe.py --strict` (Python
 * gRPC C-core, as grpcurl would see the server) and returns its exit code and output.
 */
export declare function probe(address: string, ...args: string[]): Promise<ProbeResult>;
/** Reads a Prometheus counter's total over all label sets matching `labels`. */
export declare function counterValue(metricsPort: number, name: string, labels?: Record<string, string>): Promise<number>;

/**
 * The HTTP/JSON front door as a load target: the same Recommend as the gRPC target, as
 * `POST /v1/recommendations` with a JSON body over keep-alive HTTP/1.1 connections, the
 * proto3 JSON answer read back (by the descriptor set, as the gateway writes it) into the
 * generated message, so the reference check and the statistics are the gRPC target's.
 */
import * as http from 'node:http';
import { fromJson, toBinary, type DescMessage } from '@bufbuild/protobuf';
import { DESCRIPTOR_SET_PATH, RecommendResponse } from '@recsys/proto';
import { loadRegistry } from '@recsys/gateway/http/routes';
import type { RecommendCall } from './closed-loop';

/** Per-request timeout of the load generator: generous, the gateway applies its own budget. */
const CALL_TIMEOUT_MS = 10_000;

function post(agent: http.Agent, host: string, port: number, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host, port, agent, method: 'POST', path: '/v1/recommendations', timeout: CALL_TIMEOUT_MS, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-request-timeout-ms': String(CALL_TIMEOUT_MS) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${CALL_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Recommend over HTTP at `address` (`host:port`); `close` ends its connections. */
export function httpRecommend(address: string): { recommendOn: (k: number) => RecommendCall; close: () => Promise<void> } {
  const i = address.lastIndexOf(':');
  const host = address.slice(0, i);
  const port = Number(address.slice(i + 1));
  // A pool of keep-alive connections, as a web back end calling the API would keep.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 128 });
  const desc = loadRegistry(DESCRIPTOR_SET_PATH).getMessage('recsys.v1.RecommendResponse') as DescMessage;
  const recommendOn =
    (k: number): RecommendCall =>
    async (userId, debug) => {
      const res = await post(agent, host, port, JSON.stringify({ userId, k, debug }));
      if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${res.text.slice(0, 300)}`);
      return RecommendResponse.decode(toBinary(desc, fromJson(desc, JSON.parse(res.text))));
    };
  return {
    recommendOn,
    close: async () => agent.destroy(),
  };
}

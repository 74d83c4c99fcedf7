import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { float32LEBytes, type ArtifactManifest, type RankerFeature } from '@recsys/core';

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

function lengthDelimited(field: number, bytes: Uint8Array): number[] {
  return [...varint((field << 3) | 2), ...varint(bytes.length), ...bytes];
}

/**
 * A protobuf ModelProto with ir_version, a dummy graph and metadata_props, enough for
 * the metadata reader (not a runnable model).
 */
export function fakeOnnxModel(metadata: Record<string, string>): Buffer {
  const enc = new TextEncoder();
  const bytes: number[] = [...varint((1 << 3) | 0), ...varint(7)];
  bytes.push(...lengthDelimited(7, enc.encode('graph bytes the reader must skip')));
  for (const [key, value] of Object.entries(metadata)) {
    const entry = [...lengthDelimited(1, enc.encode(key)), ...lengthDelimited(2, enc.encode(value))];
    bytes.push(...lengthDelimited(14, Uint8Array.from(entry)));
  }
  return Buffer.from(bytes);
}

export const FIXTURE_SPEC: RankerFeature[] = [
  { name: 'rank', kind: 'retrieval_rank' },
  { name: 'pop', kind: 'item', feature: 'item_pop' },
  { name: 'act', kind: 'user', feature: 'user_activity' },
];

const f32 = (values: number[]): Buffer => float32LEBytes(values);

/** Writes `files` plus a manifest listing their hashes; returns the manifest. */
export function writeVersionDir(dir: string, files: Record<string, Buffer>, manifestOverrides: Partial<ArtifactManifest> = {}): ArtifactManifest {
  fs.mkdirSync(dir, { recursive: true });
  const entries: ArtifactManifest['files'] = {};
  for (const [name, data] of Object.entries(files)) {
    fs.writeFileSync(path.join(dir, name), data);
    entries[name] = { sha256: createHash('sha256').update(data).digest('hex'), bytes: data.length };
  }
  const manifest: ArtifactManifest = {
    format: 1,
    version: path.basename(dir),
    created: '2024-01-01T00:00:00.000Z',
    dataset: { name: 'fixture', source: 'test', users: 2, items: 3, interactions: 4 },
    files: entries,
    embedding_dim: 2,
    feature_views: {
      user: { name: 'user', entity: 'user', features: [{ name: 'user_activity', default: 0, description: 'count' }] },
      item: {
        name: 'item',
        entity: 'item',
        features: [
          { name: 'item_pop', default: 0, description: 'count' },
          { name: 'item_year', default: 2000, description: 'year' },
        ],
      },
    },
    ranker: { file: 'ranker.onnx', input: 'features', output: 'score', features: FIXTURE_SPEC },
    metrics: { auc: 0.7 },
    ...manifestOverrides,
  };
  fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2));
  return manifest;
}

/** The files of a valid 2-user, 3-item artifact with embedding dim 2. */
export function fixtureFiles(): Record<string, Buffer> {
  return {
    'items.json': Buffer.from(JSON.stringify({ item_ids: ['10', '20', '30'] })),
    'users.json': Buffer.from(JSON.stringify({ user_ids: ['u1', 'u2'] })),
    'item_embeddings.f32': f32([1, 0, 0, 1, 0.5, 0.5]),
    'user_embeddings.f32': f32([1, 2, 3, 4]),
    'item_popularity.f32': f32([5, 3, 1]),
    'item_features.f32': f32([1.5, 1999, 1.2, 2001, 0.5, 2000]),
    'user_features.f32': f32([2, 1]),
    'user_history.json': Buffer.from(JSON.stringify({ u1: ['20', '10'], u2: ['30'] })),
    'ranker.onnx': fakeOnnxModel({ 'recsys.feature_spec': JSON.stringify(FIXTURE_SPEC), other: 'x' }),
  };
}

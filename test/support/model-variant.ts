/**
 * A second artifact version for rollout tests without a second 15–30 s build: a copy of a
 * version directory whose ranker is another (seeded, untrained) MLP over the same feature
 * spec, exported with the project's own ONNX exporter, with the manifest's version and the
 * model's size and sha256 updated. It scores differently, so rankings differ.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { resolveArtifactDir, type ArtifactManifest } from '@recsys/core';
import { createRng, exportMlpToOnnx, type Mlp } from '@recsys/offline';

/** Writes `<outRoot>/<base version>-m<seed>` and returns its path (no CURRENT is written). */
export function writeRankerVariant(base: string, outRoot: string, seed: number): string {
  const from = resolveArtifactDir(base);
  const manifest = JSON.parse(fs.readFileSync(path.join(from, 'manifest.json'), 'utf8')) as ArtifactManifest;
  const version = `${manifest.version}-m${seed}`;
  const to = path.join(outRoot, version);
  fs.cpSync(from, to, { recursive: true });
  const width = manifest.ranker.features.length;
  const rng = createRng(seed);
  const hidden = 8;
  const mlp: Mlp = {
    layers: [
      { inputs: width, outputs: hidden, weight: Float64Array.from({ length: width * hidden }, () => rng.normal() * 0.3), bias: new Float64Array(hidden), activation: 'relu' },
      { inputs: hidden, outputs: 1, weight: Float64Array.from({ length: hidden }, () => rng.normal()), bias: new Float64Array(1), activation: 'sigmoid' },
    ],
  };
  const bytes = Buffer.from(exportMlpToOnnx(mlp, { featureSpec: manifest.ranker.features, inputName: manifest.ranker.input, outputName: manifest.ranker.output }));
  fs.writeFileSync(path.join(to, manifest.ranker.file), bytes);
  const files = manifest.files as Record<string, { sha256: string; bytes: number }>;
  files[manifest.ranker.file] = { sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length };
  fs.writeFileSync(path.join(to, 'manifest.json'), JSON.stringify({ ...manifest, version, files }, null, 2));
  return to;
}

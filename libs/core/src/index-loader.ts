/**
 * Opens the embedding source's index of a loaded artifact version: the one function the
 * candidate generator and the offline evaluation both call, so they search alike.
 */
import { ArtifactError, verifyFileStreaming } from './artifacts';
import type { LoadedArtifacts } from './artifact-types';
import { eligibleItems } from './retrieval';
import { ExactIndex, HnswIndex, type OpenIndexOptions, type RetrievalIndex } from './retrieval-index';

/**
 * The index `options.choice` asks for over `a` (loaded with `itemEmbeddings` and
 * `itemPopularity`): `exact` always the ONNX exact index; `hnsw` the artifact's HNSW graphs
 * (an error when it has none); `auto` (default) HNSW when the manifest has an index, else
 * exact. HNSW graph files are verified against the manifest (sha256, streamed) and
 * memory-mapped, not read onto the heap.
 *
 * @throws ArtifactError naming the file or the missing index
 */
export async function openRetrievalIndex(a: LoadedArtifacts, options: OpenIndexOptions = {}): Promise<RetrievalIndex> {
  const choice = options.choice ?? 'auto';
  const dim = a.manifest.embedding_dim;
  const eligible = eligibleItems(a.itemPopularity);
  const spec = a.manifest.retrieval?.index;
  if (choice === 'exact' || (choice === 'auto' && spec === undefined)) return ExactIndex.create(a.itemEmbeddings, dim, { eligible });
  if (spec === undefined) {
    throw new ArtifactError(a.dir, 'the HNSW index was asked for (RETRIEVAL_INDEX=hnsw / --index hnsw) but this artifact has none; build one with `npm run artifacts -- ... --index hnsw`');
  }
  for (const b of spec.files) verifyFileStreaming(a.dir, a.manifest, b.file);
  const params = { ...spec.params, ...(options.efSearch === undefined ? {} : { expansion_search: options.efSearch }) };
  try {
    return HnswIndex.open(a.dir, spec.files, a.itemEmbeddings, dim, params, { eligible });
  } catch (err) {
    throw new ArtifactError(a.dir, `cannot open the HNSW index: ${(err as Error).message}`, { cause: err });
  }
}

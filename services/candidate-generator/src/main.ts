import { ArtifactWatcher, loadArtifacts, type IndexChoice } from '@recsys/core';
import { CandidateGeneratorService } from '@recsys/proto';
import { runService } from '@recsys/grpc-kit';
import { candidateGeneratorConfig } from './config';
import { CANDIDATE_GENERATOR_PARTS, Retriever } from './retrieval';
import { candidateGeneratorHandlers } from './server';

void runService({
  name: 'candidate-generator',
  spec: candidateGeneratorConfig,
  setup({ config, host, metrics, log }) {
    let retriever: Retriever | undefined;
    host.addService(
      CandidateGeneratorService,
      'recsys.v1.CandidateGeneratorService',
      candidateGeneratorHandlers(() => retriever, {
        defaultNumCandidates: config.DEFAULT_NUM_CANDIDATES,
        maxNumCandidates: config.MAX_NUM_CANDIDATES,
      }),
    );
    const load = async (dir: string): Promise<void> => {
      const next = await Retriever.create(loadArtifacts(dir, CANDIDATE_GENERATOR_PARTS), {
        choice: config.RETRIEVAL_INDEX as IndexChoice,
        ...(config.HNSW_EF_SEARCH > 0 ? { efSearch: config.HNSW_EF_SEARCH } : {}),
      });
      const previous = retriever;
      retriever = next;
      metrics.setVersion(next.version);
      log.info({ version: next.version, dir, items: next.artifacts.itemIds.length, index: next.indexKind }, 'artifacts loaded');
      // The replaced version's index is freed once its in-flight requests are done.
      previous?.release().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'releasing the previous retrieval index failed'));
    };
    return async () => {
      const watcher = await ArtifactWatcher.loadAndWatch({
        root: config.ARTIFACTS_DIR,
        intervalMs: config.ARTIFACTS_POLL_MS,
        load,
        onError: (err, d) => log.error({ err: (err as Error).message, dir: d }, 'new artifact version not loaded; the old one keeps serving'),
      });
      host.onShutdown(() => watcher.stop());
    };
  },
});

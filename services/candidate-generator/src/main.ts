import { ArtifactWatcher, loadArtifacts } from '@recsys/core';
import { CandidateGeneratorServiceService } from '@recsys/proto';
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
      CandidateGeneratorServiceService,
      'recsys.v1.CandidateGeneratorService',
      candidateGeneratorHandlers(() => retriever, {
        defaultNumCandidates: config.DEFAULT_NUM_CANDIDATES,
        maxNumCandidates: config.MAX_NUM_CANDIDATES,
      }),
    );
    const load = (dir: string): void => {
      const next = new Retriever(loadArtifacts(dir, CANDIDATE_GENERATOR_PARTS));
      retriever = next;
      metrics.setVersion(next.version);
      log.info({ version: next.version, dir, items: next.artifacts.itemIds.length }, 'artifacts loaded');
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

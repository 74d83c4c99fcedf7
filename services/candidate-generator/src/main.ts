import { loadArtifacts, resolveArtifactDir } from '@recsys/core';
import { CandidateGeneratorServiceService } from '@recsys/proto';
import { runService } from '@recsys/grpc-kit';
import { candidateGeneratorConfig } from './config';
import { Retriever } from './retrieval';
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
    return async () => {
      const dir = resolveArtifactDir(config.ARTIFACTS_DIR);
      retriever = new Retriever(loadArtifacts(dir, ['itemEmbeddings', 'userEmbeddings', 'itemPopularity', 'itemNeighbors']));
      metrics.setVersion(retriever.version);
      log.info({ version: retriever.version, dir, items: retriever.artifacts.itemIds.length }, 'artifacts loaded');
    };
  },
});

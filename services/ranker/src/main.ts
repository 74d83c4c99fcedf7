import { loadArtifacts, resolveArtifactDir } from '@recsys/core';
import { RankerServiceService } from '@recsys/proto';
import { runService } from '@recsys/grpc-kit';
import { rankerConfig } from './config';
import { RankerModel } from './model';
import { rankerHandlers } from './server';

void runService({
  name: 'ranker',
  spec: rankerConfig,
  setup({ config, host, log, metrics }) {
    let model: RankerModel | undefined;
    host.addService(RankerServiceService, 'recsys.v1.RankerService', rankerHandlers(() => model, { maxCandidates: config.MAX_CANDIDATES }));
    host.onShutdown(() => model?.close());
    return async () => {
      const dir = resolveArtifactDir(config.ARTIFACTS_DIR);
      model = await RankerModel.load(loadArtifacts(dir, ['ranker']), config.ORT_INTRA_OP_THREADS);
      metrics.setVersion(model.version);
      log.info({ version: model.version, features: model.spec.length }, 'model loaded');
    };
  },
});

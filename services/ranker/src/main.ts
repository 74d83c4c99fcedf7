import { ArtifactWatcher, loadArtifacts } from '@recsys/core';
import { RankerServiceService } from '@recsys/proto';
import { runService } from '@recsys/grpc-kit';
import { rankerConfig } from './config';
import { RankerModel } from './model';
import { ModelSlot } from './model-slot';
import { rankerHandlers } from './server';

void runService({
  name: 'ranker',
  spec: rankerConfig,
  setup({ config, host, log, metrics }) {
    const slot = new ModelSlot<RankerModel>(undefined, (err) => log.warn({ err: (err as Error).message }, 'closing a retired model failed'));
    host.addService(RankerServiceService, 'recsys.v1.RankerService', rankerHandlers(() => slot.current(), { maxCandidates: config.MAX_CANDIDATES }));
    host.onShutdown(() => slot.close());
    const load = async (dir: string): Promise<void> => {
      const next = await RankerModel.load(loadArtifacts(dir, ['ranker']), config.ORT_INTRA_OP_THREADS);
      slot.swap(next);
      metrics.setVersion(next.version);
      log.info({ version: next.version, features: next.spec.length }, 'model loaded');
    };
    return async () => {
      const watcher = await ArtifactWatcher.loadAndWatch({
        root: config.ARTIFACTS_DIR,
        intervalMs: config.ARTIFACTS_POLL_MS,
        load,
        onError: (err, d) => log.error({ err: (err as Error).message, dir: d }, 'new model not loaded; the old one keeps serving'),
      });
      host.onShutdown(() => watcher.stop());
    };
  },
});

import { ArtifactWatcher, loadArtifacts } from '@recsys/core';
import { RankerServiceService } from '@recsys/proto';
import { runService } from '@recsys/grpc-kit';
import { rankerConfig } from './config';
import { RankerModel } from './model';
import { rankerHandlers } from './server';

/** How long a replaced model stays open for requests that picked it up before the swap. */
const RETIRED_MODEL_GRACE_MS = 30_000;

void runService({
  name: 'ranker',
  spec: rankerConfig,
  setup({ config, host, log, metrics }) {
    let model: RankerModel | undefined;
    const retired = new Set<RankerModel>();
    host.addService(RankerServiceService, 'recsys.v1.RankerService', rankerHandlers(() => model, { maxCandidates: config.MAX_CANDIDATES }));
    host.onShutdown(async () => {
      await Promise.all([model, ...retired].map((m) => m?.close()));
    });
    const load = async (dir: string): Promise<void> => {
      const next = await RankerModel.load(loadArtifacts(dir, ['ranker']), config.ORT_INTRA_OP_THREADS);
      const old = model;
      model = next;
      metrics.setVersion(next.version);
      log.info({ version: next.version, features: next.spec.length }, 'model loaded');
      if (old) {
        // Requests already scoring on the old session finish first; then its memory is freed.
        retired.add(old);
        setTimeout(() => {
          retired.delete(old);
          void old.close();
        }, RETIRED_MODEL_GRACE_MS).unref();
      }
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

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as prom from 'prom-client';
import { ArtifactWatcher, ConfigError, loadArtifacts, resolveArtifactDir } from '@recsys/core';
import { RankerService } from '@recsys/proto';
import { runService } from '@recsys/grpc-kit';
import { rankerConfig } from './config';
import { parseExperiment } from './experiment';
import { RankerModel } from './model';
import { ModelSlot } from './model-slot';
import { ExperimentRouter, readExperimentFile, watchFile } from './router';
import { rankerHandlers } from './server';

void runService({
  name: 'ranker',
  spec: rankerConfig,
  setup({ config, host, log, metrics }) {
    if (config.EXPERIMENT_FILE && config.EXPERIMENT) throw new ConfigError('EXPERIMENT', 'set EXPERIMENT_FILE or EXPERIMENT, not both');
    const slot = new ModelSlot<RankerModel>(undefined, (err) => log.warn({ err: (err as Error).message }, 'closing a retired model failed'));
    const loadPinned = async (dir: string): Promise<RankerModel> => {
      const model = await RankerModel.load(loadArtifacts(resolveArtifactDir(dir), ['ranker']), config.ORT_INTRA_OP_THREADS);
      log.info({ dir, version: model.version }, 'pinned model loaded');
      return model;
    };
    const experimental = Boolean(config.EXPERIMENT_FILE || config.EXPERIMENT);
    const router = experimental
      ? new ExperimentRouter<RankerModel>({
          live: () => slot.current(),
          load: loadPinned,
          maxModels: config.MAX_MODELS,
          onCloseError: (err) => log.warn({ err: (err as Error).message }, 'closing a retired model failed'),
        })
      : undefined;
    const registers = [metrics.registry];
    const served = new prom.Counter({
      name: 'recsys_ranker_variant_total',
      help: 'Rank calls scored, by experiment variant; assignment="hash" for assigned users, "forced" for RankRequest.variant (shadow scoring, replay).',
      labelNames: ['variant', 'assignment'],
      registers,
    });
    const weights = new prom.Gauge({
      name: 'recsys_experiment_variant_weight',
      help: 'Weight of each variant of the experiment in force, with the model version it serves.',
      labelNames: ['experiment', 'variant', 'model_version'],
      registers,
    });
    const modelsHeld = new prom.Gauge({ name: 'recsys_ranker_models', help: 'Ranking models held in memory (the live one and pinned variants).', registers });
    const publish = (): void => {
      weights.reset();
      const exp = router?.experiment;
      for (const v of exp?.variants ?? []) weights.set({ experiment: exp?.name ?? '', variant: v.name, model_version: router?.modelOf(v.name)?.version ?? '' }, v.weight);
      modelsHeld.set(router ? router.modelCount : slot.current() ? 1 : 0);
    };
    host.addService(
      RankerService,
      'recsys.v1.RankerService',
      rankerHandlers(
        () => slot.current(),
        { maxCandidates: config.MAX_CANDIDATES },
        router && ((userId, forced) => router.select(userId, forced)),
        (variant, forced) => served.inc({ variant, assignment: forced ? 'forced' : 'hash' }),
      ),
    );
    host.onShutdown(async () => {
      await router?.close();
      await slot.close();
    });
    const load = async (dir: string): Promise<void> => {
      const next = await RankerModel.load(loadArtifacts(dir, ['ranker']), config.ORT_INTRA_OP_THREADS);
      slot.swap(next);
      metrics.setVersion(next.version);
      publish();
      log.info({ version: next.version, features: next.spec.length }, 'model loaded');
    };
    // Relative artifact paths resolve against the experiment file's folder (EXPERIMENT: the working directory).
    const baseDir = config.EXPERIMENT_FILE ? path.dirname(path.resolve(config.EXPERIMENT_FILE)) : process.cwd();
    const applyExperiment = async (text: string, source: string): Promise<void> => {
      if (!router) return;
      const exp = parseExperiment(text, source, baseDir);
      await router.apply(exp, source);
      publish();
      log.info({ experiment: exp ?? null, models: router.modelCount }, exp ? 'experiment in force' : 'no experiment: the live model serves every user');
    };
    return async () => {
      const watcher = await ArtifactWatcher.loadAndWatch({
        root: config.ARTIFACTS_DIR,
        intervalMs: config.ARTIFACTS_POLL_MS,
        load,
        onError: (err, d) => log.error({ err: (err as Error).message, dir: d }, 'new model not loaded; the old one keeps serving'),
      });
      host.onShutdown(() => watcher.stop());
      if (config.EXPERIMENT) await applyExperiment(config.EXPERIMENT, 'EXPERIMENT');
      if (config.EXPERIMENT_FILE) {
        const file = config.EXPERIMENT_FILE;
        readExperimentFile(file); // a missing, oversized or invalid file stops the start, naming it
        const text = fs.readFileSync(file, 'utf8');
        await applyExperiment(text, `EXPERIMENT_FILE ${file}`);
        if (config.EXPERIMENT_POLL_MS > 0) {
          const stop = watchFile(
            file,
            config.EXPERIMENT_POLL_MS,
            text,
            (t) => applyExperiment(t, `EXPERIMENT_FILE ${file}`),
            (err) => log.error({ err: (err as Error).message }, 'experiment file not applied; the previous experiment stays in force'),
          );
          host.onShutdown(stop);
        }
      }
    };
  },
});

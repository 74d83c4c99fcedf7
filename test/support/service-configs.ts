import { ConfigSpec } from '@recsys/grpc-kit';
import { candidateGeneratorConfig } from '@recsys/candidate-generator/config';
import { featureStoreConfig } from '@recsys/feature-store/config';
import { gatewayConfig } from '@recsys/gateway/config';
import { rankerConfig } from '@recsys/ranker/config';

/**
 * Every service's config spec: the one source of truth for env variables. The README's
 * configuration table (config-docs.test.ts) and the Kubernetes manifest checks
 * (deploy-manifests.test.ts) both read it, so docs, manifests and code cannot drift.
 */
export const SERVICE_CONFIGS: Record<string, ConfigSpec> = {
  gateway: gatewayConfig,
  'candidate-generator': candidateGeneratorConfig,
  'feature-store': featureStoreConfig,
  ranker: rankerConfig,
};

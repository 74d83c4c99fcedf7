import type { Config } from 'jest';

// Tests run the TypeScript sources through ts-jest with isolatedModules (no type check
// here: `npm run typecheck:tests` and `tsc -b` do that), mapping @recsys/* to src/.
const shared = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.test.json' }] },
  moduleNameMapper: {
    '^@recsys/(proto|core|grpc-kit|offline)$': '<rootDir>/libs/$1/src',
    '^@recsys/local$': '<rootDir>/deploy/local/src',
    '^@recsys/(gateway|ranker|feature-store|candidate-generator)/(.*)$': '<rootDir>/services/$1/src/$2',
  },
} satisfies Partial<Config>;

const config: Config = {
  projects: [
    {
      ...shared,
      displayName: 'unit',
      // Pure logic: no processes, no network beyond an in-process server on port 0.
      testMatch: [
        '<rootDir>/libs/*/test/**/*.test.ts',
        '<rootDir>/services/*/test/**/*.test.ts',
        '<rootDir>/bench/test/unit/**/*.test.ts',
        '<rootDir>/test/unit/**/*.test.ts',
      ],
    },
    {
      ...shared,
      displayName: 'integration',
      // Real service processes (from dist/, so `npm run build` first) and a real redis-server.
      testMatch: ['<rootDir>/test/integration/**/*.test.ts', '<rootDir>/bench/test/integration/**/*.test.ts'],
      globalSetup: '<rootDir>/test/integration/global-setup.ts',
      globalTeardown: '<rootDir>/test/integration/global-teardown.ts',
      slowTestThreshold: 60,
    },
  ],
};

export default config;

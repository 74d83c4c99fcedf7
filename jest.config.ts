import type { Config } from 'jest';

// Tests run the TypeScript sources through ts-jest with isolatedModules (no type check
// here: `npm run typecheck:tests` and `tsc -b` do that). `@recsys/*` imports resolve
// through each package's `exports`; the `@recsys/source` condition picks the src/*.ts
// entry instead of dist/, so a test sees exactly the paths a package exports and never
// a stale build. `.ts` comes first in moduleFileExtensions: a stray compiled `.js` next
// to a `.ts` can never shadow it.
const shared = {
  preset: 'ts-jest',
  testEnvironment: '<rootDir>/test/support/node-environment.cjs',
  testEnvironmentOptions: { customExportConditions: ['@recsys/source', 'node', 'node-addons'] },
  moduleFileExtensions: ['ts', 'js', 'json', 'node'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.test.json' }] },
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
        '<rootDir>/cli/test/**/*.test.ts',
        '<rootDir>/bench/test/unit/**/*.test.ts',
        '<rootDir>/test/unit/**/*.test.ts',
      ],
    },
    {
      ...shared,
      displayName: 'integration',
      // Real service processes (from dist/, so `npm run build` first) and a real redis-server.
      testMatch: ['<rootDir>/test/integration/**/*.test.ts', '<rootDir>/bench/test/integration/**/*.test.ts'],
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
      slowTestThreshold: 60,
    },
  ],
};

export default config;

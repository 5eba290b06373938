/** Unit tests run anywhere; integration and e2e tests need the local stack the test runner prepares. */
const tsJest = ['ts-jest', { diagnostics: false }];
const common = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': tsJest },
  moduleFileExtensions: ['ts', 'js', 'json'],
  modulePathIgnorePatterns: ['<rootDir>/dist/'],
};
// The fault matrix runs for minutes, so it is its own project (`npm run test:faults`, which passes
// `--selectProjects faults`) and is left out of plain `npm test`.
const faultsRequested = process.argv.some((arg, i, all) =>
  arg === '--selectProjects' ? all[i + 1] === 'faults' : arg === '--selectProjects=faults',
);
const faults = {
  ...common,
  displayName: 'faults',
  testMatch: ['<rootDir>/test/faults/**/*.test.ts'],
  testTimeout: 600000,
};
module.exports = {
  // Jest reads testTimeout from the global config only (a project-level value is silently ignored, and
  // integration hooks that start Azurite on two busy cores then failed at the 5 s default).
  testTimeout: 120000,
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/test/unit/**/*.test.ts', '<rootDir>/test/contract/**/*.test.ts'],
    },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts', '<rootDir>/test/e2e/**/*.test.ts'],
    },
    ...(faultsRequested ? [faults] : []),
  ],
  collectCoverageFrom: ['shared/**/*.ts'],
  coverageThreshold: { './shared/': { lines: 70 } },
};

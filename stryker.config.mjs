// Mutation testing of the domain and storage layers (`npm run mutate`; not in CI: it runs the
// suite once per mutant and takes hours on 2 cores). The score is recorded in
// docs/architecture.md. STRYKER_MUTATE narrows it, e.g. STRYKER_MUTATE=src/domain/object-table.ts.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutate.config.ts' },
  mutate: process.env.STRYKER_MUTATE
    ? process.env.STRYKER_MUTATE.split(',')
    : ['src/domain/**/*.ts', 'src/storage/**/*.ts', '!src/storage/schema-engine.ts', '!src/storage/migrate.ts'],
  coverageAnalysis: 'perTest',
  reporters: ['clear-text', 'progress', 'json'],
  jsonReporter: { fileName: process.env.STRYKER_REPORT ?? 'reports/mutation/mutation.json' },
  concurrency: Number(process.env.STRYKER_CONCURRENCY ?? 2),
  // Added to each mutant's measured test time before it counts as a timeout (an endless loop).
  // 60 s absorbs a loaded machine; STRYKER_TIMEOUT_MS lowers it on a quiet one.
  timeoutMS: Number(process.env.STRYKER_TIMEOUT_MS ?? 60000),
  dryRunTimeoutMinutes: 30,
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
  ignoreStatic: true,
};

import { defineConfig } from 'vitest/config';

// Mutation testing (stryker.config.mjs): the suite without the request-validation tables of
// test/bad-input/ (about 1,900 cases that each prove a rejected request changed nothing: they
// kill few mutants of their own and would make every mutant cost minutes on 2 cores) and
// without the hardware unit tests (src/hw is not mutated).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/bad-input/**', 'test/bad-input.test.ts', 'test/hw/**', 'node_modules/**'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});

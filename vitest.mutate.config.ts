import { readdirSync, readFileSync } from 'node:fs';
import { defineConfig } from 'vitest/config';
import { SQLITE_DRIVER } from './src/storage/sqlite-driver.js';

// Mutation testing (stryker.config.mjs): the suite without the request-validation tables of
// test/bad-input/ (about 1,900 cases that each prove a rejected request changed nothing: they
// kill few mutants of their own and would make every mutant cost minutes on 2 cores) and
// without the hardware unit tests (src/hw is not mutated) but for those of the host driver in
// src/domain/driver (the test/hw files that import src/domain), and without the tests that run the
// service in child processes (test/reliability/crash, test/ops shutdown/tokens/config/ship,
// test/project): a child runs its own copy of the code, so Stryker's per-test coverage never
// selects them for a mutant; they would only lengthen the dry run. Also without
// test/reliability/openapi-client.test.ts: it type-checks a generated client with the TypeScript
// compiler, which inside Stryker's sandbox (.stryker-tmp, node_modules linked from outside it)
// reported 46 diagnostics and failed the dry run although the test passes outside it; a mutant of
// src/domain or src/storage cannot change a type-check, and the client's calls are the same
// requests test/api makes.
/** test/hw files that import nothing from src/domain: the hardware model's own tests. */
const hwOnly = readdirSync('test/hw')
  .filter((f) => f.endsWith('.test.ts') && !readFileSync(`test/hw/${f}`, 'utf8').includes('src/domain/'))
  .map((f) => `test/hw/${f}`);

export default defineConfig({
  // Test files' own `import Database from 'better-sqlite3'` is resolved by Vite before Node sees it
  // (so the resolve hook of src/storage/sqlite-driver.ts would not): the same choice as an alias.
  resolve: { alias: [{ find: /^better-sqlite3$/, replacement: SQLITE_DRIVER }] },
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/bad-input/**', 'test/bad-input.test.ts', ...hwOnly,
      'test/reliability/crash.test.ts', 'test/ops/shutdown.test.ts', 'test/ops/tokens.test.ts',
      'test/ops/config.test.ts', 'test/ops/ship.test.ts', 'test/project.test.ts',
      'test/reliability/openapi-client.test.ts', 'node_modules/**',
    ],
    pool: 'forks',
    // better-sqlite3 13 on Node >= 22, 12 on Node 20, as in the service (see the file).
    setupFiles: ['./test/setup/sqlite-driver.ts'],
    // Stryker switches mutants at run time (one instrumented build), so the module graph need not
    // be re-imported per test file: the dry run takes 2 min instead of 4.5 here.
    isolate: false,
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});

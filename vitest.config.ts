import { defineConfig } from 'vitest/config';
import { SQLITE_DRIVER } from './src/storage/sqlite-driver.js';

export default defineConfig({
  // Test files' own `import Database from 'better-sqlite3'` is resolved by Vite before Node sees it
  // (so the resolve hook of src/storage/sqlite-driver.ts would not): the same choice as an alias.
  resolve: { alias: [{ find: /^better-sqlite3$/, replacement: SQLITE_DRIVER }] },
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    // Each test file builds its own app on its own SQLite file; files run in parallel workers.
    pool: 'forks',
    // better-sqlite3 13 on Node >= 22, 12 on Node 20, as in the service (see the file).
    setupFiles: ['./test/setup/sqlite-driver.ts'],
    reporters: ['default', './test/summary-reporter.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});

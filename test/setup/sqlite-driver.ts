/**
 * Every Vitest worker loads this Node's better-sqlite3 (12 on Node 20, 13 on Node ≥ 22), as the
 * service does: the resolve hook of src/storage/sqlite-driver.ts is registered before any test
 * file, and so before anything importing better-sqlite3 or the Prisma adapter, is loaded.
 */
import '../../src/storage/sqlite-driver.js';

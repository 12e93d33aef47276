/**
 * The service's entry point (`npm start` = `node dist/server.js`). It chooses this Node's
 * better-sqlite3 first (storage/sqlite-driver.ts: a resolve hook on Node ≥ 22), and only then
 * loads the service (start.ts), so that no module importing better-sqlite3 or the Prisma adapter
 * is linked before the hook exists.
 */
import './storage/sqlite-driver.js';

await import('./start.js');

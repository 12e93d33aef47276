/**
 * `npm run backup -- <file>`: a consistent copy of the service's database (DATABASE_URL, as the
 * service reads it) into <file>, safe while the service runs (src/storage/backup.ts).
 */
import path from 'node:path';
// This Node's better-sqlite3 first (src/storage/sqlite-driver.ts); what opens the database after it.
import '../src/storage/sqlite-driver.js';

const { ConfigError, loadConfig } = await import('../src/config.js');
const { backupDatabase } = await import('../src/storage/backup.js');
const { sqliteFileFromUrl } = await import('../src/storage/database.js');

const dest = process.argv[2];
if (!dest) {
  process.stderr.write('usage: npm run backup -- <file>\n');
  process.exit(2);
}
try {
  const source = sqliteFileFromUrl(loadConfig().databaseUrl);
  const { file, pages } = await backupDatabase(source, path.resolve(dest));
  process.stdout.write(`backed up ${source} to ${file} (${pages} pages)\n`);
} catch (err) {
  const message = err instanceof ConfigError ? `invalid configuration: ${err.message}` : (err as Error).message;
  process.stderr.write(`vsmmu-control backup: ${message}\n`);
  process.exit(1);
}

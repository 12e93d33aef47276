/**
 * Migrations with Prisma's own migration engine (wasm build): applied migrations are recorded in
 * `_prisma_migrations`, exactly as `prisma migrate deploy` records them.
 *
 * At a start with nothing to apply — every migration of the directory recorded as finished with
 * the checksum of its file, nothing else recorded — the engine is not loaded: it would apply
 * nothing, and compiling its 5 MB of WebAssembly cost a start about a second and tens of MB of
 * RSS (bench/RESULTS.md, "storage"). Anything else (a new database, a pending, failed, edited or
 * unknown migration) goes to the engine, which applies or refuses as `migrate deploy` does.
 */
import { fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import type { MigrationAnswer } from './migrate-worker.js';
import { loadMigrationList, NO_FILTERS, openSchemaEngine } from './schema-engine.js';

export const MIGRATIONS_DIR = path.resolve(import.meta.dirname, '..', '..', 'prisma', 'migrations');

/**
 * Whether the database already records exactly the migrations of the directory as applied: each
 * one finished, not rolled back, with the sha256 of its migration.sql as checksum (what Prisma
 * records), and no other migration recorded. Any doubt is false.
 */
export function migrationsUpToDate(databaseFile: string, migrationsDir = MIGRATIONS_DIR): boolean {
  if (!existsSync(databaseFile) || !existsSync(migrationsDir)) return false;
  const lock = path.join(migrationsDir, 'migration_lock.toml');
  if (existsSync(lock) && !/provider\s*=\s*"sqlite"/.test(readFileSync(lock, 'utf8'))) return false;
  const expected = new Map<string, string>();
  for (const entry of readdirSync(migrationsDir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const file = path.join(migrationsDir, entry.name, 'migration.sql');
    if (!existsSync(file)) return false;
    expected.set(entry.name, createHash('sha256').update(readFileSync(file)).digest('hex'));
  }
  let db: Database.Database | null = null;
  try {
    db = new Database(databaseFile, { fileMustExist: true });
    if (!db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_prisma_migrations'`).get()) return false;
    const rows = db.prepare('SELECT migration_name, checksum, finished_at FROM _prisma_migrations WHERE rolled_back_at IS NULL').all() as Array<{
      migration_name: string;
      checksum: string;
      finished_at: unknown;
    }>;
    if (rows.length !== expected.size || new Set(rows.map((r) => r.migration_name)).size !== rows.length) return false;
    return rows.every((r) => r.finished_at !== null && expected.get(r.migration_name) === r.checksum);
  } catch {
    return false;
  } finally {
    db?.close();
  }
}

/** Applies every pending migration to the SQLite file; returns the names applied now. */
export async function applyPendingMigrations(databaseFile: string, migrationsDir = MIGRATIONS_DIR): Promise<string[]> {
  if (migrationsUpToDate(databaseFile, migrationsDir)) return [];
  const { engine, close } = await openSchemaEngine(databaseFile);
  try {
    const migrationsList = await loadMigrationList(migrationsDir);
    const out = await engine.applyMigrations({ migrationsList, filters: NO_FILTERS });
    return out.appliedMigrationNames;
  } finally {
    await close();
  }
}

/**
 * The service's migration step: `applyPendingMigrations` in a child process (migrate-worker.ts).
 * Prisma's schema engine is a 5.4 MB wasm module, and once instantiated it cannot be let go by
 * the process that loaded it: its bindings module (`@prisma/schema-engine-wasm/schema_engine_bg`)
 * keeps the instance, views of its memory and finalizers in module state, and an ES module is
 * never unloaded. A service that migrated its database at start kept the engine for its whole
 * life: ~11 MB of resident memory (bench/RESULTS.md, "ninth session"). A worker thread frees the
 * engine's heap but not the C allocator's arena the compilation used (~8 MB stayed resident); a
 * child process returns everything when it exits. The up-to-date check stays in this process: a
 * start with nothing to apply starts no child.
 */
export async function applyPendingMigrationsIsolated(databaseFile: string, migrationsDir = MIGRATIONS_DIR): Promise<string[]> {
  if (migrationsUpToDate(databaseFile, migrationsDir)) return [];
  const fromSources = import.meta.url.endsWith('.ts');
  const entry = fileURLToPath(new URL(fromSources ? './migrate-worker.ts' : './migrate-worker.js', import.meta.url));
  // From the TypeScript sources (tests, `npm run dev`) the child needs the same loader.
  const child = fork(entry, [databaseFile, migrationsDir], { execArgv: fromSources ? ['--import', 'tsx'] : [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const answer = await new Promise<MigrationAnswer>((resolve, reject) => {
    let got: MigrationAnswer | undefined;
    child.once('message', (m: MigrationAnswer) => (got = m));
    child.once('error', reject);
    child.once('exit', (code, signal) => (got ? resolve(got) : reject(new Error(`the migration process ended (${signal ?? `code ${code}`}) without an answer`))));
  });
  if (!answer.ok) {
    const err = new Error(answer.message);
    if (answer.stack) err.stack = answer.stack;
    throw err;
  }
  return answer.applied;
}

/**
 * SQL that takes a database built by the committed migrations to `schema` (null when none is
 * needed). The migrations are applied to a scratch SQLite file in `scratchDir`, which is then
 * compared with the schema: no shadow database is needed.
 */
export async function diffMigrationsToSchema(migrationsDir: string, schema: string, scratchDir: string): Promise<string | null> {
  mkdirSync(scratchDir, { recursive: true });
  const scratchDb = path.join(scratchDir, 'scratch.db');
  // One engine (one adapter connection) for both steps: a second connection would meet the
  // first one's lock on the scratch file.
  const { engine, close } = await openSchemaEngine(scratchDb, schema);
  try {
    await engine.applyMigrations({ migrationsList: await loadMigrationList(migrationsDir), filters: NO_FILTERS });
    const result = await engine.diff({
      from: { tag: 'schemaDatasource', files: [{ path: 'schema.prisma', content: schema }], configDir: scratchDir },
      to: { tag: 'schemaDatamodel', files: [{ path: 'schema.prisma', content: schema }] },
      script: true,
      exitCode: true,
      filters: NO_FILTERS,
    });
    const sql = (result.stdout ?? '').trim();
    return sql === '' || /^-- This is an empty migration\.?$/.test(sql) ? null : sql + '\n';
  } finally {
    await close();
  }
}

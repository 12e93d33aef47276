/**
 * Migrations with Prisma's own migration engine (wasm build): applied migrations are recorded in
 * `_prisma_migrations`, exactly as `prisma migrate deploy` records them.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { loadMigrationList, NO_FILTERS, openSchemaEngine } from './schema-engine.js';

export const MIGRATIONS_DIR = path.resolve(import.meta.dirname, '..', '..', 'prisma', 'migrations');

/** Applies every pending migration to the SQLite file; returns the names applied now. */
export async function applyPendingMigrations(databaseFile: string, migrationsDir = MIGRATIONS_DIR): Promise<string[]> {
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

/**
 * Migrations at start (src/storage/migrate.ts): Prisma's wasm schema engine applies them; a start
 * with nothing to apply skips the engine only when the database records exactly the directory's
 * migrations, finished, with their files' checksums — any other state goes to the engine.
 */
import { cpSync, mkdirSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { scratchDirs } from '../helper.js';
import { applyPendingMigrations, applyPendingMigrationsIsolated, MIGRATIONS_DIR, migrationsUpToDate } from '../../src/storage/migrate.js';

const tempDir = scratchDirs('vsmmu-migrate-');
/** A copy of the committed migrations that a test may change. */
function migrationsCopy(): string {
  const d = path.join(tempDir(), 'migrations');
  cpSync(MIGRATIONS_DIR, d, { recursive: true });
  return d;
}
function sql(file: string, statement: string): void {
  const db = new Database(file);
  try {
    db.exec(statement);
  } finally {
    db.close();
  }
}

describe('storage migrations: the engine runs unless nothing is pending', () => {
  it('migrate: a new database is migrated by the engine; then it is up to date and a second start applies nothing', async () => {
    const file = path.join(tempDir(), 'vsmmu.db');
    expect(migrationsUpToDate(file)).toBe(false);
    const applied = await applyPendingMigrations(file);
    expect(applied.length).toBeGreaterThan(0);
    expect(migrationsUpToDate(file)).toBe(true);
    expect(await applyPendingMigrations(file)).toEqual([]);
  });

  it('migrate: a pending migration, an edited one, a failed one or an unknown recorded one is not up to date (the engine decides)', async () => {
    const dir = migrationsCopy();
    const file = path.join(tempDir(), 'vsmmu.db');
    await applyPendingMigrations(file, dir);
    expect(migrationsUpToDate(file, dir)).toBe(true);

    // Pending: a new migration in the directory; the engine applies it, then it is up to date again.
    mkdirSync(path.join(dir, '29991231000000_probe'));
    writeFileSync(path.join(dir, '29991231000000_probe', 'migration.sql'), 'CREATE TABLE "Probe" ("id" INTEGER NOT NULL PRIMARY KEY);\n');
    expect(migrationsUpToDate(file, dir)).toBe(false);
    expect(await applyPendingMigrations(file, dir)).toEqual(['29991231000000_probe']);
    expect(migrationsUpToDate(file, dir)).toBe(true);

    // Edited after it was applied: the checksum no longer matches.
    appendFileSync(path.join(dir, '29991231000000_probe', 'migration.sql'), '-- edited\n');
    expect(migrationsUpToDate(file, dir)).toBe(false);
    writeFileSync(path.join(dir, '29991231000000_probe', 'migration.sql'), 'CREATE TABLE "Probe" ("id" INTEGER NOT NULL PRIMARY KEY);\n');
    expect(migrationsUpToDate(file, dir)).toBe(true);

    // Failed (started, never finished) and unknown (recorded, not in the directory).
    sql(file, `UPDATE "_prisma_migrations" SET "finished_at" = NULL WHERE "migration_name" = '29991231000000_probe'`);
    expect(migrationsUpToDate(file, dir)).toBe(false);
    sql(file, `UPDATE "_prisma_migrations" SET "finished_at" = "started_at" WHERE "migration_name" = '29991231000000_probe'`);
    expect(migrationsUpToDate(file, dir)).toBe(true);
    rmSync(path.join(dir, '29991231000000_probe'), { recursive: true });
    expect(migrationsUpToDate(file, dir)).toBe(false);
  });

  it('migrate: a file that is not a migrated database is not up to date', () => {
    const file = path.join(tempDir(), 'plain.db');
    sql(file, 'CREATE TABLE t (x)');
    expect(migrationsUpToDate(file)).toBe(false);
    const garbage = path.join(tempDir(), 'garbage.db');
    writeFileSync(garbage, 'not a database');
    expect(migrationsUpToDate(garbage)).toBe(false);
  });
});

describe("storage migrations at start: in a child process (the schema engine's memory is returned when it exits)", () => {
  it('migrate: the service\'s step migrates a new database in a child process and answers the names applied; up to date, it starts no child', async () => {
    const dir = migrationsCopy();
    const file = path.join(tempDir(), 'vsmmu.db');
    const applied = await applyPendingMigrationsIsolated(file, dir);
    expect(applied).toEqual((await import('node:fs')).readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort());
    expect(migrationsUpToDate(file, dir)).toBe(true);
    // Nothing pending: answered from this thread .
    expect(await applyPendingMigrationsIsolated(file, dir)).toEqual([]);
    // A new migration is applied by the child, as by the engine in this process.
    mkdirSync(path.join(dir, '29991231000000_probe'));
    writeFileSync(path.join(dir, '29991231000000_probe', 'migration.sql'), 'CREATE TABLE "Probe" ("id" INTEGER NOT NULL PRIMARY KEY);\n');
    expect(await applyPendingMigrationsIsolated(file, dir)).toEqual(['29991231000000_probe']);
    sql(file, 'INSERT INTO "Probe" ("id") VALUES (1)');
  });

  it('migrate: a migration that fails in the child fails the start with the engine\'s own message, and is not recorded as finished', async () => {
    const dir = migrationsCopy();
    const file = path.join(tempDir(), 'vsmmu.db');
    mkdirSync(path.join(dir, '29991231000000_broken'));
    writeFileSync(path.join(dir, '29991231000000_broken', 'migration.sql'), 'CREATE TABLE "Broken" (;\n');
    await expect(applyPendingMigrationsIsolated(file, dir)).rejects.toThrow(/29991231000000_broken/);
    expect(migrationsUpToDate(file, dir)).toBe(false);
    const db = new Database(file);
    try {
      const row = db.prepare(`SELECT finished_at FROM _prisma_migrations WHERE migration_name = '29991231000000_broken'`).get() as { finished_at: unknown } | undefined;
      expect(row === undefined || row.finished_at === null).toBe(true);
    } finally {
      db.close();
    }
  });
});

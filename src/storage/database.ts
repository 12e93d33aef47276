/**
 * The one place that opens the database: SQLite through Prisma 7's better-sqlite3 driver adapter.
 * WAL is turned on and checked (not assumed): without it a Prisma insert costs ~10x more and a
 * COMMIT can meet SQLITE_BUSY (shared/docs/prisma-offline.md, "Measured costs" and "Traps").
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaClient } from '../generated/prisma/client.js';
import { applyPendingMigrations } from './migrate.js';

export type Db = InstanceType<typeof PrismaClient>;

/** `file:./data/vsmmu.db` → absolute path of the SQLite file (relative to the working directory). */
export function sqliteFileFromUrl(url: string): string {
  const raw = url.replace(/^file:/, '').replace(/\?.*$/, '');
  return path.resolve(raw);
}

export interface OpenedDatabase {
  db: Db;
  file: string;
  journalMode: string;
  appliedMigrations: string[];
  close(): Promise<void>;
}

export async function openDatabase(databaseUrl: string): Promise<OpenedDatabase> {
  const file = sqliteFileFromUrl(databaseUrl);
  mkdirSync(path.dirname(file), { recursive: true });
  const appliedMigrations = await applyPendingMigrations(file);
  // One writer process; the busy timeout covers a checkpoint or an external reader.
  const adapter = new PrismaBetterSqlite3({ url: `file:${file}`, timeout: 5000 });
  const db = new PrismaClient({ adapter });
  const rows = await db.$queryRawUnsafe<Array<{ journal_mode: string }>>('PRAGMA journal_mode = WAL');
  const journalMode = String(rows[0]?.journal_mode ?? '').toLowerCase();
  if (journalMode !== 'wal') {
    await db.$disconnect();
    throw new Error(`DATABASE_URL: SQLite refused WAL journal mode (got "${journalMode}") for ${file}`);
  }
  await db.$executeRawUnsafe('PRAGMA synchronous = NORMAL');
  await db.$executeRawUnsafe('PRAGMA foreign_keys = ON');
  return { db, file, journalMode, appliedMigrations, close: () => db.$disconnect() };
}

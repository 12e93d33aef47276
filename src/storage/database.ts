/**
 * The one place that opens the database: SQLite through Prisma 7's better-sqlite3 driver adapter,
 * on ONE connection. The adapter's better-sqlite3 handle is kept (`sqlite`): the service's
 * commits and its start-up load run as prepared statements on it (statements.ts), Prisma's own
 * queries (the readiness probe's) on the same handle; there is no second writer and no second
 * journal. The adapter turns on safe integers for the whole connection (every integer read back
 * as a bigint); statements.ts chooses per statement.
 * WAL is turned on and checked (not assumed): without it a Prisma insert costs ~10x more and a
 * COMMIT can meet SQLITE_BUSY (shared/docs/prisma-offline.md, "Measured costs" and "Traps").
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import type BetterSqlite3 from 'better-sqlite3';
import { PrismaClient } from '../generated/prisma/client.js';
import { applyPendingMigrations } from './migrate.js';

export type Db = InstanceType<typeof PrismaClient>;
export type Sqlite = BetterSqlite3.Database;

/** `file:./data/vsmmu.db` → absolute path of the SQLite file (relative to the working directory). */
export function sqliteFileFromUrl(url: string): string {
  const raw = url.replace(/^file:/, '').replace(/\?.*$/, '');
  return path.resolve(raw);
}

export interface OpenedDatabase {
  db: Db;
  /** The better-sqlite3 connection under `db` (the same one, not a second). */
  sqlite: Sqlite;
  file: string;
  journalMode: string;
  appliedMigrations: string[];
  close(): Promise<void>;
}

/**
 * The adapter factory with its connection captured: `connect()` is what PrismaClient calls to
 * open the connection (once; $connect below forces it before anything else runs), and the
 * adapter keeps its better-sqlite3 handle in the public `client` field.
 */
function capturingAdapter(file: string): { factory: PrismaBetterSqlite3; connection: () => Sqlite } {
  const factory = new PrismaBetterSqlite3({ url: `file:${file}`, timeout: 5000 });
  let sqlite: Sqlite | null = null;
  const connect = factory.connect.bind(factory);
  factory.connect = async () => {
    const adapter = await connect();
    const client = (adapter as unknown as { client?: Sqlite }).client;
    if (!client || typeof client.prepare !== 'function') throw new Error('@prisma/adapter-better-sqlite3 no longer exposes its connection');
    if (sqlite && sqlite !== client) throw new Error('Prisma opened a second SQLite connection');
    sqlite = client;
    return adapter;
  };
  return {
    factory,
    connection: () => sqlite ?? (() => { throw new Error('database not connected'); })(),
  };
}

export async function openDatabase(databaseUrl: string): Promise<OpenedDatabase> {
  const file = sqliteFileFromUrl(databaseUrl);
  // Versions before the one storage path kept acknowledged hot writes in a journal beside the
  // database and folded them at their next start; this version does not read it. Starting over
  // one would silently lose what it holds, so the start is refused until it is dealt with.
  const journal = `${file}-fastlog`;
  if (existsSync(journal)) {
    throw new Error(
      `DATABASE_URL: ${journal} is the journal of an earlier version, which this one does not read: start the earlier version once and stop it cleanly (that folds the journal into the database), then delete the file`,
    );
  }
  mkdirSync(path.dirname(file), { recursive: true });
  const appliedMigrations = await applyPendingMigrations(file);
  // One writer process; the busy timeout covers a checkpoint or an external reader (a backup).
  const { factory, connection } = capturingAdapter(file);
  const db = new PrismaClient({ adapter: factory });
  await db.$connect();
  const sqlite = connection();
  const journalMode = String(sqlite.pragma('journal_mode = WAL', { simple: true }) ?? '').toLowerCase();
  if (journalMode !== 'wal') {
    await db.$disconnect();
    throw new Error(`DATABASE_URL: SQLite refused WAL journal mode (got "${journalMode}") for ${file}`);
  }
  // NORMAL in WAL: a commit survives a process crash; a power loss may roll back the latest ones.
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  return { db, sqlite, file, journalMode, appliedMigrations, close: () => db.$disconnect() };
}

/**
 * The one place that opens the database: SQLite through Prisma 7's better-sqlite3 driver adapter,
 * on ONE connection. The adapter's better-sqlite3 handle is kept (`sqlite`): the service's
 * commits, its start-up load and the readiness probe's count run as prepared statements on it
 * (statements.ts), Prisma's own queries (if any: the tests' raw SQL) on the same handle; there is
 * no second writer and no second journal. The adapter turns on safe integers for the whole
 * connection (every integer read back as a bigint); statements.ts chooses per statement.
 * WAL is turned on and checked (not assumed): without it a Prisma insert costs ~10x more and a
 * COMMIT can meet SQLITE_BUSY (shared/docs/prisma-offline.md, "Measured costs" and "Traps").
 * With WAL_CHECKPOINTS=worker, WAL checkpoints are the one thing another connection does: a
 * worker thread's, which never writes a row (checkpointer.ts), so no commit checkpoints on the
 * event loop.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import type BetterSqlite3 from 'better-sqlite3';
import type { PrismaClient } from '../generated/prisma/client.js';
import { Checkpointer, type CheckpointStats } from './checkpointer.js';
import { applyPendingMigrationsIsolated } from './migrate.js';

export type Db = InstanceType<typeof PrismaClient>;
export type Sqlite = BetterSqlite3.Database;

/** `file:./data/vsmmu.db` → absolute path of the SQLite file (relative to the working directory). */
export function sqliteFileFromUrl(url: string): string {
  const raw = url.replace(/^file:/, '').replace(/\?.*$/, '');
  return path.resolve(raw);
}

export interface OpenedDatabase {
  /**
   * Prisma's client on this connection, loaded on the first call: the service itself never asks
   * for it (its queries are prepared statements), so the generated client's modules (~9 MB of
   * RSS) are not loaded at start; the tests' raw SQL and scripts ask for it.
   */
  prisma(): Promise<Db>;
  /** Whether `prisma()` has been called (the generated client loaded). */
  prismaLoaded(): boolean;
  /** The better-sqlite3 connection under Prisma's client (the same one, not a second). */
  sqlite: Sqlite;
  file: string;
  journalMode: string;
  appliedMigrations: string[];
  /**
   * The migrations recorded as finished, counted on the connection (a prepared statement, not a
   * Prisma query: the readiness probe's check that the database answers). Throws when it does not.
   */
  finishedMigrations(): number;
  /** Whether Prisma's client has connected (it does on its first query, and loads its query compiler then). */
  prismaConnected(): boolean;
  /** The WAL checkpoints the worker has taken (checkpointer.ts); none with WAL_CHECKPOINTS=inline. */
  checkpoints(): Readonly<CheckpointStats>;
  close(): Promise<void>;
}

/** How often the checkpoint worker runs a PASSIVE checkpoint (one with nothing to copy is ~µs). */
const CHECKPOINT_INTERVAL_MS = 200;
/** A WAL a burst grew past this is truncated to it when it next restarts. */
const WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;

type Adapter = Awaited<ReturnType<PrismaBetterSqlite3['connect']>>;

/**
 * The adapter factory, connected here rather than by Prisma: `open()` opens the one connection
 * (the adapter keeps its better-sqlite3 handle in the public `client` field), and the factory's
 * `connect()`, which PrismaClient calls the first time it runs a query, hands Prisma that same
 * connection. So the start needs no Prisma query: `$connect` would also load Prisma's query
 * compiler (a wasm module, ~41 MB of RSS and ~0.1–0.3 s) for a service whose queries are all
 * prepared statements (statements.ts) — it is loaded only if something asks Prisma itself (the
 * tests' raw SQL, a script).
 */
function sharedAdapter(file: string): { factory: PrismaBetterSqlite3; open(): Promise<Adapter>; connectedByPrisma(): boolean } {
  const factory = new PrismaBetterSqlite3({ url: `file:${file}`, timeout: 5000 });
  const connect = factory.connect.bind(factory);
  let adapter: Adapter | null = null;
  let handed = false;
  factory.connect = async () => {
    if (adapter === null) throw new Error('database not connected');
    // Prisma connects again only after a $disconnect, which closed the connection: a second one
    // would be a second writer.
    if (handed) throw new Error('Prisma opened a second SQLite connection');
    handed = true;
    return adapter;
  };
  return {
    factory,
    async open() {
      adapter = await connect();
      return adapter;
    },
    connectedByPrisma: () => handed,
  };
}

export interface OpenOptions {
  /**
   * `inline` (default): SQLite checkpoints inside the commit that takes the WAL past 1,000 pages.
   * `worker`: a worker thread does (checkpointer.ts) — no commit stalls, ~16 MB more resident.
   */
  walCheckpoints?: 'inline' | 'worker';
}

export async function openDatabase(databaseUrl: string, options: OpenOptions = {}): Promise<OpenedDatabase> {
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
  const appliedMigrations = await applyPendingMigrationsIsolated(file);
  // One writer process; the busy timeout covers a checkpoint or an external reader (a backup).
  const shared = sharedAdapter(file);
  let client: Promise<Db> | undefined;
  const prisma = (): Promise<Db> =>
    (client ??= import('../generated/prisma/client.js').then(({ PrismaClient: Client }) => new Client({ adapter: shared.factory })));
  const adapter = await shared.open();
  const sqlite = (adapter as unknown as { client?: Sqlite }).client;
  if (!sqlite || typeof sqlite.prepare !== 'function') {
    await adapter.dispose();
    throw new Error('@prisma/adapter-better-sqlite3 no longer exposes its connection');
  }
  // Closes the connection: through Prisma when Prisma has it (its $disconnect disposes the
  // adapter), else the adapter's own dispose.
  const close = async (): Promise<void> => {
    if (shared.connectedByPrisma() && client) await (await client).$disconnect();
    else if (sqlite.open) await adapter.dispose();
  };
  const journalMode = String(sqlite.pragma('journal_mode = WAL', { simple: true }) ?? '').toLowerCase();
  if (journalMode !== 'wal') {
    await close();
    throw new Error(`DATABASE_URL: SQLite refused WAL journal mode (got "${journalMode}") for ${file}`);
  }
  // NORMAL in WAL: a commit survives a process crash; a power loss may roll back the latest ones.
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
  // WAL_CHECKPOINTS=worker: checkpoints in a worker thread, not inside a commit on the event loop
  // (checkpointer.ts); should the worker fail, SQLite's own automatic checkpoints again.
  let checkpointer: Checkpointer | null = null;
  if (options.walCheckpoints === 'worker') {
    sqlite.pragma('wal_autocheckpoint = 0');
    checkpointer = Checkpointer.start(file, sqlite, CHECKPOINT_INTERVAL_MS);
  }
  const countMigrations = sqlite.prepare('SELECT COUNT(*) AS n FROM _prisma_migrations WHERE finished_at IS NOT NULL').pluck().safeIntegers(false);
  return {
    prisma,
    prismaLoaded: () => client !== undefined,
    sqlite,
    file,
    journalMode,
    appliedMigrations,
    finishedMigrations: () => countMigrations.get() as number,
    prismaConnected: shared.connectedByPrisma,
    checkpoints: () => checkpointer?.checkpointStats() ?? { checkpoints: 0, frames: 0, running: false, error: null },
    async close() {
      await checkpointer?.close();
      await close();
    },
  };
}

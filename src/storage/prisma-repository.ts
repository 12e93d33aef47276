/**
 * The domain's Repository on the one SQLite connection that Prisma opens (database.ts).
 *
 * What goes through Prisma: the schema (prisma/schema.prisma), the migrations (migrate.ts, Prisma's
 * wasm schema engine), the generated row types (rows.ts) and the connection itself. What goes
 * through prepared better-sqlite3 statements on that connection (statements.ts): every commit —
 * one group of staged changes of any table, creates and deletes included, as one SQLite
 * transaction — and the load of every table at start. Both convert through the column maps of
 * rows.ts. Measured on this machine (bench/RESULTS.md, 2026-11-27 "storage"): a Prisma batch cost
 * ~0.5–1 ms per write and its client cached a query plan per distinct batch shape without bound;
 * loading 100,000 objects through findMany cost ~700 MB of RSS.
 */
import type { StagedChange } from '../domain/graph.js';
import type { Repository } from '../domain/repository.js';
import type { TableName, TableRecords } from '../domain/types.js';
import type { OpenedDatabase } from './database.js';
import { readTable, SqlWriter } from './statements.js';

/** The order a table is loaded in (SQL ORDER BY; '' for SQLite's own), as the graph expects it. */
export const LOAD_ORDER: { readonly [T in TableName]: string } = {
  meta: '',
  smmus: '"id"',
  contexts: '"id"',
  devices: '"id"',
  objects: '"id"',
  mappings: '',
  pages: '',
  events: '"eventqId", "ord"',
  idempotency: '',
  // Commit order: the graph keeps the audit table oldest first.
  audit: '"seq"',
};

export class PrismaRepository implements Repository {
  private statements = 0;
  private transactions = 0;
  private readonly writer: SqlWriter;

  constructor(private readonly database: OpenedDatabase) {
    this.writer = new SqlWriter(database.sqlite);
  }

  roundTrips(): number {
    return this.statements;
  }

  /** Database transactions committed (or attempted) so far: one per group of writes. */
  commits(): number {
    return this.transactions;
  }

  async loadAll(): Promise<{ [T in TableName]: TableRecords[T][] }> {
    const sqlite = this.database.sqlite;
    const tables = Object.keys(LOAD_ORDER) as TableName[];
    this.statements += tables.length;
    const all = {} as { [T in TableName]: TableRecords[T][] };
    for (const table of tables) (all as Record<TableName, unknown[]>)[table] = readTable(sqlite, table, LOAD_ORDER[table]);
    return all;
  }

  async commit(changes: readonly StagedChange[]): Promise<void> {
    if (changes.length === 0) return;
    this.transactions++;
    this.statements += changes.length;
    this.writer.commit(changes);
  }
}

/**
 * The SQL the service runs on its data: prepared better-sqlite3 statements on Prisma's own
 * connection (database.ts), converting through the column maps of rows.ts.
 *
 * - `SqlWriter`: every staged change of a group commit — creates, updates and deletes of every
 *   table — as one SQLite transaction: all or nothing; a statement SQLite refuses (a UNIQUE or
 *   FOREIGN KEY violation, a trigger's RAISE) rolls the group back and its error reaches the Store.
 *   An INSERT names the columns the record's row has, an UPDATE only the columns whose stored
 *   value changed, and the WHERE of an UPDATE or DELETE is the primary key derived from the graph
 *   key (rows.ts `key`): a column added to a table needs no entry here.
 * - `readTable`: a whole table at start, each stored value read back as Prisma reads it (by the
 *   column's declared type, rows.ts `storedDecoder`), so the records equal those of Prisma's
 *   findMany (test/storage/load.test.ts holds both paths to that).
 *
 * Why not Prisma for these: a Prisma batch ($transaction([...])) costs ~0.5–1 ms per write here
 * and its client keeps a compiled query plan per distinct batch shape without bound (1.46 GB of
 * V8 heap after building 1,000 VMs); a prepared transaction costs ~30–80 µs. Loading 100,000
 * objects through findMany took ~700 MB of RSS outside the V8 heap (bench/RESULTS.md).
 */
import type BetterSqlite3 from 'better-sqlite3';
import type { StagedChange } from '../domain/graph.js';
import type { TableName, TableRecords } from '../domain/types.js';
import type { Sqlite } from './database.js';
import { OBJECTS, OBJECT_TYPES } from '../domain/objects/index.js';
import type { ObjectRec } from '../domain/types.js';
import { changedObjectColumns, COLUMN_MAPS, objectReader, sameStored, sqlValue, storedDecoder, storedKind } from './rows.js';

type Statement = BetterSqlite3.Statement;
type Row = Record<string, unknown>;

const quote = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/** Prepared statements by SQL text, the most recently used kept (a bounded cache: UPDATE column sets vary). */
export class StatementCache {
  private readonly statements = new Map<string, Statement>();

  constructor(
    private readonly sqlite: Sqlite,
    readonly capacity = 128,
  ) {}

  get(sql: string): Statement {
    let stmt = this.statements.get(sql);
    if (stmt) {
      // Most recently used last: the first entry is the one to evict.
      this.statements.delete(sql);
    } else {
      stmt = this.sqlite.prepare(sql);
      if (this.statements.size >= this.capacity) this.statements.delete(this.statements.keys().next().value as string);
    }
    this.statements.set(sql, stmt);
    return stmt;
  }

  get size(): number {
    return this.statements.size;
  }
}

/** What a staged change's statement is when it matched no row: the graph and the database disagree. */
export class RowMissingError extends Error {
  constructor(table: string, key: string, what: 'update' | 'delete') {
    super(`storage: cannot ${what} ${table} ${JSON.stringify(key)}: no such row`);
    this.name = 'RowMissingError';
  }
}

export class SqlWriter {
  readonly statements: StatementCache;
  /** Built once: better-sqlite3's transaction wrapper is costly to create per commit. */
  private readonly writeAll: (changes: readonly StagedChange[]) => void;

  constructor(sqlite: Sqlite, cacheCapacity?: number) {
    this.statements = new StatementCache(sqlite, cacheCapacity);
    this.writeAll = sqlite.transaction((changes: readonly StagedChange[]) => {
      for (const c of changes) this.write(c);
    });
  }

  /** Writes all the changes or none, in one SQLite transaction (rolled back when a statement throws). */
  commit(changes: readonly StagedChange[]): void {
    this.writeAll(changes);
  }

  private write(c: StagedChange): void {
    const map = COLUMN_MAPS[c.table] as unknown as { table: string; toRow(r: unknown): Row; key(k: string): Row };
    if (c.record === null) {
      const key = map.key(c.key);
      const cols = Object.keys(key);
      const sql = `DELETE FROM ${quote(map.table)} WHERE ${cols.map((k) => `${quote(k)} = ?`).join(' AND ')}`;
      if (this.statements.get(sql).run(...cols.map((k) => sqlValue(key[k]))).changes !== 1) throw new RowMissingError(map.table, c.key, 'delete');
      return;
    }
    const row = map.toRow(c.record);
    if (c.created) {
      // A column the row leaves undefined gets the table's default, as Prisma's create did.
      const cols = Object.keys(row).filter((k) => row[k] !== undefined);
      const sql = `INSERT INTO ${quote(map.table)} (${cols.map(quote).join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`;
      this.statements.get(sql).run(...cols.map((k) => sqlValue(row[k])));
      return;
    }
    if (c.table === 'objects' && c.previous !== undefined) {
      const changed = changedObjectColumns(c.previous as ObjectRec, c.record as ObjectRec);
      if (changed !== null) {
        if (changed.length === 0) return;
        // The same statement text as the row diff below would build (the key is the id).
        const sql = `UPDATE ${quote(map.table)} SET ${changed.map((x) => `${quote(x[0])} = ?`).join(', ')} WHERE "id" = ?`;
        const values = changed.map((x) => sqlValue(x[1]));
        values.push(Number(c.key));
        if (this.statements.get(sql).run(...values).changes !== 1) throw new RowMissingError(map.table, c.key, 'update');
        return;
      }
    }
    const key = map.key(c.key);
    const before = c.previous === undefined ? null : map.toRow(c.previous);
    const cols: string[] = [];
    for (const col in row) {
      if (col in key || row[col] === undefined) continue;
      if (before !== null && sameStored(before[col], row[col])) continue;
      cols.push(col);
    }
    if (cols.length === 0) return;
    const keyCols = Object.keys(key);
    const sql = `UPDATE ${quote(map.table)} SET ${cols.map((k) => `${quote(k)} = ?`).join(', ')} WHERE ${keyCols.map((k) => `${quote(k)} = ?`).join(' AND ')}`;
    const values = [...cols.map((k) => sqlValue(row[k])), ...keyCols.map((k) => sqlValue(key[k]))];
    if (this.statements.get(sql).run(...values).changes !== 1) throw new RowMissingError(map.table, c.key, 'update');
  }
}

/**
 * Every row of `table` as Prisma's findMany returns it (its columns, values read back by their
 * declared types: Int a number, BigInt a bigint, Boolean, DateTime a Date, Bytes a Buffer),
 * converted to records by the table's column map, in `orderBy` order (SQL; none: SQLite's).
 * Rows are converted as they are read (`iterate`), so only the records are held.
 */
export function readTable<T extends TableName>(sqlite: Sqlite, table: T, orderBy = ''): TableRecords[T][] {
  if (table === 'objects' && orderBy === '"id"') return readObjects(sqlite) as TableRecords[T][];
  const map = COLUMN_MAPS[table] as unknown as { table: string; fromRow(row: Row): TableRecords[T] };
  return readRows(sqlite, map.table, orderBy, map.fromRow);
}

/** The rows of a SQL table, each decoded as Prisma's client decodes it and then mapped by `each`. */
export function readRows<R>(sqlite: Sqlite, table: string, orderBy: string, each: (row: Row) => R): R[] {
  const stmt = sqlite.prepare(`SELECT * FROM ${quote(table)}${orderBy === '' ? '' : ` ORDER BY ${orderBy}`}`);
  const columns = stmt.columns();
  const kinds = columns.map((c) => storedKind(c.type));
  // Exact 64-bit integers only where a column is declared BIGINT (Prisma's BigInt); the adapter
  // reads every integer safely, but converting every Int back to a number costs start-up time.
  const safe = kinds.includes('bigint');
  stmt.safeIntegers(safe).raw(true);
  const build = rowBuilder(
    columns.map((c) => c.name),
    kinds.map((k) => storedDecoder(k, safe)),
  );
  const out: R[] = [];
  for (const values of stmt.iterate() as IterableIterator<unknown[]>) out.push(each(build(values)));
  return out;
}

/**
 * A function that makes a row object of a statement's values (raw mode), each value through its
 * column's decoder. Compiled from the column names to one object literal: better-sqlite3's own row
 * objects, or an object filled key by key, took ~2.3x as long for 100,000 rows of 45 columns (the
 * start-up load). The names come from SQLite's column metadata and are quoted as JSON strings.
 */
function rowBuilder(names: readonly string[], decoders: ReadonlyArray<((v: unknown) => unknown) | null>): (values: unknown[]) => Row {
  const fields = names.map((name, i) => `${JSON.stringify(name)}: ${decoders[i] ? `d[${i}](v[${i}])` : `v[${i}]`}`);
  return new Function('d', `return (v) => ({ ${fields.join(', ')} });`)(decoders) as (values: unknown[]) => Row;
}

/**
 * The object table in id order, as `readTable` would read it, one query per type: each reads only
 * its type's columns (`id`, `contextId`, `createdAt` and the descriptor's, not the 38 of the table,
 * most of them NULL for any one type), integers as numbers, straight into records (rows.ts
 * `objectReader`); the lists are then merged by id. A row of a type no descriptor knows fails
 * the load, as `objects.fromRow` does. On the 100,000-object host this is the bulk of the load:
 * reading `SELECT *` alone took 2–3× as long as the narrow per-type queries, every integer came
 * back as a BigInt (two columns are BIGINT, and safe integers are per statement), and each row
 * was an object of 38 properties before its record (bench/RESULTS.md, "start-up and memory").
 */
export function readObjects(sqlite: Sqlite): ObjectRec[] {
  const table = quote(COLUMN_MAPS.objects.table);
  const unknown = sqlite
    .prepare(`SELECT "id", "type" FROM ${table} WHERE "type" NOT IN (${OBJECT_TYPES.map(() => '?').join(', ')}) ORDER BY "id" LIMIT 1`)
    .get(...OBJECT_TYPES) as { id: number; type: string } | undefined;
  if (unknown !== undefined) throw new Error(`object ${unknown.id} has an unknown type ${unknown.type}`);
  const lists: ObjectRec[][] = [];
  for (const type of OBJECT_TYPES) {
    const names = ['id', 'contextId', 'createdAt', ...Object.keys(OBJECTS[type].columns)];
    const stmt = sqlite.prepare(`SELECT ${names.map(quote).join(', ')} FROM ${table} WHERE "type" = ? ORDER BY "id"`);
    stmt.safeIntegers(false).raw(true);
    const read = objectReader(type, stmt.columns());
    const list: ObjectRec[] = [];
    for (const values of stmt.iterate(type) as IterableIterator<unknown[]>) list.push(read(values));
    if (list.length > 0) lists.push(list);
  }
  return mergeById(lists);
}

/** Lists each ascending by id → one list ascending by id. */
function mergeById<R extends { id: number }>(lists: R[][]): R[] {
  if (lists.length <= 1) return lists[0] ?? [];
  const out: R[] = [];
  const at = lists.map(() => 0);
  for (;;) {
    let best = -1;
    let min = Infinity;
    for (let i = 0; i < lists.length; i++) {
      const r = lists[i][at[i]];
      if (r !== undefined && r.id < min) {
        min = r.id;
        best = i;
      }
    }
    if (best < 0) return out;
    out.push(lists[best][at[best]++]);
  }
}

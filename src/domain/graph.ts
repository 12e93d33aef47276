/**
 * The in-memory object graph: the answer to every read, rebuilt from the database at start.
 *
 * Writes never touch it directly. A write runs in a `WriteTx` that stages record changes in an
 * overlay (reads inside the transaction see them), the staged changes are committed to the
 * database in one batch transaction, and only after commit are they applied here, synchronously.
 * So a concurrent reader sees either the state before the write or after it, never a write that
 * is still in flight or that failed (the database and this graph cannot disagree).
 */
import { INDEX_SPECS, TableIndexes, type IndexName, type IndexSpec, type SortedIds } from './indexes.js';
import { TABLE_ORDER, recordKey, type TableName, type TableRecords } from './types.js';

export type Tables = { [T in TableName]: Map<string, TableRecords[T]> };

const SPECS = new Map<string, IndexSpec>(INDEX_SPECS.map((s) => [`${s.table}.${s.name}`, s as IndexSpec]));
function specOf(table: TableName, name: string): IndexSpec {
  const s = SPECS.get(`${table}.${name}`);
  if (!s) throw new Error(`no index ${table}.${name}`);
  return s;
}

export interface StagedChange<T extends TableName = TableName> {
  table: T;
  key: string;
  /** null: delete. */
  record: TableRecords[T] | null;
  /** true when the record did not exist before this transaction. */
  created: boolean;
  /** The record this change replaces (updates only), so storage can write just what changed. */
  previous?: TableRecords[T];
}

export class ObjectGraph {
  readonly tables: Tables = {
    meta: new Map(),
    smmus: new Map(),
    devices: new Map(),
    contexts: new Map(),
    objects: new Map(),
    mappings: new Map(),
    pages: new Map(),
    events: new Map(),
    idempotency: new Map(),
    audit: new Map(),
  };
  /** Bumped on every applied commit; lets caches and loaders tell states apart. */
  version = 0;
  private readonly tableVersions = new Map<TableName, number>();
  /** The secondary indexes (indexes.ts), per table, kept as records load and commits apply. */
  private readonly indexes = new Map<TableName, TableIndexes>(
    TABLE_ORDER.map((t) => [t, new TableIndexes(t, INDEX_SPECS.filter((s) => s.table === t) as ReadonlyArray<IndexSpec>)]),
  );

  get<T extends TableName>(table: T, key: string | number): TableRecords[T] | undefined {
    return this.tables[table].get(String(key)) as TableRecords[T] | undefined;
  }

  values<T extends TableName>(table: T): IterableIterator<TableRecords[T]> {
    return (this.tables[table] as Map<string, TableRecords[T]>).values();
  }

  has(table: TableName, key: string): boolean {
    return this.tables[table].has(key);
  }

  entries<T extends TableName>(table: T): Iterable<[string, TableRecords[T]]> {
    return (this.tables[table] as Map<string, TableRecords[T]>).entries();
  }

  size(table: TableName): number {
    return this.tables[table].size;
  }

  /** Empties every table and index (before a load). */
  clear(): void {
    for (const table of TABLE_ORDER) {
      this.tables[table].clear();
      this.indexes.set(table, new TableIndexes(table, INDEX_SPECS.filter((s) => s.table === table) as ReadonlyArray<IndexSpec>));
      this.tableVersions.set(table, this.version + 1);
    }
    this.version++;
  }

  load<T extends TableName>(table: T, rec: TableRecords[T]): void {
    this.set(table, recordKey(table, rec), rec, true);
  }

  apply(changes: readonly StagedChange[]): void {
    for (const c of changes) {
      if (c.record === null) this.remove(c.table, c.key);
      else this.set(c.table, c.key, c.record);
      this.tableVersions.set(c.table, this.version + 1);
    }
    this.version++;
  }

  /** The graph version of the last commit that changed `table` (0: none since start). */
  tableVersion(table: TableName): number {
    return this.tableVersions.get(table) ?? 0;
  }

  private set(table: TableName, key: string, rec: unknown, bulk = false): void {
    const map = this.tables[table] as Map<string, unknown>;
    const index = this.indexes.get(table)!;
    const before = map.get(key);
    if (before !== undefined) index.remove(key, before);
    map.set(key, rec);
    index.add(key, rec, bulk);
  }

  private remove(table: TableName, key: string): void {
    const map = this.tables[table] as Map<string, unknown>;
    const before = map.get(key);
    if (before === undefined) return;
    this.indexes.get(table)!.remove(key, before);
    map.delete(key);
  }

  /** The keys of the records under `key` in the index `name` of `table` (ids ascending for id tables). */
  indexKeys(table: TableName, name: string, key: string): Iterable<string> {
    return this.indexes.get(table)!.keys(name, key);
  }

  /** The records under `key` in the index `name` of `table` (ascending id for id tables). */
  *indexed<T extends TableName>(table: T, name: IndexName<T>, key: string | number): Generator<TableRecords[T]> {
    const map = this.tables[table] as Map<string, TableRecords[T]>;
    for (const k of this.indexKeys(table, name, String(key))) {
      const rec = map.get(k);
      if (rec !== undefined) yield rec;
    }
  }

  /** The sorted ids under `key` in an id table's index (undefined: none), for paging. */
  sortedIds<T extends TableName>(table: T, name: IndexName<T>, key: string | number): SortedIds | undefined {
    return this.indexes.get(table)!.sorted(name, String(key));
  }
}

/** What a transaction reads through: the graph, or an enclosing transaction (group commit). */
export interface TxBase {
  get<T extends TableName>(table: T, key: string): TableRecords[T] | undefined;
  has(table: TableName, key: string): boolean;
  entries<T extends TableName>(table: T): Iterable<[string, TableRecords[T]]>;
  size(table: TableName): number;
  indexKeys(table: TableName, name: string, key: string): Iterable<string>;
}

/** A write transaction over the graph: staged changes, visible to reads made through it. */
export class WriteTx implements TxBase {
  private readonly staged: { [T in TableName]: Map<string, TableRecords[T] | null> } = {
    meta: new Map(),
    smmus: new Map(),
    devices: new Map(),
    contexts: new Map(),
    objects: new Map(),
    mappings: new Map(),
    pages: new Map(),
    events: new Map(),
    idempotency: new Map(),
    audit: new Map(),
  };
  /** Work to run after a successful commit (events, model updates): never on failure. */
  readonly afterCommit: Array<() => void> = [];

  constructor(readonly base: TxBase) {}

  get<T extends TableName>(table: T, key: string | number): TableRecords[T] | undefined {
    const k = String(key);
    const staged = this.staged[table] as Map<string, TableRecords[T] | null>;
    if (staged.has(k)) return staged.get(k) ?? undefined;
    return this.base.get(table, k);
  }

  has(table: TableName, key: string): boolean {
    const staged = this.staged[table] as Map<string, unknown>;
    if (staged.has(key)) return staged.get(key) !== null;
    return this.base.has(table, key);
  }

  *entries<T extends TableName>(table: T): Generator<[string, TableRecords[T]]> {
    const staged = this.staged[table] as Map<string, TableRecords[T] | null>;
    for (const [k, rec] of this.base.entries(table)) {
      if (!staged.has(k)) yield [k, rec];
    }
    for (const [k, rec] of staged) if (rec !== null) yield [k, rec];
  }

  *values<T extends TableName>(table: T): Generator<TableRecords[T]> {
    for (const [, rec] of this.entries(table)) yield rec;
  }

  /**
   * The keys under `key` in an index, as they would be after this transaction: the base's, less
   * those this transaction stages (changed or deleted), plus the staged records that have the key.
   * Base keys come first (ascending for id tables), then staged ones.
   */
  *indexKeys(table: TableName, name: string, key: string): Generator<string> {
    const staged = this.staged[table] as Map<string, TableRecords[TableName] | null>;
    for (const k of this.base.indexKeys(table, name, key)) if (!staged.has(k)) yield k;
    if (staged.size === 0) return;
    const spec = specOf(table, name);
    for (const [k, rec] of staged) if (rec !== null && spec.key(rec as never) === key) yield k;
  }

  /** The records under `key` in an index, as they would be after this transaction (see indexKeys). */
  *indexed<T extends TableName>(table: T, name: IndexName<T>, key: string | number): Generator<TableRecords[T]> {
    for (const k of this.indexKeys(table, name, String(key))) {
      const rec = this.get(table, k);
      if (rec !== undefined) yield rec;
    }
  }

  size(table: TableName): number {
    return this.count(table);
  }

  /** Number of records the table would hold after this transaction. */
  count(table: TableName): number {
    const base = this.base;
    let n = base.size(table);
    for (const [k, rec] of this.staged[table] as Map<string, unknown>) {
      const existed = base.has(table, k);
      if (rec === null && existed) n--;
      else if (rec !== null && !existed) n++;
    }
    return n;
  }

  /** Stages a create or an update (records are replaced whole, never mutated in place). */
  put<T extends TableName, R extends TableRecords[T]>(table: T, rec: R): R {
    (this.staged[table] as Map<string, TableRecords[T] | null>).set(recordKey(table, rec), rec);
    return rec;
  }

  delete<T extends TableName>(table: T, key: string | number): void {
    (this.staged[table] as Map<string, TableRecords[T] | null>).set(String(key), null);
  }

  /** Staged changes in commit order: upserts parent-first, deletes child-first. */
  changes(): StagedChange[] {
    const upserts: StagedChange[] = [];
    const deletes: StagedChange[] = [];
    for (const table of TABLE_ORDER) {
      for (const [key, record] of this.staged[table] as Map<string, TableRecords[TableName] | null>) {
        const existed = this.base.has(table, key);
        if (record === null) {
          if (existed) deletes.push({ table, key, record: null, created: false });
        } else {
          upserts.push(existed ? { table, key, record, created: false, previous: this.base.get(table, key) } : { table, key, record, created: true });
        }
      }
    }
    return [...upserts, ...deletes.reverse()];
  }

  /** Moves this transaction's staged changes and after-commit work into `parent` (a group). */
  mergeInto(parent: WriteTx): void {
    for (const table of TABLE_ORDER) {
      const into = parent.staged[table] as Map<string, unknown>;
      for (const [k, rec] of this.staged[table] as Map<string, unknown>) into.set(k, rec);
    }
    parent.afterCommit.push(...this.afterCommit);
  }
}

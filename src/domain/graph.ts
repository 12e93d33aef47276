/**
 * The in-memory object graph: the answer to every read, rebuilt from the database at start.
 *
 * Writes never touch it directly. A write runs in a `WriteTx` that stages record changes in an
 * overlay (reads inside the transaction see them), the staged changes are committed to the
 * database in one batch transaction, and only after commit are they applied here, synchronously.
 * So a concurrent reader sees either the state before the write or after it, never a write that
 * is still in flight or that failed (the database and this graph cannot disagree).
 */
import { TABLE_ORDER, recordKey, type TableName, type TableRecords } from './types.js';

export type Tables = { [T in TableName]: Map<string, TableRecords[T]> };

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

  load<T extends TableName>(table: T, rec: TableRecords[T]): void {
    (this.tables[table] as Map<string, TableRecords[T]>).set(recordKey(table, rec), rec);
  }

  apply(changes: readonly StagedChange[]): void {
    for (const c of changes) {
      const map = this.tables[c.table] as Map<string, unknown>;
      if (c.record === null) map.delete(c.key);
      else map.set(c.key, c.record);
    }
    this.version++;
  }
}

/** What a transaction reads through: the graph, or an enclosing transaction (group commit). */
export interface TxBase {
  get<T extends TableName>(table: T, key: string): TableRecords[T] | undefined;
  has(table: TableName, key: string): boolean;
  entries<T extends TableName>(table: T): Iterable<[string, TableRecords[T]]>;
  size(table: TableName): number;
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

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
  };
  /** Bumped on every applied commit; lets caches and loaders tell states apart. */
  version = 0;

  get<T extends TableName>(table: T, key: string | number): TableRecords[T] | undefined {
    return this.tables[table].get(String(key)) as TableRecords[T] | undefined;
  }

  values<T extends TableName>(table: T): IterableIterator<TableRecords[T]> {
    return (this.tables[table] as Map<string, TableRecords[T]>).values();
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

/** A write transaction over the graph: staged changes, visible to reads made through it. */
export class WriteTx {
  private readonly staged: { [T in TableName]: Map<string, TableRecords[T] | null> } = {
    meta: new Map(),
    smmus: new Map(),
    devices: new Map(),
    contexts: new Map(),
    objects: new Map(),
    mappings: new Map(),
    pages: new Map(),
    events: new Map(),
  };
  /** Work to run after a successful commit (events, model updates): never on failure. */
  readonly afterCommit: Array<() => void> = [];

  constructor(readonly graph: ObjectGraph) {}

  get<T extends TableName>(table: T, key: string | number): TableRecords[T] | undefined {
    const k = String(key);
    const staged = this.staged[table] as Map<string, TableRecords[T] | null>;
    if (staged.has(k)) return staged.get(k) ?? undefined;
    return this.graph.get(table, k);
  }

  *values<T extends TableName>(table: T): Generator<TableRecords[T]> {
    const staged = this.staged[table] as Map<string, TableRecords[T] | null>;
    for (const [k, rec] of this.graph.tables[table] as Map<string, TableRecords[T]>) {
      if (!staged.has(k)) yield rec;
    }
    for (const rec of staged.values()) if (rec !== null) yield rec;
  }

  /** Number of records the table would hold after this transaction. */
  count(table: TableName): number {
    const base = this.graph.tables[table];
    let n = base.size;
    for (const [k, rec] of this.staged[table] as Map<string, unknown>) {
      const existed = base.has(k);
      if (rec === null && existed) n--;
      else if (rec !== null && !existed) n++;
    }
    return n;
  }

  /** Stages a create or an update (records are replaced whole, never mutated in place). */
  put<T extends TableName>(table: T, rec: TableRecords[T]): TableRecords[T] {
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
        const existed = this.graph.tables[table].has(key);
        if (record === null) {
          if (existed) deletes.push({ table, key, record: null, created: false });
        } else {
          upserts.push(existed ? { table, key, record, created: false, previous: this.graph.tables[table].get(key) } : { table, key, record, created: true });
        }
      }
    }
    return [...upserts, ...deletes.reverse()];
  }
}

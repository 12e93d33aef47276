/**
 * The in-memory object graph: the answer to every read, rebuilt from the database at start.
 *
 * Writes never touch it directly. A write runs in a `WriteTx` that stages record changes in an
 * overlay (reads inside the transaction see them), the staged changes are committed to the
 * database in one batch transaction, and only after commit are they applied here, synchronously.
 * So a concurrent reader sees either the state before the write or after it, never a write that
 * is still in flight or that failed (the database and this graph cannot disagree).
 */
import { INDEX_SPECS, TableIndexes, USED_ID_SPECS, type IndexName, type IndexSpec, type SortedIds, type UsedIdName, type UsedIdSpec } from './indexes.js';
import { TABLE_ORDER, recordKey, type TableName, type TableRecords } from './types.js';

/**
 * A table's records by graph key (types.ts recordKey). The records of the id tables (SMMUs,
 * contexts, devices, objects) are kept by their numeric id only (`IdTable`), the others in a Map.
 */
export interface TableMap<R> {
  get(key: string): R | undefined;
  has(key: string): boolean;
  set(key: string, rec: R): unknown;
  delete(key: string): boolean;
  clear(): void;
  readonly size: number;
  values(): IterableIterator<R>;
  entries(): IterableIterator<[string, R]>;
}

export type Tables = { [T in TableName]: TableMap<TableRecords[T]> };

/**
 * An id table's records keyed by their id as a number, seen through the graph key (the id as a
 * decimal string): a string key is looked up only in its canonical form ("12", not "012"), as a
 * Map of strings would. One map per id table instead of two (one by string, one by number): on
 * the 100,000-object host the string-keyed maps and their keys held ~10 MB of heap, and every
 * record loaded hashed a fresh string.
 */
class IdTable<R> implements TableMap<R> {
  constructor(readonly byId: Map<number, R>) {}

  private static id(key: string): number | undefined {
    const n = Number(key);
    return String(n) === key ? n : undefined;
  }

  get(key: string): R | undefined {
    const id = IdTable.id(key);
    return id === undefined ? undefined : this.byId.get(id);
  }

  has(key: string): boolean {
    const id = IdTable.id(key);
    return id !== undefined && this.byId.has(id);
  }

  set(key: string, rec: R): this {
    const id = IdTable.id(key);
    if (id === undefined) throw new Error(`not an id: ${JSON.stringify(key)}`);
    this.byId.set(id, rec);
    return this;
  }

  delete(key: string): boolean {
    const id = IdTable.id(key);
    return id !== undefined && this.byId.delete(id);
  }

  clear(): void {
    this.byId.clear();
  }

  get size(): number {
    return this.byId.size;
  }

  values(): IterableIterator<R> {
    return this.byId.values();
  }

  *entries(): IterableIterator<[string, R]> {
    for (const [id, rec] of this.byId) yield [String(id), rec];
  }
}

const SPECS = new Map<string, IndexSpec>(INDEX_SPECS.map((s) => [`${s.table}.${s.name}`, s as IndexSpec]));
function specOf(table: TableName, name: string): IndexSpec {
  const s = SPECS.get(`${table}.${name}`);
  if (!s) throw new Error(`no index ${table}.${name}`);
  return s;
}
const USED_SPECS = new Map<string, UsedIdSpec>(USED_ID_SPECS.map((s) => [`${s.table}.${s.name}`, s as UsedIdSpec]));
function usedSpecOf(table: TableName, name: string): UsedIdSpec {
  const s = USED_SPECS.get(`${table}.${name}`);
  if (!s) throw new Error(`no used-id set ${table}.${name}`);
  return s;
}
const tableIndexes = (table: TableName): TableIndexes =>
  new TableIndexes(
    table,
    INDEX_SPECS.filter((s) => s.table === table) as ReadonlyArray<IndexSpec>,
    USED_ID_SPECS.filter((s) => s.table === table) as ReadonlyArray<UsedIdSpec>,
  );

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

/** Something derived from one table that the graph keeps up to date (ObjectGraph.observe). */
export interface TableObserver<R> {
  /** A record set (`before` undefined), replaced, or removed (`after` undefined): load and apply. */
  change(before: R | undefined, after: R | undefined): void;
  /** The table was emptied (a reload follows). */
  clear(): void;
}

export class ObjectGraph {
  /**
   * The id tables' records by numeric id: a lookup by id (every relation, every object named in a
   * request) needs no number → string conversion and hash of a fresh string.
   */
  private readonly byId: { readonly [T in TableName]?: Map<number, TableRecords[T]> } = {
    smmus: new Map(),
    devices: new Map(),
    contexts: new Map(),
    objects: new Map(),
  };

  readonly tables: Tables = {
    meta: new Map(),
    smmus: new IdTable(this.byId.smmus!),
    devices: new IdTable(this.byId.devices!),
    contexts: new IdTable(this.byId.contexts!),
    objects: new IdTable(this.byId.objects!),
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
  private readonly indexes = new Map<TableName, TableIndexes>(TABLE_ORDER.map((t) => [t, tableIndexes(t)]));

  private readonly observers = new Map<TableName, Array<TableObserver<unknown>>>();

  /**
   * Keeps `observer` up to date with `table` from now on: every record set, replaced or removed,
   * as records load and commits apply, like the indexes (the caller reads what is there already).
   */
  observe<T extends TableName>(table: T, observer: TableObserver<TableRecords[T]>): void {
    const list = this.observers.get(table) ?? [];
    list.push(observer as TableObserver<unknown>);
    this.observers.set(table, list);
  }

  get<T extends TableName>(table: T, key: string | number): TableRecords[T] | undefined {
    if (typeof key === 'number') {
      const byId = this.byId[table] as Map<number, TableRecords[T]> | undefined;
      if (byId) return byId.get(key);
    }
    return this.tables[table].get(String(key)) as TableRecords[T] | undefined;
  }

  values<T extends TableName>(table: T): IterableIterator<TableRecords[T]> {
    return (this.tables[table] as TableMap<TableRecords[T]>).values();
  }

  has(table: TableName, key: string): boolean {
    return this.tables[table].has(key);
  }

  entries<T extends TableName>(table: T): Iterable<[string, TableRecords[T]]> {
    return (this.tables[table] as TableMap<TableRecords[T]>).entries();
  }

  size(table: TableName): number {
    return this.tables[table].size;
  }

  /** Empties every table and index (before a load). */
  clear(): void {
    for (const table of TABLE_ORDER) {
      this.tables[table].clear();
      for (const o of this.observers.get(table) ?? []) o.clear();
      this.indexes.set(table, tableIndexes(table));
      this.tableVersions.set(table, this.version + 1);
    }
    this.version++;
  }

  load<T extends TableName>(table: T, rec: TableRecords[T]): void {
    // An id table's records are kept and indexed by their id: no key string is needed.
    this.set(table, this.byId[table] === undefined ? recordKey(table, rec) : '', rec, true);
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
    const index = this.indexes.get(table)!;
    // An id table's key is its record's id (recordKey): kept by number, no string parsed.
    const byId = this.byId[table] as Map<number, unknown> | undefined;
    let before: unknown;
    if (byId !== undefined) {
      const id = (rec as { id: number }).id;
      before = byId.get(id);
      byId.set(id, rec);
    } else {
      const map = this.tables[table] as TableMap<unknown>;
      before = map.get(key);
      map.set(key, rec);
    }
    // An update touches only the indexes whose key for the record changed (indexes.ts replace).
    if (before !== undefined) index.replace(key, before, rec);
    else index.add(key, rec, bulk);
    const observers = this.observers.get(table);
    if (observers !== undefined) for (const o of observers) o.change(before, rec);
  }

  private remove(table: TableName, key: string): void {
    const map = this.tables[table] as TableMap<unknown>;
    const before = map.get(key);
    if (before === undefined) return;
    this.indexes.get(table)!.remove(key, before);
    map.delete(key);
    const observers = this.observers.get(table);
    if (observers !== undefined) for (const o of observers) o.change(before, undefined);
  }

  /** The keys of the records under `key` in the index `name` of `table` (ids ascending for id tables). */
  indexKeys(table: TableName, name: string, key: string): Iterable<string> {
    return this.indexes.get(table)!.keys(name, key);
  }

  /** The records under `key` in the index `name` of `table` (ascending id for id tables). */
  *indexed<T extends TableName>(table: T, name: IndexName<T>, key: string | number): Generator<TableRecords[T]> {
    const map = this.tables[table] as TableMap<TableRecords[T]>;
    for (const k of this.indexKeys(table, name, String(key))) {
      const rec = map.get(k);
      if (rec !== undefined) yield rec;
    }
  }

  /**
   * The records under `key` in the index `name` of `table`, as an array (ascending id for id
   * tables): `indexed` without a generator or a key per record, for reads that take them all.
   */
  indexedList<T extends TableName>(table: T, name: IndexName<T>, key: string | number): Array<TableRecords[T]> {
    const map = this.tables[table] as TableMap<TableRecords[T]>;
    const out: Array<TableRecords[T]> = [];
    const sorted = this.indexes.get(table)!.sorted(name, String(key));
    const byId = this.byId[table] as Map<number, TableRecords[T]> | undefined;
    if (sorted && byId) {
      for (const id of sorted.ids) {
        const rec = byId.get(id);
        if (rec !== undefined) out.push(rec);
      }
      return out;
    }
    for (const k of this.indexKeys(table, name, String(key))) {
      const rec = map.get(k);
      if (rec !== undefined) out.push(rec);
    }
    return out;
  }

  /** The sorted ids under `key` in an id table's index (undefined: none), for paging. */
  sortedIds<T extends TableName>(table: T, name: IndexName<T>, key: string | number): SortedIds | undefined {
    return this.indexes.get(table)!.sorted(name, String(key));
  }

  /** The lowest id in [from, to] that no record holds in `space` of the used-id set `name`, or null. */
  nextFreeId<T extends TableName>(table: T, name: UsedIdName<T>, space: string | number, from: number, to: number): number | null {
    const used = this.indexes.get(table)!.usedIds(name, String(space));
    if (used) return used.nextFree(from, to);
    const first = Math.max(Math.ceil(from), 0);
    return first <= to ? first : null;
  }

  /** Number of records holding `id` in `space` of the used-id set `name`. */
  usedIdCount(table: TableName, name: string, space: string, id: number): number {
    return this.indexes.get(table)!.usedIds(name, space)?.count(id) ?? 0;
  }
}

/** What a transaction reads through: the graph, or an enclosing transaction (group commit). */
export interface TxBase {
  get<T extends TableName>(table: T, key: string | number): TableRecords[T] | undefined;
  has(table: TableName, key: string): boolean;
  entries<T extends TableName>(table: T): Iterable<[string, TableRecords[T]]>;
  size(table: TableName): number;
  indexKeys(table: TableName, name: string, key: string): Iterable<string>;
  nextFreeId(table: TableName, name: string, space: string, from: number, to: number): number | null;
  usedIdCount(table: TableName, name: string, space: string, id: number): number;
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
  /**
   * Set by a write that is a guest's own register traffic rather than an iommufd operation (a
   * vCMDQ doorbell: domain/hwqueue.ts `pushCommands`): store.ts records no audit entry for it.
   */
  unaudited = false;

  constructor(readonly base: TxBase) {}

  get<T extends TableName>(table: T, key: string | number): TableRecords[T] | undefined {
    const k = String(key);
    const staged = this.staged[table] as Map<string, TableRecords[T] | null>;
    if (staged.size > 0 && staged.has(k)) return staged.get(k) ?? undefined;
    return this.base.get(table, key);
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

  /**
   * The lowest id in [from, to] that no record holds in `space` of the used-id set `name`, as it
   * would be after this transaction: the base's free ids less those its staged records take, plus
   * those it frees (a record changed or deleted whose id no other record holds). The staged
   * records are read once; the base is asked at most once per id they take.
   */
  nextFreeId<T extends TableName>(table: T, name: UsedIdName<T>, space: string | number, from: number, to: number): number | null {
    const key = String(space);
    const delta = this.usedIdDelta(table, name, key);
    if (delta === null) return this.base.nextFreeId(table, name, key, from, to);
    let best: number | null = null;
    for (let id = this.base.nextFreeId(table, name, key, from, to); id !== null; id = id < to ? this.base.nextFreeId(table, name, key, id + 1, to) : null) {
      if ((delta.get(id) ?? 0) <= 0) {
        best = id;
        break;
      }
    }
    for (const [id, d] of delta) {
      if (d < 0 && id >= from && id <= to && (best === null || id < best) && this.base.usedIdCount(table, name, key, id) + d <= 0) best = id;
    }
    return best;
  }

  usedIdCount(table: TableName, name: string, space: string, id: number): number {
    return this.base.usedIdCount(table, name, space, id) + (this.usedIdDelta(table, name, space)?.get(id) ?? 0);
  }

  /** Per id of `space`: holders this transaction adds (> 0) or takes away (< 0) from its base; null when it touches none. */
  private usedIdDelta(table: TableName, name: string, space: string): Map<number, number> | null {
    const staged = this.staged[table] as Map<string, TableRecords[TableName] | null>;
    if (staged.size === 0) return null;
    const spec = usedSpecOf(table, name);
    let delta: Map<number, number> | null = null;
    const count = (rec: TableRecords[TableName] | undefined | null, d: number): void => {
      if (!rec) return;
      const e = spec.entry(rec as never);
      if (e === null || e[0] !== space) return;
      delta ??= new Map();
      delta.set(e[1], (delta.get(e[1]) ?? 0) + d);
    };
    for (const [k, rec] of staged) {
      count(this.base.get(table, k), -1);
      count(rec, 1);
    }
    return delta;
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

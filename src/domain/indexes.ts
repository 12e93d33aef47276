/**
 * Secondary indexes of the object graph (issue 13): the lookups the kernel answers from an xarray
 * or a list per parent (the fd's objects, a vIOMMU's vdevs, an IOAS's areas, a vEVENTQ's
 * records, an SMMU's VMIDs) are answered here from an index kept up to date as commits apply, so
 * a page, a create, a destroy or an invalidation costs what it touches, not what the host holds.
 *
 * An index maps a key (a string computed from the record) to the records that have it: for the
 * tables whose records have an id (SMMUs, devices, contexts, objects) as ids sorted ascending —
 * the lists' order (api.md "Lists") — so a page starts with a binary search; for the others as
 * their record keys. The index named `all` of an id table holds every id (key '').
 *
 * The graph (graph.ts) updates its indexes in `load` and `apply`; a write transaction answers
 * `indexed` from its base's index corrected by its own staged records.
 */
import type { DeviceRec, ObjectRec, TableName, TableRecords } from './types.js';

/** One index: the table, its name, and the key of a record (null: not in the index). */
export interface IndexSpec<T extends TableName = TableName> {
  table: T;
  name: string;
  key(rec: TableRecords[T]): string | null;
}

/** An index of any one table. */
export type AnyIndexSpec = { [T in TableName]: IndexSpec<T> }[TableName];

const numberKey = (v: number | null | undefined): string | null => (v === null || v === undefined ? null : String(v));
const field = (o: ObjectRec, name: 'viommuId' | 'deviceId' | 'smmuId' | 'ioasId' | 'hwptId' | 'eventqId'): number | null | undefined =>
  (o as unknown as Record<string, number | null | undefined>)[name];

/** Every index the graph keeps. Adding one here is enough: graph and transactions use it. */
export const INDEX_SPECS = [
  { table: 'smmus', name: 'all', key: () => '' },
  { table: 'contexts', name: 'all', key: () => '' },
  { table: 'devices', name: 'all', key: () => '' },
  /** Devices by the context they are bound to ('-' when unbound). */
  { table: 'devices', name: 'context', key: (d: DeviceRec) => (d.contextId === null ? '-' : String(d.contextId)) },
  { table: 'devices', name: 'smmu', key: (d: DeviceRec) => String(d.smmuId) },
  /** Devices by the HWPT (or IOAS auto domain's HWPT) their RID is attached to. */
  { table: 'devices', name: 'attachedTo', key: (d: DeviceRec) => numberKey(d.attachedTo) },
  { table: 'objects', name: 'all', key: () => '' },
  { table: 'objects', name: 'context', key: (o: ObjectRec) => String(o.contextId) },
  { table: 'objects', name: 'type', key: (o: ObjectRec) => o.type },
  { table: 'objects', name: 'contextType', key: (o: ObjectRec) => `${o.contextId}:${o.type}` },
  { table: 'objects', name: 'viommu', key: (o: ObjectRec) => numberKey(field(o, 'viommuId')) },
  { table: 'objects', name: 'device', key: (o: ObjectRec) => numberKey(field(o, 'deviceId')) },
  { table: 'objects', name: 'smmu', key: (o: ObjectRec) => numberKey(field(o, 'smmuId')) },
  /** Paging HWPTs (and hardware queues) by the IOAS they map. */
  { table: 'objects', name: 'ioas', key: (o: ObjectRec) => numberKey(field(o, 'ioasId')) },
  /** vIOMMUs by their nest parent. */
  { table: 'objects', name: 'hwpt', key: (o: ObjectRec) => numberKey(field(o, 'hwptId')) },
  { table: 'mappings', name: 'ioas', key: (m: TableRecords['mappings']) => String(m.ioasId) },
  { table: 'events', name: 'eventq', key: (e: TableRecords['events']) => String(e.eventqId) },
] as const satisfies ReadonlyArray<AnyIndexSpec>;

export type IndexName<T extends TableName> = Extract<(typeof INDEX_SPECS)[number], { table: T }>['name'];

/** Tables whose records are keyed by their numeric id (their indexes hold sorted ids). */
export const ID_TABLES: ReadonlySet<TableName> = new Set(['smmus', 'contexts', 'devices', 'objects']);

/**
 * Ascending ids without duplicates. New ids are the largest: adding one costs O(1); an update
 * (remove, then add the same id) a binary search and a memmove. Loading uses `append`.
 */
export class SortedIds {
  private list: number[] = [];
  private unsorted = false;

  /** The ids, ascending. */
  get ids(): readonly number[] {
    if (this.unsorted) {
      this.list = [...new Set(this.list)].sort((a, b) => a - b);
      this.unsorted = false;
    }
    return this.list;
  }

  get size(): number {
    return this.ids.length;
  }

  /** Index of the first id > `after`. */
  firstAfter(after: number): number {
    const ids = this.ids;
    let lo = 0;
    let hi = ids.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ids[mid] <= after) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Adds one id in place: a binary search and one move of the ids after it (a memmove). */
  add(id: number): void {
    const list = this.list;
    const last = list[list.length - 1];
    if (!this.unsorted && (last === undefined || id > last)) {
      list.push(id);
      return;
    }
    const at = this.firstAfter(id - 1);
    if (this.list[at] !== id) this.list.splice(at, 0, id);
  }

  /**
   * Adds an id while loading many (a database read in whatever order it comes): out-of-order ids
   * are appended and the list is sorted once, when next read — O(n log n) for a load, never O(n²).
   */
  append(id: number): void {
    const list = this.list;
    const last = list[list.length - 1];
    if (last !== undefined && id <= last) this.unsorted = true;
    list.push(id);
  }

  delete(id: number): void {
    const at = this.firstAfter(id - 1);
    if (this.list[at] === id) this.list.splice(at, 1);
  }
}

/** The indexes of one table: name → key → members. */
export class TableIndexes {
  private readonly maps = new Map<string, Map<string, SortedIds | Set<string>>>();

  constructor(
    readonly table: TableName,
    readonly specs: ReadonlyArray<IndexSpec>,
  ) {
    for (const s of specs) this.maps.set(s.name, new Map());
  }

  private get numeric(): boolean {
    return ID_TABLES.has(this.table);
  }

  /** `bulk`: while loading (ids may come in any order; sorted once when next read). */
  add(recKey: string, rec: unknown, bulk = false): void {
    for (const s of this.specs) {
      const k = s.key(rec as never);
      if (k === null) continue;
      const map = this.maps.get(s.name)!;
      let members = map.get(k);
      if (!members) {
        members = this.numeric ? new SortedIds() : new Set<string>();
        map.set(k, members);
      }
      if (members instanceof SortedIds) {
        if (bulk) members.append(Number(recKey));
        else members.add(Number(recKey));
      } else members.add(recKey);
    }
  }

  remove(recKey: string, rec: unknown): void {
    for (const s of this.specs) {
      const k = s.key(rec as never);
      if (k === null) continue;
      const map = this.maps.get(s.name)!;
      const members = map.get(k);
      if (!members) continue;
      if (members instanceof SortedIds) members.delete(Number(recKey));
      else members.delete(recKey);
      if (members.size === 0) map.delete(k);
    }
  }

  /** The record keys under `key` in index `name` (ascending ids for id tables). */
  keys(name: string, key: string): Iterable<string> {
    const members = this.lookup(name).get(key);
    if (!members) return [];
    if (members instanceof SortedIds) return members.ids.map(String);
    return members;
  }

  /** The sorted ids under `key` (id tables only). */
  sorted(name: string, key: string): SortedIds | undefined {
    const members = this.lookup(name).get(key);
    return members instanceof SortedIds ? members : undefined;
  }

  spec(name: string): IndexSpec {
    const s = this.specs.find((x) => x.name === name);
    if (!s) throw new Error(`no index ${this.table}.${name}`);
    return s;
  }

  private lookup(name: string): Map<string, SortedIds | Set<string>> {
    const map = this.maps.get(name);
    if (!map) throw new Error(`no index ${this.table}.${name}`);
    return map;
  }
}

/**
 * Walks the union of sorted id lists from the first id after `after`, ascending, each id once
 * (a k-way merge: lists of two types, e.g. paging and nested HWPTs).
 */
export function* mergeAscending(lists: ReadonlyArray<SortedIds>, after: number): Generator<number> {
  const pos = lists.map((l) => l.firstAfter(after));
  for (;;) {
    let best = -1;
    let min = Infinity;
    for (let i = 0; i < lists.length; i++) {
      const v = lists[i].ids[pos[i]];
      if (v !== undefined && v < min) {
        min = v;
        best = i;
      }
    }
    if (best < 0) return;
    for (let i = 0; i < lists.length; i++) if (lists[i].ids[pos[i]] === min) pos[i]++;
    yield min;
  }
}

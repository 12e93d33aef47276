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
 * Beside them, the used-id sets (USED_ID_SPECS, UsedIds): per allocator and space (an SMMU's
 * VMIDs, the host's ASIDs, an SMMU's VINTFs, a vIOMMU's SID slots) the ids live records hold, as
 * the kernel's IDA keeps them, so the lowest free id is found without looking at the holders.
 *
 * The graph (graph.ts) updates both in `load` and `apply`; a write transaction answers `indexed`
 * and `nextFreeId` from its base's corrected by its own staged records.
 */
import { OBJECT_TYPES, type ContextRec, type DeviceRec, type ObjectRec, type SmmuRec, type TableName, type TableRecords } from './types.js';

/** One index: the table, its name, and the key of a record (null: not in the index). */
export interface IndexSpec<T extends TableName = TableName> {
  table: T;
  name: string;
  key(rec: TableRecords[T]): string | null;
  /**
   * For an index keyed by an id (or an id and an object type): the key as one number, and
   * `parse` the number of a key string (undefined: no record has that key). The graph then keeps
   * the index by number — no string made and hashed per record loaded or applied.
   */
  id?(rec: TableRecords[T]): number | null;
  parse?(key: string): number | undefined;
}

/** The number of a decimal id as `String(id)` writes it (another form names no key, as in a string-keyed index). */
const parseId = (key: string): number | undefined => {
  const n = Number(key);
  return String(n) === key ? n : undefined;
};

/** An index keyed by the id a record holds (`key` the id as a decimal string, null: not in the index). */
function byId<T extends TableName, N extends string>(table: T, name: N, id: (rec: TableRecords[T]) => number | null | undefined) {
  return {
    table,
    name,
    key: (rec: TableRecords[T]): string | null => numberKey(id(rec)),
    id: (rec: TableRecords[T]): number | null => id(rec) ?? null,
    parse: parseId,
  };
}

/** Object types by code (their place in the registry), for keys of an id and a type as one number. */
const TYPE_CODES = new Map<string, number>(OBJECT_TYPES.map((t, i) => [t, i]));
const TYPE_SLOTS = 16;
if (OBJECT_TYPES.length > TYPE_SLOTS) throw new Error('indexes.ts: more object types than TYPE_SLOTS');

/** An index of objects keyed by `<id>:<type>` (an id the object holds and its type), kept by the number id × 16 + type code. */
function byIdAndType<N extends string>(name: N, id: (o: ObjectRec) => number | null | undefined) {
  return {
    table: 'objects' as const,
    name,
    key: (o: ObjectRec): string | null => {
      const n = id(o);
      return n == null ? null : `${n}:${o.type}`;
    },
    id: (o: ObjectRec): number | null => {
      const n = id(o);
      return n == null ? null : n * TYPE_SLOTS + (TYPE_CODES.get(o.type) as number);
    },
    parse: (key: string): number | undefined => {
      const i = key.indexOf(':');
      const n = i < 0 ? undefined : parseId(key.slice(0, i));
      const code = i < 0 ? undefined : TYPE_CODES.get(key.slice(i + 1));
      return n === undefined || code === undefined ? undefined : n * TYPE_SLOTS + code;
    },
  };
}

/** An index of any one table. */
export type AnyIndexSpec = { [T in TableName]: IndexSpec<T> }[TableName];

const numberKey = (v: number | null | undefined): string | null => (v === null || v === undefined ? null : String(v));
const field = (o: ObjectRec, name: 'viommuId' | 'deviceId' | 'smmuId' | 'ioasId' | 'hwptId' | 'eventqId'): number | null | undefined =>
  (o as unknown as Record<string, number | null | undefined>)[name];

/** Every index the graph keeps. Adding one here is enough: graph and transactions use it. */
export const INDEX_SPECS = [
  { table: 'smmus', name: 'all', key: () => '' },
  /** Names are unique per table (EEXIST): SMMUs, contexts and devices by name. */
  { table: 'smmus', name: 'name', key: (s: SmmuRec) => s.name },
  { table: 'contexts', name: 'all', key: () => '' },
  { table: 'contexts', name: 'name', key: (c: ContextRec) => c.name },
  { table: 'devices', name: 'all', key: () => '' },
  { table: 'devices', name: 'name', key: (d: DeviceRec) => d.name },
  /** Devices by `<smmuId>:<streamId>`: a StreamID names one device per SMMU (its stream table entry). */
  { table: 'devices', name: 'streamId', key: (d: DeviceRec) => `${d.smmuId}:${d.streamId}` },
  /** Devices by the context they are bound to ('-' when unbound). */
  { table: 'devices', name: 'context', key: (d: DeviceRec) => (d.contextId === null ? '-' : String(d.contextId)) },
  byId('devices', 'smmu', (d: DeviceRec) => d.smmuId),
  /** Devices by the HWPT (or IOAS auto domain's HWPT) their RID is attached to. */
  byId('devices', 'attachedTo', (d: DeviceRec) => d.attachedTo),
  { table: 'objects', name: 'all', key: () => '' },
  byId('objects', 'context', (o: ObjectRec) => o.contextId),
  { table: 'objects', name: 'type', key: (o: ObjectRec) => o.type },
  byIdAndType('contextType', (o) => o.contextId),
  byId('objects', 'viommu', (o: ObjectRec) => field(o, 'viommuId')),
  byId('objects', 'device', (o: ObjectRec) => field(o, 'deviceId')),
  byId('objects', 'smmu', (o: ObjectRec) => field(o, 'smmuId')),
  /** An SMMU's objects of one type (`<smmuId>:<type>`): its vIOMMUs. */
  byIdAndType('smmuType', (o) => field(o, 'smmuId')),
  /** Paging HWPTs (and hardware queues) by the IOAS they map. */
  byId('objects', 'ioas', (o: ObjectRec) => field(o, 'ioasId')),
  /** A vIOMMU's objects of one type (`<viommuId>:<type>`): its vDEVICEs (viommu->vdevs), nested HWPTs, vEVENTQs, HW queues. */
  byIdAndType('viommuType', (o) => field(o, 'viommuId')),
  /** vIOMMUs by their nest parent. */
  byId('objects', 'hwpt', (o: ObjectRec) => field(o, 'hwptId')),
  byId('mappings', 'ioas', (m: TableRecords['mappings']) => m.ioasId),
  byId('events', 'eventq', (e: TableRecords['events']) => e.eventqId),
] as const satisfies ReadonlyArray<AnyIndexSpec>;

export type IndexName<T extends TableName> = Extract<(typeof INDEX_SPECS)[number], { table: T }>['name'];

/**
 * A used-id set (issue 13): the ids of one allocator that live records hold, per space — the
 * kernel's IDA / xarray per allocator (arm_smmu_vmid_ida, arm_smmu_asid_xa, the CMDQV's VINTF
 * and SID-slot tables). `entry` says which space a record's id is in and which id it holds
 * (null: it holds none). Kept by the graph as records load and commits apply, so the lowest
 * free id is a bitmap walk (UsedIds.nextFree), not a scan of the records; allocation stays
 * derived from the live records (vmid.ts): destroying the record frees its id, a failed write
 * never applies and so never leaks one.
 */
export interface UsedIdSpec<T extends TableName = TableName> {
  table: T;
  name: string;
  entry(rec: TableRecords[T]): readonly [space: string, id: number] | null;
}

export type AnyUsedIdSpec = { [T in TableName]: UsedIdSpec<T> }[TableName];

/** Every used-id set the graph keeps (the allocators of vmid.ts). */
export const USED_ID_SPECS = [
  /** VMIDs per SMMU: its vIOMMUs' and its stage-2 paging HWPTs' (arm_smmu_domain_finalise_s2). */
  {
    table: 'objects',
    name: 'vmid',
    entry: (o: ObjectRec) => (o.type === 'viommu' || (o.type === 'hwpt_paging' && o.stage === 2) ? [String(o.smmuId), o.vmid] : null),
  },
  /** ASIDs: one space for the whole host (arm_smmu_asid_xa), held by stage-1 paging HWPTs. */
  { table: 'objects', name: 'asid', entry: (o: ObjectRec) => (o.type === 'hwpt_paging' && o.stage === 1 ? ['', o.asid] : null) },
  /** Tegra241 VINTFs per SMMU, held by tegra241_cmdqv vIOMMUs. */
  { table: 'objects', name: 'vintf', entry: (o: ObjectRec) => (o.type === 'viommu' && o.vintf !== null ? [String(o.smmuId), o.vintf] : null) },
  /** SID_MATCH/SID_REPLACE slots per vIOMMU (its VINTF's), held by its vDEVICEs. */
  { table: 'objects', name: 'sidSlot', entry: (o: ObjectRec) => (o.type === 'vdevice' && o.sidSlot !== null ? [String(o.viommuId), o.sidSlot] : null) },
] as const satisfies ReadonlyArray<AnyUsedIdSpec>;

export type UsedIdName<T extends TableName> = Extract<(typeof USED_ID_SPECS)[number], { table: T }>['name'];

/** Ids above this are kept out of the bitmap (no allocator hands them out: VMIDs and ASIDs are ≤ 16 bits). */
const BITMAP_LIMIT = 1 << 24;

/**
 * The ids in use in one space, as the kernel's IDA keeps them: a bitmap (bit v: id v is held)
 * with a summary bitmap of its full 32-bit words, so the lowest free id at or above `from` is
 * found by skipping full words 32 at a time — for a 16-bit space at most 64 summary words and
 * one bitmap word, whatever the number of holders. An id held by several records (a database
 * written by an older allocator) is counted, and is free again only when its last holder goes.
 */
export class UsedIds {
  private words = new Uint32Array(0);
  /** Bit w: words[w] is full (0xffffffff). */
  private full = new Uint32Array(0);
  /** Holders beyond the first, per id (rare). */
  private readonly extra = new Map<number, number>();
  /** Ids outside the bitmap (negative, fractional or ≥ BITMAP_LIMIT), with their holders. */
  private readonly outside = new Map<number, number>();
  private held = 0;

  /** Number of distinct ids in use. */
  get size(): number {
    return this.held;
  }

  /** Number of records holding `id`. */
  count(id: number): number {
    if (!inBitmap(id)) return this.outside.get(id) ?? 0;
    const w = id >>> 5;
    if (w >= this.words.length || (this.words[w] & (1 << (id & 31))) === 0) return 0;
    return 1 + (this.extra.get(id) ?? 0);
  }

  add(id: number): void {
    if (!inBitmap(id)) {
      const n = this.outside.get(id) ?? 0;
      if (n === 0) this.held++;
      this.outside.set(id, n + 1);
      return;
    }
    const w = id >>> 5;
    if (w >= this.words.length) this.grow(w + 1);
    const bit = 1 << (id & 31);
    if (this.words[w] & bit) {
      this.extra.set(id, (this.extra.get(id) ?? 0) + 1);
      return;
    }
    this.held++;
    this.words[w] |= bit;
    if (this.words[w] === 0xffffffff) this.full[w >>> 5] |= 1 << (w & 31);
  }

  delete(id: number): void {
    if (!inBitmap(id)) {
      const n = this.outside.get(id) ?? 0;
      if (n <= 1) {
        if (n === 1) this.held--;
        this.outside.delete(id);
      } else this.outside.set(id, n - 1);
      return;
    }
    const w = id >>> 5;
    const bit = 1 << (id & 31);
    if (w >= this.words.length || (this.words[w] & bit) === 0) return;
    const more = this.extra.get(id);
    if (more !== undefined) {
      if (more <= 1) this.extra.delete(id);
      else this.extra.set(id, more - 1);
      return;
    }
    this.held--;
    this.words[w] &= ~bit;
    this.full[w >>> 5] &= ~(1 << (w & 31));
  }

  /** The lowest id in [from, to] that no record holds (ids are ≥ 0: a negative `from` counts as 0), or null when every one is held. */
  nextFree(from: number, to: number): number | null {
    let v = Math.max(Math.ceil(from), 0);
    while (v <= to) {
      if (v >= BITMAP_LIMIT) {
        // Beyond the bitmap only the few outside ids can be held.
        while (v <= to && this.outside.has(v)) v++;
        return v <= to ? v : null;
      }
      const w = v >>> 5;
      if (w >= this.words.length) return v;
      // The word with the ids below v counted as held.
      const word = (this.words[w] | ((1 << (v & 31)) - 1)) >>> 0;
      if (word !== 0xffffffff) {
        const free = (w << 5) + lowestZero(word);
        return free <= to ? free : null;
      }
      v = this.nextNotFullWord(w + 1) << 5;
    }
    return null;
  }

  /** The first bitmap word at or after `w` with a free id (words.length when none: ids beyond are free). */
  private nextNotFullWord(w: number): number {
    const n = this.words.length;
    while (w < n) {
      const s = w >>> 5;
      // Summary bits of words before w counted as full.
      const notFull = ~(this.full[s] | ((1 << (w & 31)) - 1)) >>> 0;
      if (notFull !== 0) return Math.min((s << 5) + lowestSet(notFull), n);
      w = (s + 1) << 5;
    }
    return n;
  }

  private grow(minWords: number): void {
    const words = new Uint32Array(Math.max(minWords, this.words.length * 2, 32));
    words.set(this.words);
    const full = new Uint32Array(Math.ceil(words.length / 32));
    full.set(this.full);
    this.words = words;
    this.full = full;
  }
}

const inBitmap = (id: number): boolean => Number.isInteger(id) && id >= 0 && id < BITMAP_LIMIT;
/** Index of the lowest set bit of a non-zero 32-bit value. */
const lowestSet = (x: number): number => 31 - Math.clz32(x & -x);
/** Index of the lowest clear bit of a 32-bit value that is not all ones. */
const lowestZero = (x: number): number => lowestSet(~x >>> 0);

/** Tables whose records are keyed by their numeric id (their indexes hold sorted ids). */
export const ID_TABLES: ReadonlySet<TableName> = new Set(['smmus', 'contexts', 'devices', 'objects']);

/** Lists up to this long grow by an exact copy (`concat`); longer ones by `push` (V8 then reserves ~1.5x + 16 slots). */
const SMALL_LIST = 32;

/**
 * Ascending ids without duplicates. New ids are the largest: adding one costs O(1); an update
 * (remove, then add the same id) a binary search and a memmove. Loading uses `append`.
 *
 * Memory (issue 13, rss_100k_mb): most lists of the object graph's indexes are short (an fd's
 * objects, a vIOMMU's vDEVICEs: 1 to 6 ids). A list grown by `push` reserves 17 slots at its
 * first push (a 152-byte backing store for one id), so a short list is grown by an exact copy
 * instead; and an index key with a single id holds the bare number, not a SortedIds
 * (TableIndexes below): 316,000 lists took 71 MB of heap on the 100,000-object host.
 */
export class SortedIds {
  private list: number[];
  private unsorted = false;

  /** `ids`: ascending and unique, and handed over (the list is kept, not copied). */
  constructor(ids: number[] = []) {
    this.list = ids;
  }

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
      this.push(id);
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
    this.push(id);
  }

  delete(id: number): void {
    const at = this.firstAfter(id - 1);
    if (this.list[at] === id) this.list.splice(at, 1);
  }

  private push(id: number): void {
    if (this.list.length < SMALL_LIST) this.list = this.list.concat(id);
    else this.list.push(id);
  }
}

/**
 * What an index holds under one key: for an id table a single id as the bare number (no object
 * at all: most keys of the object graph's indexes name one record) or a SortedIds from the
 * second id on; for the other tables the record keys.
 */
type Members = number | SortedIds | Set<string>;

/** The indexes of one table: name → key → members; and its used-id sets: name → space → ids. */
export class TableIndexes {
  /** Per index, its key → members: by number for an index keyed by id (IndexSpec.id), else by string. */
  private readonly maps = new Map<string, Map<string | number, Members>>();
  /** The specs with their maps, in spec order (the per-record loop of add and remove). */
  private readonly entries: ReadonlyArray<{ key: (rec: never) => string | number | null; map: Map<string | number, Members> }>;
  /** The indexes keyed by number, with the number of a key string. */
  private readonly byNumber = new Map<string, (key: string) => number | undefined>();
  private readonly used = new Map<string, Map<string, UsedIds>>();
  private readonly numeric: boolean;

  constructor(
    readonly table: TableName,
    readonly specs: ReadonlyArray<IndexSpec>,
    readonly usedSpecs: ReadonlyArray<UsedIdSpec> = [],
  ) {
    for (const s of specs) this.maps.set(s.name, new Map());
    for (const s of usedSpecs) this.used.set(s.name, new Map());
    this.entries = specs.map((s) => ({ key: (s.id ?? s.key) as (rec: never) => string | number | null, map: this.maps.get(s.name)! }));
    for (const s of specs) if (s.id) this.byNumber.set(s.name, s.parse ?? parseId);
    this.numeric = ID_TABLES.has(table);
  }

  /** The ids held in `space` of the used-id set `name` (undefined: none held). */
  usedIds(name: string, space: string): UsedIds | undefined {
    const spaces = this.used.get(name);
    if (!spaces) throw new Error(`no used-id set ${this.table}.${name}`);
    return spaces.get(space);
  }

  private addUsed(rec: unknown): void {
    for (const s of this.usedSpecs) {
      const e = s.entry(rec as never);
      if (e !== null) this.addUsedEntry(s.name, e);
    }
  }

  private removeUsed(rec: unknown): void {
    for (const s of this.usedSpecs) {
      const e = s.entry(rec as never);
      if (e !== null) this.removeUsedEntry(s.name, e);
    }
  }

  private addUsedEntry(name: string, e: readonly [string, number]): void {
    const spaces = this.used.get(name)!;
    let ids = spaces.get(e[0]);
    if (!ids) {
      ids = new UsedIds();
      spaces.set(e[0], ids);
    }
    ids.add(e[1]);
  }

  private removeUsedEntry(name: string, e: readonly [string, number]): void {
    const spaces = this.used.get(name)!;
    const ids = spaces.get(e[0]);
    if (!ids) return;
    ids.delete(e[1]);
    if (ids.size === 0) spaces.delete(e[0]);
  }

  /** `bulk`: while loading (ids may come in any order; sorted once when next read). */
  add(recKey: string, rec: unknown, bulk = false): void {
    if (this.usedSpecs.length > 0) this.addUsed(rec);
    // An id table's record key is its id (types.ts recordKey).
    const id = this.numeric ? (rec as { id: number }).id : 0;
    for (const { key, map } of this.entries) {
      const k = key(rec as never);
      if (k !== null) this.addMember(map, k, id, recKey, bulk);
    }
  }

  remove(recKey: string, rec: unknown): void {
    if (this.usedSpecs.length > 0) this.removeUsed(rec);
    const id = this.numeric ? (rec as { id: number }).id : 0;
    for (const { key, map } of this.entries) {
      const k = key(rec as never);
      if (k !== null) this.removeMember(map, k, id, recKey);
    }
  }

  /**
   * An updated record (same key): only the used-id sets and indexes whose key for it changed are
   * touched. A queue's registers, a vEVENTQ's counters, a device's PASIDs: most updates change no
   * indexed field, and remove + add moved the id out of and back into every list of its table.
   */
  replace(recKey: string, before: unknown, rec: unknown): void {
    for (const s of this.usedSpecs) {
      const a = s.entry(before as never);
      const b = s.entry(rec as never);
      if (a === b || (a !== null && b !== null && a[0] === b[0] && a[1] === b[1])) continue;
      if (a !== null) this.removeUsedEntry(s.name, a);
      if (b !== null) this.addUsedEntry(s.name, b);
    }
    const id = this.numeric ? (rec as { id: number }).id : 0;
    for (const { key, map } of this.entries) {
      const ka = key(before as never);
      const kb = key(rec as never);
      if (ka === kb) continue;
      if (ka !== null) this.removeMember(map, ka, id, recKey);
      if (kb !== null) this.addMember(map, kb, id, recKey, false);
    }
  }

  private addMember(map: Map<string | number, Members>, k: string | number, id: number, recKey: string, bulk: boolean): void {
    const members = map.get(k);
    if (members === undefined) map.set(k, this.numeric ? id : new Set([recKey]));
    else if (typeof members === 'number') {
      if (members !== id) map.set(k, orderedPair(members, id, bulk));
    } else if (members instanceof SortedIds) {
      if (bulk) members.append(id);
      else members.add(id);
    } else members.add(recKey);
  }

  private removeMember(map: Map<string | number, Members>, k: string | number, id: number, recKey: string): void {
    const members = map.get(k);
    if (members === undefined) return;
    if (typeof members === 'number') {
      if (members === id) map.delete(k);
      return;
    }
    if (members instanceof SortedIds) members.delete(id);
    else members.delete(recKey);
    if (members.size === 0) map.delete(k);
    else if (members instanceof SortedIds && members.size === 1) map.set(k, members.ids[0]);
  }

  /** The members under `key` (a string: the number's decimal form for an index keyed by number). */
  private members(name: string, key: string): Members | undefined {
    const map = this.lookup(name);
    const parse = this.byNumber.get(name);
    if (parse === undefined) return map.get(key);
    const n = parse(key);
    return n === undefined ? undefined : map.get(n);
  }

  /** The record keys under `key` in index `name` (ascending ids for id tables). */
  keys(name: string, key: string): Iterable<string> {
    const members = this.members(name, key);
    if (members === undefined) return [];
    if (typeof members === 'number') return [String(members)];
    if (members instanceof SortedIds) return members.ids.map(String);
    return members;
  }

  /** The sorted ids under `key` (id tables only). */
  sorted(name: string, key: string): SortedIds | undefined {
    const members = this.members(name, key);
    if (typeof members === 'number') return new SortedIds([members]);
    return members instanceof SortedIds ? members : undefined;
  }

  spec(name: string): IndexSpec {
    const s = this.specs.find((x) => x.name === name);
    if (!s) throw new Error(`no index ${this.table}.${name}`);
    return s;
  }

  private lookup(name: string): Map<string | number, Members> {
    const map = this.maps.get(name);
    if (!map) throw new Error(`no index ${this.table}.${name}`);
    return map;
  }
}

/** The SortedIds of two ids, `a` held first (while loading: appended as they came). */
function orderedPair(a: number, b: number, bulk: boolean): SortedIds {
  const s = new SortedIds([a]);
  if (bulk) s.append(b);
  else s.add(b);
  return s;
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

/**
 * The column map of every table: record (src/domain/types.ts) ↔ row (prisma/schema.prisma, typed
 * by Prisma's generated client), and a record's graph key → the row's primary key. The one
 * definition the prepared statements of statements.ts read and write through, so a column added
 * to a table is converted in one place: the statements take their column lists from the rows.
 * 64-bit values are stored as "0x" + 16 hex digits, so they sort and compare as text; SMMU
 * registers as their signed 32-bit image (Prisma's Int is signed) and read back unsigned.
 *
 * How a row value is bound and read back is Prisma's (its better-sqlite3 adapter and client), so a
 * database written by earlier versions through Prisma reads the same: booleans 0/1, DateTime as
 * ISO 8601 text with "+00:00", BigInt as a 64-bit integer, Bytes as a BLOB (`sqlValue`,
 * `storedDecoder`).
 */
import { OBJECT_COLUMNS, OBJECTS, type ColumnKind } from '../domain/objects/index.js';
import type { AuditRec, ContextRec, DeviceRec, EventRec, IdempotencyRec, MappingRec, ObjectRec, ObjectType, PageRec, SmmuRec, TableName, TableRecords } from '../domain/types.js';
import type { IommufdObject } from '../generated/prisma/client.js';

import { word64 } from '../domain/format.js';

/** A 64-bit value as stored: the API's 16-digit form (src/domain/format.ts). */
export const hex64 = word64;
export const fromHex = (s: string): bigint => BigInt(s);

const hexOrNull = (v: bigint | null): string | null => (v === null ? null : hex64(v));
const fromHexOrNull = (v: string | null): bigint | null => (v === null ? null : fromHex(v));
const bigintOrNull = (v: number | null): bigint | null => (v === null ? null : BigInt(v));
const numberOrNull = (v: bigint | number | null): number | null => (v === null ? null : Number(v));
const signed32 = (v: number): number => v | 0;
const unsigned32 = (v: number): number => v >>> 0;

export interface ColumnMap<R, Row> {
  /** The SQL table (Prisma model name). */
  table: string;
  toRow(rec: R): Row;
  fromRow(row: Row): R;
  /** The primary key's stored values of the record whose graph key (types.ts recordKey) is `key`. */
  key(key: string): Partial<Row>;
}

const byId = (key: string) => ({ id: Number(key) });

/** "a:b" (a graph key of two parts) → [a, b]. */
function pair(key: string): [string, string] {
  const i = key.indexOf(':');
  return [key.slice(0, i), key.slice(i + 1)];
}

function smmuToRow(r: SmmuRec) {
  return {
    id: r.id,
    name: r.name,
    idr0: signed32(r.idr[0]),
    idr1: signed32(r.idr[1]),
    idr2: signed32(r.idr[2]),
    idr3: signed32(r.idr[3]),
    idr4: signed32(r.idr[4]),
    idr5: signed32(r.idr[5]),
    iidr: signed32(r.iidr),
    aidr: signed32(r.aidr),
    iotlbSize: r.iotlbSize,
    cmdqvVersion: r.cmdqv?.version ?? null,
    cmdqvVintfs: r.cmdqv?.vintfs ?? null,
    cmdqvVcmdqsPerVintf: r.cmdqv?.vcmdqsPerVintf ?? null,
    cmdqvSidsPerVintf: r.cmdqv?.sidsPerVintf ?? null,
    createdAt: r.createdAt,
  };
}

const smmus: ColumnMap<SmmuRec, ReturnType<typeof smmuToRow>> = {
  table: 'Smmu',
  toRow: smmuToRow,
  fromRow: (r) => ({
    id: r.id,
    name: r.name,
    idr: [unsigned32(r.idr0), unsigned32(r.idr1), unsigned32(r.idr2), unsigned32(r.idr3), unsigned32(r.idr4), unsigned32(r.idr5)],
    iidr: unsigned32(r.iidr),
    aidr: unsigned32(r.aidr),
    iotlbSize: r.iotlbSize,
    cmdqv:
      r.cmdqvVintfs === null
        ? null
        : { version: r.cmdqvVersion ?? 1, vintfs: r.cmdqvVintfs, vcmdqsPerVintf: r.cmdqvVcmdqsPerVintf ?? 0, sidsPerVintf: r.cmdqvSidsPerVintf ?? 0 },
    createdAt: r.createdAt,
  }),
  key: byId,
};

const same = <R>(table: string, key: (k: string) => Partial<R>): ColumnMap<R, R> => ({ table, toRow: (r) => r, fromRow: (r) => r, key });

/** Record value ↔ stored value, per column kind (objects/descriptor.ts ColumnKind). */
const COLUMN_KINDS: { [K in ColumnKind]: { toRow(v: unknown): unknown; fromRow(v: unknown): unknown; unused: unknown } } = {
  int: { toRow: (v) => v, fromRow: (v) => v, unused: null },
  u32: { toRow: (v) => (v === null ? null : signed32(v as number)), fromRow: (v) => (v === null ? null : unsigned32(v as number)), unused: null },
  text: { toRow: (v) => v, fromRow: (v) => v, unused: null },
  bool: { toRow: (v) => v, fromRow: (v) => v, unused: false },
  hex64: { toRow: (v) => hexOrNull(v as bigint | null), fromRow: (v) => fromHexOrNull(v as string | null), unused: null },
  bigint: { toRow: (v) => bigintOrNull(v as number | null), fromRow: (v) => numberOrNull(v as bigint | number | null), unused: null },
};

/** Per object type, its own columns with their conversions (worked out once: the start-up load converts 100,000s of rows). */
const TYPE_COLUMNS = new Map(
  (Object.keys(OBJECTS) as ObjectType[]).map((type) => [type, Object.keys(OBJECTS[type].columns).map((col) => [col, COLUMN_KINDS[OBJECT_COLUMNS.get(col) as ColumnKind]] as const)]),
);

/**
 * The stored columns an object update changes, compared on the records (the base columns and the
 * type's own), each converted to its stored value: an UPDATE of a queue's registers no longer
 * converts the ~45 columns of both rows to find the two that differ (statements.ts). Null when
 * the type changed (never, for an update): the caller then diffs the rows.
 */
export function changedObjectColumns(before: ObjectRec, after: ObjectRec): Array<[string, unknown]> | null {
  if (before.type !== after.type) return null;
  const columns = TYPE_COLUMNS.get(after.type);
  if (!columns) return null;
  const out: Array<[string, unknown]> = [];
  if (before.contextId !== after.contextId) out.push(['contextId', after.contextId]);
  if (before.createdAt !== after.createdAt) out.push(['createdAt', new Date(after.createdAt)]);
  const b = before as unknown as Record<string, unknown>;
  const a = after as unknown as Record<string, unknown>;
  for (const [col, kind] of columns) {
    const x = b[col];
    const y = a[col];
    if (x === y || y === undefined) continue;
    const stored = kind.toRow(y);
    if (sameStored(kind.toRow(x), stored)) continue;
    out.push([col, stored]);
  }
  return out;
}

/** The one object table: every type's columns (objects/index.ts OBJECT_COLUMNS); a type leaves the others unused. */
const objects: ColumnMap<ObjectRec, IommufdObject> = {
  table: 'IommufdObject',
  toRow(r) {
    const row: Record<string, unknown> = { id: r.id, contextId: r.contextId, type: r.type, createdAt: new Date(r.createdAt) };
    for (const [col, kind] of OBJECT_COLUMNS) row[col] = COLUMN_KINDS[kind].unused;
    const columns = TYPE_COLUMNS.get(r.type);
    if (!columns) throw new Error(`object ${r.id} has an unknown type ${r.type}`);
    const rec = r as unknown as Record<string, unknown>;
    for (const [col, kind] of columns) row[col] = kind.toRow(rec[col]);
    return row as unknown as IommufdObject;
  },
  fromRow(row) {
    const type = row.type as ObjectType;
    const columns = TYPE_COLUMNS.get(type);
    if (!columns) throw new Error(`object ${row.id} has an unknown type ${row.type}`);
    const rec: Record<string, unknown> = { id: row.id, contextId: row.contextId, type, createdAt: row.createdAt.getTime() };
    const stored = row as unknown as Record<string, unknown>;
    for (const [col, kind] of columns) rec[col] = kind.fromRow(stored[col]);
    return rec as unknown as ObjectRec;
  },
  key: byId,
};

/**
 * The start-up load of the object table, per type (statements.ts readObjects): a function making
 * the type's record straight from the values of a raw statement row whose columns are
 * `columns` (names and declared types, as SQLite reports them; integers read as numbers) — the
 * record `objects.fromRow` makes of the row Prisma's client would read, without the row: no
 * intermediate object of the table's 38 columns per record, the type a shared constant, the short text
 * columns (a vIOMMU's type, a vEVENTQ's) shared strings, and every property of the record in
 * its literal (no out-of-object property array). Compiled once per type from the descriptor.
 */
export function objectReader(
  type: ObjectType,
  columns: ReadonlyArray<{ name: string; type: string | null }>,
): (values: unknown[]) => ObjectRec {
  const helpers: unknown[] = [type];
  const ref = (f: unknown): string => `d[${helpers.push(f) - 1}]`;
  /** The column's value as Prisma's client reads it (`raw`: as the statement returns it). */
  const stored = (name: string, raw = false): string => {
    const i = columns.findIndex((c) => c.name === name);
    if (i < 0) throw new Error(`IommufdObject has no column ${name}`);
    const kind = storedKind(columns[i].type);
    const decode = raw ? null : kind === 'datetime' ? storedTime : storedDecoder(kind, false);
    return decode === null ? `v[${i}]` : `${ref(decode)}(v[${i}])`;
  };
  const typeColumns = TYPE_COLUMNS.get(type);
  if (!typeColumns) throw new Error(`unknown object type ${type}`);
  const fields = [`id: ${stored('id')}`, `contextId: ${stored('contextId')}`, 'type: d[0]', `createdAt: ${stored('createdAt')}`];
  for (const [col] of typeColumns) {
    const kind = OBJECT_COLUMNS.get(col) as ColumnKind;
    // A 'bigint' column's record value is Number(the stored BIGINT): what the statement returns
    // when it reads integers as numbers (the same rounding beyond 2^53), so it is taken raw.
    const value = stored(col, kind === 'bigint');
    // 'int' and 'bool' are the stored decoder's values as they are.
    if (kind === 'int' || kind === 'bool' || kind === 'bigint') fields.push(`${JSON.stringify(col)}: ${value}`);
    else if (kind === 'text') fields.push(`${JSON.stringify(col)}: ${ref(interning())}(${value})`);
    else fields.push(`${JSON.stringify(col)}: ${ref(COLUMN_KINDS[kind].fromRow)}(${value})`);
  }
  return new Function('d', `return (v) => ({ ${fields.join(', ')} });`)(helpers) as (values: unknown[]) => ObjectRec;
}

/**
 * A stored DateTime as an object record keeps it (objects/descriptor.ts ObjectBase.createdAt):
 * milliseconds since the epoch, of the Date `storedDecoder` reads. Null stays null.
 */
export function storedTime(v: unknown): number | null {
  if (v === null) return null;
  // The form Prisma writes ("2026-11-27T13:48:56.714+00:00") parses as it is.
  return typeof v === 'string' ? Date.parse(parsableDateText(v)) : Number(v);
}

/** Equal strings as one (the first 256 distinct values; enumerations like a vIOMMU's type stay far below). */
function interning(): (s: string | null) => string | null {
  const seen = new Map<string, string>();
  return (s) => {
    if (s === null) return null;
    const known = seen.get(s);
    if (known !== undefined) return known;
    if (seen.size < 256) seen.set(s, s);
    return s;
  };
}

/** A device's PASID attachments as one text column: "pasid:hwptId" pairs, comma-separated. */
const devices = {
  table: 'Device',
  toRow: (r: DeviceRec) => ({ ...r, pasids: r.pasids.map((a) => `${a.pasid}:${a.hwptId}`).join(',') }),
  fromRow: (r: Omit<DeviceRec, 'pasids'> & { pasids: string }): DeviceRec => ({
    ...r,
    pasids:
      r.pasids === ''
        ? []
        : r.pasids.split(',').map((pair) => {
            const [pasid, hwptId] = pair.split(':').map(Number);
            return { pasid, hwptId };
          }),
  }),
  key: byId,
};

const mappings = {
  table: 'IoasMapping',
  toRow: (r: MappingRec) => ({ ...r, iova: hex64(r.iova), length: hex64(r.length), hostAddress: hex64(r.hostAddress) }),
  fromRow: (r: { ioasId: number; iova: string; length: string; hostAddress: string; readable: boolean; writable: boolean }): MappingRec => ({
    ...r,
    iova: fromHex(r.iova),
    length: fromHex(r.length),
    hostAddress: fromHex(r.hostAddress),
  }),
  key: (k: string) => {
    const [ioasId, iova] = pair(k);
    return { ioasId: Number(ioasId), iova: hex64(BigInt(iova)) };
  },
};

const pages = {
  table: 'GuestPage',
  toRow: (r: PageRec) => ({ page: hex64(r.page), data: r.data }),
  fromRow: (r: { page: string; data: Uint8Array }): PageRec => ({ page: fromHex(r.page), data: new Uint8Array(r.data) }),
  key: (k: string) => ({ page: hex64(BigInt('0x' + k)) }),
};

const events = {
  table: 'EventRecord',
  toRow: (r: EventRec) => ({ eventqId: r.eventqId, ord: BigInt(r.ord), sequence: r.sequence, flags: r.flags, payload: r.payload.map(hex64).join(',') }),
  fromRow: (r: { eventqId: number; ord: bigint; sequence: number; flags: number; payload: string }): EventRec => ({
    eventqId: r.eventqId,
    ord: Number(r.ord),
    sequence: r.sequence,
    flags: r.flags,
    payload: r.payload === '' ? [] : r.payload.split(',').map(fromHex),
  }),
  key: (k: string) => {
    const [eventqId, ord] = pair(k);
    return { eventqId: Number(eventqId), ord: BigInt(ord) };
  },
};

/** Dates of the bookkeeping tables as ISO 8601 text (UTC, "Z"), converted here: TEXT columns, not Prisma DateTimes. */
const isoText = (d: Date): string => d.toISOString();
const fromIsoText = (s: string): Date => new Date(s);
const idList = (ids: readonly number[]): string => ids.join(',');
const fromIdList = (s: string): number[] => (s === '' ? [] : s.split(',').map(Number));

/** The row: the record with its dates as ISO text. */
export type IdempotencyRow = Omit<IdempotencyRec, 'createdAt' | 'expiresAt'> & { createdAt: string; expiresAt: string };

/** An idempotency record's key ("caller\nkey", domain/types.ts) back into its two columns. */
export function splitIdempotencyKey(k: string): [string, string] {
  const i = k.indexOf('\n');
  return [k.slice(0, i), k.slice(i + 1)];
}

const idempotency = {
  table: 'IdempotencyKey',
  toRow: (r: IdempotencyRec): IdempotencyRow => ({ ...r, createdAt: isoText(r.createdAt), expiresAt: isoText(r.expiresAt) }),
  fromRow: (r: IdempotencyRow): IdempotencyRec => ({ ...r, createdAt: fromIsoText(r.createdAt), expiresAt: fromIsoText(r.expiresAt) }),
  key: (k: string) => {
    const [caller, key] = splitIdempotencyKey(k);
    return { caller, key };
  },
};

/** The row: the record with `seq` a SQLite 64-bit integer, `at` ISO text and the id lists as text. */
export type AuditRow = Omit<AuditRec, 'seq' | 'at' | 'contextIds' | 'created' | 'changed' | 'destroyed'> & {
  seq: bigint;
  at: string;
  contextIds: string;
  created: string;
  changed: string;
  destroyed: string;
};

const audit = {
  table: 'AuditEntry',
  toRow: (r: AuditRec): AuditRow => ({
    ...r,
    seq: BigInt(r.seq),
    at: isoText(r.at),
    contextIds: idList(r.contextIds),
    created: idList(r.created),
    changed: idList(r.changed),
    destroyed: idList(r.destroyed),
  }),
  fromRow: (r: AuditRow): AuditRec => ({
    ...r,
    seq: Number(r.seq),
    at: fromIsoText(r.at),
    contextIds: fromIdList(r.contextIds),
    created: fromIdList(r.created),
    changed: fromIdList(r.changed),
    destroyed: fromIdList(r.destroyed),
  }),
  key: (k: string) => ({ seq: BigInt(k) }),
};

/** One column map per table of TableRecords. */
export const COLUMN_MAPS = {
  meta: same<TableRecords['meta']>('Meta', (key) => ({ key })),
  smmus,
  contexts: same<ContextRec>('Context', byId),
  devices,
  objects,
  mappings,
  pages,
  events,
  idempotency,
  audit,
} satisfies { [T in TableName]: { table: string; toRow(r: TableRecords[T]): unknown; key(k: string): object } };

export type RowOf<T extends TableName> = ReturnType<(typeof COLUMN_MAPS)[T]['toRow']>;

export function toRow<T extends TableName>(table: T, rec: TableRecords[T]): RowOf<T> {
  return (COLUMN_MAPS[table].toRow as (r: TableRecords[T]) => RowOf<T>)(rec);
}

/** A row value as a prepared statement binds it, as Prisma's better-sqlite3 adapter binds it. */
export function sqlValue(v: unknown): string | number | bigint | Buffer | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  // The adapter's default timestampFormat "iso8601": toISOString() with Z written as +00:00.
  if (v instanceof Date) return v.toISOString().replace('Z', '+00:00');
  return v as string | number | bigint;
}

/** Whether two row values are stored as the same value (an update writes only the columns that differ). */
export function sameStored(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
  if (a instanceof Uint8Array && b instanceof Uint8Array) return Buffer.compare(a, b) === 0;
  return false;
}

/**
 * A stored DateTime text as Prisma's client reads it (client runtime: a date alone is midnight
 * UTC, a time without a zone is UTC, a zone without minutes gets ":00", a space may separate date
 * and time): SQLite's own CURRENT_TIMESTAMP default ("2026-11-27 10:00:00") reads as UTC too.
 */
const TIME_OF_DAY = /\d{2}:\d{2}:\d{2}(?:\.\d+)?(Z|[+-]\d{2}(:?\d{2})?)?$/;
export function dateFromText(text: string): Date {
  return new Date(parsableDateText(text));
}

/** `text` as `Date.parse` reads it the way Prisma's client does (dateFromText). */
function parsableDateText(text: string): string {
  // The form Prisma writes ("2026-11-27T13:48:56.714+00:00") needs no normalising.
  if (text.length === 29 && text.charCodeAt(10) === 84 /* T */ && text.endsWith('+00:00')) return text;
  const m = TIME_OF_DAY.exec(text);
  if (m === null) return `${text}T00:00:00Z`;
  const [time, zone, zoneMinutes] = m;
  let s = text;
  if (zone !== undefined && zone !== 'Z' && zoneMinutes === undefined) s = `${text}:00`;
  else if (zone === undefined) s = `${text}Z`;
  if (time.length === text.length) return `1970-01-01T${s}`;
  const sep = m.index - 1;
  if (s[sep] === ' ') s = `${s.slice(0, sep)}T${s.slice(sep + 1)}`;
  return s;
}

/** How a column's stored value is read back: by its declared SQL type, as Prisma's adapter and client do. */
export type StoredKind = 'int' | 'bigint' | 'boolean' | 'datetime' | 'other';

/** The declared type of a column (Prisma's migrations write BOOLEAN, DATETIME, BIGINT, INTEGER, TEXT, BLOB). */
export function storedKind(declaredType: string | null): StoredKind {
  switch ((declaredType ?? '').toUpperCase()) {
    case 'TINYINT':
    case 'SMALLINT':
    case 'MEDIUMINT':
    case 'INT':
    case 'INTEGER':
    case 'SERIAL':
    case 'INT2':
      return 'int';
    case 'BIGINT':
    case 'UNSIGNED BIG INT':
    case 'INT8':
      return 'bigint';
    case 'BOOLEAN':
      return 'boolean';
    case 'DATETIME':
    case 'TIMESTAMP':
      return 'datetime';
    default:
      return 'other';
  }
}

/**
 * The conversion of a stored value of this kind to its row value (null for none), for a
 * statement that returns integers as bigint (`safe`) or as number: Int as number, BigInt as
 * bigint, Boolean as `=== 1`, DateTime as a Date (ISO text, or milliseconds since the epoch).
 */
export function storedDecoder(kind: StoredKind, safe: boolean): ((v: unknown) => unknown) | null {
  switch (kind) {
    case 'int':
      return safe ? (v) => (typeof v === 'bigint' ? Number(v) : v) : null;
    case 'bigint':
      return safe ? null : (v) => (typeof v === 'number' ? BigInt(v) : v);
    case 'boolean':
      return (v) => (v === null ? null : v === 1 || v === 1n);
    case 'datetime':
      return (v) => (v === null ? null : typeof v === 'string' ? dateFromText(v) : new Date(Number(v)));
    default:
      return null;
  }
}

/**
 * The column map of every table: record (src/domain/types.ts) ↔ row (prisma/schema.prisma). The
 * one definition that both writers on the one connection use — Prisma for structural writes and
 * loads (prisma-repository.ts), prepared statements for in-place updates (in-place.ts) — so a
 * column added to a table is converted in one place. 64-bit values are stored as "0x" + 16 hex
 * digits, so they sort and compare as text; SMMU registers as their signed 32-bit image (Prisma's
 * Int is signed) and read back unsigned.
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
};

const same = <R>(table: string): ColumnMap<R, R> => ({ table, toRow: (r) => r, fromRow: (r) => r });

/** Record value ↔ stored value, per column kind (objects/descriptor.ts ColumnKind). */
const COLUMN_KINDS: { [K in ColumnKind]: { toRow(v: unknown): unknown; fromRow(v: unknown): unknown; unused: unknown } } = {
  int: { toRow: (v) => v, fromRow: (v) => v, unused: null },
  u32: { toRow: (v) => (v === null ? null : signed32(v as number)), fromRow: (v) => (v === null ? null : unsigned32(v as number)), unused: null },
  text: { toRow: (v) => v, fromRow: (v) => v, unused: null },
  bool: { toRow: (v) => v, fromRow: (v) => v, unused: false },
  hex64: { toRow: (v) => hexOrNull(v as bigint | null), fromRow: (v) => fromHexOrNull(v as string | null), unused: null },
  bigint: { toRow: (v) => bigintOrNull(v as number | null), fromRow: (v) => numberOrNull(v as bigint | number | null), unused: null },
};

/** The one object table: every type's columns (objects/index.ts OBJECT_COLUMNS); a type leaves the others unused. */
const objects: ColumnMap<ObjectRec, IommufdObject> = {
  table: 'IommufdObject',
  toRow(r) {
    const row: Record<string, unknown> = { id: r.id, contextId: r.contextId, type: r.type, createdAt: r.createdAt };
    for (const [col, kind] of OBJECT_COLUMNS) row[col] = COLUMN_KINDS[kind].unused;
    const rec = r as unknown as Record<string, unknown>;
    for (const col of Object.keys(OBJECTS[r.type].columns)) row[col] = COLUMN_KINDS[OBJECT_COLUMNS.get(col) as ColumnKind].toRow(rec[col]);
    return row as unknown as IommufdObject;
  },
  fromRow(row) {
    const type = row.type as ObjectType;
    const descriptor = OBJECTS[type];
    if (!descriptor) throw new Error(`object ${row.id} has an unknown type ${row.type}`);
    const rec: Record<string, unknown> = { id: row.id, contextId: row.contextId, type, createdAt: row.createdAt };
    const stored = row as unknown as Record<string, unknown>;
    for (const col of Object.keys(descriptor.columns)) rec[col] = COLUMN_KINDS[OBJECT_COLUMNS.get(col) as ColumnKind].fromRow(stored[col]);
    return rec as unknown as ObjectRec;
  },
};

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
};

const pages = {
  table: 'GuestPage',
  toRow: (r: PageRec) => ({ page: hex64(r.page), data: r.data }),
  fromRow: (r: { page: string; data: Uint8Array }): PageRec => ({ page: fromHex(r.page), data: new Uint8Array(r.data) }),
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
};

/** Dates of the bookkeeping tables as ISO 8601 text (UTC): both writers bind them the same way. */
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
};

/** One column map per table of TableRecords. */
export const COLUMN_MAPS = {
  meta: same<TableRecords['meta']>('Meta'),
  smmus,
  contexts: same<ContextRec>('Context'),
  devices,
  objects,
  mappings,
  pages,
  events,
  idempotency,
  audit,
} satisfies { [T in TableName]: { table: string; toRow(r: TableRecords[T]): unknown } };

export type RowOf<T extends TableName> = ReturnType<(typeof COLUMN_MAPS)[T]['toRow']>;

export function toRow<T extends TableName>(table: T, rec: TableRecords[T]): RowOf<T> {
  return (COLUMN_MAPS[table].toRow as (r: TableRecords[T]) => RowOf<T>)(rec);
}

/** A row value as a prepared statement binds it (booleans as 0/1, bytes as a Buffer). */
export function sqlValue(v: unknown): string | number | bigint | Buffer | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (v instanceof Date) throw new Error('dates are written by Prisma only');
  return v as string | number | bigint;
}

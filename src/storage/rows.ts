/**
 * Record → row conversions shared by both writers of the database: Prisma (prisma-repository.ts)
 * and the raw better-sqlite3 fast path (fast-path.ts). 64-bit values are stored as "0x" + 16 hex
 * digits, so they sort and compare as text.
 */
import type { EventRec, ObjectRec } from '../domain/types.js';

export const hex64 = (v: bigint): string => '0x' + v.toString(16).padStart(16, '0');
export const fromHex = (s: string): bigint => BigInt(s);

const hexOrNull = (v: bigint | null): string | null => (v === null ? null : hex64(v));
const bigintOrNull = (v: number | null): bigint | null => (v === null ? null : BigInt(v));

/** The object columns whose stored form differs from the record's value. */
const CONVERTED: { [K in keyof ObjectRec]?: (v: never) => string | bigint | null } = {
  vste0: hexOrNull,
  vste1: hexOrNull,
  virtId: bigintOrNull,
  nextOrd: bigintOrNull,
  queueIova: hexOrNull,
  queueBase: hexOrNull,
};

export function objectToRow(r: ObjectRec) {
  return {
    ...r,
    vste0: hexOrNull(r.vste0),
    vste1: hexOrNull(r.vste1),
    virtId: bigintOrNull(r.virtId),
    nextOrd: bigintOrNull(r.nextOrd),
    queueIova: hexOrNull(r.queueIova),
    queueBase: hexOrNull(r.queueBase),
  };
}

/** One column of `objectToRow(r)` as SQLite takes it (booleans as 0/1), without building the row. */
export function objectColumn(r: ObjectRec, col: keyof ObjectRec): string | number | bigint | null {
  const convert = CONVERTED[col];
  const v = convert ? convert(r[col] as never) : r[col];
  if (typeof v === 'boolean') return v ? 1 : 0;
  return v as string | number | bigint | null;
}

export function pageKey(page: bigint): string {
  return hex64(page);
}

export function eventToRow(r: EventRec) {
  return { eventqId: r.eventqId, ord: BigInt(r.ord), sequence: r.sequence, flags: r.flags, payload: r.payload.map(hex64).join(',') };
}

/**
 * Record → row conversions shared by both writers of the database: Prisma (prisma-repository.ts)
 * and the raw better-sqlite3 fast path (fast-path.ts). 64-bit values are stored as "0x" + 16 hex
 * digits, so they sort and compare as text.
 */
import type { EventRec, ObjectRec } from '../domain/types.js';

export const hex64 = (v: bigint): string => '0x' + v.toString(16).padStart(16, '0');
export const fromHex = (s: string): bigint => BigInt(s);

export function objectToRow(r: ObjectRec) {
  return {
    ...r,
    vste0: r.vste0 === null ? null : hex64(r.vste0),
    vste1: r.vste1 === null ? null : hex64(r.vste1),
    virtId: r.virtId === null ? null : BigInt(r.virtId),
    nextOrd: r.nextOrd === null ? null : BigInt(r.nextOrd),
    queueIova: r.queueIova === null ? null : hex64(r.queueIova),
    queueBase: r.queueBase === null ? null : hex64(r.queueBase),
  };
}

export function pageKey(page: bigint): string {
  return hex64(page);
}

export function eventToRow(r: EventRec) {
  return { eventqId: r.eventqId, ord: BigInt(r.ord), sequence: r.sequence, flags: r.flags, payload: r.payload.map(hex64).join(',') };
}

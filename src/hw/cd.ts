/**
 * Context Descriptor (smmuv3.md §3.2): field table and encode/decode by names. The CD is read
 * by the translation walk (a later issue); here it only has to be buildable and readable.
 */
import { addrField, bigField, decodeFields, encodeFields, numField, type FieldTable, type FieldValues } from './fields.js';

/** A CD is 64 bytes = 8 DWs (§3.2). */
export const CD_DWORDS = 8;
export const CD_BYTES = 64;

/** CD field table (§3.2; Linux `CTXDESC_CD_*`, QEMU `CD_*`). TTBx are kept in place. */
export const CD = {
  T0SZ: numField(0, 5, 0),
  TG0: numField(0, 7, 6),
  IR0: numField(0, 9, 8),
  OR0: numField(0, 11, 10),
  SH0: numField(0, 13, 12),
  EPD0: numField(0, 14),
  ENDI: numField(0, 15),
  T1SZ: numField(0, 21, 16),
  TG1: numField(0, 23, 22),
  EPD1: numField(0, 30),
  V: numField(0, 31),
  IPS: numField(0, 34, 32),
  AFFD: numField(0, 35),
  TBI: numField(0, 39, 38),
  AA64: numField(0, 41),
  HD: numField(0, 42),
  HA: numField(0, 43),
  S: numField(0, 44),
  R: numField(0, 45),
  A: numField(0, 46),
  ASET: numField(0, 47),
  ASID: numField(0, 63, 48),
  NSCFG0: numField(1, 0),
  HAD0: numField(1, 1),
  TTB0: addrField(1, 51, 4),
  NSCFG1: numField(2, 0),
  HAD1: numField(2, 1),
  TTB1: addrField(2, 51, 4),
  MAIR: bigField(3, 63, 0),
} as const satisfies FieldTable;

export type CdFieldName = keyof typeof CD;

/** TG0 encodings → granule log2 (`tg2granule`, §3.2): 0→4K, 1→64K, 2→16K, 3 invalid. */
export const CD_TG0_GRANULE_LOG2: Readonly<Record<number, number>> = { 0: 12, 1: 16, 2: 14 };
/** TG1 encodings → granule log2 (§3.2): 1→16K, 2→4K, 3→64K, 0 invalid. */
export const CD_TG1_GRANULE_LOG2: Readonly<Record<number, number>> = { 1: 14, 2: 12, 3: 16 };

/** Builds CD words from field values (bad names/values throw). */
export function encodeCd(fields: Partial<Record<CdFieldName, number | bigint>>): bigint[] {
  return encodeFields(CD, CD_DWORDS, fields, 'CD');
}

/** Decodes every CD field. */
export function decodeCd(words: ArrayLike<bigint>): FieldValues<typeof CD> {
  return decodeFields(CD, words);
}

/**
 * Context Descriptor and CD tables (smmuv3.md §3.2): the CD's field table, the level-1 CD
 * descriptor's (Linux `CTXDESC_L1_DESC_*`), the split of a 2-level CD table, and where CD number
 * `index` of a table lives (IHI0070 STE.S1Fmt; Linux `arm_smmu_get_cd_ptr`). The walk that reads
 * them is src/hw/cdtable.ts; the host driver builds tables with the same tables and constants.
 */
import { addrField, bigField, decodeFields, dwGet, encodeFields, numField, type FieldTable, type FieldValues } from './fields.js';
import { STE_S1FMT } from './ste.js';

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

// ---------------------------------------------------------------------------------------------
// CD tables (STE.S1CDMax > 0): linear, or 2-level through level-1 descriptors.

/** Level-1 CD descriptor, one 64-bit word (smmuv3.md §3.2; Linux `CTXDESC_L1_DESC_V`, `CTXDESC_L1_DESC_L2PTR_MASK`). */
export const L1CD = {
  V: numField(0, 0),
  /** The level-2 table, [51:12] in place (a 64 KiB leaf table also ignores [15:12], see cdTableSlot). */
  L2PTR: addrField(0, 51, 12),
} as const satisfies FieldTable;
export const L1CD_BYTES = 8;

/**
 * SubstreamID bits that index a level-2 table, per STE.S1Fmt (IHI0070 STE.S1Fmt): 6 for 4 KiB
 * leaf tables (64 CDs), 10 for 64 KiB leaf tables (1024 CDs, Linux `CTXDESC_SPLIT`).
 */
export const CD_SPLIT_4K = 6;
export const CD_SPLIT_64K = 10;
/** CDs per level-2 table (Linux `CTXDESC_L2_ENTRIES` is the 64 KiB one). */
export const CD_L2_ENTRIES_4K = 1 << CD_SPLIT_4K;
export const CD_L2_ENTRIES_64K = 1 << CD_SPLIT_64K;

/** Builds a level-1 CD descriptor (Linux `arm_smmu_write_cd_l1_desc`). */
export function encodeL1Cd(fields: Partial<Record<keyof typeof L1CD, number | bigint>>): bigint {
  return encodeFields(L1CD, 1, fields, 'L1CD')[0];
}

/** Decodes a level-1 CD descriptor. */
export function decodeL1Cd(word: bigint): { V: number; L2PTR: bigint } {
  return { V: dwGet(word, L1CD.V), L2PTR: dwGet(word, L1CD.L2PTR) };
}

/** The split of an effective S1Fmt: 0 for a linear table. */
export function cdSplit(s1fmt: number): number {
  return s1fmt === STE_S1FMT.L2_4K ? CD_SPLIT_4K : s1fmt === STE_S1FMT.L2_64K ? CD_SPLIT_64K : 0;
}

/** Where CD `index` of a table lives: its address, or its level-1 descriptor and its slot in the level-2 table. */
export type CdTableSlot =
  | { readonly level: 1; readonly cdAddr: bigint }
  | { readonly level: 2; readonly l1Index: number; readonly l1Addr: bigint; readonly l2Index: number };

function lowMask(bits: number): bigint {
  return (1n << BigInt(bits)) - 1n;
}

/**
 * CD `index` of the table at `ctxPtr` (STE.S1ContextPtr) with 2^`s1cdmax` CDs in format `s1fmt`
 * (IHI0070 STE.S1Fmt; Linux `arm_smmu_get_cd_ptr`): s1cdmax 0 is one CD at ctxPtr; linear
 * tables and level-1 tables are aligned to their size (at least 64 bytes) and the pointer bits
 * below that are RES0, taken as zero here (one of the CONSTRAINED UNPREDICTABLE choices).
 */
export function cdTableSlot(ctxPtr: bigint, s1fmt: number, s1cdmax: number, index: number): CdTableSlot {
  const i = BigInt(index);
  if (s1cdmax === 0) return { level: 1, cdAddr: ctxPtr };
  const split = cdSplit(s1fmt);
  if (split === 0) return { level: 1, cdAddr: (ctxPtr & ~lowMask(s1cdmax + 6)) + i * BigInt(CD_BYTES) };
  const l1Bits = Math.max(0, s1cdmax - split);
  const l1Base = ctxPtr & ~lowMask(Math.max(6, l1Bits + 3));
  const l1Index = index >> split;
  return { level: 2, l1Index, l1Addr: l1Base + BigInt(l1Index) * BigInt(L1CD_BYTES), l2Index: index & ((1 << split) - 1) };
}

/** The address of CD `l2Index` in the level-2 table an L1CD points to (64 KiB tables: L2Ptr[15:12] RES0, taken as zero). */
export function cdInLeafTable(l2Ptr: bigint, s1fmt: number, l2Index: number): bigint {
  const base = s1fmt === STE_S1FMT.L2_64K ? l2Ptr & ~lowMask(16) : l2Ptr;
  return base + BigInt(l2Index) * BigInt(CD_BYTES);
}

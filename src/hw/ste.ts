/**
 * Stream Table Entry (smmuv3.md §3.1): field table and encode/decode by names. The STEs the host
 * driver builds (Linux `arm_smmu_make_*_ste`) are in src/domain/driver/arm-smmu-v3.ts.
 */
import { addrField, decodeFields, encodeFields, numField, wordGet, type FieldTable, type FieldValue, type FieldValues } from './fields.js';

/** An STE is 64 bytes = 8 DWs (§3.1). */
export const STE_DWORDS = 8;
export const STE_BYTES = 64;

/** STE field table (§3.1; Linux `STRTAB_STE_*`, QEMU `STE_*`). Addresses are kept in place. */
export const STE = {
  V: numField(0, 0),
  CONFIG: numField(0, 3, 1),
  S1FMT: numField(0, 5, 4),
  S1CONTEXTPTR: addrField(0, 51, 6),
  S1CDMAX: numField(0, 63, 59),
  S1DSS: numField(1, 1, 0),
  S1CIR: numField(1, 3, 2),
  S1COR: numField(1, 5, 4),
  S1CSH: numField(1, 7, 6),
  MEV: numField(1, 19),
  S2FWB: numField(1, 25),
  S1STALLD: numField(1, 27),
  EATS: numField(1, 29, 28),
  STRW: numField(1, 31, 30),
  SHCFG: numField(1, 45, 44),
  S2VMID: numField(2, 15, 0),
  S2T0SZ: numField(2, 37, 32),
  S2SL0: numField(2, 39, 38),
  S2IR0: numField(2, 41, 40),
  S2OR0: numField(2, 43, 42),
  S2SH0: numField(2, 45, 44),
  S2TG: numField(2, 47, 46),
  S2PS: numField(2, 50, 48),
  S2AA64: numField(2, 51),
  S2ENDI: numField(2, 52),
  S2AFFD: numField(2, 53),
  S2PTW: numField(2, 54),
  S2HD: numField(2, 55),
  S2HA: numField(2, 56),
  S2S: numField(2, 57),
  S2R: numField(2, 58),
  S2TTB: addrField(3, 51, 4),
} as const satisfies FieldTable;

export type SteFieldName = keyof typeof STE;
export type SteWords = bigint[];

/** STE.Config encodings (§3.1 table; Linux `STRTAB_STE_0_CFG_*`). */
export const STE_CFG = { ABORT: 0, BYPASS: 4, S1_TRANS: 5, S2_TRANS: 6, NESTED: 7 } as const;
/**
 * STE.S1Fmt encodings (§3.1; Linux `STRTAB_STE_0_S1FMT_*`): the CD table layout when
 * STE.S1CDMax > 0. 0b11 is reserved and behaves as LINEAR (IHI0070 STE.S1Fmt); the 2-level
 * formats need IDR0.CD2L. Split sizes: src/hw/cd.ts.
 */
export const STE_S1FMT = { LINEAR: 0, L2_4K: 1, L2_64K: 2 } as const;
/**
 * STE.S1DSS encodings (§3.1; Linux `STRTAB_STE_1_S1DSS_*`): what a transaction without a
 * SubstreamID does when STE.S1CDMax > 0. 0b11 is reserved and behaves as TERMINATE (IHI0070
 * STE.S1DSS).
 */
export const STE_S1DSS = { TERMINATE: 0, BYPASS: 1, SSID0: 2 } as const;
/** STE.EATS encodings (§3.1). */
export const STE_EATS = { ABT: 0, TRANS: 1, S1CHK: 2 } as const;
/** STE.SHCFG_INCOMING (§3.1). */
export const STE_SHCFG_INCOMING = 1;

/** Builds STE words from field values (unnamed fields zero; bad names/values throw). */
export function encodeSte(fields: Partial<Record<SteFieldName, number | bigint>>): SteWords {
  return encodeFields(STE, STE_DWORDS, fields, 'STE');
}

/** Decodes every STE field. */
export function decodeSte(words: ArrayLike<bigint>): FieldValues<typeof STE> {
  return decodeFields(STE, words);
}

/** Reads one STE field from words. */
export function steGet<K extends SteFieldName>(words: ArrayLike<bigint>, name: K): FieldValue<(typeof STE)[K]> {
  return wordGet(words, STE[name]);
}

/** Normalises caller words to a fresh 8-DW STE (missing DWs are zero). */
export function steWords(words: ArrayLike<bigint>): SteWords {
  if (words.length > STE_DWORDS) throw new RangeError(`an STE has ${STE_DWORDS} DWs, got ${words.length}`);
  const out = new Array<bigint>(STE_DWORDS).fill(0n);
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    if (w < 0n || w >= 1n << 64n) throw new RangeError(`STE DW${i} is not a 64-bit value`);
    out[i] = w;
  }
  return out;
}

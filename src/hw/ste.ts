/**
 * Stream Table Entry (smmuv3.md §3.1): field table, encode/decode by names, and the builders
 * for the STEs the service installs (Linux `arm_smmu_make_{abort,bypass,s2_domain}_ste` and
 * `arm_smmu_make_nested_domain_ste`, iommufd.md §3.3).
 */
import { addrField, decodeFields, encodeFields, numField, wordGet, wordSet, type FieldTable, type FieldValue, type FieldValues } from './fields.js';

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
/** STE.EATS encodings (§3.1). */
export const STE_EATS = { ABT: 0, TRANS: 1, S1CHK: 2 } as const;
/** STE.SHCFG_INCOMING (§3.1). */
export const STE_SHCFG_INCOMING = 1;

/** Guest-controllable DW0 bits of a vSTE, `STRTAB_STE_0_NESTING_ALLOWED` (iommufd.md §3.2). */
export const STE_0_NESTING_ALLOWED = 0xf80fffffffffffffn;
/** Guest-controllable DW1 bits of a vSTE, `STRTAB_STE_1_NESTING_ALLOWED` (iommufd.md §3.2). */
export const STE_1_NESTING_ALLOWED = 0x380000ffn;

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

/** Abort STE: V=1, Config=abort (`arm_smmu_make_abort_ste`). */
export function buildAbortSte(): SteWords {
  return encodeSte({ V: 1, CONFIG: STE_CFG.ABORT });
}

/** Bypass STE: V=1, Config=bypass, SHCFG=incoming (`arm_smmu_make_bypass_ste`). */
export function buildBypassSte(): SteWords {
  return encodeSte({ V: 1, CONFIG: STE_CFG.BYPASS, SHCFG: STE_SHCFG_INCOMING });
}

/** Inputs of buildS2Ste (§3.1 S2 fields). */
export interface S2SteParams {
  vmid: number;
  /**
   * Stage-2 table base, DW3[51:4]. The service may store a handle of the IOAS that backs
   * stage 2 here (the walk of a later issue resolves it); it must be 16-byte aligned.
   */
  s2ttb: bigint;
  /** VTCR fields (§3.1); defaults are 4 KiB granule, 48-bit IPA, start level 0, WBRA/ISH. */
  t0sz?: number;
  sl0?: number;
  tg?: number;
  ps?: number;
  ir0?: number;
  or0?: number;
  sh0?: number;
  /** EATS=TRANS: ATS enabled for the device (§3.3 attach rules). */
  ats?: boolean;
  /** S2FWB when the SMMU implements IDR3.FWB. */
  s2fwb?: boolean;
}

/**
 * Stage-2-only STE (`arm_smmu_make_s2_domain_ste`): Config=S2 translate, SHCFG incoming,
 * S2VMID, VTCR, S2AA64, S2PTW and S2R set, S2TTB.
 */
export function buildS2Ste(p: S2SteParams): SteWords {
  return encodeSte({
    V: 1,
    CONFIG: STE_CFG.S2_TRANS,
    SHCFG: STE_SHCFG_INCOMING,
    EATS: p.ats ? STE_EATS.TRANS : STE_EATS.ABT,
    S2FWB: p.s2fwb ? 1 : 0,
    S2VMID: p.vmid,
    S2T0SZ: p.t0sz ?? 16,
    S2SL0: p.sl0 ?? 2,
    S2TG: p.tg ?? 0,
    S2PS: p.ps ?? 5,
    S2IR0: p.ir0 ?? 1,
    S2OR0: p.or0 ?? 1,
    S2SH0: p.sh0 ?? 3,
    S2AA64: 1,
    S2PTW: 1,
    S2R: 1,
    S2TTB: p.s2ttb,
  });
}

/**
 * Physical STE for a device attached to a nested domain (`arm_smmu_make_nested_domain_ste`,
 * iommufd.md §3.3), from the guest vSTE (2 DWs) and the S2 STE of the nesting parent:
 * - vSTE V=0 or Config=abort (or any Config other than bypass/S1) → abort STE;
 * - Config=bypass → the parent's S2 STE ("translates the same as the nesting parent");
 * - Config=S1 translate → the parent's S2 STE with Config forced to NESTED (7), the guest's
 *   DW0 fields except Config OR-ed in, the guest's DW1 OR-ed in and MEV forced on.
 * Guest bits are limited to the NESTING_ALLOWED masks (the service rejects others with EIO
 * first). EATS is not taken from the guest: it is TRANS iff `ats` (default: vSTE EATS=TRANS),
 * as Linux strips EATS from the stored vSTE and enables ATS at attach.
 */
export function buildNestedSte(
  vste: readonly [bigint, bigint],
  s2Parent: ArrayLike<bigint>,
  opts: { ats?: boolean } = {},
): SteWords {
  const [v0, v1] = vste;
  const cfg = wordGet(vste, STE.CONFIG);
  if (wordGet(vste, STE.V) === 0 || (cfg !== STE_CFG.BYPASS && cfg !== STE_CFG.S1_TRANS)) return buildAbortSte();
  const out = steWords(s2Parent);
  if (cfg === STE_CFG.BYPASS) return out;
  const cfgMask = ((1n << BigInt(STE.CONFIG.width)) - 1n) << BigInt(STE.CONFIG.lo);
  const eatsMask = ((1n << BigInt(STE.EATS.width)) - 1n) << BigInt(STE.EATS.lo);
  const ats = opts.ats ?? wordGet(vste, STE.EATS) === STE_EATS.TRANS;
  out[0] |= v0 & STE_0_NESTING_ALLOWED & ~cfgMask;
  wordSet(out, STE.CONFIG, STE_CFG.NESTED);
  out[1] |= v1 & STE_1_NESTING_ALLOWED & ~eatsMask;
  wordSet(out, STE.EATS, ats ? STE_EATS.TRANS : STE_EATS.ABT);
  wordSet(out, STE.MEV, 1);
  return out;
}

/**
 * Stream table in memory (smmuv3.md §3.1, §4.2): STRTAB_BASE / STRTAB_BASE_CFG and the lookup of
 * an STE address for a StreamID, linear or 2-level. Pure: memory is read through a callback.
 *
 * Strict-model choices (smmuv3.md "Decisions"): the format is the current STRTAB_BASE_CFG.FMT
 * (QEMU keeps a sticky 2-level flag, vector 35 quirk); a level-2 table holds 2^(Span−1) STEs as
 * the architecture and Linux (`span = STRTAB_SPLIT + 1` for 256 STEs) define it.
 */

/** STRTAB_BASE (0x80) and STRTAB_BASE_CFG (0x88) register values. */
export interface StrtabRegs {
  /** STRTAB_BASE raw value: ADDR [51:6], RA bit 62. */
  base: bigint;
  /** STRTAB_BASE_CFG raw value: LOG2SIZE [5:0], SPLIT [10:6], FMT [17:16]. */
  cfg: number;
}

/** STRTAB_BASE.ADDR [51:6] in place. */
export const STRTAB_BASE_ADDR_MASK = 0x000f_ffff_ffff_ffc0n;
/** STRTAB_BASE.RA (bit 62). */
export const STRTAB_BASE_RA = 1n << 62n;
/** STRTAB_BASE_CFG.FMT values. */
export const STRTAB_FMT = { LINEAR: 0, TWO_LEVEL: 1 } as const;
/** Level-1 descriptor: Span [4:0], L2Ptr [51:6] (§3.1). */
export const L1STD_SPAN_MASK = 0x1fn;
export const L1STD_L2PTR_MASK = 0x000f_ffff_ffff_ffc0n;
/** Bytes of one STE / one level-1 descriptor. */
const STE_SIZE = 64n;
const L1STD_SIZE = 8n;

/** Encodes STRTAB_BASE_CFG from its fields. */
export function strtabBaseCfg(f: { log2Size: number; split?: number; fmt?: number }): number {
  const split = f.split ?? 0;
  const fmt = f.fmt ?? STRTAB_FMT.LINEAR;
  if (!Number.isInteger(f.log2Size) || f.log2Size < 0 || f.log2Size > 63) throw new RangeError('LOG2SIZE is 6 bits');
  if (!Number.isInteger(split) || split < 0 || split > 31) throw new RangeError('SPLIT is 5 bits');
  if (!Number.isInteger(fmt) || fmt < 0 || fmt > 3) throw new RangeError('FMT is 2 bits');
  return (f.log2Size | (split << 6) | (fmt << 16)) >>> 0;
}

/** Decodes STRTAB_BASE_CFG. */
export function decodeStrtabBaseCfg(cfg: number): { log2Size: number; split: number; fmt: number } {
  return { log2Size: cfg & 0x3f, split: (cfg >>> 6) & 0x1f, fmt: (cfg >>> 16) & 0x3 };
}

/** Outcome of locating an STE: its address, or the configuration error / fetch fault (§4.2). */
export type SteLocation =
  | { ok: true; steAddr: bigint }
  | { ok: false; type: 'C_BAD_STREAMID' | 'C_BAD_STE' | 'F_STE_FETCH'; fetchAddr: bigint | null };

/**
 * `smmu_find_ste` (§4.2): SID ≥ 2^min(LOG2SIZE, SIDSIZE) → C_BAD_STREAMID; linear → base +
 * SID·64; 2-level → L1 descriptor at base + (SID >> SPLIT)·8 (bus error → F_STE_FETCH with the
 * descriptor address), Span 0 → C_BAD_STREAMID, L2 index ≥ 2^(Span−1) → C_BAD_STE, else
 * L2Ptr + index·64.
 */
export function locateSte(
  regs: StrtabRegs,
  sid: number,
  sidBits: number,
  read64: (pa: bigint) => bigint | null,
): SteLocation {
  const { log2Size, split, fmt } = decodeStrtabBaseCfg(regs.cfg);
  const limit = Math.min(log2Size, sidBits, 32);
  if (!Number.isInteger(sid) || sid < 0 || sid >= 2 ** limit) return { ok: false, type: 'C_BAD_STREAMID', fetchAddr: null };
  const addr = regs.base & STRTAB_BASE_ADDR_MASK;
  const s = BigInt(sid);
  if (fmt !== STRTAB_FMT.TWO_LEVEL) {
    const base = addr & ~((1n << BigInt(log2Size + 6)) - 1n);
    return { ok: true, steAddr: base + s * STE_SIZE };
  }
  const l1Bits = Math.max(0, log2Size - split);
  const base = addr & ~((1n << BigInt(Math.max(6, l1Bits + 3))) - 1n);
  const l1Addr = base + (s >> BigInt(split)) * L1STD_SIZE;
  const desc = read64(l1Addr);
  if (desc === null) return { ok: false, type: 'F_STE_FETCH', fetchAddr: l1Addr };
  const span = Number(desc & L1STD_SPAN_MASK);
  if (span === 0) return { ok: false, type: 'C_BAD_STREAMID', fetchAddr: null };
  const l2Index = s & ((1n << BigInt(split)) - 1n);
  if (l2Index >= 1n << BigInt(span - 1)) return { ok: false, type: 'C_BAD_STE', fetchAddr: null };
  return { ok: true, steAddr: (desc & L1STD_L2PTR_MASK) + l2Index * STE_SIZE };
}

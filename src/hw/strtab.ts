/**
 * Stream table (smmuv3.md §3.1, §4.2): where the STE of a StreamID comes from. Either the STEs
 * the caller set one by one (the service's way), or a table in memory at STRTAB_BASE, linear or
 * 2-level, read through `WalkMemory` (QEMU `smmu_find_ste`, `smmu_get_ste`).
 *
 * Strict-model choices (smmuv3.md "Decisions"): the format is the current STRTAB_BASE_CFG.FMT
 * (QEMU keeps a sticky 2-level flag, vector 35 quirk); a level-2 table holds 2^(Span−1) STEs as
 * the architecture and Linux (`span = STRTAB_SPLIT + 1` for 256 STEs) define it.
 */
import { fault, type Fault } from './events.js';
import { addrField, dwGet, encodeReg, numField, regGet, type FieldTable } from './fields.js';
import { STRTAB_BASE, STRTAB_BASE_CFG, STRTAB_FMT } from './registers.js';
import { STE_BYTES, STE_DWORDS, steWords, type SteWords } from './ste.js';
import { readDwords, type WalkMemory } from './walk.js';

/** STRTAB_BASE (0x80) and STRTAB_BASE_CFG (0x88) register values (fields in src/hw/registers.ts). */
export interface StrtabRegs {
  /** STRTAB_BASE raw value: ADDR [51:6], RA bit 62. */
  base: bigint;
  /** STRTAB_BASE_CFG raw value: LOG2SIZE [5:0], SPLIT [10:6], FMT [17:16]. */
  cfg: number;
}

/** Level-1 stream table descriptor, 8 bytes (Linux `STRTAB_L1_DESC_*`, QEMU `L1STD_*`). */
export const L1STD = {
  SPAN: numField(0, 4, 0),
  L2PTR: addrField(0, 51, 6),
} as const satisfies FieldTable;
const L1STD_BYTES = 8n;

/** Encodes STRTAB_BASE_CFG from its fields (values that do not fit throw RangeError). */
export function strtabBaseCfg(f: { log2Size: number; split?: number; fmt?: number }): number {
  return encodeReg(STRTAB_BASE_CFG, { LOG2SIZE: f.log2Size, SPLIT: f.split ?? 0, FMT: f.fmt ?? STRTAB_FMT.LINEAR }, 'STRTAB_BASE_CFG');
}

/** Decodes STRTAB_BASE_CFG. */
export function decodeStrtabBaseCfg(cfg: number): { log2Size: number; split: number; fmt: number } {
  return {
    log2Size: regGet(cfg, STRTAB_BASE_CFG.LOG2SIZE),
    split: regGet(cfg, STRTAB_BASE_CFG.SPLIT),
    fmt: regGet(cfg, STRTAB_BASE_CFG.FMT),
  };
}

/** Outcome of locating an STE: its address, or the configuration error / fetch fault (§4.2). */
export type SteLocation =
  | { ok: true; steAddr: bigint }
  | { ok: false; type: 'C_BAD_STREAMID' | 'C_BAD_STE' | 'F_STE_FETCH'; fetchAddr: bigint | null };

/** Bits [n−1:0] of an address. */
function lowMask(bits: number): bigint {
  return (1n << BigInt(bits)) - 1n;
}

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
  const addr = dwGet(regs.base, STRTAB_BASE.ADDR);
  const s = BigInt(sid);
  const steBytes = BigInt(STE_BYTES);
  if (fmt !== STRTAB_FMT.TWO_LEVEL) {
    // The table is aligned to its size, 2^LOG2SIZE STEs.
    const base = addr & ~lowMask(log2Size + 6);
    return { ok: true, steAddr: base + s * steBytes };
  }
  const l1Bits = Math.max(0, log2Size - split);
  const base = addr & ~lowMask(Math.max(6, l1Bits + 3));
  const l1Addr = base + (s >> BigInt(split)) * L1STD_BYTES;
  const desc = read64(l1Addr);
  if (desc === null) return { ok: false, type: 'F_STE_FETCH', fetchAddr: l1Addr };
  const span = dwGet(desc, L1STD.SPAN);
  if (span === 0) return { ok: false, type: 'C_BAD_STREAMID', fetchAddr: null };
  const l2Index = s & lowMask(split);
  if (l2Index >= 1n << BigInt(span - 1)) return { ok: false, type: 'C_BAD_STE', fetchAddr: null };
  return { ok: true, steAddr: dwGet(desc, L1STD.L2PTR) + l2Index * steBytes };
}

/** The STEs of one SMMU: set one by one, or read from a table in memory (STRTAB_BASE). */
export class StreamTable {
  private readonly installed = new Map<number, Readonly<SteWords>>();
  /** STRTAB_BASE / STRTAB_BASE_CFG when the table lives in memory; null: the installed STEs. */
  private regs: StrtabRegs | null = null;

  /** @param sidBits IDR1.SIDSIZE */
  constructor(private readonly sidBits: number) {}

  private checkSid(sid: number): void {
    if (!this.sidValid(sid)) throw new RangeError(`StreamID ${sid} is beyond SIDSIZE ${this.sidBits}`);
  }

  private sidValid(sid: number): boolean {
    return Number.isInteger(sid) && sid >= 0 && sid < 2 ** Math.min(this.sidBits, 32);
  }

  /** Writes the STE of `sid` (a memory write: caches keep their copy until CFGI_STE). */
  set(sid: number, words: ArrayLike<bigint>): void {
    this.checkSid(sid);
    this.installed.set(sid, Object.freeze(steWords(words)));
  }

  /** Removes the STE of `sid`: the slot reads as all-zero (V=0). */
  clear(sid: number): void {
    this.checkSid(sid);
    this.installed.delete(sid);
  }

  /** The STE of `sid` as set, or null. */
  get(sid: number): SteWords | null {
    const ste = this.installed.get(sid);
    return ste === undefined ? null : [...ste];
  }

  /** StreamIDs that have an STE set. */
  sids(): number[] {
    return [...this.installed.keys()].sort((a, b) => a - b);
  }

  /** Points the table at memory (STRTAB_BASE, STRTAB_BASE_CFG), or back to the STEs set (null). */
  setRegs(regs: StrtabRegs | null): void {
    this.regs = regs === null ? null : { base: regs.base & ((1n << 64n) - 1n), cfg: regs.cfg >>> 0 };
  }

  getRegs(): StrtabRegs | null {
    return this.regs === null ? null : { ...this.regs };
  }

  /**
   * `smmu_find_ste` + `smmu_get_ste` (§4.2): the STE words of `sid`, from memory when STRTAB_BASE
   * is set, else the STE set for it (all-zero when none); or the fault that stops the access.
   */
  fetch(sid: number, mem: WalkMemory): Readonly<SteWords> | Fault {
    if (this.regs === null) {
      if (!this.sidValid(sid)) return fault('C_BAD_STREAMID');
      return this.installed.get(sid) ?? EMPTY_STE;
    }
    const loc = locateSte(this.regs, sid, this.sidBits, (pa) => mem.read64(pa));
    if (!loc.ok) return fault(loc.type, 0, null, null, loc.fetchAddr ?? undefined);
    const words = readDwords(mem, loc.steAddr, STE_DWORDS);
    return words === null ? fault('F_STE_FETCH', 0, null, null, loc.steAddr) : Object.freeze(words);
  }
}

const EMPTY_STE: Readonly<SteWords> = Object.freeze(steWords([]));

/**
 * Page-table walks (smmuv3.md §4.5; QEMU `smmu-common.c` `smmu_ptw_64_s1` / `smmu_ptw_64_s2`):
 * the VMSAv8-64 descriptor as a field table, stage-1 walks for 4K/16K/64K granules with TT0/TT1
 * selection (or the service's `stage1` resolver), and stage-2 walks (concatenated start-level
 * tables, or the service's `stage2` resolver). In nested mode every stage-1 descriptor address
 * is an IPA translated by stage 2.
 *
 * Pure: memory is only read through `WalkMemory`; the configuration comes decoded from
 * src/hw/config.ts, faults are returned as `Fault` values (src/hw/events.ts). Strict-model
 * choices (smmuv3.md "Decisions"): TT0/TT1 are selected by address bit 55 with the upper bits
 * checked against it, TBI1 is CD.TBI bit 1, blocks are accepted only at the levels the granule
 * allows.
 */
import { fault, isFault, type EventName, type Fault, type FaultClassName } from './events.js';
import { addrField, dwGet, dwSet, encodeFields, numField, type FieldTable } from './fields.js';

/** The memory the SMMU reads (DMA): tables, STEs, CDs. */
export interface WalkMemory {
  /** 64-bit little-endian read at a physical address; null = bus error (unbacked). */
  read64(pa: bigint): bigint | null;
  /**
   * Optional: the service resolves stage 2 from IOAS mappings instead of S2 page tables in
   * memory: given STE.S2TTB and an IPA return {pa, read, write, pageLog2} (pa = the translation
   * of that exact IPA; pageLog2 = log2 of the mapping's naturally aligned size) or null (= stage-2
   * translation fault). When absent, stage 2 walks S2 tables in memory per §4.5.
   */
  stage2?(s2ttb: bigint, ipa: bigint): { pa: bigint; read: boolean; write: boolean; pageLog2: number } | null;
  /**
   * Optional, the stage-1 counterpart (host stage-1 paging domains): given the TTB of the CD's
   * selected translation table and the input address (TBI tag removed), return the translation
   * as `stage2` does, null (= stage-1 translation fault, class IN) or undefined when `ttb` is not
   * one of the service's handles — then the stage-1 tables in memory are walked per §4.5. Used
   * for stage-1-only streams; a nested stream's stage 1 is always walked in (IPA) memory.
   */
  stage1?(ttb: bigint, va: bigint): { pa: bigint; read: boolean; write: boolean; pageLog2: number } | null | undefined;
}

/** Reads `n` consecutive 64-bit words (an STE, a CD); null when any of them is unbacked. */
export function readDwords(mem: WalkMemory, addr: bigint, n: number): bigint[] | null {
  const out: bigint[] = [];
  for (let i = 0; i < n; i++) {
    const w = mem.read64(addr + BigInt(i * 8));
    if (w === null) return null;
    out.push(w);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Descriptors and input addresses.

/**
 * VMSAv8-64 translation table descriptor, one 64-bit word (QEMU `smmu-internal.h` PTE_*, Linux
 * `io-pgtable-arm.c` ARM_LPAE_PTE_*). AP and S2AP are the same bits read as stage 1 or stage 2;
 * OA_51_48 sits inside OA's range and is used only by 64 KiB granules with a 52-bit output.
 */
export const PTE = {
  VALID: numField(0, 0),
  /** Descriptor type: block or table/page (`PTE_TYPE`). */
  TYPE: numField(0, 1, 0),
  /** Stage-1 AP[2:1]: AP[2] (bit 7) = read-only, AP[1] (bit 6) = EL0 access. */
  AP: numField(0, 7, 6),
  /** Stage-2 S2AP: bit 6 read, bit 7 write. */
  S2AP: numField(0, 7, 6),
  SH: numField(0, 9, 8),
  AF: numField(0, 10),
  NG: numField(0, 11),
  /** Output address, or next-level table address, [47:12] in place (the level aligns it further). */
  OA: addrField(0, 47, 12),
  /** OA[51:48] of a 64 KiB-granule descriptor with a 52-bit output. */
  OA_51_48: numField(0, 15, 12),
  CONT: numField(0, 52),
  XN: numField(0, 54),
  /** Table descriptors: APTable[1] (bit 62) removes write access below, APTable[0] EL0 access. */
  APTABLE: numField(0, 62, 61),
} as const satisfies FieldTable;

/** PTE.TYPE encodings (`ARM_LPAE_PTE_TYPE_*`): a table at levels 0-2, a page at level 3. */
export const PTE_TYPE = { BLOCK: 1, TABLE: 3, PAGE: 3 } as const;
/** AP[2] in PTE.AP, APTable[1] in PTE.APTABLE: no write access (QEMU `PTE_AP_TO_PERM`). */
export const PTE_AP_RDONLY = 2;
/** PTE.S2AP bits. */
export const PTE_S2AP = { READ: 1, WRITE: 2 } as const;

/** Builds a descriptor from field values (tests, table writers). */
export function encodePte(fields: Partial<Record<keyof typeof PTE, number | bigint>>): bigint {
  return encodeFields(PTE, 1, fields, 'PTE')[0];
}

/** Fields of a stage-1 input address: bit 55 selects TT0/TT1, [63:56] is the top-byte tag (TBI). */
const VA = {
  SELECT: numField(0, 55),
  TAG: numField(0, 63, 56),
} as const satisfies FieldTable;

// ---------------------------------------------------------------------------------------------
// Translation table configuration (decoded from STE and CD by src/hw/config.ts).

/** One stage-1 translation table (TT0/TT1) of a CD. */
export interface S1TableConfig {
  disabled: boolean;
  tsz: number;
  /** Granule log2: 12, 14 or 16. */
  granule: number;
  ttb: bigint;
  /** Effective output size of this TT (bits). */
  oas: number;
  had: boolean;
}

export interface S1Config {
  asid: number;
  /** CD.TBI: bit 0 = TBI0, bit 1 = TBI1. */
  tbi: number;
  affd: boolean;
  /** CD.R: record stage-1 TRANSLATION/ADDR_SIZE/ACCESS/PERMISSION faults. */
  record: boolean;
  tt: [S1TableConfig, S1TableConfig];
}

export interface S2Config {
  vmid: number;
  tsz: number;
  granule: number;
  startLevel: number;
  /** Effective PA size (bits), eff_ps of §4.3. */
  effPs: number;
  ttb: bigint;
  affd: boolean;
  /** STE.S2R: record stage-2 faults. */
  record: boolean;
}

// ---------------------------------------------------------------------------------------------
// Level arithmetic (§4.5).

/** level_shift(l, g) = g + (3 − l)(g − 3) (§4.5). */
export function levelShift(level: number, granule: number): number {
  return granule + (3 - level) * (granule - 3);
}

/** Stage-1 start level = 4 − (inputsize − 4) / stride (§4.5; vector 43). */
export function s1StartLevel(granule: number, tsz: number): number {
  return 4 - Math.floor((64 - tsz - 4) / (granule - 3));
}

/** Stage-2 start level (`get_start_level`): 4K → 2 − SL0, 16K/64K → 3 − SL0. */
export function s2StartLevel(granule: number, sl0: number): number {
  return granule === 12 ? 2 - sl0 : 3 - sl0;
}

/** Block descriptors allowed at: 4K levels 1-2, 16K level 2, 64K level 2. */
function blockAllowed(granule: number, level: number): boolean {
  return granule === 12 ? level === 1 || level === 2 : level === 2;
}

/** Bits [n−1:0] of an address. */
function mask(bits: number): bigint {
  return (1n << BigInt(bits)) - 1n;
}

/** Output address of a descriptor at a level whose block is 2^shift bytes (OA, plus OA[51:48] for 64K/52-bit). */
function pteOutput(pte: bigint, shift: number, granule: number, oas: number): bigint {
  const a = dwGet(pte, PTE.OA) & ~mask(shift);
  return granule === 16 && oas > 48 ? a | (BigInt(dwGet(pte, PTE.OA_51_48)) << 48n) : a;
}

/** The leaf a walk ends on: a descriptor of type PAGE at level 3, of type BLOCK above where the granule allows it. */
function isLeaf(pte: bigint, level: number, granule: number): boolean {
  return level === 3 ? dwGet(pte, PTE.TYPE) === PTE_TYPE.PAGE : blockAllowed(granule, level);
}

// ---------------------------------------------------------------------------------------------
// Walks.

/** A successful stage of a walk. */
export interface StageOk {
  /** Translation of the exact input address. */
  out: bigint;
  /** Block size − 1. */
  addrMask: bigint;
  level: number;
  granule: number;
  read: boolean;
  write: boolean;
}

/** A resolver's answer (`WalkMemory.stage1` / `stage2`) as a walk result, or the fault it stands for. */
function resolved(
  r: { pa: bigint; read: boolean; write: boolean; pageLog2: number },
  write: boolean,
  granule: number,
  startLevel: number,
  outBits: number,
  stageFault: (type: EventName) => Fault,
): StageOk | Fault {
  if (write ? !r.write : !r.read) return stageFault('F_PERMISSION');
  if (r.pa >= 1n << BigInt(outBits)) return stageFault('F_ADDR_SIZE');
  // Largest level block not above the mapping size (and not above the start level).
  let level = 3;
  while (level > startLevel && levelShift(level - 1, granule) <= r.pageLog2 && blockAllowed(granule, level - 1)) level--;
  const addrMask = mask(levelShift(level, granule));
  return { out: r.pa, addrMask, level, granule, read: r.read, write: r.write };
}

/** `smmu_ptw_64_s2` (or the service's `stage2` resolver): translates an IPA; faults are S2 with ADDR2 = IPA. */
export function s2Translate(s2: S2Config, ipa: bigint, write: boolean, cls: FaultClassName, mem: WalkMemory): StageOk | Fault {
  const g = s2.granule;
  const inputSize = 64 - s2.tsz;
  const s2fault = (type: EventName, fetchAddr?: bigint): Fault => fault(type, 2, cls, ipa, fetchAddr);
  if (ipa >= 1n << BigInt(inputSize)) return s2fault('F_TRANSLATION');
  if (mem.stage2 !== undefined) {
    const r = mem.stage2(s2.ttb, ipa);
    if (r === null) return s2fault('F_TRANSLATION');
    return resolved(r, write, g, s2.startLevel, s2.effPs, s2fault);
  }
  let level = s2.startLevel;
  const topBits = inputSize - levelShift(level, g);
  // The start level may index concatenated tables: all the bits above its shift (§4.3).
  let base = s2.ttb & mask(s2.effPs) & ~mask(topBits + 3);
  let idx = ipa >> BigInt(levelShift(level, g));
  const strideMask = mask(g - 3);
  for (;;) {
    const pteAddr = base + idx * 8n;
    const pte = mem.read64(pteAddr);
    if (pte === null) return s2fault('F_WALK_EABT', pteAddr);
    if (dwGet(pte, PTE.VALID) === 0) return s2fault('F_TRANSLATION');
    const shift = levelShift(level, g);
    if (level < 3 && dwGet(pte, PTE.TYPE) === PTE_TYPE.TABLE) {
      const next = pteOutput(pte, g, g, s2.effPs);
      if (next >= 1n << BigInt(s2.effPs)) return s2fault('F_ADDR_SIZE');
      base = next;
      level++;
      idx = (ipa >> BigInt(levelShift(level, g))) & strideMask;
      continue;
    }
    if (!isLeaf(pte, level, g)) return s2fault('F_TRANSLATION');
    if (dwGet(pte, PTE.AF) === 0 && !s2.affd) return s2fault('F_ACCESS');
    const s2ap = dwGet(pte, PTE.S2AP);
    const read = (s2ap & PTE_S2AP.READ) !== 0;
    const wr = (s2ap & PTE_S2AP.WRITE) !== 0;
    if (write ? !wr : !read) return s2fault('F_PERMISSION');
    const outBase = pteOutput(pte, shift, g, s2.effPs);
    if (outBase >= 1n << BigInt(s2.effPs)) return s2fault('F_ADDR_SIZE');
    const addrMask = mask(shift);
    return { out: outBase | (ipa & addrMask), addrMask, level, granule: g, read, write: wr };
  }
}

/** The translation table an input address selects. */
export interface TtSelection {
  tt: S1TableConfig;
  /** Input address with the TBI tag replaced by the sign of bit 55. */
  va: bigint;
  startLevel: number;
}

/** `select_tt` (§4.5), architecturally: bit 55 picks TT0/TT1; the bits above the input size must match it. */
export function selectTt(s1: S1Config, iova: bigint): TtSelection | Fault {
  const hi = dwGet(iova, VA.SELECT);
  const tt = s1.tt[hi];
  const tbi = ((s1.tbi >> hi) & 1) === 1;
  const va = tbi ? dwSet(iova, VA.TAG, hi ? 0xff : 0) : iova;
  const inputSize = 64 - tt.tsz;
  const upper = va >> BigInt(inputSize);
  const expect = hi ? mask(tt.tsz) : 0n;
  if (tt.disabled || upper !== expect) return fault('F_TRANSLATION', 1, 'IN');
  return { tt, va, startLevel: s1StartLevel(tt.granule, tt.tsz) };
}

/**
 * `smmu_ptw_64_s1` (§4.5). In nested mode every descriptor address is an IPA translated by stage 2
 * (class TT). A stage-1-only walk first asks the service's `stage1` resolver, if any, about the
 * TTB (`WalkMemory.stage1`).
 */
export function s1Walk(s1: S1Config, sel: TtSelection, write: boolean, s2: S2Config | null, mem: WalkMemory): StageOk | Fault {
  const { tt, va } = sel;
  const g = tt.granule;
  const s1fault = (type: EventName, fetchAddr?: bigint): Fault => fault(type, 1, fetchAddr === undefined ? 'IN' : 'TT', null, fetchAddr);
  if (s2 === null && mem.stage1 !== undefined) {
    const r = mem.stage1(tt.ttb, va);
    if (r === null) return s1fault('F_TRANSLATION');
    if (r !== undefined) return resolved(r, write, g, sel.startLevel, tt.oas, s1fault);
  }
  const inputSize = 64 - tt.tsz;
  const addr = va & mask(inputSize);
  let level = sel.startLevel;
  const topBits = inputSize - levelShift(level, g);
  let base = tt.ttb & mask(tt.oas) & ~mask(Math.max(topBits + 3, 3));
  const strideMask = mask(g - 3);
  let tableRo = false;
  for (;;) {
    const shift = levelShift(level, g);
    const descAddr = base + ((addr >> BigInt(shift)) & strideMask) * 8n;
    let pteAddr = descAddr;
    if (s2 !== null) {
      const t = s2Translate(s2, descAddr, false, 'TT', mem);
      if (isFault(t)) return t;
      pteAddr = t.out;
    }
    const pte = mem.read64(pteAddr);
    if (pte === null) return s1fault('F_WALK_EABT', pteAddr);
    if (dwGet(pte, PTE.VALID) === 0) return s1fault('F_TRANSLATION');
    if (level < 3 && dwGet(pte, PTE.TYPE) === PTE_TYPE.TABLE) {
      if (!tt.had && (dwGet(pte, PTE.APTABLE) & PTE_AP_RDONLY) !== 0) {
        if (write) return s1fault('F_PERMISSION');
        tableRo = true;
      }
      const next = pteOutput(pte, g, g, tt.oas);
      if (next >= 1n << BigInt(tt.oas)) return s1fault('F_ADDR_SIZE');
      base = next;
      level++;
      continue;
    }
    if (!isLeaf(pte, level, g)) return s1fault('F_TRANSLATION');
    if (dwGet(pte, PTE.AF) === 0 && !s1.affd) return s1fault('F_ACCESS');
    const writable = (dwGet(pte, PTE.AP) & PTE_AP_RDONLY) === 0 && !tableRo;
    if (write && !writable) return s1fault('F_PERMISSION');
    const outBase = pteOutput(pte, shift, g, tt.oas);
    if (outBase >= 1n << BigInt(tt.oas)) return s1fault('F_ADDR_SIZE');
    const addrMask = mask(shift);
    return { out: outBase | (addr & addrMask), addrMask, level, granule: g, read: true, write: writable };
  }
}

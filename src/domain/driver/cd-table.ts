/**
 * The host driver's context-descriptor tables (Linux arm-smmu-v3.c: `arm_smmu_alloc_cd_tables`,
 * `arm_smmu_make_s1_cd`, `arm_smmu_write_cd_entry`, `arm_smmu_make_cdtable_ste`): what a device's
 * STE points at once its RID sits on a stage-1 domain or one of its PASIDs is attached. The
 * tables live in driver memory (DMA-coherent kernel memory: `DriverMemory`), which the SMMU model
 * reads like any other memory; they are derived from the object graph, not stored.
 */
import {
  CD_BYTES as CD_SIZE,
  CD_L2_ENTRIES_64K,
  CD_SPLIT_64K,
  encodeCd,
  encodeL1Cd,
  encodeSte,
  L1CD_BYTES,
  STE_CFG,
  STE_EATS,
  STE_S1DSS,
  STE_S1FMT,
  type SteWords,
} from '../../hw/index.js';

/** STE.S1DSS (`STRTAB_STE_1_S1DSS_*`): what a transaction without a PASID does. */
export const S1DSS = STE_S1DSS;
/** Linux uses linear tables and two levels of 64 KiB leaves (`CTXDESC_SPLIT` 10), never 4 KiB leaves. */
const S1FMT_LINEAR = STE_S1FMT.LINEAR;
const S1FMT_64K_L2 = STE_S1FMT.L2_64K;
const CTXDESC_SPLIT = CD_SPLIT_64K;
const CTXDESC_L2_ENTRIES = CD_L2_ENTRIES_64K;
const CD_BYTES = BigInt(CD_SIZE);

/**
 * Driver memory: where the kernel's CD tables live, above every address the simulated host RAM
 * of IOAS mappings can reach (src/domain/ioas.ts hands those out upward from 4 GiB). Each device
 * with a CD table has one 128 MiB region (cdTableRegion): the table (or its level-1 table) at the
 * start, the 64 KiB leaf tables after it.
 */
export const DRIVER_MEMORY_BASE = 0xf000_0000_0000n;
const REGION_SHIFT = 27n;
const L2_TABLE_BYTES = CD_BYTES << BigInt(CTXDESC_SPLIT);

/**
 * The stage-1 table base (CD.TTB0) of a host stage-1 domain over an IOAS: a handle the model's
 * stage-1 resolver turns back into the IOAS (memory.ts HostMemory.stage1), as S2TTB does for
 * stage 2 (hardware.ts s2HandleOfIoas). Below DRIVER_MEMORY_BASE, 4 KiB aligned.
 */
export const S1_TTB_HANDLE_BASE = 0xe000_0000_0000n;
export const s1HandleOfIoas = (ioasId: number): bigint => S1_TTB_HANDLE_BASE + (BigInt(ioasId) << 12n);
/** The IOAS of a stage-1 handle, or null for any other address. */
export function ioasOfS1Handle(ttb: bigint): number | null {
  if (ttb < S1_TTB_HANDLE_BASE || ttb >= DRIVER_MEMORY_BASE) return null;
  return Number((ttb - S1_TTB_HANDLE_BASE) >> 12n);
}

/** Regions of driver memory: 2^17 of 128 MiB between DRIVER_MEMORY_BASE and 2^48. */
const REGIONS = 1n << 17n;

/**
 * The driver-memory region of a device's CD table: fixed by its id (id mod 2^17), so the table's
 * address — in the STE's S1ContextPtr and in the device's `host` view — is the same after a
 * restart whatever order the devices were attached in. Two devices share a region only if their
 * ids differ by a multiple of 131072 (ids are allocated in sequence for every object).
 */
export function cdTableRegion(deviceId: number): bigint {
  return DRIVER_MEMORY_BASE + ((BigInt(deviceId) % REGIONS) << REGION_SHIFT);
}

/** 64-bit words of driver memory (sparse; unwritten words read as zero). */
export class DriverMemory {
  private readonly words = new Map<bigint, bigint>();

  /** Whether `pa` lies in driver memory (then `read64` answers it). */
  owns(pa: bigint): boolean {
    return pa >= DRIVER_MEMORY_BASE && pa < DRIVER_MEMORY_BASE + (REGIONS << REGION_SHIFT);
  }

  read64(pa: bigint): bigint {
    return this.words.get(pa) ?? 0n;
  }

  write(pa: bigint, words: readonly bigint[]): void {
    words.forEach((w, i) => {
      const at = pa + BigInt(i * 8);
      if (w === 0n) this.words.delete(at);
      else this.words.set(at, w);
    });
  }

  clear(): void {
    this.words.clear();
  }
}

/** Inputs of a stage-1 CD (`arm_smmu_make_s1_cd`). */
export interface S1CdParams {
  asid: number;
  /** TTB0: the io-pgtable's root (here the IOAS handle, s1HandleOfIoas). */
  ttb0: bigint;
  /** TCR.IPS: the SMMU's IDR5.OAS encoding. */
  ips: number;
  /** TCR.T0SZ: 64 − the input size (48 bits, `VA_BITS`, unless VAX). */
  t0sz?: number;
}

/**
 * `arm_smmu_make_s1_cd`: V, 4 KiB granule (TG0 0), WBWA inner/outer (IRGN0/ORGN0 1), inner
 * shareable (SH0 3), EPD1 (no TTB1), IPS, AA64, R (record faults), A, ASET, the ASID; TTB0; MAIR.
 * (No HA/HD: the model does not implement HTTU, so a dirty-tracking domain's CD leaves them off.)
 */
export function buildS1Cd(p: S1CdParams): bigint[] {
  return encodeCd({
    T0SZ: p.t0sz ?? 16,
    TG0: 0,
    IR0: 1,
    OR0: 1,
    SH0: 3,
    EPD1: 1,
    V: 1,
    IPS: p.ips,
    AA64: 1,
    R: 1,
    A: 1,
    ASET: 1,
    ASID: p.asid,
    TTB0: p.ttb0 & ~0xfn,
    // MAIR as io-pgtable-arm's arm_64_lpae_alloc_pgtable_s1 sets it: attr0 non-cacheable (0x44),
    // attr1 write-back RWA (0xff), attr2 device nGnRE (0x04), attr3 inner NC / outer WB (0xf4).
    MAIR: 0xf404_ff44n,
  });
}

/** A device's CD table as `arm_smmu_alloc_cd_tables` lays it out. */
export interface CdTableLayout {
  base: bigint;
  s1fmt: typeof S1FMT_LINEAR | typeof S1FMT_64K_L2;
  /** STE.S1CDMAX: log2 of the number of CDs (the device's SSID width). */
  s1cdmax: number;
}

/**
 * `arm_smmu_alloc_cd_tables`: 2^ssidBits CDs, linear unless the SMMU has two-level CD tables
 * (IDR0.CD2L) and they are more than one leaf table holds.
 */
export function cdTableLayout(base: bigint, ssidBits: number, twoLevel: boolean): CdTableLayout {
  const linear = !twoLevel || 1 << ssidBits <= CTXDESC_L2_ENTRIES;
  return { base, s1fmt: linear ? S1FMT_LINEAR : S1FMT_64K_L2, s1cdmax: ssidBits };
}

/**
 * `arm_smmu_write_cd_entry` (and `arm_smmu_get_cd_ptr`/`arm_smmu_alloc_cd_ptr` for a two-level
 * table: the leaf table of the SSID, and its level-1 descriptor, V + L2Ptr): writes the CD of
 * `ssid` (all-zero words clear it).
 */
export function writeCd(mem: DriverMemory, table: CdTableLayout, ssid: number, cd: readonly bigint[]): void {
  if (table.s1fmt === S1FMT_LINEAR) {
    mem.write(table.base + BigInt(ssid) * CD_BYTES, cd);
    return;
  }
  const l1 = ssid >> CTXDESC_SPLIT;
  const l2 = table.base + L2_TABLE_BYTES * BigInt(l1 + 1);
  mem.write(table.base + BigInt(l1 * L1CD_BYTES), [encodeL1Cd({ V: 1, L2PTR: l2 })]);
  mem.write(l2 + BigInt(ssid & (CTXDESC_L2_ENTRIES - 1)) * CD_BYTES, cd);
}

/**
 * `arm_smmu_make_cdtable_ste`: Config S1 with the CD table (S1FMT, S1ContextPtr, S1CDMAX), S1DSS
 * for transactions without a PASID, CD fetches WBRA inner/outer and inner shareable, S1STALLD
 * when the SMMU can stall (the master does not), EATS, STRW EL1, VMID 0.
 */
export function buildCdTableSte(table: CdTableLayout, s1dss: number, opts: { ats: boolean; stalls: boolean }): SteWords {
  return encodeSte({
    V: 1,
    CONFIG: STE_CFG.S1_TRANS,
    S1FMT: table.s1fmt,
    S1CONTEXTPTR: table.base,
    S1CDMAX: table.s1cdmax,
    S1DSS: s1dss,
    S1CIR: 1,
    S1COR: 1,
    S1CSH: 3,
    S1STALLD: opts.stalls ? 1 : 0,
    EATS: opts.ats ? STE_EATS.TRANS : STE_EATS.ABT,
    STRW: 0,
    S2VMID: 0,
  });
}

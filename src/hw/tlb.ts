/**
 * IOTLB (smmuv3.md §5): entries keyed as QEMU keys them — (ASID, VMID, IOVA, TG, level) — in a
 * bounded LRU (project decision: evict the least-recently-used entry instead of QEMU's flush of
 * the whole table when full), with hit/miss/eviction counters, and the invalidation primitives
 * of QEMU `smmu-common.c` used by the TLBI commands (§2.5); the range TLBIs' address math is in
 * src/hw/range-inval.ts (§2.6).
 */

/** IOMMU access permissions (QEMU IOMMUAccessFlags). */
export const IOMMU_PERM = { NONE: 0, RO: 1, WO: 2, RW: 3 } as const;

/** `SMMUIOTLBKey` (QEMU smmu-common.h). asid/vmid −1 mean "none" (stage-2-only / no S2P). */
export interface IotlbKey {
  asid: number;
  vmid: number;
  /** Input address rounded down to the leaf block size. */
  iova: bigint;
  /** (granule − 10) / 2: 1 = 4 KiB, 2 = 16 KiB, 3 = 64 KiB. */
  tg: number;
  /** Level of the leaf, 1..3. */
  level: number;
}

/** `SMMUTLBEntry` (QEMU smmu-common.h). */
export interface IotlbEntry extends IotlbKey {
  translatedAddr: bigint;
  /** Block size − 1. */
  addrMask: bigint;
  perm: number;
  /** Stage-2 permissions of a combined nested entry. */
  parentPerm?: number;
}

/** IOTLB counters (project decision: hits, misses and evictions are counted). */
export interface IotlbStats {
  entries: number;
  capacity: number;
  hits: number;
  misses: number;
  evictions: number;
}

/** QEMU's IOTLB capacity, `SMMU_IOTLB_MAX_SIZE` (QEMU smmu-common.h); the default here. */
export const IOTLB_DEFAULT_CAPACITY = 256;

const U64 = (1n << 64n) - 1n;

function keyString(asid: number, vmid: number, iova: bigint, tg: number, level: number): string {
  return `${asid}/${vmid}/${tg}/${level}/${iova.toString(16)}`;
}

function isId(v: number): boolean {
  return Number.isInteger(v) && v >= -1 && v <= 0xffff;
}

/** Granule log2 of a TG value; TG 0 (non-range TLBI) defaults to 4 KiB (QEMU smmu-common.c). */
export function tgGranuleLog2(tg: number): number {
  return tg ? tg * 2 + 10 : 12;
}

/** The entries of one (VMID, ASID) pair, by key string (a secondary index of `Iotlb.map`). */
type Bucket = Map<string, IotlbEntry>;

/** Bounded LRU IOTLB of one SMMU (§5). */
export class Iotlb {
  readonly capacity: number;
  /** Insertion order = LRU order: the first key is the least recently used. */
  private readonly map = new Map<string, IotlbEntry>();
  /**
   * The same entries indexed by VMID then ASID, so an invalidation visits only the entries its
   * VMID/ASID filters can select. Holds exactly the entries of `map` (same objects, same keys);
   * empty buckets and VMIDs are dropped. LRU order lives in `map` only.
   */
  private readonly byVmid = new Map<number, Map<number, Bucket>>();
  private hits = 0;
  private misses = 0;
  private evictions = 0;
  /** The same counters per VMID, for per-vIOMMU statistics. */
  private readonly perVmid = new Map<number, { hits: number; misses: number; evictions: number }>();

  private vmidCounters(vmid: number): { hits: number; misses: number; evictions: number } {
    let c = this.perVmid.get(vmid);
    if (c === undefined) {
      c = { hits: 0, misses: 0, evictions: 0 };
      this.perVmid.set(vmid, c);
    }
    return c;
  }

  constructor(capacity: number = IOTLB_DEFAULT_CAPACITY) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`IOTLB capacity must be ≥ 1, got ${capacity}`);
    this.capacity = capacity;
  }

  get size(): number {
    return this.map.size;
  }

  private indexAdd(key: string, e: IotlbEntry): void {
    let asids = this.byVmid.get(e.vmid);
    if (asids === undefined) {
      asids = new Map();
      this.byVmid.set(e.vmid, asids);
    }
    let bucket = asids.get(e.asid);
    if (bucket === undefined) {
      bucket = new Map();
      asids.set(e.asid, bucket);
    }
    bucket.set(key, e);
  }

  private indexDelete(key: string, e: IotlbEntry): void {
    const asids = this.byVmid.get(e.vmid);
    if (asids === undefined) return;
    const bucket = asids.get(e.asid);
    if (bucket === undefined) return;
    bucket.delete(key);
    if (bucket.size === 0) {
      asids.delete(e.asid);
      if (asids.size === 0) this.byVmid.delete(e.vmid);
    }
  }

  /** Removes one entry by key from the table and the index; false when absent. */
  private deleteKey(key: string): boolean {
    const e = this.map.get(key);
    if (e === undefined) return false;
    this.map.delete(key);
    this.indexDelete(key, e);
    return true;
  }

  /**
   * True when a stage-1 invalidation (`invIova`) with these filters (−1 = any) could remove
   * something: lets the command path skip decoding the address of a TLBI that cannot match.
   */
  mayHoldStage1(asid: number, vmid: number): boolean {
    if (vmid >= 0) {
      const asids = this.byVmid.get(vmid);
      return asids !== undefined && (asid < 0 || asids.has(asid));
    }
    if (asid < 0) return this.map.size !== 0;
    for (const asids of this.byVmid.values()) if (asids.has(asid)) return true;
    return false;
  }

  /** True when a stage-2 invalidation (`invIpa`) of `vmid` could remove something. */
  mayHoldStage2(vmid: number): boolean {
    return this.byVmid.get(vmid)?.has(-1) === true;
  }

  /**
   * Inserts (or replaces) an entry and makes it most recently used; when full, the least
   * recently used entry is evicted first (project decision replacing QEMU's flush, §5).
   */
  insert(entry: IotlbEntry): void {
    const { asid, vmid, iova, tg, level, addrMask } = entry;
    if (!isId(asid) || !isId(vmid)) throw new RangeError('IOTLB entry: asid/vmid must be −1..0xffff');
    if (tg < 1 || tg > 3 || !Number.isInteger(tg)) throw new RangeError('IOTLB entry: tg must be 1..3');
    if (level < 0 || level > 3 || !Number.isInteger(level)) throw new RangeError('IOTLB entry: level must be 0..3');
    if (addrMask < 0n || (addrMask & (addrMask + 1n)) !== 0n || (iova & addrMask) !== 0n || iova < 0n || iova > U64) {
      throw new RangeError('IOTLB entry: addrMask must be 2^n − 1 and iova aligned to it');
    }
    const key = keyString(asid, vmid, iova, tg, level);
    if (this.map.has(key)) {
      this.deleteKey(key);
    } else if (this.map.size >= this.capacity) {
      const lru = this.map.keys().next().value;
      if (lru !== undefined) {
        this.vmidCounters((this.map.get(lru) as IotlbEntry).vmid).evictions++;
        this.deleteKey(lru);
      }
      this.evictions++;
    }
    const e = { ...entry };
    this.map.set(key, e);
    this.indexAdd(key, e);
  }

  /** Exact-key lookup (`smmu_iotlb_lookup` probe); counts a hit or a miss, refreshes LRU order. */
  lookup(key: IotlbKey): IotlbEntry | undefined {
    const k = keyString(key.asid, key.vmid, key.iova, key.tg, key.level);
    const e = this.map.get(k);
    if (e === undefined) {
      this.misses++;
      this.vmidCounters(key.vmid).misses++;
      return undefined;
    }
    this.hits++;
    this.vmidCounters(key.vmid).hits++;
    this.map.delete(k);
    this.map.set(k, e);
    return { ...e };
  }

  /** Exact-key presence test without touching counters or LRU order. */
  has(key: IotlbKey): boolean {
    return this.map.has(keyString(key.asid, key.vmid, key.iova, key.tg, key.level));
  }

  /** Snapshot of the entries, least recently used first. */
  entries(): IotlbEntry[] {
    return [...this.map.values()].map((e) => ({ ...e }));
  }

  stats(): IotlbStats {
    return { entries: this.map.size, capacity: this.capacity, hits: this.hits, misses: this.misses, evictions: this.evictions };
  }

  /** Entries, hits, misses and evictions of one VMID (a vIOMMU's share of the IOTLB). */
  statsForVmid(vmid: number): { entries: number; hits: number; misses: number; evictions: number } {
    let entries = 0;
    const asids = this.byVmid.get(vmid);
    if (asids !== undefined) for (const b of asids.values()) entries += b.size;
    const c = this.perVmid.get(vmid) ?? { hits: 0, misses: 0, evictions: 0 };
    return { entries, ...c };
  }

  /** Removes a whole (VMID, ASID) bucket from the table and the index. */
  private dropBucket(asids: Map<number, Bucket>, vmid: number, asid: number, bucket: Bucket): number {
    for (const k of bucket.keys()) this.map.delete(k);
    asids.delete(asid);
    if (asids.size === 0) this.byVmid.delete(vmid);
    return bucket.size;
  }

  /**
   * Removes the entries of `bucket` that the overlap rule of §2.6 selects: the entry contains
   * `addr`, or starts inside the range `addr` + `mask`.
   */
  private removeOverlapping(asids: Map<number, Bucket>, vmid: number, asid: number, bucket: Bucket, addr: bigint, mask: bigint): number {
    let n = 0;
    for (const [k, e] of bucket) {
      if ((addr & ~e.addrMask) === e.iova || (e.iova & ~mask) === addr) {
        bucket.delete(k);
        this.map.delete(k);
        n++;
      }
    }
    if (bucket.size === 0) {
      asids.delete(asid);
      if (asids.size === 0) this.byVmid.delete(vmid);
    }
    return n;
  }

  /** `smmu_iotlb_inv_all` (QEMU smmu-common.c): TLBI_NSNH_ALL. Returns the number removed. */
  invAll(): number {
    const n = this.map.size;
    this.map.clear();
    this.byVmid.clear();
    return n;
  }

  /** `smmu_iotlb_inv_asid_vmid` (QEMU smmu-common.c): TLBI_NH_ASID, exact (asid, vmid). */
  invAsidVmid(asid: number, vmid: number): number {
    const asids = this.byVmid.get(vmid);
    const bucket = asids?.get(asid);
    return asids === undefined || bucket === undefined ? 0 : this.dropBucket(asids, vmid, asid, bucket);
  }

  /** `smmu_iotlb_inv_vmid` (QEMU smmu-common.c): TLBI_S12_VMALL, every entry of the VMID. */
  invVmid(vmid: number): number {
    const asids = this.byVmid.get(vmid);
    if (asids === undefined) return 0;
    let n = 0;
    for (const [asid, bucket] of asids) n += this.dropBucket(asids, vmid, asid, bucket);
    return n;
  }

  /** `smmu_iotlb_inv_vmid_s1` (QEMU smmu-common.c): TLBI_NH_ALL with S2P, entries of VMID with asid ≥ 0. */
  invVmidS1(vmid: number): number {
    const asids = this.byVmid.get(vmid);
    if (asids === undefined) return 0;
    let n = 0;
    for (const [asid, bucket] of asids) if (asid >= 0) n += this.dropBucket(asids, vmid, asid, bucket);
    return n;
  }

  /**
   * `smmu_iotlb_inv_iova` (QEMU smmu-common.c), stage 1: with TTL ≠ 0, one page and asid ≥ 0, try the
   * exact key first; otherwise remove every entry matching the asid/vmid filters (−1 = any)
   * that contains `iova` or starts inside [iova, iova + numPages·granule).
   */
  invIova(asid: number, vmid: number, iova: bigint, tg: number, numPages: bigint, ttl: number): number {
    if (ttl !== 0 && numPages === 1n && asid >= 0) {
      if (this.deleteKey(keyString(asid, vmid, iova, tg, ttl))) return 1;
    }
    if (!this.mayHoldStage1(asid, vmid)) return 0; // no candidate: skip the overlap arithmetic
    const mask = ((numPages << BigInt(tgGranuleLog2(tg))) - 1n) & U64;
    // The overlap rule over the candidates only: the bucket(s) the asid/vmid filters select.
    if (vmid >= 0) return this.removeOverlappingOfVmid(vmid, asid, iova, mask);
    let n = 0;
    for (const v of this.byVmid.keys()) n += this.removeOverlappingOfVmid(v, asid, iova, mask);
    return n;
  }

  /** The overlap rule over the entries of `vmid` whose ASID passes the filter (−1 = any). */
  private removeOverlappingOfVmid(vmid: number, asid: number, iova: bigint, mask: bigint): number {
    const asids = this.byVmid.get(vmid);
    if (asids === undefined) return 0;
    if (asid >= 0) {
      const bucket = asids.get(asid);
      return bucket === undefined ? 0 : this.removeOverlapping(asids, vmid, asid, bucket, iova, mask);
    }
    let n = 0;
    for (const [a, bucket] of asids) n += this.removeOverlapping(asids, vmid, a, bucket, iova, mask);
    return n;
  }

  /**
   * `smmu_iotlb_inv_ipa` (QEMU smmu-common.c), stage 2: only pure stage-2 entries (asid < 0) of
   * exactly `vmid`; exact-key fast path for TTL ≠ 0 and one page; then the overlap rule.
   */
  invIpa(vmid: number, ipa: bigint, tg: number, numPages: bigint, ttl: number): number {
    if (ttl !== 0 && numPages === 1n) {
      if (this.deleteKey(keyString(-1, vmid, ipa, tg, ttl))) return 1;
    }
    const asids = this.byVmid.get(vmid);
    const bucket = asids?.get(-1);
    if (asids === undefined || bucket === undefined) return 0;
    const mask = ((numPages << BigInt(tgGranuleLog2(tg))) - 1n) & U64;
    return this.removeOverlapping(asids, vmid, -1, bucket, ipa, mask);
  }
}

/**
 * Range invalidation (smmuv3.md §2.6; QEMU `smmuv3_range_inval`): a TLBI's address, TG, NUM and
 * SCALE cut into naturally aligned power-of-two pieces, each handed to the IOTLB's stage-1 or
 * stage-2 invalidation (src/hw/tlb.ts). Arithmetic is modulo 2^64, as in QEMU.
 */
import { tgGranuleLog2, type Iotlb } from './tlb.js';

const U64 = (1n << 64n) - 1n;
/** 2^k − 1 for k = 0..64, so the range walk allocates no masks. */
const LOW_MASKS: readonly bigint[] = Array.from({ length: 65 }, (_, k) => (1n << BigInt(k)) - 1n);

/**
 * QEMU `dma_aligned_pow2_mask(start, end, 64)`: the mask of the largest naturally aligned
 * power-of-two block starting at `start` that does not pass `end` (64-bit arithmetic).
 */
export function dmaAlignedPow2Mask(start: bigint, end: bigint): bigint {
  const addrMask = (end - start) & U64;
  if (addrMask === U64) return U64;
  const alignmentMask = start === 0n ? U64 : ((start & -start) - 1n) & U64;
  if (alignmentMask <= addrMask) return alignmentMask;
  // The largest power of two ≤ addrMask + 1 (≤ 2^64 here): its bit length, without a shift loop.
  return LOW_MASKS[(addrMask + 1n).toString(2).length - 1];
}

/** One naturally aligned piece of a range TLBI (§2.6). */
export interface RangePiece {
  addr: bigint;
  /** Piece size − 1. */
  mask: bigint;
}

/**
 * The pieces `smmuv3_range_inval` (QEMU smmuv3.c) splits a range TLBI into (§2.6): TG=0 → one
 * page at `addr`; TG≠0 → (NUM+1)·2^SCALE pages of 2^(TG·2+10) bytes from `addr`, cut into
 * naturally aligned power-of-two pieces. Arithmetic is modulo 2^64, as in QEMU.
 */
export function rangeInvalPieces(addr: bigint, tg: number, num: number, scale: number): RangePiece[] {
  const granule = BigInt(tgGranuleLog2(tg));
  if (tg === 0) return [{ addr, mask: (1n << granule) - 1n }];
  const numPages = BigInt(num + 1) << BigInt(scale);
  const end = (addr + (numPages << granule) - 1n) & U64;
  const stop = (end + 1n) & U64;
  const pieces: RangePiece[] = [];
  let a = addr & U64;
  while (a !== stop) {
    const mask = dmaAlignedPow2Mask(a, end);
    pieces.push({ addr: a, mask });
    a = (a + mask + 1n) & U64;
  }
  return pieces;
}

/**
 * `smmuv3_range_inval` (§2.6): invalidates each piece of a range TLBI. Stage 1 uses
 * `invIova(asid, vmid, ...)` (asid −1 = NH_VAA, any ASID); stage 2 uses `invIpa(vmid, ...)`.
 * LEAF never narrows what is removed. Returns the number of entries removed.
 */
export function rangeInvalidate(
  tlb: Iotlb,
  stage: 1 | 2,
  asid: number,
  vmid: number,
  addr: bigint,
  tg: number,
  num: number,
  scale: number,
  ttl: number,
): number {
  if (tg === 0) return stage === 1 ? tlb.invIova(asid, vmid, addr, tg, 1n, ttl) : tlb.invIpa(vmid, addr, tg, 1n, ttl);
  const granuleLog2 = tgGranuleLog2(tg);
  // Fast path (the common Linux form): NUM+1 a power of two and `addr` aligned to the whole
  // range, which is then a single naturally aligned piece — exactly what the walk below yields.
  if (Number.isInteger(num) && num >= 0 && num <= 31 && (num & (num + 1)) === 0 && Number.isInteger(scale) && scale >= 0 && scale <= 31) {
    const log2Size = 31 - Math.clz32(num + 1) + scale + granuleLog2; // aligned addr + size − 1 cannot pass 2^64 − 1
    if (log2Size <= 52 && addr >= 0n && addr <= U64 && (addr & LOW_MASKS[log2Size]) === 0n) {
      const numPages = BigInt((num + 1) * 2 ** scale);
      return stage === 1 ? tlb.invIova(asid, vmid, addr, tg, numPages, ttl) : tlb.invIpa(vmid, addr, tg, numPages, ttl);
    }
  }
  // Same walk as rangeInvalPieces, without building the list.
  const granule = BigInt(granuleLog2);
  const end = (addr + ((BigInt(num + 1) << BigInt(scale)) << granule) - 1n) & U64;
  const stop = (end + 1n) & U64;
  let removed = 0;
  for (let a = addr & U64; a !== stop; ) {
    const mask = dmaAlignedPow2Mask(a, end);
    const numPages = (mask + 1n) >> granule;
    removed += stage === 1 ? tlb.invIova(asid, vmid, a, tg, numPages, ttl) : tlb.invIpa(vmid, a, tg, numPages, ttl);
    a = (a + mask + 1n) & U64;
  }
  return removed;
}

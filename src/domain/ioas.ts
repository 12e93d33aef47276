/** IOAS and its mappings (IOMMU_IOAS_ALLOC / MAP / UNMAP), backed by simulated host memory. */
import { fail } from './errors.js';
import type { WriteTx } from './graph.js';
import type { Reader } from './reader.js';
import { allocId } from './ids.js';
import { lookupContext } from './contexts.js';
import { freeHostRange } from './memory.js';
import { lookupObject, pinnersOf } from './object-table.js';
import type { IoasRec } from './objects/index.js';
import type { MappingRec } from './types.js';

export const PAGE_SIZE = 0x1000n;
export const U64_MAX = (1n << 64n) - 1n;
/** Simulated host physical memory handed to mappings starts here (above a 4 GiB "host RAM" hole). */
export const HOST_MEMORY_BASE = 0x1_0000_0000n;
const NEXT_HOST_ADDRESS = 'nextHostAddress';

export function createIoas(tx: WriteTx, contextId: number): IoasRec {
  const context = lookupContext(tx, contextId);
  return tx.put('objects', { id: allocId(tx), contextId: context.id, type: 'ioas', createdAt: Date.now() } satisfies IoasRec);
}

export function mappingsOf(r: Reader, ioasId: number): MappingRec[] {
  return [...r.indexed('mappings', 'ioas', ioasId)].sort((a, b) => (a.iova < b.iova ? -1 : a.iova > b.iova ? 1 : 0));
}

export interface MapInput {
  iova: bigint;
  length: bigint;
  read: boolean;
  write: boolean;
}

/** IOMMU_IOAS_MAP with a fixed IOVA: page-aligned, non-overlapping. */
export function mapIoas(tx: WriteTx, ioasId: number, input: MapInput): MappingRec {
  const ioas = lookupObject(tx, null, ioasId, ['ioas'], 'IOAS');
  if (!input.read && !input.write) fail('EINVAL', 'a mapping must be readable, writable or both');
  if (input.length === 0n) fail('EINVAL', 'length must not be 0');
  if (input.iova + input.length - 1n > U64_MAX) fail('EOVERFLOW', 'iova + length overflows 64 bits');
  if (input.iova % PAGE_SIZE !== 0n || input.length % PAGE_SIZE !== 0n) fail('EINVAL', 'iova and length must be 4 KiB aligned');
  const last = input.iova + input.length - 1n;
  for (const m of mappingsOf(tx, ioas.id)) {
    if (input.iova <= m.iova + m.length - 1n && m.iova <= last) {
      fail('EEXIST', `[0x${input.iova.toString(16)}, 0x${(last + 1n).toString(16)}) overlaps the mapping at 0x${m.iova.toString(16)}`);
    }
  }
  // Bump allocator over simulated host memory: each mapping is physically contiguous, and a host
  // range is never handed out twice (so freed pages can never alias a later mapping).
  // Like huge-page-backed guest RAM, a mapping's host base is aligned to the largest power of two
  // not above its length (at most 1 GiB), so guest-physical alignment inside it is host alignment.
  let align = 1n;
  while (align * 2n <= input.length && align < 1n << 30n) align *= 2n;
  const next = BigInt(tx.get('meta', NEXT_HOST_ADDRESS)?.value ?? HOST_MEMORY_BASE.toString());
  const hostAddress = (next + align - 1n) & ~(align - 1n);
  tx.put('meta', { key: NEXT_HOST_ADDRESS, value: (hostAddress + input.length).toString() });
  return tx.put('mappings', { ioasId: ioas.id, iova: input.iova, length: input.length, hostAddress, readable: input.read, writable: input.write });
}

/**
 * IOMMU_IOAS_UNMAP (iommufd_ioas_unmap): iova 0 with length U64_MAX (or `range` null) is "unmap
 * all" (iopt_unmap_all), which succeeds on an empty IOAS; any other range with iova or length
 * of U64_MAX is EOVERFLOW; iopt_unmap_iova_range removes every mapping inside [iova, iova+length),
 * a mapping that crosses either end is ENOENT, nothing inside is ENOENT, and a mapping pinned by
 * a HW queue is EBUSY.
 */
export function unmapIoas(tx: WriteTx, ioasId: number, range: { iova: bigint; length: bigint } | null): { unmapped: bigint } {
  const ioas = lookupObject(tx, null, ioasId, ['ioas'], 'IOAS');
  let start = 0n;
  let last = U64_MAX;
  if (range && range.iova === 0n && range.length === U64_MAX) range = null;
  if (range) {
    if (range.iova >= U64_MAX || range.length >= U64_MAX) fail('EOVERFLOW', 'iova or length is U64_MAX (only iova 0 with length U64_MAX, "unmap all", may use it)');
    if (range.length === 0n) fail('EINVAL', 'length must not be 0');
    if (range.iova + range.length - 1n > U64_MAX) fail('EOVERFLOW', 'iova + length overflows 64 bits');
    start = range.iova;
    last = range.iova + range.length - 1n;
  }
  const victims = mappingsOf(tx, ioas.id).filter((m) => m.iova <= last && m.iova + m.length - 1n >= start);
  for (const m of victims) {
    if (m.iova < start || m.iova + m.length - 1n > last) {
      fail('ENOENT', `the mapping at 0x${m.iova.toString(16)} crosses the edge of the range to unmap`);
    }
    // A HW queue's internal access pins its pages: IOAS_UNMAP is EBUSY (scenario 78).
    const pinnedBy = pinnersOf(tx, ioas.id, m.iova, m.iova + m.length);
    if (pinnedBy.length > 0) {
      fail('EBUSY', `the mapping at 0x${m.iova.toString(16)} is pinned by HW queue ${pinnedBy.map((o) => o.id).join(', ')}`, {
        blockedBy: pinnedBy.map((o) => o.id),
      });
    }
  }
  if (range && victims.length === 0) fail('ENOENT', 'nothing is mapped in that range');
  let unmapped = 0n;
  for (const m of victims) {
    tx.delete('mappings', `${m.ioasId}:${m.iova}`);
    freeHostRange(tx, m.hostAddress, m.length);
    unmapped += m.length;
  }
  return { unmapped };
}


/**
 * Simulated host memory behind IOAS mappings: sparse 4 KiB pages, allocated on first write,
 * zero-filled on read, bounded by a configured total (ENOMEM beyond it). The guest (or a test,
 * or a VMM) writes its CD tables and page tables here through the IOAS; the SMMU model reads
 * them at host physical addresses during a walk.
 */
import { fail } from './errors.js';
import type { ObjectGraph, WriteTx } from './graph.js';
import type { Reader } from './reader.js';
import type { MappingRec } from './types.js';
import { ioasOfS1Handle, type DriverMemory } from './driver/cd-table.js';

export const GUEST_PAGE = 4096n;
const PAGE_SHIFT = 12n;

interface Segment {
  host: bigint;
  length: number;
  offset: number;
}

/** Host segments backing [iova, iova+length) of an IOAS: every byte must be mapped (ENOENT). */
function segments(r: Reader, ioasId: number, iova: bigint, length: number): Segment[] {
  const mappings = ([...r.indexed('mappings', 'ioas', ioasId)] as MappingRec[]).sort((a, b) => (a.iova < b.iova ? -1 : 1));
  const out: Segment[] = [];
  let cur = iova;
  const end = iova + BigInt(length);
  while (cur < end) {
    const m = mappings.find((x) => x.iova <= cur && cur < x.iova + x.length);
    if (!m) fail('ENOENT', `IOVA 0x${cur.toString(16)} of IOAS ${ioasId} is not mapped`);
    const take = (m.iova + m.length < end ? m.iova + m.length : end) - cur;
    out.push({ host: m.hostAddress + (cur - m.iova), length: Number(take), offset: Number(cur - iova) });
    cur += take;
  }
  return out;
}

/** Reads guest memory through the IOAS (unwritten pages read as zero). */
export function readGuest(r: Reader, ioasId: number, iova: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (const seg of segments(r, ioasId, iova, length)) {
    let done = 0;
    while (done < seg.length) {
      const addr = seg.host + BigInt(done);
      const pageAddr = addr & ~(GUEST_PAGE - 1n);
      const within = Number(addr - pageAddr);
      const n = Math.min(seg.length - done, Number(GUEST_PAGE) - within);
      const page = r.get('pages', pageAddr.toString(16));
      if (page) out.set((page as { data: Uint8Array }).data.subarray(within, within + n), seg.offset + done);
      done += n;
    }
  }
  return out;
}

/** Writes guest memory through the IOAS; all or nothing (ENOENT, ENOMEM before anything). */
export function writeGuest(tx: WriteTx, ioasId: number, iova: bigint, data: Uint8Array, limitBytes: number): void {
  const segs = segments(tx, ioasId, iova, data.length);
  let allocated = tx.count('pages');
  const fresh = new Map<bigint, Uint8Array>();
  for (const seg of segs) {
    let done = 0;
    while (done < seg.length) {
      const addr = seg.host + BigInt(done);
      const pageAddr = addr & ~(GUEST_PAGE - 1n);
      const within = Number(addr - pageAddr);
      const n = Math.min(seg.length - done, Number(GUEST_PAGE) - within);
      let page = fresh.get(pageAddr);
      if (!page) {
        const existing = tx.get('pages', pageAddr.toString(16));
        if (!existing && (allocated + 1) * Number(GUEST_PAGE) > limitBytes) {
          fail('ENOMEM', `simulated host memory is limited to ${limitBytes} bytes (${allocated} pages allocated)`);
        }
        if (!existing) allocated++;
        page = existing ? existing.data.slice() : new Uint8Array(Number(GUEST_PAGE));
        fresh.set(pageAddr, page);
      }
      page.set(data.subarray(seg.offset + done, seg.offset + done + n), within);
      done += n;
    }
  }
  for (const [page, bytes] of fresh) tx.put('pages', { page, data: bytes });
}

/** Writes host physical memory (the caller has checked the range is backed). */
export function writeHost(tx: WriteTx, host: bigint, data: Uint8Array, limitBytes: number): void {
  let allocated = -1;
  let done = 0;
  while (done < data.length) {
    const addr = host + BigInt(done);
    const pageAddr = addr & ~(GUEST_PAGE - 1n);
    const within = Number(addr - pageAddr);
    const n = Math.min(data.length - done, Number(GUEST_PAGE) - within);
    const existing = tx.get('pages', pageAddr.toString(16));
    if (!existing) {
      if (allocated < 0) allocated = tx.count('pages');
      if (++allocated * Number(GUEST_PAGE) > limitBytes) fail('ENOMEM', `simulated host memory is limited to ${limitBytes} bytes`);
    }
    const page = existing ? existing.data.slice() : new Uint8Array(Number(GUEST_PAGE));
    page.set(data.subarray(done, done + n), within);
    tx.put('pages', { page: pageAddr, data: page });
    done += n;
  }
}

/** Host segments of an IOAS range, exported for pinning checks (ENOENT if not all mapped). */
export function hostSegments(r: Reader, ioasId: number, iova: bigint, length: number): Array<{ host: bigint; length: number }> {
  return segments(r, ioasId, iova, length).map(({ host, length: l }) => ({ host, length: l }));
}

/** Frees the pages of a host range (its mapping is gone; host addresses are never handed out again). */
export function freeHostRange(tx: WriteTx, host: bigint, length: bigint): void {
  // Whichever is less: the range's pages looked up one by one, or every written page scanned.
  if (length / GUEST_PAGE <= BigInt(tx.size('pages'))) {
    for (let page = host & ~(GUEST_PAGE - 1n); page < host + length; page += GUEST_PAGE) {
      const key = page.toString(16);
      if (tx.has('pages', key)) tx.delete('pages', key);
    }
    return;
  }
  for (const p of [...tx.values('pages')]) if (p.page >= host && p.page < host + length) tx.delete('pages', p.page.toString(16));
}

/** A mapping's host range, [start, end). */
interface HostRange {
  start: bigint;
  end: bigint;
}

/**
 * The model's view of host memory: 64-bit little-endian reads at host physical addresses; an
 * address outside every mapping is a bus error (null).
 */
export class HostMemory {
  /** Every mapping's host range, sorted by start (host ranges never overlap), kept as mappings change. */
  private ranges: HostRange[] = [];
  /** Ranges appended out of order (a load): sorted once, when next read. */
  private unsorted = false;

  constructor(
    private readonly graph: ObjectGraph,
    /** The host driver's own memory (its CD tables, driver/cd-table.ts), read before the RAM of mappings. */
    private readonly driver: DriverMemory | null = null,
  ) {
    for (const m of graph.values('mappings')) this.add(m, true);
    // Kept by the graph as mappings load and commits apply: a map or an unmap moves one range
    // (host addresses are handed out in ascending order, so a new one is appended), never a sort
    // of every mapping of the host.
    graph.observe('mappings', {
      change: (before, after) => {
        if (before) this.remove(before);
        if (after) this.add(after, false);
      },
      clear: () => {
        this.ranges = [];
        this.unsorted = false;
      },
    });
  }

  private sorted(): HostRange[] {
    if (this.unsorted) {
      this.ranges.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
      this.unsorted = false;
    }
    return this.ranges;
  }

  /** Index of the first range whose start is above `pa`. */
  private firstAbove(pa: bigint): number {
    const ranges = this.sorted();
    let lo = 0;
    let hi = ranges.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ranges[mid].start <= pa) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private add(m: MappingRec, bulk: boolean): void {
    const range = { start: m.hostAddress, end: m.hostAddress + m.length };
    const last = this.ranges[this.ranges.length - 1];
    if (bulk || this.unsorted || last === undefined || last.start < range.start) {
      if (last !== undefined && last.start >= range.start) this.unsorted = true;
      this.ranges.push(range);
      return;
    }
    this.ranges.splice(this.firstAbove(range.start), 0, range);
  }

  private remove(m: MappingRec): void {
    const at = this.firstAbove(m.hostAddress) - 1;
    if (at >= 0 && this.ranges[at].start === m.hostAddress) this.ranges.splice(at, 1);
  }

  /** Host ranges never overlap: a binary search finds the one that could hold `pa`. */
  backed(pa: bigint): boolean {
    const r = this.ranges[this.firstAbove(pa) - 1];
    return r !== undefined && pa < r.end;
  }

  read64(pa: bigint): bigint | null {
    if (this.driver?.owns(pa)) return pa & 7n ? null : this.driver.read64(pa);
    if (pa & 7n || !this.backed(pa)) return null;
    const pageAddr = pa & ~(GUEST_PAGE - 1n);
    const page = this.graph.get('pages', pageAddr.toString(16));
    if (!page) return 0n;
    return new DataView(page.data.buffer, page.data.byteOffset, page.data.byteLength).getBigUint64(Number(pa - pageAddr), true);
  }

  /**
   * A host stage-1 domain through the IOAS whose handle is in CD.TTB0 (driver/cd-table.ts
   * s1HandleOfIoas), as the io-pgtable the kernel fills from the IOAS would translate; undefined
   * for any other TTB0 (a guest's own tables, walked in memory).
   */
  stage1(ttb: bigint, va: bigint): { pa: bigint; read: boolean; write: boolean; pageLog2: number } | null | undefined {
    const ioasId = ioasOfS1Handle(ttb);
    return ioasId === null ? undefined : this.resolve(ioasId, va);
  }

  /** Stage 2 through the IOAS whose handle is in STE.S2TTB (hardware.ts s2HandleOfIoas). */
  stage2(s2ttb: bigint, ipa: bigint): { pa: bigint; read: boolean; write: boolean; pageLog2: number } | null {
    return this.resolve(Number(s2ttb >> 4n), ipa);
  }

  private resolve(ioasId: number, ipa: bigint): { pa: bigint; read: boolean; write: boolean; pageLog2: number } | null {
    for (const m of this.graph.indexed('mappings', 'ioas', ioasId)) {
      if (ipa >= m.iova && ipa < m.iova + m.length) {
        return { pa: m.hostAddress + (ipa - m.iova), read: m.readable, write: m.writable, pageLog2: Number(PAGE_SHIFT) };
      }
    }
    return null;
  }
}

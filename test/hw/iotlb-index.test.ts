/**
 * The IOTLB's VMID/ASID index (src/hw/tlb.ts) must remove exactly what QEMU's full-table scan
 * removes (smmuv3.md §2.5, §2.6, §5), and keep LRU order, capacity, evictions and counters exact.
 * A naive reference (one LRU Map, every invalidation a scan of all entries, as the model did
 * before the index) runs the same random operations; both must agree after every step. A second
 * property drives the SMMU model with random TLBI commands and checks the IOTLB against the
 * reference applying the §5 table.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeCommand, type CommandName } from '../../src/hw/commands.js';
import { DEFAULT_IDR, type IdrRegisters } from '../../src/hw/idr.js';
import { SmmuModel } from './helpers.js';
import { rangeInvalidate, rangeInvalPieces } from '../../src/hw/range-inval.js';
import { Iotlb, tgGranuleLog2, type IotlbEntry, type IotlbKey } from '../../src/hw/tlb.js';
import { cmds, QEMU_STAGE1_IDR, QEMU_STAGE2_IDR } from './helpers.js';

const U64 = (1n << 64n) - 1n;

const keyOf = (k: IotlbKey): string => `${k.asid}/${k.vmid}/${k.tg}/${k.level}/${k.iova.toString(16)}`;

/** The un-indexed IOTLB: every invalidation scans the whole table (QEMU's g_hash_table_foreach_remove). */
class NaiveIotlb {
  readonly map = new Map<string, IotlbEntry>();
  hits = 0;
  misses = 0;
  evictions = 0;
  readonly perVmid = new Map<number, { hits: number; misses: number; evictions: number }>();
  constructor(readonly capacity: number) {}

  private c(vmid: number): { hits: number; misses: number; evictions: number } {
    let c = this.perVmid.get(vmid);
    if (c === undefined) this.perVmid.set(vmid, (c = { hits: 0, misses: 0, evictions: 0 }));
    return c;
  }

  insert(e: IotlbEntry): void {
    const k = keyOf(e);
    if (this.map.has(k)) this.map.delete(k);
    else if (this.map.size >= this.capacity) {
      const lru = this.map.keys().next().value as string;
      this.c((this.map.get(lru) as IotlbEntry).vmid).evictions++;
      this.map.delete(lru);
      this.evictions++;
    }
    this.map.set(k, { ...e });
  }

  lookup(key: IotlbKey): IotlbEntry | undefined {
    const k = keyOf(key);
    const e = this.map.get(k);
    if (e === undefined) {
      this.misses++;
      this.c(key.vmid).misses++;
      return undefined;
    }
    this.hits++;
    this.c(key.vmid).hits++;
    this.map.delete(k);
    this.map.set(k, e);
    return { ...e };
  }

  removeWhere(pred: (e: IotlbEntry) => boolean): number {
    let n = 0;
    for (const [k, e] of this.map) {
      if (pred(e)) {
        this.map.delete(k);
        n++;
      }
    }
    return n;
  }

  invIova(asid: number, vmid: number, iova: bigint, tg: number, numPages: bigint, ttl: number): number {
    if (ttl !== 0 && numPages === 1n && asid >= 0 && this.map.delete(keyOf({ asid, vmid, iova, tg, level: ttl }))) return 1;
    const mask = ((numPages << BigInt(tgGranuleLog2(tg))) - 1n) & U64;
    return this.removeWhere(
      (e) => (asid < 0 || e.asid === asid) && (vmid < 0 || e.vmid === vmid) && ((iova & ~e.addrMask) === e.iova || (e.iova & ~mask) === iova),
    );
  }

  invIpa(vmid: number, ipa: bigint, tg: number, numPages: bigint, ttl: number): number {
    if (ttl !== 0 && numPages === 1n && this.map.delete(keyOf({ asid: -1, vmid, iova: ipa, tg, level: ttl }))) return 1;
    const mask = ((numPages << BigInt(tgGranuleLog2(tg))) - 1n) & U64;
    return this.removeWhere((e) => e.asid < 0 && e.vmid === vmid && ((ipa & ~e.addrMask) === e.iova || (e.iova & ~mask) === ipa));
  }

  /** `smmuv3_range_inval` piece by piece (§2.6). */
  rangeInval(stage: 1 | 2, asid: number, vmid: number, addr: bigint, tg: number, num: number, scale: number, ttl: number): number {
    let n = 0;
    const g = BigInt(tgGranuleLog2(tg));
    for (const p of rangeInvalPieces(addr, tg, num, scale)) {
      const pages = tg === 0 ? 1n : (p.mask + 1n) >> g;
      n += stage === 1 ? this.invIova(asid, vmid, p.addr, tg, pages, ttl) : this.invIpa(vmid, p.addr, tg, pages, ttl);
    }
    return n;
  }

  statsForVmid(vmid: number): { entries: number; hits: number; misses: number; evictions: number } {
    let entries = 0;
    for (const e of this.map.values()) if (e.vmid === vmid) entries++;
    return { entries, ...(this.perVmid.get(vmid) ?? { hits: 0, misses: 0, evictions: 0 }) };
  }
}

const IDS = [-1, 0, 1, 2];
const id = fc.constantFrom(...IDS);

/** Entries of a few VMIDs/ASIDs over a small address window, at levels 1-3 of the three granules. */
const entryArb = fc
  .record({ asid: id, vmid: id, tg: fc.constantFrom(1, 2, 3), level: fc.constantFrom(1, 2, 3), page: fc.integer({ min: 0, max: 63 }) })
  .map(({ asid, vmid, tg, level, page }): IotlbEntry => {
    const g = tgGranuleLog2(tg);
    const blockLog2 = level === 3 ? g : level === 2 ? Math.min(g + (g - 3), 30) : Math.min(g + 2 * (g - 3), 36);
    // Small pages keep collisions (and so removals) frequent; block entries align down.
    const iova = (BigInt(page) << BigInt(g)) & ~((1n << BigInt(blockLog2)) - 1n);
    return { asid, vmid, iova, tg, level, addrMask: (1n << BigInt(blockLog2)) - 1n, translatedAddr: iova, perm: 3 };
  });

const opArb = fc.oneof(
  { weight: 6, arbitrary: entryArb.map((e) => ({ op: 'insert' as const, e })) },
  { weight: 2, arbitrary: entryArb.map((e) => ({ op: 'lookup' as const, e })) },
  { weight: 1, arbitrary: fc.constant({ op: 'all' as const }) },
  { weight: 1, arbitrary: fc.tuple(id, id).map(([asid, vmid]) => ({ op: 'asidVmid' as const, asid, vmid })) },
  { weight: 1, arbitrary: id.map((vmid) => ({ op: 'vmid' as const, vmid })) },
  { weight: 1, arbitrary: id.map((vmid) => ({ op: 'vmidS1' as const, vmid })) },
  {
    weight: 6,
    arbitrary: fc
      .record({
        stage: fc.constantFrom(1 as const, 2 as const),
        asid: id,
        vmid: id,
        page: fc.integer({ min: 0, max: 70 }),
        tg: fc.integer({ min: 0, max: 3 }),
        num: fc.integer({ min: 0, max: 31 }),
        scale: fc.integer({ min: 0, max: 6 }),
        ttl: fc.integer({ min: 0, max: 3 }),
        high: fc.boolean(),
      })
      .map((r) => ({ op: 'range' as const, ...r })),
  },
);

function expectSame(real: Iotlb, ref: NaiveIotlb): void {
  expect(real.entries()).toEqual([...ref.map.values()]);
  expect(real.size).toBe(ref.map.size);
  expect(real.stats()).toEqual({ entries: ref.map.size, capacity: ref.capacity, hits: ref.hits, misses: ref.misses, evictions: ref.evictions });
  for (const v of IDS) expect(real.statsForVmid(v)).toEqual(ref.statsForVmid(v));
  for (const e of ref.map.values()) expect(real.has(e)).toBe(true);
}

describe('indexed IOTLB ≡ full-scan IOTLB', () => {
  it('random inserts, lookups and invalidations remove exactly the same entries (order, counters, evictions)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 24 }), fc.array(opArb, { maxLength: 120 }), (capacity, ops) => {
        const real = new Iotlb(capacity);
        const ref = new NaiveIotlb(capacity);
        for (const o of ops) {
          switch (o.op) {
            case 'insert':
              real.insert(o.e);
              ref.insert(o.e);
              break;
            case 'lookup':
              expect(real.lookup(o.e)).toEqual(ref.lookup(o.e));
              break;
            case 'all':
              expect(real.invAll()).toBe(ref.removeWhere(() => true));
              break;
            case 'asidVmid':
              expect(real.invAsidVmid(o.asid, o.vmid)).toBe(ref.removeWhere((e) => e.asid === o.asid && e.vmid === o.vmid));
              break;
            case 'vmid':
              expect(real.invVmid(o.vmid)).toBe(ref.removeWhere((e) => e.vmid === o.vmid));
              break;
            case 'vmidS1':
              expect(real.invVmidS1(o.vmid)).toBe(ref.removeWhere((e) => e.vmid === o.vmid && e.asid >= 0));
              break;
            case 'range': {
              const g = BigInt(tgGranuleLog2(o.tg));
              // Mostly inside the entries' window; sometimes near the top of the address space (wrap).
              const addr = o.high ? (U64 - (BigInt(o.page) << g)) & ~((1n << g) - 1n) : BigInt(o.page) << g;
              const asid = o.stage === 1 ? o.asid : -1;
              expect(rangeInvalidate(real, o.stage, asid, o.vmid, addr, o.tg, o.num, o.scale, o.ttl)).toBe(
                ref.rangeInval(o.stage, asid, o.vmid, addr, o.tg, o.num, o.scale, o.ttl),
              );
              break;
            }
          }
          expectSame(real, ref);
        }
      }),
      { numRuns: 300 },
    );
  });
});

/** The §5 table applied to the reference, from the command's fields. */
function refExecute(ref: NaiveIotlb, idr: 'S1' | 'S2' | 'NESTED', c: { name: CommandName; vmid: number; asid: number; addr: bigint; tg: number; num: number; scale: number; ttl: number }): void {
  const s1p = idr !== 'S2';
  const s2p = idr !== 'S1';
  const vmid = s2p ? c.vmid : -1;
  switch (c.name) {
    case 'TLBI_NSNH_ALL':
      ref.removeWhere(() => true);
      break;
    case 'TLBI_NH_ALL':
      if (s1p) ref.removeWhere(s2p ? (e) => e.vmid === vmid && e.asid >= 0 : () => true);
      break;
    case 'TLBI_NH_ASID':
      if (s1p) ref.removeWhere((e) => e.asid === c.asid && e.vmid === vmid);
      break;
    case 'TLBI_NH_VA':
    case 'TLBI_NH_VAA':
      if (s1p) ref.rangeInval(1, c.name === 'TLBI_NH_VA' ? c.asid : -1, vmid, c.addr, c.tg, c.num, c.scale, c.ttl);
      break;
    case 'TLBI_S12_VMALL':
      if (s2p) ref.removeWhere((e) => e.vmid === vmid);
      break;
    case 'TLBI_S2_IPA':
      if (s2p) ref.rangeInval(2, -1, vmid, c.addr, c.tg, c.num, c.scale, c.ttl);
      break;
    default:
      break;
  }
}

const IDRS: Record<'S1' | 'S2' | 'NESTED', IdrRegisters> = { S1: QEMU_STAGE1_IDR, S2: QEMU_STAGE2_IDR, NESTED: DEFAULT_IDR };
const TLBI_NAMES: CommandName[] = ['TLBI_NSNH_ALL', 'TLBI_NH_ALL', 'TLBI_NH_ASID', 'TLBI_NH_VA', 'TLBI_NH_VAA', 'TLBI_S12_VMALL', 'TLBI_S2_IPA'];

describe('SMMU model TLBI commands over the indexed IOTLB', () => {
  it('remove exactly what the §5 table removes from a naive full-scan IOTLB', () => {
    const tlbi = fc.record({
      name: fc.constantFrom(...TLBI_NAMES),
      vmid: fc.integer({ min: 0, max: 2 }),
      asid: fc.integer({ min: 0, max: 2 }),
      page: fc.integer({ min: 0, max: 70 }),
      tg: fc.integer({ min: 0, max: 3 }),
      num: fc.integer({ min: 0, max: 31 }),
      scale: fc.integer({ min: 0, max: 6 }),
      ttl: fc.integer({ min: 0, max: 3 }),
    });
    fc.assert(
      fc.property(
        fc.constantFrom('S1' as const, 'S2' as const, 'NESTED' as const),
        fc.array(fc.oneof({ weight: 3, arbitrary: entryArb.map((e) => ({ e })) }, { weight: 2, arbitrary: tlbi.map((t) => ({ t })) }), { maxLength: 80 }),
        (idr, steps) => {
          const smmu = new SmmuModel({ idr: IDRS[idr], cmdqLog2Size: 4, iotlbSize: 32 });
          const ref = new NaiveIotlb(32);
          for (const s of steps) {
            if ('e' in s) {
              smmu.iotlbInsert(s.e);
              ref.insert(s.e);
              continue;
            }
            const t = s.t;
            const addr = BigInt(t.page) << BigInt(tgGranuleLog2(t.tg));
            const fields: Record<string, number | bigint> = {};
            if (t.name !== 'TLBI_NSNH_ALL') fields.VMID = t.vmid;
            if (t.name === 'TLBI_NH_ASID' || t.name === 'TLBI_NH_VA') fields.ASID = t.asid;
            if (t.name === 'TLBI_NH_VA' || t.name === 'TLBI_NH_VAA' || t.name === 'TLBI_S2_IPA') {
              Object.assign(fields, { ADDR: addr, TG: t.tg, NUM: t.num, SCALE: t.scale, TTL: t.ttl });
            }
            const r = smmu.submitCommands(cmds(encodeCommand(t.name, fields) as [bigint, bigint]));
            if (r.error !== null) smmu.skipFailedCommand(); // ILL without S1P/S2P: nothing removed
            refExecute(ref, idr, { ...t, addr });
            expect(smmu.iotlb.entries()).toEqual([...ref.map.values()]);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

/**
 * The command log (executedCommands) must hold exactly the executed commands, oldest first, across
 * queue wrap, PROD values beyond one queue (entries executed twice), errors, > COMMAND_LOG_SIZE
 * commands, and guest queues consumed with and without a filter. The reference reads the executed
 * slots back from queue memory after each single consumer run (the memory does not change during
 * one run; the filter used here rewrites idempotently).
 */
describe('command log', () => {
  const OPS = [0x12, 0x12, 0x46, 0x01, 0x00, 0x03, 0x30];
  const cmdArb = fc.tuple(fc.constantFrom(...OPS), fc.bigInt({ min: 0n, max: U64 }), fc.bigInt({ min: 0n, max: U64 })).map(([op, dw0, dw1]) => {
    const w0 = (dw0 & ~0xffn & ~(1n << 10n)) | BigInt(op) | (op === 0x03 && (dw1 & 1n) === 1n ? 1n << 10n : 0n); // CFGI_STE: SSec sometimes
    return [w0, dw1] as [bigint, bigint];
  });
  const opArbLog = fc.oneof(
    { weight: 4, arbitrary: fc.array(cmdArb, { minLength: 1, maxLength: 20 }).map((c) => ({ k: 'prod' as const, c, extra: 0 })) },
    { weight: 1, arbitrary: fc.tuple(fc.array(cmdArb, { minLength: 1, maxLength: 4 }), fc.integer({ min: 0, max: 40 })).map(([c, extra]) => ({ k: 'prod' as const, c, extra })) },
    { weight: 3, arbitrary: fc.array(cmdArb, { minLength: 1, maxLength: 20 }).map((c) => ({ k: 'submit' as const, c })) },
    { weight: 2, arbitrary: fc.constant({ k: 'skip' as const }) },
    { weight: 1, arbitrary: fc.constant({ k: 'ack' as const }) },
    { weight: 3, arbitrary: fc.tuple(fc.array(cmdArb, { minLength: 1, maxLength: 20 }), fc.boolean()).map(([c, filtered]) => ({ k: 'guest' as const, c, filtered })) },
  );

  it('records exactly the executed commands, oldest first', async () => {
    const { createQueueState, ringMemory, queuePending, CERROR } = await import('../../src/hw/queue.js');
    const { COMMAND_LOG_SIZE } = await import('../../src/hw/execute.js');
    const read = (bytes: Uint8Array, off: number): [bigint, bigint] => {
      const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      return [v.getBigUint64(off, true), v.getBigUint64(off + 8, true)];
    };
    fc.assert(
      fc.property(fc.constantFrom(1, 2, 3, 4), fc.constantFrom(0, 32), fc.array(opArbLog, { maxLength: 40 }), (log2, guestBase, ops) => {
        const smmu = new SmmuModel({ idr: DEFAULT_IDR, cmdqLog2Size: log2 });
        const size = 1 << log2;
        const guest = createQueueState(log2);
        const guestBytes = new Uint8Array(guestBase + size * 16);
        const guestMem = ringMemory(guestBytes, guestBase);
        const expected: Array<[bigint, bigint]> = [];
        const executed = () => smmu.stats().commands.executed;
        const recordMain = (firstCons: number, n: number) => {
          for (let k = 0; k < n; k++) expected.push(read(smmu.cmdqRing(), ((firstCons + k) & (size - 1)) * 16));
        };
        for (const o of ops) {
          const before = executed();
          const cons = smmu.readCmdqCons();
          if (o.k === 'prod') {
            let prod = smmu.readCmdqProd();
            const free = size - smmu.cmdqState().pending;
            for (const c of o.c.slice(0, Math.max(0, free))) {
              cmds(c).forEach((b, i) => (smmu.cmdqRing()[(prod & (size - 1)) * 16 + i] = b));
              prod = (prod & ~(2 * size - 1)) | ((prod + 1) & (2 * size - 1));
            }
            // `extra` pushes PROD past the written entries, possibly more than one queue ahead.
            smmu.writeCmdqProd((prod & ~(2 * size - 1)) | ((prod + o.extra) & (2 * size - 1)));
            recordMain(cons, executed() - before);
          } else if (o.k === 'submit') {
            const free = size - smmu.cmdqState().pending;
            const c = o.c.slice(0, Math.max(0, free)); // one chunk: a single consumer run
            if (c.length === 0) continue;
            smmu.submitCommands(cmds(...c));
            recordMain(cons, executed() - before);
          } else if (o.k === 'skip' || o.k === 'ack') {
            if (o.k === 'skip') smmu.skipFailedCommand();
            else smmu.acknowledgeError();
            recordMain(cons, executed() - before);
          } else {
            for (const c of o.c) {
              if (size - queuePending(guest) <= 0) break;
              guestBytes.set(cmds(c), guestBase + (guest.prod & (size - 1)) * 16);
              guest.prod = (guest.prod & ~(2 * size - 1)) | ((guest.prod + 1) & (2 * size - 1));
            }
            const gcons = guest.cons;
            // The filter rewrites the VMID of TLBIs in place (idempotent), as a vCMDQ does.
            const filter = (v: DataView, off: number, opcode: number) => {
              if (opcode === 0x12) v.setUint16(off + 4, 7, true);
              return CERROR.NONE;
            };
            const r = smmu.consume(guest, guestMem, o.filtered ? filter : undefined);
            if (r.error !== null) {
              guest.gerrorn = guest.gerror;
              guest.cons = guest.cons & ~(0x7f << 24);
              guest.prod = guest.cons; // drop the rest
            }
            for (let k = 0; k < r.consumed; k++) expected.push(read(guestBytes, guestBase + ((gcons + k) & (size - 1)) * 16));
          }
          const log = smmu.executedCommands();
          expect(log.total).toBe(expected.length);
          expect(log.commands).toEqual(expected.slice(-COMMAND_LOG_SIZE));
        }
      }),
      { numRuns: 150 },
    );
  });

  it('keeps the last COMMAND_LOG_SIZE of a run longer than the log, across log wrap', async () => {
    const { COMMAND_LOG_SIZE } = await import('../../src/hw/execute.js');
    const smmu = new SmmuModel({ idr: DEFAULT_IDR, cmdqLog2Size: 11 });
    const mk = (i: number): [bigint, bigint] => [0x12n | (BigInt(i) << 32n), BigInt(i) << 12n];
    const all: Array<[bigint, bigint]> = [];
    for (const n of [300, 2000, 1500, 1024, 7]) {
      const batch = Array.from({ length: n }, (_, i) => mk(all.length + i));
      const r = smmu.submitCommands(cmds(...batch));
      expect(r.consumed).toBe(n);
      all.push(...batch);
      const log = smmu.executedCommands();
      expect(log.total).toBe(all.length);
      expect(log.commands).toEqual(all.slice(-COMMAND_LOG_SIZE));
      expect(smmu.executedCommands(5).commands).toEqual(all.slice(-5));
    }
  });
});

describe('hot-path command accessors', () => {
  it('cmdOpcode, cmdGetVmid and cmdGetAsid read exactly CMD.TYPE, CMD.VMID and CMD.ASID', async () => {
    const { CMD, cmdGetAsid, cmdGetVmid, cmdOpcode } = await import('../../src/hw/commands.js');
    const { getNum } = await import('../../src/hw/fields.js');
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 48 }), fc.nat(32), (bytes, o) => {
        const off = o % (bytes.length - 15);
        const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        expect(cmdOpcode(v, off)).toBe(getNum(v, off, CMD.TYPE));
        expect(cmdGetVmid(v, off)).toBe(getNum(v, off, CMD.VMID));
        expect(cmdGetAsid(v, off)).toBe(getNum(v, off, CMD.ASID));
      }),
    );
  });
});

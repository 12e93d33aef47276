import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CMD, CMDQ_OP, COMMAND_LAYOUTS, decodeCommand, encodeCommand, type CommandName } from '../../src/hw/commands.js';
import { wordSet, type Field } from '../../src/hw/fields.js';
import { DEFAULT_IDR, type IdrRegisters } from '../../src/hw/idr.js';
import { queueErr, wrapIndexMask } from '../../src/hw/queue.js';
import { SmmuModel } from './helpers.js';
import { rangeInvalPieces } from '../../src/hw/range-inval.js';
import { Iotlb } from '../../src/hw/tlb.js';
import { cmds, QEMU_STAGE1_IDR, QEMU_STAGE2_IDR, s2Ste } from './helpers.js';

const U64 = (1n << 64n) - 1n;
const OPCODES = Object.values(CMDQ_OP);
const NAMES = Object.keys(COMMAND_LAYOUTS) as CommandName[];

/** Random command words, biased towards legal opcodes so every command kind gets exercised. */
const commandWords = fc
  .tuple(
    fc.oneof(fc.constantFrom(...OPCODES), fc.integer({ min: 0, max: 255 })),
    fc.bigInt({ min: 0n, max: U64 }),
    fc.bigInt({ min: 0n, max: U64 }),
    fc.boolean(),
  )
  .map(([op, dw0, dw1, sparse]): [bigint, bigint] => {
    // "sparse" keeps VMID/ASID/SID small so invalidations actually hit the pre-filled entries.
    const words: [bigint, bigint] = [dw0, sparse ? dw1 & 0xfff_ffffn : dw1];
    wordSet(words, CMD.TYPE, op);
    if (sparse) {
      wordSet(words, CMD.SID, Number(dw0 >> 60n));
      wordSet(words, CMD.ASID, Number(dw0 & 3n));
    }
    return words;
  });

const step = fc.oneof(
  { weight: 6, arbitrary: fc.array(commandWords, { minLength: 1, maxLength: 40 }).map((c) => ({ kind: 'submit' as const, c })) },
  { weight: 2, arbitrary: fc.constant({ kind: 'ack' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'skip' as const }) },
  {
    weight: 2,
    arbitrary: fc
      .record({
        asid: fc.integer({ min: -1, max: 3 }),
        vmid: fc.integer({ min: -1, max: 3 }),
        page: fc.integer({ min: 0, max: 64 }),
        level: fc.constantFrom(2, 3),
      })
      .map((e) => ({ kind: 'tlb' as const, e })),
  },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 15 }).map((sid) => ({ kind: 'atc' as const, sid })) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 15 }).map((sid) => ({ kind: 'fault' as const, sid })) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 15 }).map((cr0) => ({ kind: 'cr0' as const, cr0 })) },
);

function checkInvariants(smmu: SmmuModel): void {
  const s = smmu.stats();
  // TLB never above capacity.
  expect(s.iotlb.entries).toBeLessThanOrEqual(s.iotlb.capacity);
  const q = s.cmdq;
  // CONS never passes PROD: the pending distance stays within one queue.
  expect(q.pending).toBeLessThanOrEqual(2 ** q.log2Size);
  expect(((q.cons ^ q.prod) & wrapIndexMask(q.log2Size)) === 0).toBe(q.pending === 0);
  // ERR only set with the queue stopped, and a stopped queue always says why.
  expect(q.err !== 0).toBe(q.stopped);
  expect(queueErr({ ...q, gerror: 0, gerrorn: 0, atcInvSyncPending: false })).toBe(q.err);
  // A running, enabled queue is always drained when a call returns.
  if (q.enabled && !q.stopped) expect(q.pending).toBe(0);
}

describe('property: random command streams', () => {
  it('never throw and keep the model invariants (TLB ≤ capacity, CONS never passes PROD, ERR ⇔ stopped)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<IdrRegisters>(DEFAULT_IDR, QEMU_STAGE1_IDR, QEMU_STAGE2_IDR),
        fc.integer({ min: 1, max: 24 }),
        fc.integer({ min: 0, max: 5 }),
        fc.array(step, { minLength: 1, maxLength: 25 }),
        (idr, iotlbSize, cmdqLog2Size, steps) => {
          const smmu = new SmmuModel({ idr, iotlbSize, cmdqLog2Size });
          for (let sid = 0; sid < 16; sid++) smmu.installSte(sid, s2Ste({ CONFIG: 7, EATS: sid & 1, S2VMID: sid & 3 }));
          for (const st of steps) {
            switch (st.kind) {
              case 'submit': {
                const before = smmu.stats().commands.executed;
                const r = smmu.submitCommands(cmds(...st.c));
                expect(r.consumed).toBeLessThanOrEqual(r.enqueued);
                expect(r.enqueued).toBeLessThanOrEqual(st.c.length);
                if (r.error !== null) expect(r.stopped).toBe(true);
                expect(smmu.stats().commands.executed - before).toBeGreaterThanOrEqual(r.consumed);
                break;
              }
              case 'ack':
                smmu.acknowledgeError();
                break;
              case 'skip':
                smmu.skipFailedCommand();
                break;
              case 'tlb': {
                const size = st.e.level === 3 ? 0x1000n : 0x200000n;
                const iova = (BigInt(st.e.page) << 12n) & ~(size - 1n);
                smmu.iotlbInsert({ asid: st.e.asid, vmid: st.e.vmid, iova, tg: 1, level: st.e.level, addrMask: size - 1n, translatedAddr: 0n, perm: 3 });
                break;
              }
              case 'atc':
                smmu.atcInsert({ sid: st.sid, ssid: -1, iova: BigInt(st.sid) << 12n, addrMask: 0xfffn, translatedAddr: 0n, perm: 3 });
                break;
              case 'fault':
                smmu.setAtcInvFault(st.sid, st.sid % 3 === 0);
                break;
              case 'cr0':
                smmu.writeCr0(st.cr0 | 0x8 * Number(st.cr0 % 4 !== 0));
                break;
            }
            checkInvariants(smmu);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('decodeCommand never throws and re-encoding a decoded legal command reproduces its non-RES0 bits', () => {
    fc.assert(
      fc.property(commandWords, (words) => {
        const d = decodeCommand(words);
        if (d.name === null) {
          expect(d.fields).toEqual({});
          return;
        }
        const again = decodeCommand(encodeCommand(d.name, d.fields));
        expect(again).toEqual(d);
      }),
      { numRuns: 2000 },
    );
  });

  it('encode/decode round-trips random field values for every command', () => {
    const arb = fc.constantFrom(...NAMES).chain((name) => {
      const layout = COMMAND_LAYOUTS[name] as Record<string, Field>;
      const entries = Object.entries(layout).filter(([n]) => n !== 'OP');
      const fieldArbs = Object.fromEntries(
        entries.map(([n, f]) => [
          n,
          f.kind === 'num'
            ? fc.integer({ min: 0, max: 2 ** f.width - 1 })
            : fc.bigInt({ min: 0n, max: (1n << BigInt(f.width)) - 1n }).map((v) => (f.kind === 'addr' ? v << BigInt(f.lo) : v)),
        ]),
      );
      return fc.record(fieldArbs).map((fields) => ({ name, fields: fields as Record<string, number | bigint> }));
    });
    fc.assert(
      fc.property(arb, ({ name, fields }) => {
        expect(decodeCommand(encodeCommand(name, fields))).toEqual({ opcode: CMDQ_OP[name], name, fields });
      }),
      { numRuns: 1000 },
    );
  });
});

describe('property: IOTLB and range pieces', () => {
  it('the IOTLB never exceeds its capacity and matches a reference LRU (contents and evictions)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 16 }),
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 40 })), { maxLength: 200 }),
        (cap, ops) => {
          const tlb = new Iotlb(cap);
          const ref: number[] = []; // least recently used first
          let evictions = 0;
          for (const [isLookup, p] of ops) {
            const entry = { asid: 1, vmid: -1, iova: BigInt(p) << 12n, tg: 1, level: 3, addrMask: 0xfffn, translatedAddr: 0n, perm: 1 };
            const at = ref.indexOf(p);
            if (isLookup) {
              expect(tlb.lookup(entry) !== undefined).toBe(at >= 0);
              if (at >= 0) ref.push(...ref.splice(at, 1));
            } else {
              tlb.insert(entry);
              if (at >= 0) ref.splice(at, 1);
              else if (ref.length === cap) {
                ref.shift();
                evictions++;
              }
              ref.push(p);
            }
            expect(tlb.size).toBeLessThanOrEqual(cap);
          }
          expect(tlb.entries().map((e) => Number(e.iova >> 12n))).toEqual(ref);
          expect(tlb.stats().evictions).toBe(evictions);
        },
      ),
    );
  });

  it('range pieces are contiguous, naturally aligned powers of two covering exactly (NUM+1)·2^SCALE granules', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 0, max: 31 }),
        fc.integer({ min: 0, max: 31 }),
        fc.bigInt({ min: 0n, max: (1n << 52n) - 1n }),
        (tg, num, scale, page) => {
          const granule = BigInt(tg * 2 + 10);
          const addr = page << 12n;
          const pieces = rangeInvalPieces(addr, tg, num, scale);
          let next = addr;
          let total = 0n;
          for (const p of pieces) {
            expect(p.addr).toBe(next);
            expect(p.mask & (p.mask + 1n)).toBe(0n);
            expect(p.addr & p.mask).toBe(0n);
            total += p.mask + 1n;
            next = (p.addr + p.mask + 1n) & U64;
          }
          expect(total).toBe(BigInt(num + 1) << (BigInt(scale) + granule));
          expect(pieces.length).toBeLessThanOrEqual(130);
        },
      ),
      { numRuns: 500 },
    );
  });
});

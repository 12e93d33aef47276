/**
 * Field tables of the registers (IDR0..IDR5, CR0, PROD/CONS, STRTAB_BASE_CFG) and of the page-table
 * descriptor: built by field names, read back by the same names, and the model reads them so.
 */
import { describe, expect, it } from 'vitest';
import { encodeCd } from '../../src/hw/cd.js';
import { decodeFields, regFieldOfWidth, regGet, regMask, regSet, type RegField } from '../../src/hw/fields.js';
import { DEFAULT_IDR, getIdrField, IDR, setIdrField, type IdrFieldName, type IdrRegisters } from '../../src/hw/idr.js';
import { createQueueState, prodAdvance, queueFree, queueIndex, queuePending, queueWrap, wrapIndexMask } from '../../src/hw/queue.js';
import { CMDQ_CONS, CR0, CR0_RESERVED, QUEUE_LOG2SIZE_MAX, queuePointer, STRTAB_BASE_CFG } from '../../src/hw/registers.js';
import { encodeSte } from '../../src/hw/ste.js';
import { decodeStrtabBaseCfg, L1STD, strtabBaseCfg } from '../../src/hw/strtab.js';
import { encodePte, PTE, PTE_AP_RDONLY, PTE_S2AP, PTE_TYPE, type WalkMemory } from '../../src/hw/walk.js';
import { vectorSmmu } from './helpers.js';

function bitsOf(f: RegField): number[] {
  return Array.from({ length: f.width }, (_, i) => f.lo + i);
}

describe('ID registers: one field table for IDR0..IDR5', () => {
  it('api.md default SMMU: IDR0 0x0d44141b, IDR1 0x02730510, IDR3 0x00001400, IDR5 0x00000075', () => {
    expect(DEFAULT_IDR).toEqual([0x0d44141b, 0x02730510, 0, 0x00001400, 0, 0x00000075]);
    expect(getIdrField(DEFAULT_IDR, 'SIDSIZE')).toBe(16);
    expect(getIdrField(DEFAULT_IDR, 'CMDQS')).toBe(19);
    expect(getIdrField(DEFAULT_IDR, 'OAS')).toBe(5);
  });

  it('every field sets only its own bits of its own register, and no two fields of a register overlap', () => {
    const zero: IdrRegisters = [0, 0, 0, 0, 0, 0];
    const owner = new Map<string, string>();
    for (const name of Object.keys(IDR) as IdrFieldName[]) {
      const f = IDR[name];
      const ones = setIdrField(zero, name, 0xffffffff);
      expect(getIdrField(ones, name)).toBe(2 ** f.width - 1);
      ones.forEach((v, reg) => expect(v).toBe(reg === f.reg ? regMask(f) : 0));
      for (const bit of bitsOf(f)) {
        const key = `${f.reg}:${bit}`;
        expect(owner.get(key), `${name} overlaps ${owner.get(key)}`).toBeUndefined();
        owner.set(key, name);
      }
    }
  });
});

describe('control registers', () => {
  it('CR0 fields and CR0ACK = CR0 & ~SMMU_CR0_RESERVED', () => {
    const cr0 = regSet(regSet(0, CR0.SMMUEN, 1), CR0.CMDQEN, 1);
    expect(cr0).toBe(0x9);
    expect(regGet(cr0, CR0.EVENTQEN)).toBe(0);
    const smmu = vectorSmmu();
    smmu.writeCr0(0xffffffff);
    expect(smmu.readCr0Ack()).toBe((0xffffffff & ~CR0_RESERVED) >>> 0);
  });

  it('STRTAB_BASE_CFG and the level-1 descriptor are built and read by field names', () => {
    const cfg = strtabBaseCfg({ log2Size: 16, split: 8, fmt: 1 });
    expect(cfg).toBe(16 | (8 << 6) | (1 << 16));
    expect(regGet(cfg, STRTAB_BASE_CFG.SPLIT)).toBe(8);
    expect(decodeStrtabBaseCfg(cfg)).toEqual({ log2Size: 16, split: 8, fmt: 1 });
    expect(() => strtabBaseCfg({ log2Size: 64 })).toThrow(RangeError);
    expect(() => strtabBaseCfg({ log2Size: 8, split: 32 })).toThrow(RangeError);
    expect(() => strtabBaseCfg({ log2Size: 8, fmt: 4 })).toThrow(RangeError);
    expect(decodeFields(L1STD, [0x8_0000_1000n | 9n])).toEqual({ SPAN: 9, L2PTR: 0x8_0000_1000n });
  });
});

describe('queue pointers: PROD/CONS fields per queue size', () => {
  it('IDX is [log2Size−1:0], WR is bit log2Size, WRAP_IDX both; a one-entry queue has an empty IDX', () => {
    for (let log2 = 0; log2 <= QUEUE_LOG2SIZE_MAX; log2++) {
      const p = queuePointer(log2);
      expect([p.IDX.lo, p.IDX.width, p.WR.lo, p.WR.width, p.WRAP_IDX.lo, p.WRAP_IDX.width]).toEqual([0, log2, log2, 1, 0, log2 + 1]);
      expect(regMask(p.WRAP_IDX)).toBe(wrapIndexMask(log2));
    }
    expect(() => queuePointer(QUEUE_LOG2SIZE_MAX + 1)).toThrow(RangeError);
    expect(regGet(0xffffffff, queuePointer(0).IDX)).toBe(0);
    expect(regFieldOfWidth(3, 0)).toMatchObject({ lo: 3, width: 0 });
    expect(() => regFieldOfWidth(30, 3)).toThrow(RangeError);
  });

  it('PROD advances in WRAP_IDX only: the wrap bit flips after 2^log2Size entries, CONS.ERR and higher bits are kept', () => {
    const log2 = 2;
    const err = regSet(0, CMDQ_CONS.ERR, 1);
    let prod = err | 0x3;
    prod = prodAdvance(prod, log2, 2);
    expect([queueIndex(prod, log2), queueWrap(prod, log2), regGet(prod, CMDQ_CONS.ERR)]).toEqual([1, 1, 1]);
    prod = prodAdvance(prod, log2, 4);
    expect([queueIndex(prod, log2), queueWrap(prod, log2)]).toEqual([1, 0]);
    prod = prodAdvance(prod, log2, 3);
    expect([queueIndex(prod, log2), queueWrap(prod, log2), regGet(prod, CMDQ_CONS.ERR)]).toEqual([0, 1, 1]);
  });

  it('pending = PROD − CONS in WRAP_IDX: same index and wrap is empty, same index and other wrap is full', () => {
    const q = createQueueState(3);
    q.cons = 0x5;
    q.prod = 0x5;
    expect(queuePending(q)).toBe(0);
    q.prod = 0x5 | 0x8; // WR flipped: full
    expect([queuePending(q), queueFree(q)]).toEqual([8, 0]);
    q.cons = regSet(0x7, CMDQ_CONS.ERR, 2); // ERR does not count
    q.prod = 0x8 | 0x1;
    expect(queuePending(q)).toBe(2);
    const one = createQueueState(0);
    one.prod = prodAdvance(one.prod, 0, 1);
    expect([one.prod, queuePending(one), queueFree(one)]).toEqual([1, 1, 0]);
  });
});

describe('page-table descriptors: PTE field table', () => {
  it('descriptors built by field names are the raw words of the walk vectors, and read back by the same names', () => {
    expect(encodePte({ VALID: 1, TYPE: PTE_TYPE.TABLE, OA: 0x10_1000n })).toBe(0x10_1000n | 3n);
    expect(encodePte({ TYPE: PTE_TYPE.PAGE, AF: 1, OA: 0x9000_0000n })).toBe(0x9000_0000n | (1n << 10n) | 3n);
    expect(encodePte({ AP: PTE_AP_RDONLY })).toBe(1n << 7n);
    expect(encodePte({ S2AP: PTE_S2AP.READ | PTE_S2AP.WRITE })).toBe(3n << 6n);
    expect(encodePte({ APTABLE: PTE_AP_RDONLY })).toBe(1n << 62n);
    const pte = encodePte({ TYPE: PTE_TYPE.BLOCK, AF: 1, SH: 3, NG: 1, XN: 1, CONT: 1, OA: 0x4020_0000n });
    expect(decodeFields(PTE, [pte])).toMatchObject({ VALID: 1, TYPE: 1, AF: 1, SH: 3, NG: 1, XN: 1, CONT: 1, OA: 0x4020_0000n });
    expect(() => encodePte({ OA: 0x1_0000_0000_0000n })).toThrow(RangeError);
  });

  it('a 64 KiB-granule leaf carries OA[51:48] in PTE[15:12], used when the output size is 52 bits', () => {
    const smmu = vectorSmmu(setIdrField(DEFAULT_IDR, 'OAS', 6)); // 52-bit OAS
    const words = new Map<bigint, bigint>();
    const mem: WalkMemory = { read64: (pa) => words.get(pa) ?? (pa >= 0x10_0000n && pa < 0x30_0000n ? 0n : null) };
    const cdAddr = 0x4_0000n;
    const ttb0 = 0x10_0000n;
    const l3 = 0x20_0000n;
    encodeCd({ T0SZ: 22, TG0: 1, EPD1: 1, V: 1, IPS: 6, AA64: 1, A: 1, R: 1, ASID: 1, TTB0: ttb0 }).forEach((w, i) => words.set(cdAddr + BigInt(8 * i), w));
    smmu.installSte(8, encodeSte({ V: 1, CONFIG: 5, S1CONTEXTPTR: cdAddr }));
    // 64K granule, T0SZ 22: start level 2 (shift 29), then level 3 (shift 16).
    const iova = 0x4020_1234n;
    words.set(ttb0 + (iova >> 29n) * 8n, encodePte({ VALID: 1, TYPE: PTE_TYPE.TABLE, OA: l3 }));
    words.set(l3 + ((iova >> 16n) & 0x1fffn) * 8n, encodePte({ VALID: 1, TYPE: PTE_TYPE.PAGE, AF: 1, OA: 0x1234_0000n, OA_51_48: 0xa }));
    const r = smmu.translate({ sid: 8, iova, access: 'read' }, mem);
    expect(r).toMatchObject({ ok: true, pa: 0xa_0000_1234_1234n, pageSize: 0x1_0000n });
  });
});

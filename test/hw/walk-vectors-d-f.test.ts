/**
 * smmuv3.md §8 vectors D (stream table, configuration), E (stage-1 walk) and F (stage 2, nesting)
 * against src/hw/translate.ts. Longer than 400 lines on purpose: the three groups share their
 * setups (test memory and page-table writer: test/hw/helpers.ts), and each vector reads best next
 * to the ones it builds on.
 */
import { describe, expect, it } from 'vitest';
import { encodeCd } from '../../src/hw/cd.js';
import { encodeCommand, type CommandWords } from '../../src/hw/commands.js';
import { decodeEvent, EVT_ID } from '../../src/hw/events.js';
import { nestedSmmu, cmds, vectorSmmu, QEMU_NESTED_IDR, QEMU_STAGE1_IDR, QEMU_STAGE2_IDR, Tables, TestMemory } from './helpers.js';
import { encodeSte } from '../../src/hw/ste.js';
import { strtabBaseCfg } from '../../src/hw/strtab.js';
import type { SmmuModel } from './helpers.js';
import type { TranslateResult } from '../../src/hw/translate.js';
import { s1StartLevel, type WalkMemory } from '../../src/hw/walk.js';

// ---------------------------------------------------------------------------------------------
// Descriptor bits (test memory and the page-table writer: test/hw/helpers.ts).

const AF = 1n << 10n;
const AP2 = 1n << 7n;
const TABLE = 3n;
const PAGE = 3n;
const BLOCK = 1n;
/** Stage-2 S2AP (PTE[7:6]): bit 6 read, bit 7 write. */
const S2AP_RW = 3n << 6n;
const S2AP_RO = 1n << 6n;

function mask(bits: number): bigint {
  return (1n << BigInt(bits)) - 1n;
}

/** 32-bit word `i` of an event record (QEMU's word0..word7 view). */
function word32(event: readonly bigint[], i: number): number {
  return Number((event[i >> 1] >> BigInt(32 * (i & 1))) & 0xffffffffn);
}

function expectFault(r: TranslateResult, type: keyof typeof EVT_ID): { event: bigint[] | null; fault: Extract<TranslateResult, { ok: false }>['fault'] } {
  if (r.ok) throw new Error(`expected ${type}, got success pa=0x${r.pa.toString(16)}`);
  expect(r.fault.type).toBe(type);
  expect(r.fault.code).toBe(EVT_ID[type]);
  if (r.event !== null) expect(word32(r.event, 0) & 0xff).toBe(EVT_ID[type]);
  return r;
}

function expectOk(r: TranslateResult): Extract<TranslateResult, { ok: true }> {
  if (!r.ok) throw new Error(`expected success, got ${r.fault.type}`);
  return r;
}

function run(smmu: SmmuModel, ...commands: CommandWords[]): void {
  expect(smmu.submitCommands(cmds(...commands)).error).toBeNull();
}

const SID = 8;
const CD_ADDR = 0x4_0000n;
const TTB0 = 0x10_0000n;
const POOL = 0x20_0000n;

/** Section E CD: 4 KiB, T0SZ=25, IPS=4, R=1, AFFD=0, ASID 1 (EPD1 set: TT1 unused). */
function cdE(over: Parameters<typeof encodeCd>[0] = {}): bigint[] {
  return encodeCd({ T0SZ: 25, TG0: 0, EPD1: 1, V: 1, IPS: 4, AA64: 1, A: 1, R: 1, ASID: 1, TTB0, ...over });
}

/** Stage-1 stream: CD in memory, STE installed for SID 8, tables for 4 KiB / T0SZ 25 (start level 1). */
function stage1Setup(cdOver: Parameters<typeof encodeCd>[0] = {}, smmu: SmmuModel = vectorSmmu(QEMU_STAGE1_IDR)) {
  const mem = new TestMemory();
  mem.setWords(CD_ADDR, cdE(cdOver));
  smmu.installSte(SID, encodeSte({ V: 1, CONFIG: 5, S1CONTEXTPTR: CD_ADDR, S2VMID: 3 }));
  const pt = new Tables(mem, 12, 1, 39, TTB0, POOL);
  return { smmu, mem, pt };
}

const IOVA38 = 0x4020_1000n;
const PA38 = 0x9000_0000n;

describe('§8 E: stage-1 walk (4 KiB, T0SZ=25, IPS=4, R=1, AFFD=0, ASID 1)', () => {
  it('vector 38: IOVA 0x4020_1000 walks from level 1 with indices 1/1/1; AF=1 AP=00 page succeeds; IOTLB key (1, −1, 0x40201000, tg 1, level 3)', () => {
    const smmu = vectorSmmu(QEMU_STAGE1_IDR);
    const mem = new TestMemory();
    mem.setWords(CD_ADDR, cdE());
    smmu.installSte(SID, encodeSte({ V: 1, CONFIG: 5, S1CONTEXTPTR: CD_ADDR }));
    // Hand-written tables: L1 at TTB0, index 1 → L2 at 0x101000, index 1 → L3 at 0x102000, index 1.
    for (const t of [TTB0, 0x10_1000n, 0x10_2000n]) mem.back(t, 0x1000n);
    mem.set(TTB0 + 8n, 0x10_1000n | TABLE);
    mem.set(0x10_1000n + 8n, 0x10_2000n | TABLE);
    mem.set(0x10_2000n + 8n, PA38 | AF | PAGE);

    const r = expectOk(smmu.translate({ sid: SID, iova: IOVA38 + 0x123n, access: 'write' }, mem));
    expect(r.pa).toBe(PA38 + 0x123n);
    expect(r.perm).toEqual({ read: true, write: true });
    expect(r.tlbHit).toBe(false);
    expect(r.pageSize).toBe(0x1000n);
    expect(mem.reads).toEqual([CD_ADDR, CD_ADDR + 8n, CD_ADDR + 16n, CD_ADDR + 24n, CD_ADDR + 32n, CD_ADDR + 40n, CD_ADDR + 48n, CD_ADDR + 56n, TTB0 + 8n, 0x10_1008n, 0x10_2008n]);
    expect(smmu.iotlb.entries()).toEqual([
      { asid: 1, vmid: -1, iova: IOVA38, tg: 1, level: 3, translatedAddr: PA38, addrMask: 0xfffn, perm: 3 },
    ]);

    mem.reads = [];
    const again = expectOk(smmu.translate({ sid: SID, iova: IOVA38 + 0x8n, access: 'read' }, mem));
    expect(again).toMatchObject({ pa: PA38 + 0x8n, tlbHit: true });
    expect(mem.reads).toEqual([]); // config cache + IOTLB: no memory access
    expect(smmu.stats().iotlb).toMatchObject({ hits: 1, misses: 1 });
    expect(smmu.stats().configCache).toMatchObject({ hits: 1, misses: 1 });
  });

  it('vector 39: AP[2]=1 page + write is F_PERMISSION with word3 0x200 (Class IN, RnW 0, S2 0) and ADDR = IOVA; a read succeeds', () => {
    const { smmu, mem, pt } = stage1Setup();
    pt.map(IOVA38, PA38 | AF | AP2 | PAGE);
    const w = expectFault(smmu.translate({ sid: SID, iova: IOVA38, access: 'write' }, mem), 'F_PERMISSION');
    expect(w.event).not.toBeNull();
    const ev = w.event as bigint[];
    expect(word32(ev, 0)).toBe(0x13);
    expect(word32(ev, 1)).toBe(SID);
    expect(word32(ev, 3)).toBe(0x200);
    expect(ev[2]).toBe(IOVA38);
    expect(w.fault).toMatchObject({ stage: 1, class: 'IN', inputAddr: IOVA38, ipa: null });
    expect(smmu.iotlb.size).toBe(0);

    const r = expectOk(smmu.translate({ sid: SID, iova: IOVA38, access: 'read' }, mem));
    expect(r.pa).toBe(PA38);
    expect(r.perm).toEqual({ read: true, write: false });
    // The read filled a read-only IOTLB entry: a write hitting it is the same fault.
    const w2 = expectFault(smmu.translate({ sid: SID, iova: IOVA38, access: 'write' }, mem), 'F_PERMISSION');
    expect(word32(w2.event as bigint[], 3)).toBe(0x200);
    expect(smmu.stats().iotlb.hits).toBe(1);
  });

  it('vector 40: leaf AF=0 is F_ACCESS even when AP also forbids the write; with CD.AFFD=1 the access succeeds', () => {
    const { smmu, mem, pt } = stage1Setup();
    pt.map(IOVA38, PA38 | AP2 | PAGE); // AF=0 and read-only
    pt.map(IOVA38 + 0x1000n, (PA38 + 0x1000n) | PAGE); // AF=0, writable
    const f = expectFault(smmu.translate({ sid: SID, iova: IOVA38, access: 'write' }, mem), 'F_ACCESS');
    expect(decodeEvent(f.event as bigint[]).fields).toMatchObject({ CLASS: 2, RNW: 0, S2: 0, ADDR: IOVA38 });
    expectFault(smmu.translate({ sid: SID, iova: IOVA38 + 0x1000n, access: 'write' }, mem), 'F_ACCESS');

    const affd = stage1Setup({ AFFD: 1 });
    affd.pt.map(IOVA38, PA38 | PAGE);
    const r = expectOk(affd.smmu.translate({ sid: SID, iova: IOVA38 + 4n, access: 'write' }, affd.mem));
    expect(r.pa).toBe(PA38 + 4n);
  });

  it('vector 41: invalid level-2 descriptor is F_TRANSLATION; with CD.R=0 the access fails and no event is written', () => {
    const { smmu, mem, pt } = stage1Setup();
    const l2 = pt.slot(IOVA38, 2); // L1 table entry created, L2 descriptor left 0 (invalid)
    expect(mem.words.get(l2)).toBeUndefined();
    const f = expectFault(smmu.translate({ sid: SID, iova: IOVA38, access: 'read' }, mem), 'F_TRANSLATION');
    expect(f.event).not.toBeNull();
    expect(decodeEvent(f.event as bigint[]).fields).toMatchObject({ SID: SID, CLASS: 2, RNW: 1, S2: 0, ADDR: IOVA38 });

    const quiet = stage1Setup({ R: 0 });
    quiet.pt.slot(IOVA38, 2);
    const q = expectFault(quiet.smmu.translate({ sid: SID, iova: IOVA38, access: 'read' }, quiet.mem), 'F_TRANSLATION');
    expect(q.event).toBeNull();
    expect(q.fault.stage).toBe(1);
  });

  it('vector 42: unreadable level-3 table is F_WALK_EABT, Class TT, ADDR2 = PTE address, recorded even with CD.R=0', () => {
    for (const R of [1, 0]) {
      const { smmu, mem, pt } = stage1Setup({ R });
      const l2 = pt.slot(IOVA38, 2);
      const missing = 0x5000_0000n; // unbacked level-3 table
      mem.set(l2, missing | TABLE);
      const f = expectFault(smmu.translate({ sid: SID, iova: IOVA38, access: 'read' }, mem), 'F_WALK_EABT');
      expect(f.event).not.toBeNull();
      const ev = f.event as bigint[];
      expect((word32(ev, 3) >> 8) & 3).toBe(1);
      expect(ev[3]).toBe(missing + 8n); // L3 index 1
      expect(ev[2]).toBe(IOVA38);
      expect(f.fault).toMatchObject({ class: 'TT', stage: 1, fetchAddr: missing + 8n });
    }
  });

  it('vector 43: start levels 16 KiB/T0SZ=17 → 1, 16 KiB/T0SZ=16 → 0, 64 KiB/T0SZ=16 → 1, 64 KiB/T0SZ=22 → 2', () => {
    const cases = [
      { tg0: 2, granule: 14, t0sz: 17, start: 1 },
      { tg0: 2, granule: 14, t0sz: 16, start: 0 },
      { tg0: 1, granule: 16, t0sz: 16, start: 1 },
      { tg0: 1, granule: 16, t0sz: 22, start: 2 },
    ];
    for (const c of cases) {
      expect(s1StartLevel(c.granule, c.t0sz)).toBe(c.start);
      const smmu = vectorSmmu(QEMU_STAGE1_IDR);
      const mem = new TestMemory();
      const ttb = 0x100_0000n;
      mem.setWords(CD_ADDR, cdE({ T0SZ: c.t0sz, TG0: c.tg0, TTB0: ttb }));
      smmu.installSte(SID, encodeSte({ V: 1, CONFIG: 5, S1CONTEXTPTR: CD_ADDR }));
      const inputSize = 64 - c.t0sz;
      const pt = new Tables(mem, c.granule, c.start, inputSize, ttb, 0x200_0000n);
      // An address using the top index bit of the start level and every lower level.
      const iova = (1n << BigInt(inputSize - 1)) | (1n << BigInt(c.granule + 1)) | (3n << BigInt(c.granule));
      const pa = 0x3_0000_0000n;
      pt.map(iova, pa | AF | PAGE);
      const levelsRead = 3 - c.start + 1;
      const r = expectOk(smmu.translate({ sid: SID, iova: iova + 0x10n, access: 'read' }, mem));
      expect(r.pa).toBe(pa + 0x10n);
      expect(r.pageSize).toBe(1n << BigInt(c.granule));
      expect(mem.reads.length).toBe(8 + levelsRead); // CD (8 DWs) + one descriptor per level
      expect(mem.reads[8]).toBe(ttb + pt.index(c.start, iova) * 8n);
      expect(smmu.iotlb.entries()[0]).toMatchObject({ asid: 1, tg: (c.granule - 10) / 2, level: 3, iova });
    }
  });
});

// ---------------------------------------------------------------------------------------------
// §8 D: stream table in memory (common setup STRTAB_BASE 0x8002_0000, LOG2SIZE 8, linear).

const STRTAB = 0x8002_0000n;

function memStrtab(idr = QEMU_STAGE1_IDR, log2Size = 8) {
  const smmu = vectorSmmu(idr);
  const mem = new TestMemory();
  mem.back(STRTAB, 64n << BigInt(log2Size));
  smmu.setStreamTable({ base: STRTAB, cfg: strtabBaseCfg({ log2Size }) });
  return { smmu, mem };
}

describe('§8 D: stream table and configuration', () => {
  it('vector 32: LOG2SIZE 3 → SID 8 is C_BAD_STREAMID (word0 0x2, word1 0x8); LOG2SIZE 20 still rejects SIDs ≥ 0x10000', () => {
    const { smmu, mem } = memStrtab(QEMU_STAGE1_IDR, 3);
    const f = expectFault(smmu.translate({ sid: 8, iova: 0x1000n, access: 'read' }, mem), 'C_BAD_STREAMID');
    const ev = f.event as bigint[];
    expect([word32(ev, 0), word32(ev, 1)]).toEqual([0x2, 0x8]);
    expect(ev.slice(1)).toEqual([0n, 0n, 0n]);
    expect(f.fault).toMatchObject({ stage: 0, class: null });
    // SID 7 is inside the 8-entry table: its STE (bypass) is used.
    mem.setWords(STRTAB + 7n * 64n, encodeSte({ V: 1, CONFIG: 4 }));
    expect(expectOk(smmu.translate({ sid: 7, iova: 0x1234n, access: 'read' }, mem)).pa).toBe(0x1234n);

    smmu.setStreamTable({ base: 0x8000_0000n, cfg: strtabBaseCfg({ log2Size: 20 }) });
    mem.back(0x8000_0000n, 64n << 16n);
    const big = expectFault(smmu.translate({ sid: 0x10000, iova: 0n, access: 'read' }, mem), 'C_BAD_STREAMID');
    expect(word32(big.event as bigint[], 1)).toBe(0x10000);
    mem.setWords(0x8000_0000n + 0xffffn * 64n, encodeSte({ V: 1, CONFIG: 4 }));
    expectOk(smmu.translate({ sid: 0xffff, iova: 0n, access: 'read' }, mem));
  });

  it('vector 33: STE.V=0 → C_BAD_STE; Config 0b000/0b001 → silent abort; Config 0b100 → identity with the requested permission', () => {
    const { smmu, mem } = memStrtab();
    mem.setWords(STRTAB + 8n * 64n, encodeSte({ V: 0, CONFIG: 4 }));
    const f = expectFault(smmu.translate({ sid: 8, iova: 0x1000n, access: 'read' }, mem), 'C_BAD_STE');
    expect(word32(f.event as bigint[], 0)).toBe(0x04);
    expect(word32(f.event as bigint[], 1)).toBe(8);

    for (const config of [0, 1]) {
      mem.setWords(STRTAB + 8n * 64n, encodeSte({ V: 1, CONFIG: config }));
      run(smmu, encodeCommand('CFGI_STE', { SID: 8 }));
      const r = smmu.translate({ sid: 8, iova: 0x1000n, access: 'write' }, mem);
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.event).toBeNull();
        expect(r.fault.type).toBe('ABORT');
      }
    }

    mem.setWords(STRTAB + 8n * 64n, encodeSte({ V: 1, CONFIG: 4 }));
    run(smmu, encodeCommand('CFGI_STE', { SID: 8 }));
    for (const access of ['read', 'write'] as const) {
      const r = expectOk(smmu.translate({ sid: 8, iova: 0x1234_5678n, access }, mem));
      expect(r.pa).toBe(0x1234_5678n);
      expect(access === 'read' ? r.perm.read : r.perm.write).toBe(true);
    }
    expect(smmu.iotlb.size).toBe(0);
  });

  // S1CDMax=1, C_BAD_STE in QEMU (one CD only), is IGNORED by the architecture on this SMMU
  // (IDR1.SSIDSIZE 0, IHI0070 STE.S1CDMax): see test/hw/substream-vectors-g.test.ts.
  it('vector 34: stage-1-only SMMU: Config 0b110 and S1STALLD=1 are each C_BAD_STE', () => {
    const bad = [
      encodeSte({ V: 1, CONFIG: 6, S2AA64: 1, S2T0SZ: 24, S2SL0: 1, S2PS: 4, S2R: 1 }),
      encodeSte({ V: 1, CONFIG: 5, S1CONTEXTPTR: CD_ADDR, S1STALLD: 1 }),
    ];
    for (const ste of bad) {
      const { smmu, mem } = memStrtab();
      mem.setWords(CD_ADDR, cdE());
      mem.setWords(STRTAB + 8n * 64n, ste);
      const f = expectFault(smmu.translate({ sid: 8, iova: 0x4020_1000n, access: 'read' }, mem), 'C_BAD_STE');
      expect(word32(f.event as bigint[], 0)).toBe(0x04);
      expect(smmu.configCacheSids()).toEqual([]); // nothing cached on failure
    }
  });

  it('vector 35: 2-level table: Span 0 → C_BAD_STREAMID, index beyond Span → C_BAD_STE, unreadable L1 descriptor → F_STE_FETCH with ADDR2; FMT=0 afterwards walks linear (strict model)', () => {
    const smmu = vectorSmmu(QEMU_STAGE1_IDR);
    const mem = new TestMemory();
    // LOG2SIZE 16, SPLIT 8 → 256 L1 descriptors (2 KiB); only the first 3 are backed.
    mem.back(STRTAB, 3n * 8n);
    const cfg2 = strtabBaseCfg({ log2Size: 16, split: 8, fmt: 1 });
    smmu.setStreamTable({ base: STRTAB, cfg: cfg2 });

    mem.set(STRTAB + 8n, 0x9000_0000n | 0n); // L1[1]: Span 0
    const a = expectFault(smmu.translate({ sid: 0x108, iova: 0n, access: 'read' }, mem), 'C_BAD_STREAMID');
    expect(word32(a.event as bigint[], 1)).toBe(0x108);

    const l2 = 0x9000_0000n;
    mem.back(l2, 64n);
    mem.setWords(l2, encodeSte({ V: 1, CONFIG: 4 }));
    mem.set(STRTAB + 8n, l2 | 1n); // Span 1: one STE (2^(Span−1))
    expectOk(smmu.translate({ sid: 0x100, iova: 0x77n, access: 'read' }, mem));
    expectFault(smmu.translate({ sid: 0x102, iova: 0n, access: 'read' }, mem), 'C_BAD_STE');

    const f = expectFault(smmu.translate({ sid: 0x308, iova: 0n, access: 'read' }, mem), 'F_STE_FETCH');
    expect(word32(f.event as bigint[], 0)).toBe(0x03);
    expect((f.event as bigint[])[3]).toBe(STRTAB + 3n * 8n);
    expect(f.fault.fetchAddr).toBe(STRTAB + 3n * 8n);

    // A full L2 table (Span 9 = 256 STEs) for L1[2]; an unreadable STE is F_STE_FETCH at its address.
    const l2b = 0x9100_0000n;
    mem.back(l2b, 64n * 2n);
    mem.set(STRTAB + 16n, l2b | 9n);
    mem.setWords(l2b + 64n, encodeSte({ V: 1, CONFIG: 4 }));
    expectOk(smmu.translate({ sid: 0x201, iova: 0n, access: 'read' }, mem));
    const sf = expectFault(smmu.translate({ sid: 0x202, iova: 0n, access: 'read' }, mem), 'F_STE_FETCH');
    expect((sf.event as bigint[])[3]).toBe(l2b + 2n * 64n);

    // FMT=0 written afterwards: the architecture walks linear (QEMU's sticky 2-level is a quirk).
    smmu.setStreamTable({ base: STRTAB, cfg: strtabBaseCfg({ log2Size: 16, split: 8, fmt: 0 }) });
    const linearBase = STRTAB & ~mask(16 + 6); // aligned to the 4 MiB linear table
    mem.back(linearBase + 0x102n * 64n, 64n);
    mem.setWords(linearBase + 0x102n * 64n, encodeSte({ V: 1, CONFIG: 4 }));
    expect(expectOk(smmu.translate({ sid: 0x102, iova: 0x5000n, access: 'read' }, mem)).pa).toBe(0x5000n);
  });

  it('vector 36: CD with A=0, T0SZ 15/40, TG0=3, ENDI=1, HA=1, S=1 or TTB0 ≥ 2^oas → C_BAD_CD; unbacked CD → F_CD_FETCH with the address in ADDR', () => {
    const variants: Array<Parameters<typeof encodeCd>[0]> = [
      { A: 0 },
      { T0SZ: 15 },
      { T0SZ: 40 },
      { TG0: 3 },
      { ENDI: 1 },
      { HA: 1 },
      { S: 1 },
      { TTB0: 1n << 44n },
      { V: 0 },
      { AA64: 0 },
    ];
    for (const v of variants) {
      const { smmu, mem } = memStrtab();
      mem.setWords(CD_ADDR, cdE(v));
      mem.setWords(STRTAB + 8n * 64n, encodeSte({ V: 1, CONFIG: 5, S1CONTEXTPTR: CD_ADDR }));
      const f = expectFault(smmu.translate({ sid: 8, iova: 0x4020_1000n, access: 'read' }, mem), 'C_BAD_CD');
      expect(word32(f.event as bigint[], 0)).toBe(0x0a);
      expect(word32(f.event as bigint[], 1)).toBe(8);
    }
    // The valid CD passes decode (then faults in the empty tables, not C_BAD_CD).
    {
      const { smmu, mem } = memStrtab();
      mem.setWords(CD_ADDR, cdE({ TTB0: (1n << 44n) - 0x1000n }));
      mem.back((1n << 44n) - 0x1000n, 0x1000n);
      mem.setWords(STRTAB + 8n * 64n, encodeSte({ V: 1, CONFIG: 5, S1CONTEXTPTR: CD_ADDR }));
      expectFault(smmu.translate({ sid: 8, iova: 0x4020_1000n, access: 'read' }, mem), 'F_TRANSLATION');
    }
    const { smmu, mem } = memStrtab();
    const unbacked = 0x7_0000n;
    mem.setWords(STRTAB + 8n * 64n, encodeSte({ V: 1, CONFIG: 5, S1CONTEXTPTR: unbacked }));
    const f = expectFault(smmu.translate({ sid: 8, iova: 0x4020_1000n, access: 'read' }, mem), 'F_CD_FETCH');
    const ev = f.event as bigint[];
    expect(word32(ev, 0)).toBe(0x09);
    expect([word32(ev, 4), word32(ev, 5)]).toEqual([0x7_0000, 0]);
    expect(ev[3]).toBe(0n);
  });

  it('vector 37: a new S1ContextPtr is ignored until CFGI_STE; stale IOTLB entries of the old tables stay until a TLBI', () => {
    const { smmu, mem } = memStrtab();
    const cdB = 0x5_0000n;
    const ttbB = 0x30_0000n;
    mem.setWords(CD_ADDR, cdE());
    mem.setWords(cdB, cdE({ TTB0: ttbB }));
    const ptA = new Tables(mem, 12, 1, 39, TTB0, POOL);
    const ptB = new Tables(mem, 12, 1, 39, ttbB, 0x40_0000n);
    const iova1 = 0x1000n;
    const iova2 = 0x2000n;
    ptA.map(iova1, 0xa000_1000n | AF | PAGE);
    ptA.map(iova2, 0xa000_2000n | AF | PAGE);
    ptB.map(iova1, 0xb000_1000n | AF | PAGE);
    ptB.map(iova2, 0xb000_2000n | AF | PAGE);
    const steAddr = STRTAB + 8n * 64n;
    mem.setWords(steAddr, encodeSte({ V: 1, CONFIG: 5, S1CONTEXTPTR: CD_ADDR }));
    expect(expectOk(smmu.translate({ sid: 8, iova: iova1, access: 'read' }, mem)).pa).toBe(0xa000_1000n);

    mem.setWords(steAddr, encodeSte({ V: 1, CONFIG: 5, S1CONTEXTPTR: cdB }));
    expect(expectOk(smmu.translate({ sid: 8, iova: iova2, access: 'read' }, mem)).pa).toBe(0xa000_2000n);

    smmu.iotlb.invAll(); // forget iova2 so that only iova1 stays stale below
    expect(expectOk(smmu.translate({ sid: 8, iova: iova1, access: 'read' }, mem)).pa).toBe(0xa000_1000n);
    run(smmu, encodeCommand('CFGI_STE', { SID: 8 }));
    const fresh = expectOk(smmu.translate({ sid: 8, iova: iova2, access: 'read' }, mem));
    expect(fresh).toMatchObject({ pa: 0xb000_2000n, tlbHit: false });
    const stale = expectOk(smmu.translate({ sid: 8, iova: iova1, access: 'read' }, mem));
    expect(stale).toMatchObject({ pa: 0xa000_1000n, tlbHit: true });
    run(smmu, encodeCommand('TLBI_NH_ASID', { ASID: 1 }));
    expect(expectOk(smmu.translate({ sid: 8, iova: iova1, access: 'read' }, mem)).pa).toBe(0xb000_1000n);
  });
});

// ---------------------------------------------------------------------------------------------
// §8 F: stage 2 and nesting.

const S2TTB = 0x80_0000n;
const S2POOL = 0xc0_0000n;
const VMID = 3;

type SteFields = Parameters<typeof encodeSte>[0];
const S2_FIELDS: SteFields = { V: 1, CONFIG: 6, S2VMID: VMID, S2TG: 0, S2T0SZ: 24, S2SL0: 1, S2PS: 4, S2AA64: 1, S2R: 1, S2TTB };

function s2Ste(over: SteFields = {}): bigint[] {
  return encodeSte({ ...S2_FIELDS, ...over });
}

/** S2 tables for S2TG 4K, S2T0SZ 24 (40-bit IPA), SL0 1 → start level 1, two concatenated tables. */
function s2Tables(mem: TestMemory): Tables {
  return new Tables(mem, 12, 1, 40, S2TTB, S2POOL);
}

describe('§8 F: stage 2 and nesting', () => {
  it('vector 44: S2TG=0, S2T0SZ=24, S2SL0=1, S2PS=4 → start level 1 with two concatenated tables; IPA 0x80_0000_0000 uses the second (S2TTB + 0x1000)', () => {
    const smmu = vectorSmmu(QEMU_STAGE2_IDR);
    const mem = new TestMemory();
    mem.back(S2TTB, 0x2000n);
    smmu.installSte(SID, s2Ste());
    const ipa = 0x80_0000_0000n;
    mem.set(S2TTB + 0x1000n, 0x1_4000_0000n | AF | S2AP_RW | BLOCK); // 1 GiB block at level 1
    const r = expectOk(smmu.translate({ sid: SID, iova: ipa + 0x1234n, access: 'write' }, mem));
    expect(r).toMatchObject({ pa: 0x1_4000_1234n, perm: { read: true, write: true }, pageSize: 0x4000_0000n });
    expect(mem.reads).toEqual([S2TTB + 0x1000n]);
    expect(smmu.iotlb.entries()).toEqual([
      { asid: -1, vmid: VMID, iova: ipa, tg: 1, level: 1, translatedAddr: 0x1_4000_0000n, addrMask: 0x3fff_ffffn, perm: 3 },
    ]);
    // IPA 0x40_0000_0000 indexes entry 256 of the first table.
    mem.set(S2TTB + 256n * 8n, 0x2_0000_0000n | AF | S2AP_RW | BLOCK);
    expect(expectOk(smmu.translate({ sid: SID, iova: 0x40_0000_0008n, access: 'read' }, mem)).pa).toBe(0x2_0000_0008n);
    // Level-3 pages through the builder (start level 1, 10 index bits).
    const pt = s2Tables(mem);
    pt.map(0x81_2345_6000n, 0x7777_0000n | AF | S2AP_RW | PAGE);
    const p = expectOk(smmu.translate({ sid: SID, iova: 0x81_2345_6010n, access: 'read' }, mem));
    expect(p).toMatchObject({ pa: 0x7777_0010n, pageSize: 0x1000n });
  });

  it('vector 45: S2T0SZ=16 with OAS 44 (minimum 20) and S2SL0=3, S2ENDI=1, S2S=1, S2TG=3 (and S2AA64=0) are C_BAD_STE', () => {
    const bad: Array<Parameters<typeof encodeSte>[0]> = [
      { S2T0SZ: 16 },
      { S2T0SZ: 19 },
      { S2SL0: 3 },
      { S2ENDI: 1 },
      { S2S: 1 },
      { S2TG: 3 },
      { S2AA64: 0 },
      { S2TTB: 1n << 44n },
      { S2T0SZ: 24, S2SL0: 0 }, // start level 2 would need 2^9 concatenated tables
    ];
    for (const over of bad) {
      const smmu = vectorSmmu(QEMU_STAGE2_IDR);
      const mem = new TestMemory();
      mem.back(S2TTB, 0x2000n);
      smmu.installSte(SID, s2Ste(over));
      const f = expectFault(smmu.translate({ sid: SID, iova: 0x1000n, access: 'read' }, mem), 'C_BAD_STE');
      expect(word32(f.event as bigint[], 0)).toBe(0x04);
    }
    // S2T0SZ=20 is the minimum accepted with OAS 44 (4 KiB granule, SL0=2 → start level 0).
    const smmu = vectorSmmu(QEMU_STAGE2_IDR);
    const mem = new TestMemory();
    mem.back(S2TTB, 0x2000n);
    smmu.installSte(SID, s2Ste({ S2T0SZ: 20, S2SL0: 2 }));
    expectFault(smmu.translate({ sid: SID, iova: 0x1000n, access: 'read' }, mem), 'F_TRANSLATION');
  });

  it('vector 46: stage-2-only input ≥ 2^44 is a stage-1 F_ADDR_SIZE, recorded with S2=0 (strict model)', () => {
    const smmu = vectorSmmu(QEMU_STAGE2_IDR);
    const mem = new TestMemory();
    mem.back(S2TTB, 0x2000n);
    smmu.installSte(SID, s2Ste({ S2R: 0 }));
    const iova = 1n << 44n;
    const f = expectFault(smmu.translate({ sid: SID, iova, access: 'read' }, mem), 'F_ADDR_SIZE');
    expect(f.event).not.toBeNull();
    const ev = f.event as bigint[];
    expect(word32(ev, 0)).toBe(0x11);
    expect(decodeEvent(ev).fields).toMatchObject({ S2: 0, CLASS: 2, RNW: 1, ADDR: iova });
    expect(f.fault.stage).toBe(1);
    expect(mem.reads).toEqual([]);
  });

  it('vector 47: S2AP=01 (read-only) leaf + write with S2R=1 is F_PERMISSION, S2=1, ADDR2 = IPA, Class IN', () => {
    // Stage-2-only: IPA = IOVA.
    {
      const smmu = vectorSmmu(QEMU_STAGE2_IDR);
      const mem = new TestMemory();
      smmu.installSte(SID, s2Ste());
      const pt = s2Tables(mem);
      const ipa = 0x1234_5000n;
      pt.map(ipa, 0x5555_0000n | AF | S2AP_RO | PAGE);
      const f = expectFault(smmu.translate({ sid: SID, iova: ipa + 8n, access: 'write' }, mem), 'F_PERMISSION');
      const ev = f.event as bigint[];
      expect(decodeEvent(ev).fields).toMatchObject({ S2: 1, CLASS: 2, RNW: 0, ADDR: ipa + 8n, ADDR2: ipa + 8n });
      expect(f.fault).toMatchObject({ stage: 2, class: 'IN', ipa: ipa + 8n });
      expect(expectOk(smmu.translate({ sid: SID, iova: ipa + 8n, access: 'read' }, mem)).perm).toEqual({ read: true, write: false });
      // The read filled a read-only stage-2 entry; a write hitting it faults the same way.
      const hitFault = expectFault(smmu.translate({ sid: SID, iova: ipa, access: 'write' }, mem), 'F_PERMISSION');
      expect(decodeEvent(hitFault.event as bigint[]).fields).toMatchObject({ S2: 1, ADDR2: ipa });
    }
    // Nested: ADDR = IOVA, ADDR2 = the stage-1 output IPA.
    {
      const n = nestedSetup();
      const iova = 0x4020_1000n;
      const ipa = 0x3000_0000n;
      n.s1.map(iova, ipa | AF | PAGE);
      n.s2.map(ipa, 0x6666_0000n | AF | S2AP_RO | PAGE);
      const f = expectFault(n.smmu.translate({ sid: SID, iova: iova + 0x10n, access: 'write' }, n.mem), 'F_PERMISSION');
      expect(decodeEvent(f.event as bigint[]).fields).toMatchObject({ S2: 1, CLASS: 2, ADDR: iova + 0x10n, ADDR2: ipa + 0x10n });
      const r = expectOk(n.smmu.translate({ sid: SID, iova: iova + 0x10n, access: 'read' }, n.mem));
      expect(r).toMatchObject({ pa: 0x6666_0010n, perm: { read: true, write: false } });
      const onHit = expectFault(n.smmu.translate({ sid: SID, iova: iova + 0x20n, access: 'write' }, n.mem), 'F_PERMISSION');
      expect(decodeEvent(onHit.event as bigint[]).fields).toMatchObject({ S2: 1, ADDR2: ipa + 0x20n });
    }
  });

  it('vector 48: nested: CD IPA unmapped in stage 2 → F_TRANSLATION S2=1 Class CD, recorded only with S2R=1; unmapped S1 table IPA → same with Class TT', () => {
    for (const s2r of [1, 0]) {
      const n = nestedSetup({ S2R: s2r }, { mapCd: false });
      const f = expectFault(n.smmu.translate({ sid: SID, iova: 0x4020_1000n, access: 'read' }, n.mem), 'F_TRANSLATION');
      expect(f.fault).toMatchObject({ stage: 2, class: 'CD', ipa: CD_IPA });
      if (s2r === 1) {
        expect(decodeEvent(f.event as bigint[]).fields).toMatchObject({ S2: 1, CLASS: 0, ADDR2: CD_IPA });
      } else {
        expect(f.event).toBeNull();
      }
      // The STE (fetched and valid) is cached, the CD that could not be fetched is not.
      expect(n.smmu.configCacheSids()).toEqual([SID]);
      expect(n.smmu.configCacheCds(SID)).toEqual([]);
    }
    for (const s2r of [1, 0]) {
      const n = nestedSetup({ S2R: s2r }, { mapTtb: false });
      const f = expectFault(n.smmu.translate({ sid: SID, iova: 0x4020_1000n, access: 'read' }, n.mem), 'F_TRANSLATION');
      expect(f.fault).toMatchObject({ stage: 2, class: 'TT' });
      if (s2r === 1) {
        const fields = decodeEvent(f.event as bigint[]).fields;
        expect(fields).toMatchObject({ S2: 1, CLASS: 1, ADDR: 0x4020_1000n });
        expect((fields.ADDR2 as bigint) & ~0xfffn).toBe(S1_TTB_IPA);
      } else {
        expect(f.event).toBeNull();
      }
    }
    // Fully mapped: the nested translation succeeds and is cached as one combined entry.
    const n = nestedSetup();
    n.s1.map(0x4020_1000n, 0x3000_0000n | AF | PAGE);
    n.s2.map(0x3000_0000n, 0x6666_0000n | AF | S2AP_RW | PAGE);
    const r = expectOk(n.smmu.translate({ sid: SID, iova: 0x4020_1234n, access: 'write' }, n.mem));
    expect(r).toMatchObject({ pa: 0x6666_0234n, perm: { read: true, write: true } });
    expect(n.smmu.iotlb.entries()).toMatchObject([{ asid: 1, vmid: VMID, iova: 0x4020_1000n, level: 3, tg: 1, perm: 3, parentPerm: 3 }]);
  });
});

const CD_IPA = 0x10_0000n;
const S1_TTB_IPA = 0x20_0000n;

/**
 * Nested stream on the nested QEMU SMMU: CD at IPA 0x10_0000 and stage-1 tables in an IPA pool
 * from 0x20_0000, each IPA page mapped by stage 2 to PA = IPA + 0x1_0000_0000.
 */
function nestedSetup(steOver: Parameters<typeof encodeSte>[0] = {}, opts: { mapCd?: boolean; mapTtb?: boolean } = {}) {
  const smmu = vectorSmmu(QEMU_NESTED_IDR);
  const mem = new TestMemory();
  const s2 = s2Tables(mem);
  const toPa = (ipa: bigint): bigint => ipa + 0x1_0000_0000n;
  const s2map = (ipa: bigint): void => {
    s2.map(ipa, toPa(ipa) | AF | S2AP_RW | PAGE);
    mem.back(toPa(ipa), 0x1000n);
  };
  if (opts.mapCd !== false) s2map(CD_IPA);
  mem.setWords(toPa(CD_IPA), cdE({ TTB0: S1_TTB_IPA }));
  // Stage-1 tables: root at IPA 0x20_0000, further tables at 0x20_1000.. (all mapped by stage 2).
  for (let i = 0n; i < 8n; i++) if (opts.mapTtb !== false || i > 0n) s2map(S1_TTB_IPA + i * 0x1000n);
  smmu.installSte(SID, encodeSte({ ...S2_FIELDS, CONFIG: 7, S1CONTEXTPTR: CD_IPA, ...steOver }));
  // The stage-1 writer works on PAs: a view that redirects the IPA pool to its PAs.
  const s1mem = new TestMemory();
  const s1 = new Tables(s1mem, 12, 1, 39, S1_TTB_IPA, S1_TTB_IPA + 0x1000n);
  const s1map = (iova: bigint, pte: bigint): void => {
    s1.map(iova, pte);
    for (const [ipa, w] of s1mem.words) mem.set(toPa(ipa), w);
  };
  return { smmu, mem, s2, s1: { map: s1map } };
}

describe('walk: IOTLB coherence, ATC and the stage-2 resolver', () => {
  it('a changed PTE keeps translating to the old PA until TLBI_NH_VA / NH_ASID / NH_ALL; TLBIs for another ASID or VMID leave it stale', () => {
    const smmu = nestedSmmu(); // S2P=1: S1-only STEs carry S2VMID 3 in their IOTLB keys
    const { mem, pt } = stage1Setup({}, smmu);
    const iova = 0x4020_1000n;
    const leaf = pt.map(iova, 0xa000_0000n | AF | PAGE);
    const pa = (): bigint => expectOk(smmu.translate({ sid: SID, iova, access: 'read' }, mem)).pa;
    expect(pa()).toBe(0xa000_0000n);
    expect(smmu.iotlb.entries()).toMatchObject([{ asid: 1, vmid: 3 }]);

    // 1. TLBI_NH_VA.
    mem.set(leaf, 0xb000_0000n | AF | PAGE);
    expect(pa()).toBe(0xa000_0000n);
    run(smmu, encodeCommand('TLBI_NH_VA', { ASID: 2, VMID: 3, ADDR: iova }));
    run(smmu, encodeCommand('TLBI_NH_VA', { ASID: 1, VMID: 4, ADDR: iova }));
    run(smmu, encodeCommand('TLBI_NH_VA', { ASID: 1, VMID: 3, ADDR: iova + 0x1000n }));
    expect(pa()).toBe(0xa000_0000n);
    run(smmu, encodeCommand('TLBI_NH_VA', { ASID: 1, VMID: 3, ADDR: iova }));
    expect(pa()).toBe(0xb000_0000n);

    // 2. TLBI_NH_ASID.
    mem.set(leaf, 0xc000_0000n | AF | PAGE);
    run(smmu, encodeCommand('TLBI_NH_ASID', { ASID: 2, VMID: 3 }));
    run(smmu, encodeCommand('TLBI_NH_ASID', { ASID: 1, VMID: 4 }));
    expect(pa()).toBe(0xb000_0000n);
    run(smmu, encodeCommand('TLBI_NH_ASID', { ASID: 1, VMID: 3 }));
    expect(pa()).toBe(0xc000_0000n);

    // 3. TLBI_NH_ALL.
    mem.set(leaf, 0xd000_0000n | AF | PAGE);
    run(smmu, encodeCommand('TLBI_NH_ALL', { VMID: 4 }));
    expect(pa()).toBe(0xc000_0000n);
    run(smmu, encodeCommand('TLBI_NH_ALL', { VMID: 3 }));
    expect(pa()).toBe(0xd000_0000n);
    expect(smmu.stats().iotlb).toMatchObject({ entries: 1 });
  });

  it('an ATS stream (EATS=1) fills its ATC; later accesses hit it until ATC_INV even after a TLBI', () => {
    const smmu = nestedSmmu();
    const { mem, pt } = stage1Setup({}, smmu);
    smmu.installSte(SID, encodeSte({ V: 1, CONFIG: 5, S1CONTEXTPTR: CD_ADDR, S2VMID: 3, EATS: 1 }));
    const iova = 0x4020_1000n;
    const leaf = pt.map(iova, 0xa000_0000n | AF | PAGE);
    expect(expectOk(smmu.translate({ sid: SID, iova, access: 'write' }, mem))).toMatchObject({ tlbHit: false, pa: 0xa000_0000n });
    expect(smmu.atc.entries(SID)).toMatchObject([{ sid: SID, ssid: -1, iova, addrMask: 0xfffn, translatedAddr: 0xa000_0000n, perm: 3 }]);
    mem.set(leaf, 0xb000_0000n | AF | PAGE);
    run(smmu, encodeCommand('TLBI_NH_ASID', { ASID: 1, VMID: 3 }));
    expect(expectOk(smmu.translate({ sid: SID, iova: iova + 4n, access: 'read' }, mem))).toMatchObject({ atcHit: true, pa: 0xa000_0004n });
    run(smmu, encodeCommand('ATC_INV', { SID, ADDR: iova, SIZE: 0 }));
    expect(expectOk(smmu.translate({ sid: SID, iova: iova + 4n, access: 'read' }, mem))).toMatchObject({ tlbHit: false, pa: 0xb000_0004n });
  });

  it('the stage2 resolver of WalkMemory replaces S2 tables (stage-2-only and nested), null being a stage-2 translation fault', () => {
    const smmu = vectorSmmu(QEMU_NESTED_IDR);
    const backing = new TestMemory();
    const calls: Array<[bigint, bigint]> = [];
    const mem: WalkMemory = {
      read64: (pa) => backing.read64(pa),
      stage2: (s2ttb, ipa) => {
        calls.push([s2ttb, ipa]);
        if (ipa >= 0x4000_0000n) return null;
        return { pa: ipa + 0x10_0000_0000n, read: true, write: ipa < 0x2000_0000n, pageLog2: 21 };
      },
    };
    smmu.installSte(SID, s2Ste());
    const r = expectOk(smmu.translate({ sid: SID, iova: 0x123_4567n, access: 'write' }, mem));
    expect(r).toMatchObject({ pa: 0x10_0123_4567n, pageSize: 0x20_0000n });
    expect(calls).toEqual([[S2TTB, 0x123_4567n]]);
    expect(smmu.iotlb.entries()).toMatchObject([{ asid: -1, vmid: VMID, iova: 0x120_0000n, level: 2, tg: 1 }]);
    expectFault(smmu.translate({ sid: SID, iova: 0x2000_0000n, access: 'write' }, mem), 'F_PERMISSION');
    const t = expectFault(smmu.translate({ sid: SID, iova: 0x5000_0000n, access: 'read' }, mem), 'F_TRANSLATION');
    expect(t.fault).toMatchObject({ stage: 2, ipa: 0x5000_0000n });

    // Nested: the CD IPA, every stage-1 descriptor IPA and the output IPA go through the resolver.
    const sid2 = 9;
    const cdIpa = 0x1_0000n;
    const ttbIpa = 0x2_0000n;
    const pa = (ipa: bigint): bigint => ipa + 0x10_0000_0000n;
    backing.back(pa(ttbIpa), 0x3000n);
    backing.setWords(pa(cdIpa), cdE({ TTB0: ttbIpa }));
    backing.set(pa(ttbIpa) + 8n, (ttbIpa + 0x1000n) | TABLE);
    backing.set(pa(ttbIpa + 0x1000n) + 8n, (ttbIpa + 0x2000n) | TABLE);
    backing.set(pa(ttbIpa + 0x2000n) + 8n, 0x1800_0000n | AF | PAGE);
    smmu.installSte(sid2, encodeSte({ ...S2_FIELDS, CONFIG: 7, S1CONTEXTPTR: cdIpa }));
    calls.length = 0;
    const n = expectOk(smmu.translate({ sid: sid2, iova: 0x4020_1010n, access: 'write' }, mem));
    expect(n).toMatchObject({ pa: pa(0x1800_0010n), perm: { read: true, write: true }, pageSize: 0x1000n });
    expect(calls.map(([, ipa]) => ipa)).toEqual([cdIpa, ttbIpa + 8n, ttbIpa + 0x1008n, ttbIpa + 0x2008n, 0x1800_0010n]);
    expect(smmu.iotlb.entries().at(-1)).toMatchObject({ asid: 1, vmid: VMID, iova: 0x4020_1000n, level: 3, perm: 3, parentPerm: 3 });
  });
});

import { describe, expect, it } from 'vitest';
import { encodeCommand, type CommandWords } from '../../src/hw/commands.js';
import { encodeSte } from '../../src/hw/ste.js';
import { Iotlb } from '../../src/hw/tlb.js';
import type { SmmuModel } from './helpers.js';
import { cmds, nestedSmmu, s2Ste, tlbContents, tlbEntry, vectorSmmu, QEMU_STAGE1_IDR } from './helpers.js';

function run(smmu: SmmuModel, ...commands: CommandWords[]) {
  return smmu.submitCommands(cmds(...commands));
}

/** Section C start: entries (7,3), (8,3), (−1,3), (7,4) on a nested SMMU. */
function startC(): SmmuModel {
  const smmu = nestedSmmu();
  for (const [asid, vmid] of [
    [7, 3],
    [8, 3],
    [-1, 3],
    [7, 4],
  ]) {
    smmu.iotlbInsert(tlbEntry(asid, vmid, 0x1000n));
  }
  return smmu;
}

describe('§8 C: other TLBIs (nested SMMU, S2P=1)', () => {
  it('C27: TLBI_NH_ALL VMID 3 removes (7,3) and (8,3); keeps (−1,3) and (7,4)', () => {
    const smmu = startC();
    expect(run(smmu, encodeCommand('TLBI_NH_ALL', { VMID: 3 })).error).toBeNull();
    expect(tlbContents(smmu)).toEqual(['-1/3/0x1000', '7/4/0x1000']);
  });

  it('C28: TLBI_NH_ASID ASID 7 VMID 3 removes only (7,3)', () => {
    const smmu = startC();
    run(smmu, encodeCommand('TLBI_NH_ASID', { ASID: 7, VMID: 3 }));
    expect(tlbContents(smmu)).toEqual(['-1/3/0x1000', '7/4/0x1000', '8/3/0x1000']);
  });

  it('C29: TLBI_S12_VMALL VMID 3 removes (7,3), (8,3) and (−1,3)', () => {
    const smmu = startC();
    run(smmu, encodeCommand('TLBI_S12_VMALL', { VMID: 3 }));
    expect(tlbContents(smmu)).toEqual(['7/4/0x1000']);
  });

  it('C30: TLBI_S2_IPA VMID 3 over all addresses removes only the stage-2 entry (−1,3)', () => {
    const smmu = startC();
    smmu.iotlbInsert(tlbEntry(-1, 4, 0x1000n));
    // TG=3, NUM=31, SCALE=31: 2^36 pages of 64 KiB = [0, 2^52).
    run(smmu, encodeCommand('TLBI_S2_IPA', { VMID: 3, TG: 3, NUM: 31, SCALE: 31, ADDR: 0n }));
    expect(tlbContents(smmu)).toEqual(['-1/4/0x1000', '7/3/0x1000', '7/4/0x1000', '8/3/0x1000']);
  });

  it('C31: TLBI_NSNH_ALL empties the IOTLB; a 257th entry evicts the LRU one (project decision, not a flush)', () => {
    const smmu = startC();
    run(smmu, encodeCommand('TLBI_NSNH_ALL'));
    expect(smmu.iotlb.size).toBe(0);

    for (let i = 0; i < 256; i++) smmu.iotlbInsert(tlbEntry(1, 3, BigInt(i) << 12n));
    expect(smmu.stats().iotlb).toMatchObject({ entries: 256, capacity: 256, evictions: 0 });
    smmu.iotlbInsert(tlbEntry(1, 3, 0x100000n));
    expect(smmu.stats().iotlb).toMatchObject({ entries: 256, evictions: 1 });
    expect(smmu.iotlb.has(tlbEntry(1, 3, 0n))).toBe(false);
    expect(smmu.iotlb.has(tlbEntry(1, 3, 0x100000n))).toBe(true);
  });
});

describe('TLBI details beyond the vectors (§2.5, §5 table)', () => {
  it('TLBI_NH_ALL on a stage-1-only SMMU behaves as TLBI_NSNH_ALL', () => {
    const smmu = vectorSmmu(QEMU_STAGE1_IDR);
    smmu.iotlbInsert(tlbEntry(1, -1, 0x1000n));
    smmu.iotlbInsert(tlbEntry(2, -1, 0x1000n));
    run(smmu, encodeCommand('TLBI_NH_ALL', { VMID: 9 }));
    expect(smmu.iotlb.size).toBe(0);
  });

  it('TLBI_NH_VA with S2P matches the VMID exactly', () => {
    const smmu = startC();
    run(smmu, encodeCommand('TLBI_NH_VA', { ASID: 7, VMID: 4, ADDR: 0x1000n }));
    expect(tlbContents(smmu)).toEqual(['-1/3/0x1000', '7/3/0x1000', '8/3/0x1000']);
  });

  it('TLBI_S2_IPA ignores RES0 bits [63:52] of the IPA and its TTL fast path removes one exact key', () => {
    const smmu = nestedSmmu();
    smmu.iotlbInsert(tlbEntry(-1, 3, 0x5000n));
    smmu.iotlbInsert(tlbEntry(-1, 3, 0x0n, 0x200000n));
    const words = encodeCommand('TLBI_S2_IPA', { VMID: 3, TG: 1, TTL: 3, ADDR: 0x5000n });
    words[1] |= 0xfff0000000000000n;
    run(smmu, words);
    expect(tlbContents(smmu)).toEqual(['-1/3/0x0']);
  });

  it('CFGI_* never touch the IOTLB and TLBIs never touch the configuration cache', () => {
    const smmu = nestedSmmu();
    smmu.setSte(8, s2Ste({ S2VMID: 3 }));
    expect(smmu.fetchConfig(8)?.vmid).toBe(3);
    smmu.iotlbInsert(tlbEntry(-1, 3, 0x1000n));
    run(smmu, encodeCommand('TLBI_NSNH_ALL'), encodeCommand('TLBI_S12_VMALL', { VMID: 3 }));
    expect(smmu.configCacheSids()).toEqual([8]);
    smmu.iotlbInsert(tlbEntry(-1, 3, 0x1000n));
    // CFGI_CD drops a CD (none cached here: the STE stays, IHI0070 §4.3.3), CFGI_STE the STE.
    run(smmu, encodeCommand('CFGI_CD', { SID: 8, SSID: 4, LEAF: 1 }));
    expect(smmu.configCacheSids()).toEqual([8]);
    run(smmu, encodeCommand('CFGI_STE', { SID: 8 }));
    expect(smmu.configCacheSids()).toEqual([]);
    expect(smmu.iotlb.size).toBe(1);
  });

  it('configuration cache keeps the old STE until CFGI_STE (vector D37 coherence rule)', () => {
    const smmu = nestedSmmu();
    smmu.setSte(8, s2Ste({ S2VMID: 3 }));
    expect(smmu.fetchConfig(8)?.vmid).toBe(3);
    smmu.setSte(8, s2Ste({ S2VMID: 4 }));
    expect(smmu.fetchConfig(8)?.vmid).toBe(3);
    run(smmu, encodeCommand('CFGI_STE', { SID: 8 }));
    expect(smmu.fetchConfig(8)?.vmid).toBe(4);
    smmu.installSte(8, s2Ste({ S2VMID: 5 }));
    expect(smmu.fetchConfig(8)?.vmid).toBe(5);
    smmu.clearSte(8);
    run(smmu, encodeCommand('CFGI_STE', { SID: 8 }));
    expect(smmu.fetchConfig(8)).toBeNull();
    expect(smmu.stats().configCache).toMatchObject({ entries: 0 });
  });
});

describe('IOTLB: bounded LRU with counters (project decision)', () => {
  it('lookup counts hits and misses and refreshes recency, so the least recently used entry is evicted', () => {
    const tlb = new Iotlb(2);
    const a = tlbEntry(1, -1, 0x1000n);
    const b = tlbEntry(1, -1, 0x2000n);
    const c = tlbEntry(1, -1, 0x3000n);
    tlb.insert(a);
    tlb.insert(b);
    expect(tlb.lookup(a)?.translatedAddr).toBe(a.translatedAddr);
    expect(tlb.lookup({ ...a, level: 2 })).toBeUndefined();
    tlb.insert(c);
    expect(tlb.has(a)).toBe(true);
    expect(tlb.has(b)).toBe(false);
    expect(tlb.stats()).toEqual({ entries: 2, capacity: 2, hits: 1, misses: 1, evictions: 1 });
    tlb.insert({ ...c, translatedAddr: 0x1234000n }); // replace: no eviction
    expect(tlb.stats().evictions).toBe(1);
  });

  it('rejects malformed entries', () => {
    const tlb = new Iotlb(4);
    expect(() => tlb.insert({ ...tlbEntry(1, -1, 0x1000n), tg: 0 })).toThrow(RangeError);
    expect(() => tlb.insert({ ...tlbEntry(1, -1, 0x1000n), iova: 0x1800n })).toThrow(RangeError);
    expect(() => tlb.insert({ ...tlbEntry(1, -1, 0x1000n), addrMask: 0x1800n })).toThrow(RangeError);
    expect(() => new Iotlb(0)).toThrow(RangeError);
  });

  it('SmmuModel honours iotlbSize', () => {
    const smmu = nestedSmmu(4);
    for (let i = 0; i < 10; i++) smmu.iotlbInsert(tlbEntry(1, 1, BigInt(i) << 12n));
    expect(smmu.stats().iotlb).toMatchObject({ entries: 4, capacity: 4, evictions: 6 });
    expect(smmu.iotlbLookup(tlbEntry(1, 1, 9n << 12n))).toBeDefined();
    expect(smmu.iotlbLookup(tlbEntry(1, 1, 0n))).toBeUndefined();
    expect(smmu.stats().iotlb).toMatchObject({ hits: 1, misses: 1 });
  });
});

describe('ATC (per device, ATS-enabled STEs only)', () => {
  function atsSmmu(): SmmuModel {
    const smmu = nestedSmmu();
    smmu.installSte(8, s2Ste({ CONFIG: 7, EATS: 1, S2VMID: 3 }));
    smmu.installSte(9, s2Ste({ CONFIG: 7, EATS: 0, S2VMID: 3 }));
    return smmu;
  }
  const page = (sid: number, ssid: number, iova: bigint) => ({ sid, ssid, iova, addrMask: 0xfffn, translatedAddr: iova, perm: 3 });

  it('only an STE with EATS=TRANS gets an ATC', () => {
    const smmu = atsSmmu();
    expect(smmu.atcInsert(page(8, -1, 0x1000n))).toBe(true);
    expect(smmu.atcInsert(page(9, -1, 0x1000n))).toBe(false);
    expect(smmu.atcInsert(page(10, -1, 0x1000n))).toBe(false);
    const noAts = vectorSmmu(QEMU_STAGE1_IDR); // IDR0.ATS = 0: EATS has no effect
    noAts.installSte(8, encodeSte({ V: 1, CONFIG: 5, EATS: 1 }));
    expect(noAts.atcInsert(page(8, -1, 0x1000n))).toBe(false);
    expect(smmu.atcLookup(8, -1, 0x1abcn)?.iova).toBe(0x1000n);
    expect(smmu.stats().atc).toEqual({ entries: 1, devices: 1 });
  });

  it('ATC_INV with SSV=1 removes only that SSID; SSV=0 removes every SSID in the range', () => {
    const smmu = atsSmmu();
    for (const ssid of [-1, 1, 2]) smmu.atcInsert(page(8, ssid, 0x1000n));
    run(smmu, encodeCommand('ATC_INV', { SID: 8, SSV: 1, SSID: 1, ADDR: 0x1000n, SIZE: 0 }));
    expect(smmu.atc.entries(8).map((e) => e.ssid).sort()).toEqual([-1, 2]);
    run(smmu, encodeCommand('ATC_INV', { SID: 8, ADDR: 0x0n, SIZE: 1 }));
    expect(smmu.atc.entries(8)).toEqual([]);
  });

  it('ATC_INV Size rounds the address down to the span and leaves other devices alone', () => {
    const smmu = atsSmmu();
    smmu.installSte(10, s2Ste({ CONFIG: 7, EATS: 1, S2VMID: 3 }));
    for (const iova of [0x3000n, 0x4000n, 0x7000n, 0x8000n]) smmu.atcInsert(page(8, -1, iova));
    smmu.atcInsert(page(10, -1, 0x4000n));
    run(smmu, encodeCommand('ATC_INV', { SID: 8, ADDR: 0x6000n, SIZE: 2 }));
    expect(smmu.atc.entries(8).map((e) => e.iova)).toEqual([0x3000n, 0x8000n]);
    expect(smmu.atc.entries(10)).toHaveLength(1);
  });

  it('a failing ATC_INV completion produces CERROR_ATC_INV_SYNC at the following CMD_SYNC; the retry completes', () => {
    const smmu = atsSmmu();
    smmu.atcInsert(page(8, -1, 0x1000n));
    smmu.setAtcInvFault(8, true);
    const r = run(smmu, encodeCommand('ATC_INV', { SID: 8, SIZE: 52 }), encodeCommand('TLBI_NSNH_ALL'), encodeCommand('CMD_SYNC'));
    expect(r).toMatchObject({ consumed: 2, error: { code: 'CERROR_ATC_INV_SYNC', index: 2, opcode: 0x46 }, stopped: true });
    expect(smmu.cmdqState().err).toBe(3);
    expect(smmu.atc.entries(8)).toHaveLength(1); // the invalidation never completed
    const ack = smmu.acknowledgeError();
    expect(ack).toEqual({ consumed: 1, error: null });
    expect(smmu.stats().commands.errors.CERROR_ATC_INV_SYNC).toBe(1);
    smmu.setAtcInvFault(8, false);
    expect(run(smmu, encodeCommand('ATC_INV', { SID: 8, SIZE: 52 }), encodeCommand('CMD_SYNC')).error).toBeNull();
    expect(smmu.atc.entries(8)).toHaveLength(0);
  });
});

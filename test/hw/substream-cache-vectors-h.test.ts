/**
 * Substreams, part H: the configuration cache per (StreamID, SubstreamID) and the CFGI commands
 * (IHI0070 §4.3.1-§4.3.4), TLBI_NH_ASID across CDs sharing an ASID, ATC_INV with SSV, SubstreamID
 * and Global (IHI0070 §4.5.1, PCIe ATS), and the service's stage-1 resolver (`WalkMemory.stage1`)
 * — against src/hw/config.ts, src/hw/execute.ts, src/hw/atc.ts and src/hw/walk.ts. Each test is
 * named after the rule it checks; part G: test/hw/substream-vectors-g.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { encodeL1Cd } from '../../src/hw/cd.js';
import { encodeCommand, type CommandWords } from '../../src/hw/commands.js';
import { decodeEvent } from '../../src/hw/events.js';
import { STE_CFG, STE_EATS, STE_S1DSS, STE_S1FMT } from '../../src/hw/ste.js';
import type { WalkMemory } from '../../src/hw/walk.js';
import {
  cmds,
  CD_IOVA,
  expectFault,
  expectOk,
  NestedMemory,
  paOfTag,
  putCd,
  S1_PAGE,
  s2Ste,
  SUBSTREAM_CDT,
  SUBSTREAM_IDR,
  SUBSTREAM_SID,
  substreamSte,
  substreamTranslate,
  Tables,
  TestMemory,
  testCd,
  vectorSmmu,
  type SmmuModel,
} from './helpers.js';

const SID = SUBSTREAM_SID;
const CDT = SUBSTREAM_CDT;
const ste = substreamSte;
const tr = substreamTranslate;

function run(smmu: SmmuModel, ...commands: CommandWords[]): void {
  expect(smmu.submitCommands(cmds(...commands)).error).toBeNull();
}

/** The PA CD_IOVA translates to for `ssid`, with an empty IOTLB (so that only the configuration decides). */
function paNow(smmu: SmmuModel, mem: WalkMemory, ssid?: number): bigint {
  smmu.iotlb.invAll();
  return expectOk(tr(smmu, mem, ssid)).pa;
}

describe('H: configuration cache per (StreamID, SubstreamID)', () => {
  it('a cached CD is kept, stale, until CFGI_CD of its SubstreamID; CFGI_CD of another SubstreamID leaves it; CFGI_CD_ALL drops every CD of the StreamID but not the STE; CFGI_STE drops all', () => {
    const smmu = vectorSmmu(SUBSTREAM_IDR);
    const mem = new TestMemory();
    for (const n of [0, 1, 2]) putCd(mem, CDT + BigInt(n) * 64n, n);
    smmu.installSte(SID, ste({ S1CDMAX: 4, S1DSS: STE_S1DSS.SSID0 }));
    for (const ssid of [undefined, 1, 2]) expect(paNow(smmu, mem, ssid)).toBe(paOfTag(ssid ?? 0));
    expect(smmu.configCacheCds(SID)).toEqual([0, 1, 2]);
    expect(smmu.stats().configCache).toMatchObject({ entries: 3, misses: 3 });

    for (const n of [0, 1, 2]) putCd(mem, CDT + BigInt(n) * 64n, 10 + n); // new CDs in memory
    expect(paNow(smmu, mem, 1)).toBe(paOfTag(1)); // stale
    expect(smmu.stats().configCache).toMatchObject({ hits: 1 });
    run(smmu, encodeCommand('CFGI_CD', { SID, SSID: 2, LEAF: 1 }));
    expect(paNow(smmu, mem, 1)).toBe(paOfTag(1));
    expect(paNow(smmu, mem, 2)).toBe(paOfTag(12));
    run(smmu, encodeCommand('CFGI_CD', { SID: SID + 1, SSID: 1 })); // another StreamID
    expect(paNow(smmu, mem, 1)).toBe(paOfTag(1));
    run(smmu, encodeCommand('CFGI_CD', { SID, SSID: 1, LEAF: 1 }));
    expect(paNow(smmu, mem, 1)).toBe(paOfTag(11));
    expect(paNow(smmu, mem)).toBe(paOfTag(0)); // CD 0 (S1DSS=SSID0) still stale
    run(smmu, encodeCommand('CFGI_CD', { SID, SSID: 0, LEAF: 1 }));
    expect(paNow(smmu, mem)).toBe(paOfTag(10));

    for (const n of [0, 1, 2]) putCd(mem, CDT + BigInt(n) * 64n, 20 + n);
    smmu.setSte(SID, ste({ S1CDMAX: 4, S1DSS: STE_S1DSS.BYPASS })); // a memory write: the STE stays cached
    run(smmu, encodeCommand('CFGI_CD_ALL', { SID }));
    expect(smmu.configCacheSids()).toEqual([SID]);
    expect(smmu.configCacheCds(SID)).toEqual([]);
    expect(paNow(smmu, mem, 1)).toBe(paOfTag(21));
    expect(paNow(smmu, mem)).toBe(paOfTag(20)); // the cached STE's S1DSS=SSID0
    run(smmu, encodeCommand('CFGI_STE', { SID }));
    expect(smmu.configCacheSids()).toEqual([]);
    expect(paNow(smmu, mem)).toBe(CD_IOVA); // the new STE: S1DSS=BYPASS
    expect(smmu.stats().configCache.entries).toBe(1);
  });

  it('CFGI_STE_RANGE and CFGI_ALL drop the STE and every CD of the StreamIDs in range', () => {
    const smmu = vectorSmmu(SUBSTREAM_IDR);
    const mem = new TestMemory();
    for (const n of [1, 2]) putCd(mem, CDT + BigInt(n) * 64n, n);
    smmu.installSte(SID, ste({ S1CDMAX: 4 }));
    smmu.installSte(SID + 8, ste({ S1CDMAX: 4 }));
    for (const sid of [SID, SID + 8]) for (const ssid of [1, 2]) expectOk(smmu.translate({ sid, ssid, iova: CD_IOVA, access: 'read' }, mem));
    expect(smmu.stats().configCache.entries).toBe(4);
    run(smmu, encodeCommand('CFGI_STE_RANGE', { SID, RANGE: 2 })); // SIDs 8..15
    expect(smmu.configCacheSids()).toEqual([SID + 8]);
    expect(smmu.configCacheCds(SID + 8)).toEqual([1, 2]);
    run(smmu, encodeCommand('CFGI_STE_RANGE', { RANGE: 31 })); // CFGI_ALL
    expect(smmu.configCacheSids()).toEqual([]);
    expect(smmu.stats().configCache.entries).toBe(0);
  });

  it('CFGI_CD with Leaf=1 keeps a cached level-1 CD descriptor, Leaf=0 drops it too; CFGI_CD_ALL drops every level-1 descriptor', () => {
    const smmu = vectorSmmu(SUBSTREAM_IDR);
    const mem = new TestMemory();
    const [l2a, l2b] = [0x50_0000n, 0x51_0000n];
    const ssid = 0x45; // 4 KiB leaves: level-1 index 1, leaf index 5
    mem.set(CDT + 8n, encodeL1Cd({ V: 1, L2PTR: l2a }));
    putCd(mem, l2a + 5n * 64n, 1);
    putCd(mem, l2b + 5n * 64n, 2);
    smmu.installSte(SID, ste({ S1CDMAX: 8, S1FMT: STE_S1FMT.L2_4K }));
    expect(paNow(smmu, mem, ssid)).toBe(paOfTag(1));
    mem.set(CDT + 8n, encodeL1Cd({ V: 1, L2PTR: l2b })); // the leaf table moved
    run(smmu, encodeCommand('CFGI_CD', { SID, SSID: ssid, LEAF: 1 }));
    mem.reads = [];
    expect(paNow(smmu, mem, ssid)).toBe(paOfTag(1)); // CD re-read through the cached descriptor
    expect(mem.reads[0]).toBe(l2a + 5n * 64n);
    run(smmu, encodeCommand('CFGI_CD', { SID, SSID: ssid, LEAF: 0 }));
    expect(paNow(smmu, mem, ssid)).toBe(paOfTag(2));
    mem.set(CDT + 8n, encodeL1Cd({ V: 1, L2PTR: l2a }));
    run(smmu, encodeCommand('CFGI_CD_ALL', { SID }));
    expect(paNow(smmu, mem, ssid)).toBe(paOfTag(1));
  });
});

describe('H: TLB invalidation across substreams', () => {
  it('the IOTLB is keyed by the CD\'s ASID: CDs sharing an ASID (and so their tables) share entries, and TLBI_NH_ASID reaches every CD with that ASID — not a CD with another', () => {
    const smmu = vectorSmmu(SUBSTREAM_IDR);
    const mem = new TestMemory();
    const shared = 0x300_0000n;
    const leaf = new Tables(mem, 12, 1, 39, shared, shared + 0x1000n).map(CD_IOVA, paOfTag(1) | S1_PAGE);
    mem.setWords(CDT + 64n, testCd(7, shared));
    mem.setWords(CDT + 128n, testCd(7, shared));
    const other = putCd(mem, CDT + 192n, 3, { asid: 8 }) as bigint;
    smmu.installSte(SID, ste({ S1CDMAX: 2, S2VMID: 5 }));
    expect(expectOk(tr(smmu, mem, 1))).toMatchObject({ pa: paOfTag(1), tlbHit: false });
    expect(expectOk(tr(smmu, mem, 2))).toMatchObject({ pa: paOfTag(1), tlbHit: true });
    expect(expectOk(tr(smmu, mem, 3))).toMatchObject({ pa: paOfTag(3), tlbHit: false });
    expect(smmu.iotlb.entries().map((e) => e.asid).sort()).toEqual([7, 8]);

    mem.set(leaf, paOfTag(4) | S1_PAGE);
    mem.set(other, paOfTag(5) | S1_PAGE);
    run(smmu, encodeCommand('TLBI_NH_ASID', { ASID: 7, VMID: 5 }));
    expect(expectOk(tr(smmu, mem, 2))).toMatchObject({ pa: paOfTag(4), tlbHit: false });
    expect(expectOk(tr(smmu, mem, 1))).toMatchObject({ pa: paOfTag(4), tlbHit: true });
    expect(expectOk(tr(smmu, mem, 3))).toMatchObject({ pa: paOfTag(3), tlbHit: true }); // ASID 8: stale
  });
});

describe('H: ATC_INV with SSV, SubstreamID and Global', () => {
  /** An ATS stream with CDs 0..2 (S1DSS=SSID0) whose ATC holds entries of SubstreamIDs −1 (none), 1 and 2. */
  function atsStream() {
    const smmu = vectorSmmu(SUBSTREAM_IDR);
    const mem = new TestMemory();
    for (const n of [0, 1, 2]) putCd(mem, CDT + BigInt(n) * 64n, n);
    smmu.installSte(SID, ste({ S1CDMAX: 4, S1DSS: STE_S1DSS.SSID0, EATS: STE_EATS.TRANS }));
    for (const ssid of [undefined, 1, 2]) expectOk(tr(smmu, mem, ssid));
    return { smmu, mem, ssids: () => smmu.atc.entries(SID).map((e) => e.ssid).sort((a, b) => a - b) };
  }

  it('the ATC is filled per SubstreamID (−1 without one, also for CD 0 of S1DSS=SSID0) and never Global: the SMMU returns no Global translation for a request with a PASID (IHI0070 §3.9.1)', () => {
    const { smmu, ssids } = atsStream();
    expect(ssids()).toEqual([-1, 1, 2]);
    expect(smmu.atc.entries(SID).every((e) => e.global !== true)).toBe(true);
    expect(smmu.atc.entries(SID).find((e) => e.ssid === 1)?.translatedAddr).toBe(paOfTag(1));
  });

  it('ATC_INV SSV=1 removes the entries of its SubstreamID only — SubstreamID 0 does not reach the entries of traffic without one (CD 0 of S1DSS=SSID0); SSV=0 removes every SubstreamID\'s', () => {
    const { smmu, ssids } = atsStream();
    run(smmu, encodeCommand('ATC_INV', { SID, SSV: 1, SSID: 1, ADDR: CD_IOVA, SIZE: 0 }));
    expect(ssids()).toEqual([-1, 2]);
    run(smmu, encodeCommand('ATC_INV', { SID, SSV: 1, SSID: 0, SIZE: 52 }));
    expect(ssids()).toEqual([-1, 2]);
    run(smmu, encodeCommand('ATC_INV', { SID, SSV: 0, ADDR: CD_IOVA + 0x1000n, SIZE: 0 })); // another page
    expect(ssids()).toEqual([-1, 2]);
    run(smmu, encodeCommand('ATC_INV', { SID, SSV: 0, ADDR: CD_IOVA, SIZE: 0 }));
    expect(ssids()).toEqual([]);
  });

  it('ATC_INV Global=1 with SSV=1 also removes the Global entries of other SubstreamIDs in range, never their non-Global ones; Global is IGNORED with SSV=0', () => {
    const { smmu, ssids } = atsStream();
    smmu.atc.insert({ sid: SID, ssid: 3, iova: CD_IOVA, addrMask: 0xfffn, translatedAddr: 0x1234_5000n, perm: 3, global: true });
    smmu.atc.insert({ sid: SID, ssid: 3, iova: 0x9000_0000n, addrMask: 0xfffn, translatedAddr: 0x1234_6000n, perm: 3, global: true });
    run(smmu, encodeCommand('ATC_INV', { SID, SSV: 1, SSID: 2, GLOBAL: 0, ADDR: CD_IOVA, SIZE: 0 }));
    expect(ssids()).toEqual([-1, 1, 3, 3]);
    run(smmu, encodeCommand('ATC_INV', { SID, SSV: 1, SSID: 2, GLOBAL: 1, ADDR: CD_IOVA, SIZE: 0 }));
    expect(ssids()).toEqual([-1, 1, 3]); // the Global entry in range; SubstreamID 1 (not Global) stays
    expect(smmu.atc.entries(SID).find((e) => e.ssid === 3)?.iova).toBe(0x9000_0000n);
    run(smmu, encodeCommand('ATC_INV', { SID, SSV: 0, GLOBAL: 1, ADDR: CD_IOVA, SIZE: 0 }));
    expect(ssids()).toEqual([3]);
  });
});

describe('H: the stage-1 resolver of WalkMemory', () => {
  const HANDLE = 0xe00_0000_0000n >> 4n; // below 2^44 (CD.IPS 44 bits)
  const calls: Array<[bigint, bigint]> = [];
  const backing = new TestMemory();
  const mem: WalkMemory = {
    read64: (pa) => backing.read64(pa),
    stage1: (ttb, va) => {
      calls.push([ttb, va]);
      if (ttb !== HANDLE) return undefined;
      if (va >= 0x4000_0000n && va < 0x4040_0000n) return { pa: va + 0x1_0000_0000n, read: true, write: va < 0x4020_0000n, pageLog2: 21 };
      if (va === 0x5000_0000n) return { pa: 1n << 44n, read: true, write: true, pageLog2: 12 };
      return null;
    },
  };

  function setup(cd: Parameters<typeof testCd>[2] = {}) {
    const smmu = vectorSmmu(SUBSTREAM_IDR);
    backing.setWords(CDT + 64n, testCd(9, HANDLE, cd));
    putCd(backing, CDT + 128n, 2); // SubstreamID 2: real tables in memory
    smmu.installSte(SID, ste({ S1CDMAX: 2 }));
    calls.length = 0;
    return smmu;
  }

  it('a stage-1-only walk asks the resolver about the CD\'s TTB: a handle\'s answer is the translation (block level from pageLog2, cached in the IOTLB), null a stage-1 F_TRANSLATION (class IN, recorded per CD.R), a bad output F_ADDR_SIZE, undefined the tables in memory', () => {
    const smmu = setup();
    const r = expectOk(smmu.translate({ sid: SID, ssid: 1, iova: 0x4010_1234n, access: 'write' }, mem));
    expect(r).toMatchObject({ pa: 0x1_4010_1234n, pageSize: 0x20_0000n, perm: { read: true, write: true } });
    expect(calls).toEqual([[HANDLE, 0x4010_1234n]]);
    expect(smmu.iotlb.entries()).toMatchObject([{ asid: 9, iova: 0x4000_0000n, level: 2, tg: 1, translatedAddr: 0x1_4000_0000n }]);
    expect(expectOk(smmu.translate({ sid: SID, ssid: 1, iova: 0x4000_0008n, access: 'read' }, mem)).tlbHit).toBe(true);

    const ro = expectFault(smmu.translate({ sid: SID, ssid: 1, iova: 0x4030_0000n, access: 'write' }, mem), 'F_PERMISSION');
    expect(ro.fault).toMatchObject({ stage: 1, class: 'IN' });
    const t = expectFault(smmu.translate({ sid: SID, ssid: 1, iova: 0x6000_0000n, access: 'read' }, mem), 'F_TRANSLATION');
    expect(t.fault).toMatchObject({ stage: 1, class: 'IN', ipa: null });
    expect(decodeEvent(t.event as bigint[]).fields).toMatchObject({ S2: 0, CLASS: 2, SSV: 1, SSID: 1, ADDR: 0x6000_0000n });
    expectFault(smmu.translate({ sid: SID, ssid: 1, iova: 0x5000_0000n, access: 'read' }, mem), 'F_ADDR_SIZE');

    calls.length = 0;
    expect(expectOk(tr(smmu, mem, 2)).pa).toBe(paOfTag(2)); // another TTB: undefined, walked in memory
    expect(calls).toEqual([[0x100_0000n + 2n * 0x1_0000n, CD_IOVA]]);

    const quiet = setup({ R: 0 });
    expect(expectFault(quiet.translate({ sid: SID, ssid: 1, iova: 0x6000_0000n, access: 'read' }, mem), 'F_TRANSLATION').event).toBeNull();
  });

  it('the stage-1 resolver is not used for a nested stream (its stage 1 is walked in IPA space)', () => {
    const smmu = vectorSmmu(SUBSTREAM_IDR);
    const nmem = new NestedMemory();
    nmem.putCdAtIpa(CDT + 64n, 4);
    nmem.mapIpa(paOfTag(4));
    const seen: bigint[] = [];
    const withResolver: WalkMemory = { read64: (pa) => nmem.read64(pa), stage2: nmem.stage2, stage1: (ttb) => (seen.push(ttb), null) };
    smmu.installSte(SID, s2Ste({ CONFIG: STE_CFG.NESTED, S2VMID: 3, S1CONTEXTPTR: CDT, S1CDMAX: 2 }));
    expect(expectOk(tr(smmu, withResolver, 1)).pa).toBe(paOfTag(4) + 0x10_0000_0000n);
    expect(seen).toEqual([]);
  });
});

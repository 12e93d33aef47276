/**
 * Substreams (SubstreamIDs / PASIDs), part G: the STE's substream fields, CD tables (linear,
 * 2-level with 4 KiB or 64 KiB leaf tables), STE.S1DSS, the SubstreamID faults and the fetches
 * through stage 2, and the SSV/SubstreamID of event records — against src/hw/config.ts,
 * src/hw/cdtable.ts and src/hw/translate.ts. The rules are IHI0070's (STE.S1CDMax, STE.S1Fmt,
 * STE.S1DSS, §5.2.2, §7.3.7, §7.3.9; Linux `arm_smmu_get_cd_ptr` for the layouts); each test is
 * named after the rule it checks. Part H (caches, invalidation, ATC, stage-1 resolver):
 * test/hw/substream-cache-vectors-h.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { encodeL1Cd } from '../../src/hw/cd.js';
import { decodeEvent } from '../../src/hw/events.js';
import { DEFAULT_IDR, setIdrField } from '../../src/hw/idr.js';
import { encodeSte, STE_CFG, STE_S1DSS, STE_S1FMT } from '../../src/hw/ste.js';
import { strtabBaseCfg } from '../../src/hw/strtab.js';
import {
  CD_IOVA,
  expectFault,
  expectOk,
  IPA_TO_PA,
  NestedMemory,
  paOfTag,
  putCd,
  QEMU_STAGE1_IDR,
  s2Ste,
  SUBSTREAM_CDT,
  SUBSTREAM_IDR,
  SUBSTREAM_SID,
  substreamSte,
  substreamTranslate,
  TestMemory,
  vectorSmmu,

} from './helpers.js';
import type { WalkMemory } from '../../src/hw/walk.js';

const SID = SUBSTREAM_SID;
const CDT = SUBSTREAM_CDT;
type SteFields = Parameters<typeof encodeSte>[0];
const ste = substreamSte;
const tr = substreamTranslate;

/** A stage-1 stream of SUBSTREAM_IDR with `fields`, and CDs `tags` in a linear table at CDT (CD n tagged n). */
function linear(fields: SteFields, tags: number[] = [], idr = SUBSTREAM_IDR) {
  const smmu = vectorSmmu(idr);
  const mem = new TestMemory();
  for (const n of tags) putCd(mem, CDT + BigInt(n) * 64n, n);
  smmu.installSte(SID, ste(fields));
  return { smmu, mem };
}

describe('G: CD tables', () => {
  it('S1Fmt LINEAR: SubstreamID n uses CD n at S1ContextPtr + 64·n, the table aligned to its size (S1ContextPtr[S1CDMax+5:6] RES0, taken as zero)', () => {
    const { smmu, mem } = linear({ S1CDMAX: 4, S1FMT: STE_S1FMT.LINEAR, S1DSS: STE_S1DSS.SSID0, S1CONTEXTPTR: CDT + 0x240n }, [0, 1, 3, 15]);
    for (const n of [1, 3, 15]) {
      mem.reads = [];
      expect(expectOk(tr(smmu, mem, n)).pa).toBe(paOfTag(n));
      expect(mem.reads[0]).toBe(CDT + BigInt(n) * 64n);
    }
    expect(expectOk(tr(smmu, mem)).pa).toBe(paOfTag(0)); // no SubstreamID, S1DSS=SSID0: CD 0
  });

  it('S1Fmt 2-level 4 KiB: the level-1 table is indexed by SubstreamID[S1CDMax−1:6], the 64-CD leaf table by SubstreamID[5:0]; with S1CDMax ≤ 6 only level-1 entry 0 is used', () => {
    const smmu = vectorSmmu(SUBSTREAM_IDR);
    const mem = new TestMemory();
    const l2a = 0x50_0000n;
    const l2b = 0x51_0000n;
    mem.set(CDT, encodeL1Cd({ V: 1, L2PTR: l2a }));
    mem.set(CDT + 16n, encodeL1Cd({ V: 1, L2PTR: l2b }));
    putCd(mem, l2a + 3n * 64n, 1);
    putCd(mem, l2b + 5n * 64n, 2); // SubstreamID 0x85: level-1 index 2, leaf index 5
    smmu.installSte(SID, ste({ S1CDMAX: 8, S1FMT: STE_S1FMT.L2_4K, S1DSS: STE_S1DSS.TERMINATE }));
    expect(expectOk(tr(smmu, mem, 3)).pa).toBe(paOfTag(1));
    mem.reads = [];
    expect(expectOk(tr(smmu, mem, 0x85)).pa).toBe(paOfTag(2));
    expect(mem.reads.slice(0, 2)).toEqual([CDT + 16n, l2b + 5n * 64n]);

    putCd(mem, l2a + 31n * 64n, 3);
    smmu.installSte(9, encodeSte({ V: 1, CONFIG: STE_CFG.S1_TRANS, S1CONTEXTPTR: CDT, S1CDMAX: 5, S1FMT: STE_S1FMT.L2_4K }));
    mem.reads = [];
    expect(expectOk(smmu.translate({ sid: 9, ssid: 31, iova: CD_IOVA, access: 'read' }, mem)).pa).toBe(paOfTag(3));
    expect(mem.reads[0]).toBe(CDT);
  });

  it('S1Fmt 2-level 64 KiB (Linux CTXDESC_SPLIT 10): level-1 index SubstreamID[S1CDMax−1:10], 1024-CD leaf tables, L2Ptr[15:12] RES0 (taken as zero)', () => {
    const smmu = vectorSmmu(SUBSTREAM_IDR);
    const mem = new TestMemory();
    const l2 = 0x60_0000n;
    mem.set(CDT + 16n, encodeL1Cd({ V: 1, L2PTR: l2 | 0x3000n }));
    putCd(mem, l2 + 5n * 64n, 4); // SubstreamID 0x805: level-1 index 2, leaf index 5
    smmu.installSte(SID, ste({ S1CDMAX: 12, S1FMT: STE_S1FMT.L2_64K, S1DSS: STE_S1DSS.TERMINATE }));
    mem.reads = [];
    expect(expectOk(tr(smmu, mem, 0x805)).pa).toBe(paOfTag(4));
    expect(mem.reads.slice(0, 2)).toEqual([CDT + 16n, l2 + 5n * 64n]);
  });

  it('S1Fmt 2-level with IDR0.CD2L=0 is C_BAD_STE; the reserved S1Fmt 0b11 behaves as LINEAR; S1Fmt is IGNORED when S1CDMax is 0', () => {
    for (const fmt of [STE_S1FMT.L2_4K, STE_S1FMT.L2_64K]) {
      const { smmu, mem } = linear({ S1CDMAX: 4, S1FMT: fmt }, [1], DEFAULT_IDR);
      expectFault(tr(smmu, mem, 1), 'C_BAD_STE');
      expect(smmu.fetchConfig(SID)).toBeNull();
    }
    const reserved = linear({ S1CDMAX: 4, S1FMT: 3 }, [1], DEFAULT_IDR);
    expect(expectOk(tr(reserved.smmu, reserved.mem, 1)).pa).toBe(paOfTag(1));
    expect(reserved.smmu.fetchConfig(SID)).toMatchObject({ s1fmt: STE_S1FMT.LINEAR, s1cdmax: 4 });
    const single = linear({ S1CDMAX: 0, S1FMT: STE_S1FMT.L2_64K }, [0], DEFAULT_IDR);
    expect(expectOk(tr(single.smmu, single.mem)).pa).toBe(paOfTag(0));
  });

  it('S1CDMax above IDR1.SSIDSIZE is C_BAD_STE; with SSIDSIZE 0 S1CDMax is IGNORED (one CD) and every SubstreamID, 0 included, is C_BAD_SUBSTREAMID', () => {
    const idr5 = setIdrField(SUBSTREAM_IDR, 'SSIDSIZE', 5);
    expectFault(tr(linear({ S1CDMAX: 6 }, [1], idr5).smmu, new TestMemory(), 1), 'C_BAD_STE');
    const ok = linear({ S1CDMAX: 5 }, [31], idr5);
    expect(expectOk(tr(ok.smmu, ok.mem, 31)).pa).toBe(paOfTag(31));
    expectFault(tr(ok.smmu, ok.mem, 32), 'C_BAD_SUBSTREAMID'); // beyond 2^S1CDMax and SSIDSIZE

    const qemu = linear({ S1CDMAX: 1 }, [0], QEMU_STAGE1_IDR); // QEMU: C_BAD_STE; IHI0070: IGNORED
    expect(expectOk(tr(qemu.smmu, qemu.mem)).pa).toBe(paOfTag(0));
    expect(qemu.smmu.fetchConfig(SID)).toMatchObject({ s1cdmax: 0 });
    for (const ssid of [0, 1]) expectFault(tr(qemu.smmu, qemu.mem, ssid), 'C_BAD_SUBSTREAMID');
  });
});

describe('G: SubstreamID rules', () => {
  it('a SubstreamID ≥ 2^S1CDMax is C_BAD_SUBSTREAMID: SubstreamID recorded, no SSV (IHI0070 §7.3.9), nothing fetched', () => {
    const { smmu, mem } = linear({ S1CDMAX: 4, S1DSS: STE_S1DSS.SSID0 }, [1]);
    smmu.fetchConfig(SID);
    mem.reads = [];
    const f = expectFault(tr(smmu, mem, 16), 'C_BAD_SUBSTREAMID');
    expect(decodeEvent(f.event as bigint[]).fields).toMatchObject({ SID, SSID: 16, SSV: 0, ADDR: 0n, RNW: 0 });
    expect(mem.reads).toEqual([]);
  });

  it('a SubstreamID on a single-CD stream (S1CDMax 0) is C_BAD_SUBSTREAMID — SubstreamID 0 too; without one the CD is used', () => {
    const { smmu, mem } = linear({ S1CDMAX: 0 }, [0]);
    for (const ssid of [0, 5]) {
      const f = expectFault(tr(smmu, mem, ssid), 'C_BAD_SUBSTREAMID');
      expect(decodeEvent(f.event as bigint[]).fields).toMatchObject({ SSID: ssid, SSV: 0 });
    }
    expect(expectOk(tr(smmu, mem)).pa).toBe(paOfTag(0));
  });

  it('a SubstreamID on a stream without stage 1 (bypass, stage-2-only) is C_BAD_SUBSTREAMID; an abort stream aborts silently whatever the SubstreamID', () => {
    const smmu = vectorSmmu(SUBSTREAM_IDR);
    const mem: WalkMemory = { read64: () => 0n, stage2: (_t, ipa) => ({ pa: ipa, read: true, write: true, pageLog2: 12 }) };
    for (const steWords of [encodeSte({ V: 1, CONFIG: STE_CFG.BYPASS }), s2Ste({ S1CDMAX: 4, S1CONTEXTPTR: CDT })]) {
      smmu.installSte(SID, steWords);
      expectFault(tr(smmu, mem, 1), 'C_BAD_SUBSTREAMID');
      expect(expectOk(tr(smmu, mem)).pa).toBe(CD_IOVA);
    }
    smmu.installSte(SID, encodeSte({ V: 1, CONFIG: STE_CFG.ABORT, S1CDMAX: 4 }));
    expect(tr(smmu, mem, 1)).toMatchObject({ ok: false, event: null, fault: { type: 'ABORT' } });
  });

  it('S1DSS=TERMINATE (and the reserved 0b11): a transaction without SubstreamID is F_STREAM_DISABLED, recorded with the StreamID only (IHI0070 §7.3.7)', () => {
    for (const s1dss of [STE_S1DSS.TERMINATE, 3]) {
      const { smmu, mem } = linear({ S1CDMAX: 4, S1DSS: s1dss }, [0, 1]);
      const f = expectFault(tr(smmu, mem, undefined, 'write'), 'F_STREAM_DISABLED');
      expect(f.event).toEqual([(BigInt(SID) << 32n) | 0x06n, 0n, 0n, 0n]);
      expect(expectOk(tr(smmu, mem, 1)).pa).toBe(paOfTag(1));
    }
  });

  it('S1DSS=BYPASS: without SubstreamID stage 1 is bypassed and no CD fetched — identity on a stage-1 stream, stage 2 only on a nested one', () => {
    const { smmu, mem } = linear({ S1CDMAX: 4, S1DSS: STE_S1DSS.BYPASS }, [0, 1]);
    mem.reads = [];
    expect(expectOk(tr(smmu, mem, undefined, 'write'))).toMatchObject({ pa: CD_IOVA, perm: { read: true, write: true } });
    expect(mem.reads).toEqual([]);
    expect(expectOk(tr(smmu, mem, 1)).pa).toBe(paOfTag(1));

    const nested = vectorSmmu(SUBSTREAM_IDR);
    const nmem = new NestedMemory();
    nmem.mapIpa(CD_IOVA);
    nmem.putCdAtIpa(CDT + 64n, 1);
    nested.installSte(SID, s2Ste({ CONFIG: STE_CFG.NESTED, S2VMID: 3, S1CONTEXTPTR: CDT, S1CDMAX: 4, S1DSS: STE_S1DSS.BYPASS }));
    nmem.reads = [];
    expect(expectOk(tr(nested, nmem)).pa).toBe(CD_IOVA + IPA_TO_PA);
    expect(nmem.reads).toEqual([]);
    expect(nested.iotlb.entries()).toMatchObject([{ asid: -1, vmid: 3, iova: CD_IOVA }]);
    nmem.mapIpa(paOfTag(1)); // the stage-1 output IPA of CD 1
    expect(expectOk(tr(nested, nmem, 1)).pa).toBe(paOfTag(1) + IPA_TO_PA);
    // Above the IAS the bypassed stage 1 reports its Address Size fault (stage 1, IN).
    const big = expectFault(nested.translate({ sid: SID, iova: 1n << 48n, access: 'read' }, nmem), 'F_ADDR_SIZE');
    expect(big.fault).toMatchObject({ stage: 1, class: 'IN' });
  });

  it('S1DSS=SSID0: without SubstreamID CD 0 is used; a transaction with SubstreamID 0 is F_STREAM_DISABLED (CD 0 reserved for traffic without one)', () => {
    const { smmu, mem } = linear({ S1CDMAX: 4, S1DSS: STE_S1DSS.SSID0 }, [0, 1]);
    expect(expectOk(tr(smmu, mem)).pa).toBe(paOfTag(0));
    const f = expectFault(tr(smmu, mem, 0), 'F_STREAM_DISABLED');
    expect(decodeEvent(f.event as bigint[]).fields).toMatchObject({ SID, SSV: 0, SSID: 0 });
    expect(expectOk(tr(smmu, mem, 1)).pa).toBe(paOfTag(1));
  });
});

describe('G: CD and level-1 descriptor faults', () => {
  it('a CD with V=0 is C_BAD_CD, recorded with SSV=1 and the SubstreamID; nothing of it is cached', () => {
    const { smmu, mem } = linear({ S1CDMAX: 4, S1DSS: STE_S1DSS.SSID0 }, [2]);
    putCd(mem, CDT + 64n, 1, { cd: { V: 0 } });
    const f = expectFault(tr(smmu, mem, 1), 'C_BAD_CD');
    expect(decodeEvent(f.event as bigint[]).fields).toMatchObject({ SID, SSV: 1, SSID: 1 });
    expect(expectOk(tr(smmu, mem, 2)).pa).toBe(paOfTag(2));
    expect(smmu.configCacheCds(SID)).toEqual([2]);
  });

  it('a level-1 CD descriptor with V=0, or an L2Ptr beyond the output size, is C_BAD_SUBSTREAMID with the SubstreamID — 0 for traffic without one reaching CD 0 through S1DSS=SSID0', () => {
    const smmu = vectorSmmu(SUBSTREAM_IDR);
    const mem = new TestMemory();
    mem.back(CDT, 0x1000n); // level-1 table: every descriptor V=0
    smmu.installSte(SID, ste({ S1CDMAX: 12, S1FMT: STE_S1FMT.L2_64K, S1DSS: STE_S1DSS.SSID0 }));
    const withSsid = expectFault(tr(smmu, mem, 0x805), 'C_BAD_SUBSTREAMID');
    expect(decodeEvent(withSsid.event as bigint[]).fields).toMatchObject({ SSID: 0x805, SSV: 0 });
    const without = expectFault(tr(smmu, mem), 'C_BAD_SUBSTREAMID');
    expect(decodeEvent(without.event as bigint[]).fields).toMatchObject({ SSID: 0, SSV: 0 });
    mem.set(CDT + 16n, encodeL1Cd({ V: 1, L2PTR: 1n << 48n })); // IDR5.OAS 48 bits
    expectFault(tr(smmu, mem, 0x805), 'C_BAD_SUBSTREAMID');
  });

  it('an unreadable level-1 descriptor or CD is F_CD_FETCH with the PA read (in ADDR, as QEMU records it) and SSV/SubstreamID', () => {
    const smmu = vectorSmmu(SUBSTREAM_IDR);
    const mem = new TestMemory(); // nothing backed
    smmu.installSte(SID, ste({ S1CDMAX: 8, S1FMT: STE_S1FMT.L2_4K }));
    const l1 = expectFault(tr(smmu, mem, 0x85), 'F_CD_FETCH');
    expect(l1.fault.fetchAddr).toBe(CDT + 16n);
    expect(decodeEvent(l1.event as bigint[]).fields).toMatchObject({ SID, SSV: 1, SSID: 0x85, ADDR: CDT + 16n });
    const l2 = 0x50_0000n;
    mem.set(CDT + 16n, encodeL1Cd({ V: 1, L2PTR: l2 }));
    const cd = expectFault(tr(smmu, mem, 0x85), 'F_CD_FETCH');
    expect(cd.fault.fetchAddr).toBe(l2 + 5n * 64n);
    expect(decodeEvent(cd.event as bigint[]).fields).toMatchObject({ SSV: 1, SSID: 0x85, ADDR: l2 + 5n * 64n });
  });

  it('nested: the level-1 descriptor and the CD are fetched through stage 2 (class CD): an unmapped IPA at either level is a stage-2 F_TRANSLATION with that IPA, recorded as STE.S2R says; an unreadable PA is F_CD_FETCH at the PA', () => {
    const l2 = 0x50_0000n;
    const cdIpa = l2 + 5n * 64n;
    for (const s2r of [1, 0]) {
      const smmu = vectorSmmu(SUBSTREAM_IDR);
      const mem = new NestedMemory();
      smmu.installSte(SID, s2Ste({ CONFIG: STE_CFG.NESTED, S2VMID: 3, S2R: s2r, S1CONTEXTPTR: CDT, S1CDMAX: 8, S1FMT: STE_S1FMT.L2_4K }));
      const cases: Array<[string, bigint]> = [['level-1 descriptor', CDT + 16n], ['CD', cdIpa]];
      for (const [what, ipa] of cases) {
        const f = expectFault(tr(smmu, mem, 0x85), 'F_TRANSLATION');
        expect(f.fault, what).toMatchObject({ stage: 2, class: 'CD', ipa });
        if (s2r === 1) expect(decodeEvent(f.event as bigint[]).fields, what).toMatchObject({ S2: 1, CLASS: 0, ADDR2: ipa, SSV: 1, SSID: 0x85 });
        else expect(f.event, what).toBeNull();
        if (what === 'level-1 descriptor') mem.setIpaWords(CDT + 16n, [encodeL1Cd({ V: 1, L2PTR: l2 })]);
      }
    }
    const smmu = vectorSmmu(SUBSTREAM_IDR);
    const mem = new NestedMemory();
    smmu.installSte(SID, s2Ste({ CONFIG: STE_CFG.NESTED, S2VMID: 3, S1CONTEXTPTR: CDT, S1CDMAX: 8, S1FMT: STE_S1FMT.L2_4K }));
    mem.mapIpa(CDT);
    expect(expectFault(tr(smmu, mem, 0x85), 'F_CD_FETCH').fault.fetchAddr).toBe(CDT + 16n + IPA_TO_PA);
    mem.setIpaWords(CDT + 16n, [encodeL1Cd({ V: 1, L2PTR: l2 })]);
    mem.mapIpa(l2);
    expect(expectFault(tr(smmu, mem, 0x85), 'F_CD_FETCH').fault.fetchAddr).toBe(cdIpa + IPA_TO_PA);
    mem.putCdAtIpa(cdIpa, 7);
    mem.mapIpa(paOfTag(7));
    expect(expectOk(tr(smmu, mem, 0x85)).pa).toBe(paOfTag(7) + IPA_TO_PA);
  });
});

describe('G: event records', () => {
  it('every event record with SSV/SubstreamID fields carries SSV=1 and the SubstreamID of a transaction that has one (C_BAD_STREAMID, F_STE_FETCH, C_BAD_STE, C_BAD_CD, F_CD_FETCH, walk faults), SSV=0 without', () => {
    const smmu = vectorSmmu(SUBSTREAM_IDR);
    const mem = new TestMemory();
    const strtab = 0x8002_0000n;
    smmu.setStreamTable({ base: strtab, cfg: strtabBaseCfg({ log2Size: 4 }) });
    const records: Record<string, ReturnType<typeof decodeEvent>> = {};
    const rec = (name: Parameters<typeof expectFault>[1], sid: number, ssid?: number): void => {
      const f = expectFault(smmu.translate({ sid, ssid, iova: CD_IOVA, access: 'read' }, mem), name);
      records[`${name}/${ssid ?? '-'}`] = decodeEvent(f.event as bigint[]);
    };
    rec('C_BAD_STREAMID', 16, 7);
    rec('F_STE_FETCH', 1, 7);
    mem.back(strtab, 16n * 64n);
    rec('C_BAD_STE', 1, 7);
    mem.setWords(strtab + 2n * 64n, ste({ S1CDMAX: 4, S1DSS: STE_S1DSS.BYPASS }));
    rec('F_CD_FETCH', 2, 7);
    putCd(mem, CDT + 7n * 64n, 7, { cd: { A: 0 } });
    rec('C_BAD_CD', 2, 7);
    putCd(mem, CDT + 6n * 64n, 6, { cd: { TTB0: 0x7000_0000n } }); // unbacked tables
    rec('F_WALK_EABT', 2, 6);
    putCd(mem, CDT + 5n * 64n, 5, { cd: { TTB0: 0x7000_0000n } });
    mem.back(0x7000_0000n, 0x1000n);
    rec('F_TRANSLATION', 2, 5);
    rec('C_BAD_STE', 1);
    for (const [key, ev] of Object.entries(records)) {
      const [, ssid] = key.split('/');
      expect(ev.fields, key).toMatchObject(ssid === '-' ? { SSV: 0, SSID: 0 } : { SSV: 1, SSID: Number(ssid) });
    }
    expect(Object.keys(records)).toHaveLength(8);
  });

  it('a SubstreamID outside 0..2^20−1 is a caller error (RangeError), not a fault', () => {
    const { smmu, mem } = linear({ S1CDMAX: 4 }, []);
    for (const ssid of [-1, 1 << 20, 1.5]) expect(() => tr(smmu, mem, ssid)).toThrow(RangeError);
  });
});

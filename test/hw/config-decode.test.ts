/**
 * One decode point (src/hw/config.ts): the command path (fetchConfig, atcInsert, CFGI_*) and the
 * translation walk read the same cached configuration, decoded by the same `decode_ste` /
 * `decode_cd`, and agree on every STE — ATS included.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeCd } from '../../src/hw/cd.js';
import { encodeCommand } from '../../src/hw/commands.js';
import { decodeSteConfig } from '../../src/hw/config.js';
import type { SmmuModel } from './helpers.js';
import { isFault } from '../../src/hw/events.js';
import { DEFAULT_IDR, setIdrField } from '../../src/hw/idr.js';
import { encodeSte, STE_CFG, STE_EATS } from '../../src/hw/ste.js';
import { encodePte, PTE_TYPE, type WalkMemory } from '../../src/hw/walk.js';
import { cmds, nestedSmmu, s2Ste, vectorSmmu } from './helpers.js';

const SID = 8;
const CD_ADDR = 0x4_0000n;
const IOVA = 0x1000n;
const PA = 0xa000_0000n;

/**
 * Memory for every Config: a CD at CD_ADDR and stage-1 tables mapping IOVA → PA; the `stage2`
 * resolver maps every IPA to itself, read/write (so S2-only and nested streams translate too).
 */
function memory(): WalkMemory {
  const words = new Map<bigint, bigint>();
  const cd = encodeCd({ T0SZ: 25, TG0: 0, EPD1: 1, V: 1, IPS: 4, AA64: 1, A: 1, R: 1, ASID: 1, TTB0: 0x10_0000n });
  cd.forEach((w, i) => words.set(CD_ADDR + BigInt(8 * i), w));
  // T0SZ 25, 4K: start level 1; IOVA 0x1000 → L1[0] → L2[0] → L3[1].
  words.set(0x10_0000n, encodePte({ VALID: 1, TYPE: PTE_TYPE.TABLE, OA: 0x10_1000n }));
  words.set(0x10_1000n, encodePte({ VALID: 1, TYPE: PTE_TYPE.TABLE, OA: 0x10_2000n }));
  words.set(0x10_2008n, encodePte({ VALID: 1, TYPE: PTE_TYPE.PAGE, AF: 1, OA: PA }));
  return {
    read64: (pa) => words.get(pa) ?? (pa >= 0x10_0000n && pa < 0x10_3000n ? 0n : null),
    stage2: (_ttb, ipa) => ({ pa: ipa, read: true, write: true, pageLog2: 12 }),
  };
}

/** A well-formed STE of each Config (translating ones complete, so only Config and EATS vary). */
function steOf(config: number, eats: number): bigint[] {
  const cdPtr = config === STE_CFG.S1_TRANS || config === STE_CFG.NESTED ? CD_ADDR : 0n;
  if (config === STE_CFG.S2_TRANS || config === STE_CFG.NESTED) return s2Ste({ CONFIG: config, EATS: eats, S2VMID: 3, S1CONTEXTPTR: cdPtr });
  return encodeSte({ V: 1, CONFIG: config, EATS: eats, S1CONTEXTPTR: cdPtr });
}

describe('one decode point: the command path and the walk agree', () => {
  it('ATS is on only for Config S1, S2 or nested with EATS=TRANS on an SMMU with IDR0.ATS — never for abort, reserved (1-3) or bypass', () => {
    for (const ats of [1, 0]) {
      for (let config = 0; config < 8; config++) {
        for (const eats of [STE_EATS.ABT, STE_EATS.TRANS, STE_EATS.S1CHK]) {
          const smmu = vectorSmmu(setIdrField(DEFAULT_IDR, 'ATS', ats));
          smmu.installSte(SID, steOf(config, eats));
          const translating = config > STE_CFG.BYPASS;
          const expected = ats === 1 && translating && eats === STE_EATS.TRANS;
          const where = `IDR0.ATS=${ats} Config=${config} EATS=${eats}`;
          // Command path: the cached configuration and the ATC fill of an ATS completion.
          expect(smmu.fetchConfig(SID)?.ats, where).toBe(expected);
          expect(smmu.atcInsert({ sid: SID, ssid: -1, iova: 0x5000n, addrMask: 0xfffn, translatedAddr: 0n, perm: 3 }), where).toBe(expected);
          // Walk: the same cached STE (fetched once, by the command path; the walk's lookup misses
          // only for the CD of a stage-1 stream), and the ATC filled exactly when ATS is on.
          smmu.atc.clear();
          const r = smmu.translate({ sid: SID, iova: IOVA, access: 'read' }, memory());
          const cdFetched = config === STE_CFG.S1_TRANS || config === STE_CFG.NESTED;
          expect(smmu.stats().configCache, where).toMatchObject({ entries: 1, misses: cdFetched ? 2 : 1 });
          expect(r.ok, where).toBe(config >= STE_CFG.BYPASS);
          if (!r.ok) expect(r.fault.type, where).toBe('ABORT');
          expect(smmu.atc.entries(SID).length, where).toBe(expected ? 1 : 0);
        }
      }
    }
  });

  it('fixed disagreement: a reserved Config (0b001-0b011) with EATS=TRANS is an abort stream without ATS on both paths', () => {
    for (const config of [1, 2, 3]) {
      const smmu = nestedSmmu();
      smmu.installSte(SID, encodeSte({ V: 1, CONFIG: config, EATS: STE_EATS.TRANS }));
      expect(smmu.fetchConfig(SID)).toMatchObject({ mode: 'abort', ats: false, config });
      expect(smmu.atcInsert({ sid: SID, ssid: -1, iova: 0n, addrMask: 0xfffn, translatedAddr: 0n, perm: 3 })).toBe(false);
      const r = smmu.translate({ sid: SID, iova: IOVA, access: 'read' }, memory());
      expect(r).toMatchObject({ ok: false, event: null, fault: { type: 'ABORT' } });
    }
  });

  it('the walk completes a configuration the command path cached (its CD fetched once), and CFGI_STE drops it for both', () => {
    const smmu = nestedSmmu();
    const mem = memory();
    smmu.installSte(SID, steOf(STE_CFG.S1_TRANS, STE_EATS.ABT));
    const cached = smmu.fetchConfig(SID);
    expect(cached).toMatchObject({ mode: 's1', vmid: 0, s1cdmax: 0 });
    expect(cached?.cds.size).toBe(0);
    expect(smmu.translate({ sid: SID, iova: IOVA, access: 'read' }, mem)).toMatchObject({ ok: true, pa: PA });
    expect(smmu.fetchConfig(SID)).toBe(cached);
    expect(cached?.cds.get(0)).toMatchObject({ asid: 1, record: true });
    // fetchConfig fetched the STE (miss), the translation its CD (miss), fetchConfig again nothing (hit).
    expect(smmu.stats().configCache).toEqual({ entries: 1, hits: 1, misses: 2 });
    smmu.submitCommands(cmds(encodeCommand('CFGI_STE', { SID })));
    expect(smmu.configCacheSids()).toEqual([]);
    expect(smmu.fetchConfig(SID)).not.toBe(cached);
  });

  it('a malformed STE is C_BAD_STE for the walk and uncached (null) for the command path', () => {
    const bad = [
      encodeSte({ V: 1, CONFIG: STE_CFG.S2_TRANS, S2VMID: 3 }), // S2AA64=0, S2T0SZ 0
      s2Ste({ S2SL0: 3 }),
      encodeSte({ V: 1, CONFIG: STE_CFG.S1_TRANS, S1CDMAX: 21 }), // above IDR1.SSIDSIZE 20
      encodeSte({ V: 0, CONFIG: STE_CFG.BYPASS }),
    ];
    for (const ste of bad) {
      const smmu: SmmuModel = nestedSmmu();
      smmu.installSte(SID, ste);
      expect(smmu.fetchConfig(SID)).toBeNull();
      expect(smmu.translate({ sid: SID, iova: IOVA, access: 'read' }, memory())).toMatchObject({ ok: false, fault: { type: 'C_BAD_STE' } });
      expect(smmu.configCacheSids()).toEqual([]);
    }
  });

  it('property: for any STE, fetchConfig is null exactly when decode_ste faults, and the walk then reports that fault', () => {
    const dw = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
    fc.assert(
      fc.property(dw, dw, dw, fc.boolean(), (dw0, dw1, dw2, valid) => {
        const smmu = nestedSmmu();
        const ste = [valid ? dw0 | 1n : dw0, dw1, dw2 | (1n << 51n), 0n, 0n, 0n, 0n, 0n];
        smmu.installSte(SID, ste);
        const decoded = decodeSteConfig(smmu.features, SID, ste);
        const cached = smmu.fetchConfig(SID);
        expect(cached === null).toBe(isFault(decoded));
        const r = smmu.translate({ sid: SID, iova: IOVA, access: 'read' }, memory());
        if (isFault(decoded)) {
          expect(r).toMatchObject({ ok: false, fault: { type: decoded.type } });
          return;
        }
        expect(cached).toMatchObject({ mode: decoded.mode, ats: decoded.ats, vmid: decoded.vmid });
        if (decoded.mode === 'abort') expect(r).toMatchObject({ ok: false, fault: { type: 'ABORT' } });
        if (decoded.mode === 'bypass') expect(r).toMatchObject({ ok: true, pa: IOVA });
      }),
      { numRuns: 300 },
    );
  });
});

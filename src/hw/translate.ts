/**
 * One DMA access through an SMMU (smmuv3.md §4; QEMU `smmuv3_translate` → `smmuv3_do_translate`
 * → `smmu_translate`): the device's ATC for ATS streams (keyed by StreamID and SubstreamID),
 * SMMUEN, the configuration of (StreamID, SubstreamID) — STE, SubstreamID rules and CD
 * (src/hw/config.ts, src/hw/cdtable.ts) — abort/bypass, the IOTLB (§5 key: the CD's ASID, VMID,
 * IOVA, TG, level), the stage-1/stage-2/nested walk (src/hw/walk.ts), IOTLB and ATC fill, and the
 * event record of a fault (§4.6, §4.7) with SSV/SubstreamID for a transaction that has one.
 *
 * The walk takes only what it needs of its SMMU (`TranslationContext`), never the SMMU itself.
 * Strict model (smmuv3.md "Decisions"): the stage-1 F_ADDR_SIZE of a stage-2-only stream is
 * recorded (vector 46).
 */
import type { Atc } from './atc.js';
import { SSID_MAX } from './cdtable.js';
import type { SubstreamConfig } from './config.js';
import { EVT_ID, fault, faultRecord, isFault, RECORDABLE_FAULTS, type Fault, type FaultClassName } from './events.js';
import { IOMMU_PERM, type Iotlb, type IotlbEntry, type IotlbKey } from './tlb.js';
import { levelShift, s1Walk, s2Translate, selectTt, type S1Config, type S2Config, type StageOk, type WalkMemory } from './walk.js';

export interface TranslateRequest {
  sid: number;
  /** SubstreamID (PCIe PASID, 0..2^20−1): selects the CD of a stream with substreams; absent: none (SSV=0). */
  ssid?: number;
  iova: bigint;
  access: 'read' | 'write';
}

export interface TranslateFault {
  /** Event name of §4.6 (e.g. 'F_TRANSLATION', 'C_BAD_STE'), or 'ABORT' for a silent abort. */
  type: string;
  /** Event ID (§4.6); 0 for a silent abort. */
  code: number;
  stage: 1 | 2 | 0;
  class: FaultClassName | null;
  inputAddr: bigint;
  /** Faulting IPA of a stage-2 fault, else null. */
  ipa: bigint | null;
  /** Address whose read failed (F_WALK_EABT, F_STE_FETCH, F_CD_FETCH). */
  fetchAddr?: bigint;
}

export type TranslateResult =
  | { ok: true; pa: bigint; perm: { read: boolean; write: boolean }; tlbHit: boolean; atcHit?: boolean; pageSize: bigint }
  | {
      ok: false;
      fault: TranslateFault;
      /** Four 64-bit words (32 bytes); null when not recorded (CD.R=0 / STE.S2R=0, silent abort). */
      event: bigint[] | null;
    };

/** What a translation needs of its SMMU (QEMU hands `smmuv3_translate` the whole device). */
export interface TranslationContext {
  readonly iotlb: Iotlb;
  readonly atc: Atc;
  /** IDR5.OAS in bits: also the input size of a stage-2-only stream (IAS = OAS). */
  readonly oasBits: number;
  /** CR0.SMMUEN. */
  smmuEnabled(): boolean;
  /** `smmuv3_get_config`: the configuration of a transaction of `sid` with `ssid` (src/hw/config.ts ConfigCache.get). */
  config(sid: number, ssid: number | undefined, mem: WalkMemory): SubstreamConfig | Fault;
}

// ---------------------------------------------------------------------------------------------
// IOTLB.

/** IOTLB entry of the walk: a combined nested entry also keeps its IPA (for stage-2 faults on a hit). */
interface WalkIotlbEntry extends IotlbEntry {
  ipa?: bigint;
}

/** IOTLB TG of a granule: (granule − 10) / 2. */
function tgOf(granule: number): number {
  return (granule - 10) / 2;
}

/** The IOTLB entry of a one-stage walk (S1-only, or S2-only with ASID −1). */
function singleStageEntry(asid: number, vmid: number, input: bigint, r: StageOk): WalkIotlbEntry {
  return {
    asid,
    vmid,
    iova: input & ~r.addrMask,
    tg: tgOf(r.granule),
    level: r.level,
    translatedAddr: r.out & ~r.addrMask,
    addrMask: r.addrMask,
    perm: permBits(r.read, r.write),
  };
}

/**
 * `smmu_iotlb_lookup` (§5): probes (asid, vmid, iova & ~blockmask(level), tg, level) for each
 * level from the start level down to 3, then the alternative granule (nested). One hit or one
 * miss is counted per lookup.
 */
function iotlbLookup(
  iotlb: Iotlb,
  asid: number,
  vmid: number,
  iova: bigint,
  probes: Array<{ granule: number; start: number }>,
): WalkIotlbEntry | undefined {
  let last: IotlbKey | null = null;
  for (const { granule, start } of probes) {
    for (let level = Math.max(start, 0); level <= 3; level++) {
      const key: IotlbKey = { asid, vmid, iova: iova & ~((1n << BigInt(levelShift(level, granule))) - 1n), tg: tgOf(granule), level };
      if (iotlb.has(key)) return iotlb.lookup(key) as WalkIotlbEntry;
      last = key;
    }
  }
  if (last !== null) iotlb.lookup(last); // counts the miss
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Results.

function faultResult(req: TranslateRequest, f: Fault, cfg: SubstreamConfig | null): TranslateResult {
  const out: TranslateFault = {
    type: f.type,
    code: f.type === 'ABORT' ? 0 : EVT_ID[f.type],
    stage: f.stage,
    class: f.cls,
    inputAddr: req.iova,
    ipa: f.ipa,
  };
  if (f.fetchAddr !== undefined) out.fetchAddr = f.fetchAddr;
  if (f.type === 'ABORT') return { ok: false, fault: out, event: null };
  let recorded = true;
  if (f.record !== undefined) recorded = f.record;
  else if (RECORDABLE_FAULTS.has(f.type)) {
    // PTW_RECORD_FAULT: CD.R for stage 1, STE.S2R for stage 2. A stage-1 fault without a CD
    // (stage-2-only input-size check, vector 46) is recorded (strict model).
    if (f.stage === 2) recorded = cfg?.stream.s2?.record ?? true;
    else recorded = cfg?.s1?.record ?? true;
  }
  if (!recorded) return { ok: false, fault: out, event: null };
  const event = faultRecord({ ...f, type: f.type }, { sid: req.sid, ssid: req.ssid, iova: req.iova, write: req.access === 'write' });
  return { ok: false, fault: out, event };
}

function permOf(p: number): { read: boolean; write: boolean } {
  return { read: (p & IOMMU_PERM.RO) !== 0, write: (p & IOMMU_PERM.WO) !== 0 };
}

function permBits(read: boolean, write: boolean): number {
  return (read ? IOMMU_PERM.RO : 0) | (write ? IOMMU_PERM.WO : 0);
}

// ---------------------------------------------------------------------------------------------
// Entry point.

/**
 * `smmuv3_translate` (§4.1) for one DMA access of `req.sid`: ATC (ATS streams), SMMUEN, config
 * (cache, STE, CD), abort/bypass, IOTLB, stage-1/stage-2/nested walk, IOTLB and ATC fill, and the
 * event record of a fault. The caller writes the event into its event queue.
 */
export function translate(ctx: TranslationContext, req: TranslateRequest, mem: WalkMemory): TranslateResult {
  const write = req.access === 'write';
  const need = write ? IOMMU_PERM.WO : IOMMU_PERM.RO;
  const iova = req.iova & ((1n << 64n) - 1n);
  if (req.ssid !== undefined && !(Number.isInteger(req.ssid) && req.ssid >= 0 && req.ssid <= SSID_MAX)) {
    throw new RangeError(`SubstreamID ${req.ssid} is not 0..${SSID_MAX}`);
  }
  const ssid = req.ssid ?? -1;

  // The device's own ATC answers first (ATS translated request).
  const atc = ctx.atc.lookup(req.sid, ssid, iova);
  if (atc !== undefined && (atc.perm & need) !== 0) {
    const m = atc.addrMask;
    return { ok: true, pa: atc.translatedAddr + (iova & m), perm: permOf(atc.perm), tlbHit: false, atcHit: true, pageSize: m + 1n };
  }

  if (!ctx.smmuEnabled()) {
    // GBPA reset value: no abort → pass-through, no event (§4.1 step 1).
    return { ok: true, pa: iova, perm: { read: true, write: true }, tlbHit: false, pageSize: 0x1000n };
  }

  const sc = ctx.config(req.sid, req.ssid, mem);
  if (isFault(sc)) return faultResult(req, sc, null);
  const cfg = sc.stream;
  if (sc.mode === 'abort') return faultResult(req, fault('ABORT'), sc);
  if (sc.mode === 'bypass') return { ok: true, pa: iova, perm: { read: true, write: true }, tlbHit: false, pageSize: 0x1000n };

  const fillAtc = (e: IotlbEntry): void => {
    if (cfg.ats) {
      ctx.atc.insert({ sid: req.sid, ssid, iova: e.iova, addrMask: e.addrMask, translatedAddr: e.translatedAddr, perm: e.parentPerm === undefined ? e.perm : e.perm & e.parentPerm });
    }
  };

  // Stage-2-only (or stage 1 bypassed by STE.S1DSS on a nested stream).
  if (sc.mode === 's2') {
    const s2 = cfg.s2 as S2Config;
    // IAS = OAS: input ≥ 2^oas → stage-1 F_ADDR_SIZE (§4.5, vector 46).
    if (iova >= 1n << BigInt(ctx.oasBits)) return faultResult(req, fault('F_ADDR_SIZE', 1, 'IN'), sc);
    const hit = iotlbLookup(ctx.iotlb, -1, cfg.vmid, iova, [{ granule: s2.granule, start: s2.startLevel }]);
    if (hit !== undefined) {
      if ((hit.perm & need) === 0) return faultResult(req, fault('F_PERMISSION', 2, 'IN', iova), sc);
      fillAtc(hit);
      return { ok: true, pa: hit.translatedAddr + (iova & hit.addrMask), perm: permOf(hit.perm), tlbHit: true, pageSize: hit.addrMask + 1n };
    }
    const r = s2Translate(s2, iova, write, 'IN', mem);
    if (isFault(r)) return faultResult(req, r, sc);
    const e = singleStageEntry(-1, cfg.vmid, iova, r);
    ctx.iotlb.insert(e);
    fillAtc(e);
    return { ok: true, pa: r.out, perm: { read: r.read, write: r.write }, tlbHit: false, pageSize: r.addrMask + 1n };
  }

  // Stage 1 (and nested).
  const s1 = sc.s1 as S1Config;
  const sel = selectTt(s1, iova);
  if (isFault(sel)) return faultResult(req, sel, sc);
  const va = sel.va;
  const probes = [{ granule: sel.tt.granule, start: sel.startLevel }];
  if (cfg.s2 !== null && cfg.s2.granule !== sel.tt.granule) probes.push({ granule: cfg.s2.granule, start: cfg.s2.startLevel });
  const hit = iotlbLookup(ctx.iotlb, s1.asid, cfg.vmid, va, probes);
  if (hit !== undefined) {
    if ((hit.perm & need) === 0) return faultResult(req, fault('F_PERMISSION', 1, 'IN'), sc);
    if (hit.parentPerm !== undefined && (hit.parentPerm & need) === 0) {
      const ipa = hit.ipa === undefined ? null : hit.ipa + (va & hit.addrMask);
      return faultResult(req, fault('F_PERMISSION', 2, 'IN', ipa), sc);
    }
    fillAtc(hit);
    const p = hit.parentPerm === undefined ? hit.perm : hit.perm & hit.parentPerm;
    return { ok: true, pa: hit.translatedAddr + (va & hit.addrMask), perm: permOf(p), tlbHit: true, pageSize: hit.addrMask + 1n };
  }
  const r1 = s1Walk(s1, sel, write, cfg.s2, mem);
  if (isFault(r1)) return faultResult(req, r1, sc);
  let e: WalkIotlbEntry;
  let pa: bigint;
  let perm: { read: boolean; write: boolean };
  if (cfg.s2 === null) {
    pa = r1.out;
    perm = { read: r1.read, write: r1.write };
    e = singleStageEntry(s1.asid, cfg.vmid, va, r1);
  } else {
    const r2 = s2Translate(cfg.s2, r1.out, write, 'IN', mem);
    if (isFault(r2)) return faultResult(req, r2, sc);
    // `combine_tlb`: the smaller block wins (S1 on a tie).
    const small = r2.addrMask < r1.addrMask ? r2 : r1;
    const m = small.addrMask;
    pa = r2.out;
    perm = { read: r1.read && r2.read, write: r1.write && r2.write };
    e = {
      asid: s1.asid,
      vmid: cfg.vmid,
      iova: va & ~m,
      tg: tgOf(small.granule),
      level: small.level,
      translatedAddr: r2.out & ~m,
      addrMask: m,
      perm: permBits(r1.read, r1.write),
      parentPerm: permBits(r2.read, r2.write),
      ipa: r1.out & ~m,
    };
  }
  ctx.iotlb.insert(e);
  fillAtc(e);
  return { ok: true, pa, perm, tlbHit: false, pageSize: e.addrMask + 1n };
}

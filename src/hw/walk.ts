/**
 * DMA translation walk (smmuv3.md §4): STE lookup (installed STEs or a stream table in memory),
 * STE and CD decode, stage-1 and stage-2 page walks for 4K/16K/64K granules, nesting, the IOTLB
 * (§5 key: ASID, VMID, IOVA, TG, level), the per-device ATC for ATS streams, and the 32-byte
 * event record of every fault (§4.6, §4.7).
 *
 * Follows QEMU `smmuv3_translate` / `smmu_ptw` except where the project's decisions (top of
 * smmuv3.md) ask for the architecture: a malformed STE (S2AA64=0 included) is C_BAD_STE; the
 * stage-1 F_ADDR_SIZE of a stage-2-only stream is recorded (vector 46); TBI1 is CD.TBI bit 1; the
 * stream table format is the current STRTAB_BASE_CFG.FMT; TT0/TT1 are selected by address bit 55
 * with the upper bits checked against it; blocks are accepted only at the levels the granule
 * allows. Pure and deterministic: memory is only read through `WalkMemory`.
 */
import { CD, CD_DWORDS, CD_TG0_GRANULE_LOG2, CD_TG1_GRANULE_LOG2 } from './cd.js';
import { EVT_CLASS, EVT_ID, encodeEvent, type EventName } from './events.js';
import { wordGet } from './fields.js';
import { CR0_SMMUEN } from './queue.js';
import type { CachedConfig, SmmuModel } from './smmu.js';
import { STE, STE_CFG, STE_DWORDS, STE_EATS } from './ste.js';
import { locateSte } from './strtab.js';
import { IOMMU_PERM, type IotlbEntry, type IotlbKey } from './tlb.js';

export interface WalkMemory {
  /** 64-bit little-endian read at a physical address; null = bus error (unbacked). */
  read64(pa: bigint): bigint | null;
  /**
   * Optional: the service resolves stage 2 from IOAS mappings instead of S2 page tables in
   * memory: given STE.S2TTB and an IPA return {pa, read, write, pageLog2} (pa = the translation
   * of that exact IPA; pageLog2 = log2 of the mapping's naturally aligned size) or null (= stage-2
   * translation fault). When absent, stage 2 walks S2 tables in memory per §4.5.
   */
  stage2?(s2ttb: bigint, ipa: bigint): { pa: bigint; read: boolean; write: boolean; pageLog2: number } | null;
}

export interface TranslateRequest {
  sid: number;
  ssid?: number;
  iova: bigint;
  access: 'read' | 'write';
}

export type FaultClassName = 'CD' | 'TT' | 'IN';

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

// ---------------------------------------------------------------------------------------------
// Decoded configuration (what the configuration cache holds per SID).

/** One stage-1 translation table (TT0/TT1) of a CD. */
export interface S1TableConfig {
  disabled: boolean;
  tsz: number;
  /** Granule log2: 12, 14 or 16. */
  granule: number;
  ttb: bigint;
  /** Effective output size of this TT (bits). */
  oas: number;
  had: boolean;
}

export interface S1Config {
  asid: number;
  /** CD.TBI: bit 0 = TBI0, bit 1 = TBI1. */
  tbi: number;
  affd: boolean;
  /** CD.R: record stage-1 TRANSLATION/ADDR_SIZE/ACCESS/PERMISSION faults. */
  record: boolean;
  tt: [S1TableConfig, S1TableConfig];
}

export interface S2Config {
  vmid: number;
  tsz: number;
  granule: number;
  startLevel: number;
  /** Effective PA size (bits), eff_ps of §4.3. */
  effPs: number;
  ttb: bigint;
  affd: boolean;
  /** STE.S2R: record stage-2 faults. */
  record: boolean;
}

export type StreamMode = 'abort' | 'bypass' | 's1' | 's2' | 'nested';

export interface DecodedConfig {
  mode: StreamMode;
  /** S2VMID when S2P is implemented, else −1 (§4.3). */
  vmid: number;
  /** ATS enabled: IDR0.ATS and STE.EATS = TRANS on a non-abort stream. */
  ats: boolean;
  s1: S1Config | null;
  s2: S2Config | null;
}

/** Decoded configurations attached to the model's config-cache entries (dropped with them by CFGI_*). */
const decodedCache = new WeakMap<CachedConfig, DecodedConfig>();

// ---------------------------------------------------------------------------------------------
// Helpers.

interface Fault {
  kind: 'fault';
  type: EventName | 'ABORT';
  stage: 0 | 1 | 2;
  cls: FaultClassName | null;
  ipa: bigint | null;
  fetchAddr?: bigint;
  /** Recording decided where the fault arose (stage-2 CD fetch during config decode). */
  record?: boolean;
}

function fault(type: EventName, stage: 0 | 1 | 2 = 0, cls: FaultClassName | null = null, ipa: bigint | null = null, fetchAddr?: bigint): Fault {
  return fetchAddr === undefined ? { kind: 'fault', type, stage, cls, ipa } : { kind: 'fault', type, stage, cls, ipa, fetchAddr };
}

function isFault(x: unknown): x is Fault {
  return typeof x === 'object' && x !== null && (x as { kind?: unknown }).kind === 'fault';
}

/** Faults recorded only with CD.R / STE.S2R (`PTW_RECORD_FAULT`, §4.5). */
const RECORDABLE: ReadonlySet<string> = new Set(['F_TRANSLATION', 'F_ADDR_SIZE', 'F_ACCESS', 'F_PERMISSION']);

const OAS_BITS = [32, 36, 40, 42, 44, 48, 52, 52] as const;
/** `oas2bits` (Q-INT L357-375), 6 → 52; the reserved 7 is treated as 52. */
export function oas2bits(v: number): number {
  return OAS_BITS[Math.max(0, Math.min(7, v))];
}

const MASK48 = (1n << 48n) - 1n;

/** level_shift(l, g) = g + (3 − l)(g − 3) (§4.5). */
export function levelShift(level: number, granule: number): number {
  return granule + (3 - level) * (granule - 3);
}

/** Stage-1 start level = 4 − (inputsize − 4) / stride (§4.5; vector 43). */
export function s1StartLevel(granule: number, tsz: number): number {
  return 4 - Math.floor((64 - tsz - 4) / (granule - 3));
}

/** Stage-2 start level (`get_start_level`): 4K → 2 − SL0, 16K/64K → 3 − SL0. */
export function s2StartLevel(granule: number, sl0: number): number {
  return granule === 12 ? 2 - sl0 : 3 - sl0;
}

/** IOTLB TG of a granule: (granule − 10) / 2. */
function tgOf(granule: number): number {
  return (granule - 10) / 2;
}

function granuleSupported(model: SmmuModel, granule: number): boolean {
  const name = granule === 12 ? '4k' : granule === 14 ? '16k' : '64k';
  return model.features.granules.includes(name);
}

/** Block descriptors allowed at: 4K levels 1-2, 16K level 2, 64K level 2. */
function blockAllowed(granule: number, level: number): boolean {
  return granule === 12 ? level === 1 || level === 2 : level === 2;
}

/** Output address of a descriptor at a level whose shift is `shift` (PTE[47:shift], + [51:48] for 64K/52-bit). */
function pteOutput(pte: bigint, shift: number, granule: number, oas: number): bigint {
  let a = pte & MASK48 & ~((1n << BigInt(shift)) - 1n);
  if (granule === 16 && oas > 48) a |= ((pte >> 12n) & 0xfn) << 48n;
  return a;
}

function mask(bits: number): bigint {
  return (1n << BigInt(bits)) - 1n;
}

// ---------------------------------------------------------------------------------------------
// STE / CD decode (§4.3, §4.4).

interface SteDecode {
  cfg: DecodedConfig;
  cdPtr: bigint;
}

function decodeS2(model: SmmuModel, ste: ArrayLike<bigint>, vmid: number): S2Config | Fault {
  const bad = fault('C_BAD_STE');
  const tg = wordGet(ste, STE.S2TG);
  if (tg === 3) return bad;
  const granule = tg === 0 ? 12 : tg === 1 ? 16 : 14;
  if (!granuleSupported(model, granule)) return bad;
  if (wordGet(ste, STE.S2AA64) === 0) return bad; // QEMU asserts (§4.3); strict: C_BAD_STE
  if (wordGet(ste, STE.S2ENDI) === 1 || wordGet(ste, STE.S2S) === 1) return bad;
  const sl0 = wordGet(ste, STE.S2SL0);
  if (sl0 === 3) return bad;
  let effPs = Math.min(oas2bits(wordGet(ste, STE.S2PS)), model.features.oasBits);
  if (granule !== 16) effPs = Math.min(effPs, 48);
  const ttb = wordGet(ste, STE.S2TTB);
  if (ttb >= 1n << BigInt(effPs)) return bad;
  const tsz = wordGet(ste, STE.S2T0SZ);
  const minTsz = granule === 16 ? 64 - effPs : Math.max(16, 64 - effPs);
  if (tsz > 39 || tsz < minTsz) return bad;
  const startLevel = s2StartLevel(granule, sl0);
  const topBits = 64 - tsz - levelShift(startLevel, granule);
  // At least one index bit at the start level and at most 16 concatenated tables (§4.3).
  if (topBits < 1 || topBits - (granule - 3) > 4) return bad;
  return {
    vmid,
    tsz,
    granule,
    startLevel,
    effPs,
    ttb,
    affd: wordGet(ste, STE.S2AFFD) === 1,
    record: wordGet(ste, STE.S2R) === 1,
  };
}

/** `decode_ste` (§4.3). */
function decodeSteWords(model: SmmuModel, ste: ArrayLike<bigint>): SteDecode | Fault {
  const { s1p, s2p } = model.features;
  if (wordGet(ste, STE.V) === 0) return fault('C_BAD_STE');
  const config = wordGet(ste, STE.CONFIG);
  const vmid = s2p ? wordGet(ste, STE.S2VMID) : -1;
  const eats = wordGet(ste, STE.EATS) === STE_EATS.TRANS && model.features.ats;
  const base = { vmid, ats: false, s1: null, s2: null };
  if ((config & 4) === 0) return { cfg: { ...base, mode: 'abort' }, cdPtr: 0n }; // 0b000-0b011 (vector 33)
  if (config === STE_CFG.BYPASS) return { cfg: { ...base, mode: 'bypass', ats: eats }, cdPtr: 0n };
  const s1 = config === STE_CFG.S1_TRANS || config === STE_CFG.NESTED;
  const s2 = config === STE_CFG.S2_TRANS || config === STE_CFG.NESTED;
  if ((s1 && !s1p) || (s2 && !s2p)) return fault('C_BAD_STE');
  let s2cfg: S2Config | null = null;
  if (s2) {
    const r = decodeS2(model, ste, vmid);
    if (isFault(r)) return r;
    s2cfg = r;
  }
  let cdPtr = 0n;
  if (s1) {
    if (wordGet(ste, STE.S1CDMAX) !== 0) return fault('C_BAD_STE');
    if (wordGet(ste, STE.S1STALLD) === 1) return fault('C_BAD_STE');
    cdPtr = wordGet(ste, STE.S1CONTEXTPTR);
    if (!s2 && cdPtr >= 1n << BigInt(model.features.oasBits)) return fault('C_BAD_STE');
  }
  const mode: StreamMode = s1 && s2 ? 'nested' : s1 ? 's1' : 's2';
  return { cfg: { mode, vmid, ats: eats, s1: null, s2: s2cfg }, cdPtr };
}

/** `decode_cd` (§4.4). */
function decodeCdWords(model: SmmuModel, cd: ArrayLike<bigint>): S1Config | Fault {
  const bad = fault('C_BAD_CD');
  if (wordGet(cd, CD.V) === 0 || wordGet(cd, CD.AA64) === 0) return bad;
  if (wordGet(cd, CD.A) === 0 || wordGet(cd, CD.S) === 1) return bad;
  if (wordGet(cd, CD.HA) === 1 || wordGet(cd, CD.HD) === 1) return bad;
  if (wordGet(cd, CD.ENDI) === 1) return bad;
  const ips = Math.min(oas2bits(wordGet(cd, CD.IPS)), model.features.oasBits);
  const tts: S1TableConfig[] = [];
  for (const i of [0, 1] as const) {
    const epd = wordGet(cd, i === 0 ? CD.EPD0 : CD.EPD1) === 1;
    const tsz = wordGet(cd, i === 0 ? CD.T0SZ : CD.T1SZ);
    const tg = wordGet(cd, i === 0 ? CD.TG0 : CD.TG1);
    const ttb = wordGet(cd, i === 0 ? CD.TTB0 : CD.TTB1);
    const had = wordGet(cd, i === 0 ? CD.HAD0 : CD.HAD1) === 1;
    if (epd) {
      tts.push({ disabled: true, tsz, granule: 12, ttb, oas: ips, had });
      continue;
    }
    const granule = (i === 0 ? CD_TG0_GRANULE_LOG2 : CD_TG1_GRANULE_LOG2)[tg];
    if (granule === undefined || !granuleSupported(model, granule)) return bad;
    if (tsz < 16 || tsz > 39) return bad;
    const oas = granule === 16 ? ips : Math.min(ips, 48);
    if (ttb >= 1n << BigInt(oas)) return bad;
    tts.push({ disabled: false, tsz, granule, ttb, oas, had });
  }
  return {
    asid: model.features.asidBits === 16 ? wordGet(cd, CD.ASID) : wordGet(cd, CD.ASID) & 0xff,
    tbi: wordGet(cd, CD.TBI),
    affd: wordGet(cd, CD.AFFD) === 1,
    record: wordGet(cd, CD.R) === 1,
    tt: [tts[0], tts[1]],
  };
}

function readWords(mem: WalkMemory, addr: bigint, n: number): bigint[] | null {
  const out: bigint[] = [];
  for (let i = 0; i < n; i++) {
    const w = mem.read64(addr + BigInt(i * 8));
    if (w === null) return null;
    out.push(w);
  }
  return out;
}

/** Finishes the decode: CD fetch (through stage 2 when nested, class CD) and CD decode. */
function completeConfig(model: SmmuModel, d: SteDecode, mem: WalkMemory): DecodedConfig | Fault {
  const cfg = d.cfg;
  if (cfg.mode !== 's1' && cfg.mode !== 'nested') return cfg;
  let cdAddr = d.cdPtr;
  if (cfg.mode === 'nested') {
    const s2 = cfg.s2 as S2Config;
    const t = s2Translate(s2, d.cdPtr, false, 'CD', mem);
    if (isFault(t)) return RECORDABLE.has(t.type) ? { ...t, record: s2.record } : t;
    cdAddr = t.out;
  }
  const words = readWords(mem, cdAddr, CD_DWORDS);
  if (words === null) return fault('F_CD_FETCH', 0, null, null, cdAddr);
  const s1 = decodeCdWords(model, words);
  if (isFault(s1)) return s1;
  return { ...cfg, s1 };
}

/** `smmuv3_get_config` (§4.1 step 2): cached config of the SID, or a full decode on a miss. */
function getConfig(model: SmmuModel, sid: number, mem: WalkMemory): DecodedConfig | Fault {
  const cached = model.configCacheLookup(sid);
  if (cached !== undefined) {
    const known = decodedCache.get(cached);
    if (known !== undefined) return known;
    // Cached by another path (fetchConfig): decode the cached STE snapshot.
    const d = decodeSteWords(model, cached.ste);
    if (isFault(d)) return d;
    const full = completeConfig(model, d, mem);
    if (!isFault(full)) decodedCache.set(cached, full);
    return full;
  }
  let ste: bigint[];
  const regs = model.streamTableRegs();
  if (regs === null) {
    if (!Number.isInteger(sid) || sid < 0 || sid >= 2 ** Math.min(model.features.sidBits, 32)) return fault('C_BAD_STREAMID');
    ste = model.getSte(sid) ?? new Array<bigint>(STE_DWORDS).fill(0n);
  } else {
    const loc = locateSte(regs, sid, model.features.sidBits, (pa) => mem.read64(pa));
    if (!loc.ok) return fault(loc.type, 0, null, null, loc.fetchAddr ?? undefined);
    const words = readWords(mem, loc.steAddr, STE_DWORDS);
    if (words === null) return fault('F_STE_FETCH', 0, null, null, loc.steAddr);
    ste = words;
  }
  const d = decodeSteWords(model, ste);
  if (isFault(d)) return d;
  const full = completeConfig(model, d, mem);
  if (isFault(full)) return full; // nothing cached on failure (§4.1)
  decodedCache.set(model.configCacheStore(sid, ste), full);
  return full;
}

// ---------------------------------------------------------------------------------------------
// Page walks (§4.5).

interface StageOk {
  /** Translation of the exact input address. */
  out: bigint;
  /** Block size − 1. */
  addrMask: bigint;
  level: number;
  granule: number;
  read: boolean;
  write: boolean;
}

/** `smmu_ptw_64_s2` (or the service's `stage2` resolver): translates an IPA; faults are S2 with ADDR2 = IPA. */
function s2Translate(s2: S2Config, ipa: bigint, write: boolean, cls: FaultClassName, mem: WalkMemory): StageOk | Fault {
  const g = s2.granule;
  const inputSize = 64 - s2.tsz;
  const s2fault = (type: EventName, fetchAddr?: bigint): Fault => fault(type, 2, cls, ipa, fetchAddr);
  if (ipa >= 1n << BigInt(inputSize)) return s2fault('F_TRANSLATION');
  if (mem.stage2 !== undefined) {
    const r = mem.stage2(s2.ttb, ipa);
    if (r === null) return s2fault('F_TRANSLATION');
    if (write ? !r.write : !r.read) return s2fault('F_PERMISSION');
    if (r.pa >= 1n << BigInt(s2.effPs)) return s2fault('F_ADDR_SIZE');
    // Largest level block not above the mapping size (and not above the start level).
    let level = 3;
    while (level > s2.startLevel && levelShift(level - 1, g) <= r.pageLog2 && blockAllowed(g, level - 1)) level--;
    const addrMask = mask(levelShift(level, g));
    return { out: r.pa, addrMask, level, granule: g, read: r.read, write: r.write };
  }
  let level = s2.startLevel;
  const topBits = inputSize - levelShift(level, g);
  let base = s2.ttb & mask(s2.effPs) & ~mask(topBits + 3);
  let idx = ipa >> BigInt(levelShift(level, g));
  const strideMask = mask(g - 3);
  for (;;) {
    const pteAddr = base + idx * 8n;
    const pte = mem.read64(pteAddr);
    if (pte === null) return s2fault('F_WALK_EABT', pteAddr);
    const type = pte & 3n;
    if ((pte & 1n) === 0n) return s2fault('F_TRANSLATION');
    const shift = levelShift(level, g);
    if (level < 3 && type === 3n) {
      const next = pteOutput(pte, g, g, s2.effPs);
      if (next >= 1n << BigInt(s2.effPs)) return s2fault('F_ADDR_SIZE');
      base = next;
      level++;
      idx = (ipa >> BigInt(levelShift(level, g))) & strideMask;
      continue;
    }
    if (level === 3 ? type !== 3n : !blockAllowed(g, level)) return s2fault('F_TRANSLATION');
    if ((pte & (1n << 10n)) === 0n && !s2.affd) return s2fault('F_ACCESS');
    const s2ap = Number((pte >> 6n) & 3n);
    const read = (s2ap & 1) !== 0;
    const wr = (s2ap & 2) !== 0;
    if (write ? !wr : !read) return s2fault('F_PERMISSION');
    const outBase = pteOutput(pte, shift, g, s2.effPs);
    if (outBase >= 1n << BigInt(s2.effPs)) return s2fault('F_ADDR_SIZE');
    const addrMask = mask(shift);
    return { out: outBase | (ipa & addrMask), addrMask, level, granule: g, read, write: wr };
  }
}

interface TtSelection {
  tt: S1TableConfig;
  /** Input address with the TBI tag replaced by the sign of bit 55. */
  va: bigint;
  startLevel: number;
}

/** `select_tt` (§4.5), architecturally: bit 55 picks TT0/TT1; the bits above the input size must match it. */
function selectTt(s1: S1Config, iova: bigint): TtSelection | Fault {
  const hi = Number((iova >> 55n) & 1n);
  const tt = s1.tt[hi];
  const tbi = ((s1.tbi >> hi) & 1) === 1;
  let va = iova;
  if (tbi) va = hi ? iova | (0xffn << 56n) : iova & mask(56);
  const inputSize = 64 - tt.tsz;
  const upper = va >> BigInt(inputSize);
  const expect = hi ? mask(tt.tsz) : 0n;
  if (tt.disabled || upper !== expect) return fault('F_TRANSLATION', 1, 'IN');
  return { tt, va, startLevel: s1StartLevel(tt.granule, tt.tsz) };
}

/** `smmu_ptw_64_s1` (§4.5). In nested mode every descriptor address is an IPA translated by stage 2 (class TT). */
function s1Walk(s1: S1Config, sel: TtSelection, write: boolean, s2: S2Config | null, mem: WalkMemory): StageOk | Fault {
  const { tt, va } = sel;
  const g = tt.granule;
  const inputSize = 64 - tt.tsz;
  const addr = va & mask(inputSize);
  let level = sel.startLevel;
  const topBits = inputSize - levelShift(level, g);
  let base = tt.ttb & mask(tt.oas) & ~mask(Math.max(topBits + 3, 3));
  const strideMask = mask(g - 3);
  let tableRo = false;
  const s1fault = (type: EventName, fetchAddr?: bigint): Fault => fault(type, 1, fetchAddr === undefined ? 'IN' : 'TT', null, fetchAddr);
  for (;;) {
    const shift = levelShift(level, g);
    const descAddr = base + ((addr >> BigInt(shift)) & strideMask) * 8n;
    let pteAddr = descAddr;
    if (s2 !== null) {
      const t = s2Translate(s2, descAddr, false, 'TT', mem);
      if (isFault(t)) return t;
      pteAddr = t.out;
    }
    const pte = mem.read64(pteAddr);
    if (pte === null) return s1fault('F_WALK_EABT', pteAddr);
    const type = pte & 3n;
    if ((pte & 1n) === 0n) return s1fault('F_TRANSLATION');
    if (level < 3 && type === 3n) {
      if (!tt.had && ((pte >> 62n) & 1n) === 1n) {
        if (write) return s1fault('F_PERMISSION');
        tableRo = true;
      }
      const next = pteOutput(pte, g, g, tt.oas);
      if (next >= 1n << BigInt(tt.oas)) return s1fault('F_ADDR_SIZE');
      base = next;
      level++;
      continue;
    }
    if (level === 3 ? type !== 3n : !blockAllowed(g, level)) return s1fault('F_TRANSLATION');
    if ((pte & (1n << 10n)) === 0n && !s1.affd) return s1fault('F_ACCESS');
    const writable = ((pte >> 7n) & 1n) === 0n && !tableRo;
    if (write && !writable) return s1fault('F_PERMISSION');
    const outBase = pteOutput(pte, shift, g, tt.oas);
    if (outBase >= 1n << BigInt(tt.oas)) return s1fault('F_ADDR_SIZE');
    const addrMask = mask(shift);
    return { out: outBase | (addr & addrMask), addrMask, level, granule: g, read: true, write: writable };
  }
}

// ---------------------------------------------------------------------------------------------
// IOTLB.

/** IOTLB entry of the walk: a combined nested entry also keeps its IPA (for stage-2 faults on a hit). */
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

interface WalkIotlbEntry extends IotlbEntry {
  ipa?: bigint;
}

/**
 * `smmu_iotlb_lookup` (§5): probes (asid, vmid, iova & ~blockmask(level), tg, level) for each
 * level from the start level down to 3, then the alternative granule (nested). One hit or one
 * miss is counted per lookup.
 */
function iotlbLookup(model: SmmuModel, asid: number, vmid: number, iova: bigint, probes: Array<{ granule: number; start: number }>): WalkIotlbEntry | undefined {
  let last: IotlbKey | null = null;
  for (const { granule, start } of probes) {
    for (let level = Math.max(start, 0); level <= 3; level++) {
      const key: IotlbKey = { asid, vmid, iova: iova & ~mask(levelShift(level, granule)), tg: tgOf(granule), level };
      if (model.iotlb.has(key)) return model.iotlb.lookup(key) as WalkIotlbEntry;
      last = key;
    }
  }
  if (last !== null) model.iotlb.lookup(last); // counts the miss
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Results and events.

function faultResult(req: TranslateRequest, f: Fault, cfg: DecodedConfig | null): TranslateResult {
  const write = req.access === 'write';
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
  else if (RECORDABLE.has(f.type)) {
    // PTW_RECORD_FAULT: CD.R for stage 1, STE.S2R for stage 2. A stage-1 fault without a CD
    // (stage-2-only input-size check, vector 46) is recorded (strict model).
    if (f.stage === 2) recorded = cfg?.s2?.record ?? true;
    else recorded = cfg?.s1?.record ?? true;
  }
  if (!recorded) return { ok: false, fault: out, event: null };
  const ssv = req.ssid !== undefined ? { SSV: 1, SSID: req.ssid } : {};
  const sid = BigInt(req.sid >>> 0);
  let words: bigint[];
  switch (f.type) {
    case 'C_BAD_STREAMID':
    case 'C_BAD_STE':
    case 'C_BAD_CD':
    case 'C_BAD_SUBSTREAMID':
    case 'F_CFG_CONFLICT':
      words = encodeEvent(f.type, { SID: sid, ...ssv });
      break;
    case 'F_STE_FETCH':
      words = encodeEvent(f.type, { SID: sid, ...ssv, ADDR2: f.fetchAddr ?? 0n });
      break;
    case 'F_CD_FETCH':
      // QEMU puts the fetch address in ADDR (word4/5), vector 36.
      words = encodeEvent(f.type, { SID: sid, ...ssv, ADDR: f.fetchAddr ?? 0n });
      break;
    default: {
      const addr2 = f.type === 'F_WALK_EABT' ? (f.fetchAddr ?? 0n) : f.stage === 2 ? (f.ipa ?? 0n) : 0n;
      words = encodeEvent(f.type, {
        SID: sid,
        ...ssv,
        S2: f.stage === 2 ? 1 : 0,
        CLASS: EVT_CLASS[f.cls ?? 'IN'],
        RNW: write ? 0 : 1,
        ADDR: req.iova,
        ADDR2: addr2,
      });
    }
  }
  return { ok: false, fault: out, event: words };
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
export function translate(model: SmmuModel, req: TranslateRequest, mem: WalkMemory): TranslateResult {
  const write = req.access === 'write';
  const need = write ? IOMMU_PERM.WO : IOMMU_PERM.RO;
  const iova = req.iova & ((1n << 64n) - 1n);
  const ssid = req.ssid ?? -1;

  // The device's own ATC answers first (ATS translated request).
  const atc = model.atc.lookup(req.sid, ssid, iova);
  if (atc !== undefined && (atc.perm & need) !== 0) {
    const mask_ = atc.addrMask;
    return { ok: true, pa: atc.translatedAddr + (iova & mask_), perm: permOf(atc.perm), tlbHit: false, atcHit: true, pageSize: mask_ + 1n };
  }

  if ((model.readCr0() & CR0_SMMUEN) === 0) {
    // GBPA reset value: no abort → pass-through, no event (§4.1 step 1).
    return { ok: true, pa: iova, perm: { read: true, write: true }, tlbHit: false, pageSize: 0x1000n };
  }

  const cfg = getConfig(model, req.sid, mem);
  if (isFault(cfg)) return faultResult(req, cfg, null);
  if (cfg.mode === 'abort') return faultResult(req, { kind: 'fault', type: 'ABORT', stage: 0, cls: null, ipa: null }, cfg);
  if (cfg.mode === 'bypass') return { ok: true, pa: iova, perm: { read: true, write: true }, tlbHit: false, pageSize: 0x1000n };
  if (cfg.s1 !== null && req.ssid !== undefined && req.ssid !== 0) {
    // S1CDMax = 0: a single CD, no substreams.
    return faultResult(req, fault('C_BAD_SUBSTREAMID'), cfg);
  }

  const fillAtc = (e: IotlbEntry): void => {
    if (cfg.ats) {
      model.atc.insert({ sid: req.sid, ssid, iova: e.iova, addrMask: e.addrMask, translatedAddr: e.translatedAddr, perm: e.parentPerm === undefined ? e.perm : e.perm & e.parentPerm });
    }
  };

  // Stage-2-only.
  if (cfg.mode === 's2') {
    const s2 = cfg.s2 as S2Config;
    // IAS = OAS: input ≥ 2^oas → stage-1 F_ADDR_SIZE (§4.5, vector 46).
    if (iova >= 1n << BigInt(model.features.oasBits)) return faultResult(req, fault('F_ADDR_SIZE', 1, 'IN'), cfg);
    const hit = iotlbLookup(model, -1, cfg.vmid, iova, [{ granule: s2.granule, start: s2.startLevel }]);
    if (hit !== undefined) {
      if ((hit.perm & need) === 0) return faultResult(req, fault('F_PERMISSION', 2, 'IN', iova), cfg);
      fillAtc(hit);
      return { ok: true, pa: hit.translatedAddr + (iova & hit.addrMask), perm: permOf(hit.perm), tlbHit: true, pageSize: hit.addrMask + 1n };
    }
    const r = s2Translate(s2, iova, write, 'IN', mem);
    if (isFault(r)) return faultResult(req, r, cfg);
    const e = singleStageEntry(-1, cfg.vmid, iova, r);
    model.iotlb.insert(e);
    fillAtc(e);
    return { ok: true, pa: r.out, perm: { read: r.read, write: r.write }, tlbHit: false, pageSize: r.addrMask + 1n };
  }

  // Stage 1 (and nested).
  const s1 = cfg.s1 as S1Config;
  const sel = selectTt(s1, iova);
  if (isFault(sel)) return faultResult(req, sel, cfg);
  const va = sel.va;
  const probes = [{ granule: sel.tt.granule, start: sel.startLevel }];
  if (cfg.s2 !== null && cfg.s2.granule !== sel.tt.granule) probes.push({ granule: cfg.s2.granule, start: cfg.s2.startLevel });
  const hit = iotlbLookup(model, s1.asid, cfg.vmid, va, probes);
  if (hit !== undefined) {
    if ((hit.perm & need) === 0) return faultResult(req, fault('F_PERMISSION', 1, 'IN'), cfg);
    if (hit.parentPerm !== undefined && (hit.parentPerm & need) === 0) {
      const ipa = hit.ipa === undefined ? null : hit.ipa + (va & hit.addrMask);
      return faultResult(req, fault('F_PERMISSION', 2, 'IN', ipa), cfg);
    }
    fillAtc(hit);
    const p = hit.parentPerm === undefined ? hit.perm : hit.perm & hit.parentPerm;
    return { ok: true, pa: hit.translatedAddr + (va & hit.addrMask), perm: permOf(p), tlbHit: true, pageSize: hit.addrMask + 1n };
  }
  const r1 = s1Walk(s1, sel, write, cfg.s2, mem);
  if (isFault(r1)) return faultResult(req, r1, cfg);
  let e: WalkIotlbEntry;
  let pa: bigint;
  let perm: { read: boolean; write: boolean };
  if (cfg.s2 === null) {
    pa = r1.out;
    perm = { read: r1.read, write: r1.write };
    e = singleStageEntry(s1.asid, cfg.vmid, va, r1);
  } else {
    const r2 = s2Translate(cfg.s2, r1.out, write, 'IN', mem);
    if (isFault(r2)) return faultResult(req, r2, cfg);
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
  model.iotlb.insert(e);
  fillAtc(e);
  return { ok: true, pa, perm, tlbHit: false, pageSize: e.addrMask + 1n };
}

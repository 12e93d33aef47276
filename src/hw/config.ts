/**
 * The one road from an STE to a configuration (smmuv3.md §4.1-§4.4; QEMU `smmuv3_get_config` →
 * `smmuv3_decode_config` → `decode_ste` → `smmu_find_cd` → `decode_cd`), and the configuration
 * cache that holds its result per (StreamID, SubstreamID). The command path (CFGI_*, the ATC's
 * ATS check) and the translation walk both read configurations only through `ConfigCache`.
 *
 * The cache holds each structure once fetched and valid: the decoded STE per StreamID, and the
 * decoded CDs (and level-1 CD descriptors) of its CD table by index, fetched when a transaction
 * first needs them (src/hw/cdtable.ts). As on hardware they stay cached until a CFGI command or
 * a reset, whatever memory says in between (vector 37); a failed fetch or decode caches nothing
 * (the STE of a stream whose CD failed stays cached).
 *
 * Project decisions (smmuv3.md "Decisions"): a malformed STE (S2AA64=0 included) is C_BAD_STE;
 * ATS is enabled only for a translating stream (Config S1, S2 or nested) with EATS=TRANS on an
 * SMMU with IDR0.ATS. Abort and bypass streams never use ATS: the architecture treats their
 * ATS requests as with EATS=0 (IHI0070E §5.2, quoted by Linux `arm_smmu_attach_prepare`).
 */
import { CD, CD_TG0_GRANULE_LOG2, CD_TG1_GRANULE_LOG2, cdSplit } from './cd.js';
import { fetchCdWords, substreamRoute } from './cdtable.js';
import { fault, isFault, type Fault } from './events.js';
import { wordGet } from './fields.js';
import type { SmmuFeatures } from './idr.js';
import { STE, STE_CFG, STE_EATS, STE_S1DSS, STE_S1FMT } from './ste.js';
import type { StreamTable } from './strtab.js';
import { levelShift, s2StartLevel, type S1Config, type S1TableConfig, type S2Config, type WalkMemory } from './walk.js';

export type { StreamConfig, StreamMode, SubstreamConfig } from './stream-config.js';
import type { StreamConfig, SubstreamConfig } from './stream-config.js';

const OAS_BITS = [32, 36, 40, 42, 44, 48, 52, 52] as const;
/** `oas2bits` (QEMU smmuv3-internal.h), 6 → 52; the reserved 7 is treated as 52. */
export function oas2bits(v: number): number {
  return OAS_BITS[Math.max(0, Math.min(7, v))];
}

function granuleSupported(features: SmmuFeatures, granule: number): boolean {
  const name = granule === 12 ? '4k' : granule === 14 ? '16k' : '64k';
  return features.granules.includes(name);
}

/** `decode_ste_s2_cfg` (§4.3). */
function decodeS2(features: SmmuFeatures, ste: ArrayLike<bigint>, vmid: number): S2Config | Fault {
  const bad = fault('C_BAD_STE');
  const tg = wordGet(ste, STE.S2TG);
  if (tg === 3) return bad;
  const granule = tg === 0 ? 12 : tg === 1 ? 16 : 14;
  if (!granuleSupported(features, granule)) return bad;
  if (wordGet(ste, STE.S2AA64) === 0) return bad; // QEMU asserts (§4.3); strict: C_BAD_STE
  if (wordGet(ste, STE.S2ENDI) === 1 || wordGet(ste, STE.S2S) === 1) return bad;
  const sl0 = wordGet(ste, STE.S2SL0);
  if (sl0 === 3) return bad;
  let effPs = Math.min(oas2bits(wordGet(ste, STE.S2PS)), features.oasBits);
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
  return { vmid, tsz, granule, startLevel, effPs, ttb, affd: wordGet(ste, STE.S2AFFD) === 1, record: wordGet(ste, STE.S2R) === 1 };
}

/**
 * `decode_ste` (§4.3; IHI0070 §5.2.2 `SteIllegal`): the configuration of `sid` from its STE,
 * without the CDs. Substreams: S1CDMax above IDR1.SSIDSIZE is ILLEGAL (the field is IGNORED
 * when SSIDSIZE is 0); a 2-level S1Fmt (0b01, 0b10) with substreams enabled needs IDR0.CD2L,
 * else ILLEGAL. `cd2l` is IDR0.CD2L (not part of `SmmuFeatures`, whose shape the API reports).
 */
export function decodeSteConfig(features: SmmuFeatures, sid: number, ste: readonly bigint[], cd2l = false): StreamConfig | Fault {
  const { s1p, s2p } = features;
  if (wordGet(ste, STE.V) === 0) return fault('C_BAD_STE');
  const config = wordGet(ste, STE.CONFIG);
  const vmid = s2p ? wordGet(ste, STE.S2VMID) : -1;
  const common = { sid, ste, config, vmid, cdPtr: 0n, s1cdmax: 0, s1fmt: 0, s1dss: 0, cds: new Map<number, S1Config>(), l1cds: new Map<number, bigint>() };
  // 0b000-0b011: abort, no event (QEMU `STE_CFG_ABORT` = !(cfg & 4); vector 33).
  if (config < STE_CFG.BYPASS) return { ...common, mode: 'abort', ats: false, s2: null };
  if (config === STE_CFG.BYPASS) return { ...common, mode: 'bypass', ats: false, s2: null };
  const s1 = config === STE_CFG.S1_TRANS || config === STE_CFG.NESTED;
  const s2 = config === STE_CFG.S2_TRANS || config === STE_CFG.NESTED;
  if ((s1 && !s1p) || (s2 && !s2p)) return fault('C_BAD_STE');
  let s2cfg: S2Config | null = null;
  if (s2) {
    const r = decodeS2(features, ste, vmid);
    if (isFault(r)) return r;
    s2cfg = r;
  }
  let cdPtr = 0n;
  let s1cdmax = 0;
  let s1fmt: number = STE_S1FMT.LINEAR;
  let s1dss: number = STE_S1DSS.TERMINATE;
  if (s1) {
    if (wordGet(ste, STE.S1STALLD) === 1) return fault('C_BAD_STE');
    if (features.ssidBits !== 0) {
      s1cdmax = wordGet(ste, STE.S1CDMAX);
      if (s1cdmax > features.ssidBits) return fault('C_BAD_STE');
    }
    if (s1cdmax !== 0) {
      const fmt = wordGet(ste, STE.S1FMT);
      if ((fmt === STE_S1FMT.L2_4K || fmt === STE_S1FMT.L2_64K) && !cd2l) return fault('C_BAD_STE');
      s1fmt = cdSplit(fmt) === 0 ? STE_S1FMT.LINEAR : fmt;
      const dss = wordGet(ste, STE.S1DSS);
      s1dss = dss === STE_S1DSS.BYPASS || dss === STE_S1DSS.SSID0 ? dss : STE_S1DSS.TERMINATE;
    }
    cdPtr = wordGet(ste, STE.S1CONTEXTPTR);
    if (!s2 && cdPtr >= 1n << BigInt(features.oasBits)) return fault('C_BAD_STE');
  }
  return {
    ...common,
    mode: s1 && s2 ? 'nested' : s1 ? 's1' : 's2',
    ats: features.ats && wordGet(ste, STE.EATS) === STE_EATS.TRANS,
    s2: s2cfg,
    cdPtr,
    s1cdmax,
    s1fmt,
    s1dss,
  };
}

/** `decode_cd` (§4.4). */
export function decodeCdConfig(features: SmmuFeatures, cd: ArrayLike<bigint>): S1Config | Fault {
  const bad = fault('C_BAD_CD');
  if (wordGet(cd, CD.V) === 0 || wordGet(cd, CD.AA64) === 0) return bad;
  if (wordGet(cd, CD.A) === 0 || wordGet(cd, CD.S) === 1) return bad;
  if (wordGet(cd, CD.HA) === 1 || wordGet(cd, CD.HD) === 1) return bad;
  if (wordGet(cd, CD.ENDI) === 1) return bad;
  const ips = Math.min(oas2bits(wordGet(cd, CD.IPS)), features.oasBits);
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
    if (granule === undefined || !granuleSupported(features, granule)) return bad;
    if (tsz < 16 || tsz > 39) return bad;
    const oas = granule === 16 ? ips : Math.min(ips, 48);
    if (ttb >= 1n << BigInt(oas)) return bad;
    tts.push({ disabled: false, tsz, granule, ttb, oas, had });
  }
  const asid = wordGet(cd, CD.ASID);
  return {
    asid: features.asidBits === 16 ? asid : asid & 0xff, // ASID[15:8] ignored without IDR0.ASID16
    tbi: wordGet(cd, CD.TBI),
    affd: wordGet(cd, CD.AFFD) === 1,
    record: wordGet(cd, CD.R) === 1,
    tt: [tts[0], tts[1]],
  };
}

/** The configuration cache of one SMMU (§4.1 step 2), filled only by the decode above. */
export class ConfigCache {
  private readonly entries = new Map<number, StreamConfig>();
  private hits = 0;
  private misses = 0;

  /** @param cd2l IDR0.CD2L: 2-level CD tables supported. */
  constructor(
    private readonly features: SmmuFeatures,
    private readonly streamTable: StreamTable,
    private readonly cd2l = false,
  ) {}

  /**
   * `smmuv3_get_config` for one transaction of `sid` with SubstreamID `ssid` (undefined: none):
   * the STE (cached, or fetched and decoded), the SubstreamID rules (src/hw/cdtable.ts
   * `substreamRoute`), and the CD it uses (cached by CD table index, or fetched). Counts one hit
   * (nothing fetched) or one miss.
   */
  get(sid: number, mem: WalkMemory, ssid?: number): SubstreamConfig | Fault {
    const found = this.stream(sid, mem);
    if (isFault(found)) return this.count(true, found);
    const cfg = found.cfg;
    const route = substreamRoute(this.features.ssidBits, cfg, ssid);
    if (isFault(route)) return this.count(found.fetched, route);
    if (route.kind === 'stages') return this.count(found.fetched, { stream: cfg, mode: route.mode, s1: null, cdIndex: -1 });
    let s1 = cfg.cds.get(route.index);
    const fetched = found.fetched || s1 === undefined;
    if (s1 === undefined) {
      const words = fetchCdWords(this.features, cfg, route.index, mem);
      const cd = isFault(words) ? words : decodeCdConfig(this.features, words);
      if (isFault(cd)) return this.count(true, cd);
      cfg.cds.set(route.index, cd);
      s1 = cd;
    }
    return this.count(fetched, { stream: cfg, mode: cfg.mode, s1, cdIndex: route.index });
  }

  /** The STE alone (the CDs are left to translations): what ATS checks and `fetchConfig` need. Counts one hit or miss. */
  getSte(sid: number, mem: WalkMemory): StreamConfig | Fault {
    const found = this.stream(sid, mem);
    return isFault(found) ? this.count(true, found) : this.count(found.fetched, found.cfg);
  }

  private count<T>(miss: boolean, result: T): T {
    if (miss) this.misses++;
    else this.hits++;
    return result;
  }

  /** The cached STE configuration of `sid`, or fetched, decoded and cached (`decode_ste`). */
  private stream(sid: number, mem: WalkMemory): { cfg: StreamConfig; fetched: boolean } | Fault {
    const cached = this.entries.get(sid);
    if (cached !== undefined) return { cfg: cached, fetched: false };
    const ste = this.streamTable.fetch(sid, mem);
    if (isFault(ste)) return ste;
    const cfg = decodeSteConfig(this.features, sid, ste, this.cd2l);
    if (isFault(cfg)) return cfg;
    this.entries.set(sid, cfg);
    return { cfg, fetched: true };
  }

  /** CFGI_STE (`smmuv3_flush_config`): the STE of `sid` and every CD and level-1 CD descriptor fetched through it. */
  invalidate(sid: number): void {
    this.entries.delete(sid);
  }

  /** CFGI_STE_RANGE / CFGI_ALL (`smmu_configs_inv_sid_range`): the same for the 2^(range+1) StreamIDs around `sid`. */
  invalidateRange(sid: number, range: number): void {
    const span = 2 ** (range + 1);
    const start = sid - (sid % span);
    const end = start + span - 1;
    for (const k of this.entries.keys()) if (k >= start && k <= end) this.entries.delete(k);
  }

  /**
   * CFGI_CD (IHI0070 §4.3.3): the CD fetched from index `ssid` of the CD table of `sid` (the single
   * CD is index 0; with S1DSS=SSID0 index 0 is the CD of traffic without a SubstreamID); with
   * Leaf=0 also the level-1 descriptor that locates it. The STE and other CDs stay cached.
   */
  invalidateCd(sid: number, ssid: number, leaf: boolean): void {
    const cfg = this.entries.get(sid);
    if (cfg === undefined) return;
    cfg.cds.delete(ssid);
    const split = cfg.s1cdmax === 0 ? 0 : cdSplit(cfg.s1fmt);
    if (!leaf && split !== 0) cfg.l1cds.delete(ssid >> split);
  }

  /** CFGI_CD_ALL (IHI0070 §4.3.4): every CD and level-1 CD descriptor fetched through the STE of `sid`; the STE stays. */
  invalidateCdAll(sid: number): void {
    const cfg = this.entries.get(sid);
    if (cfg === undefined) return;
    cfg.cds.clear();
    cfg.l1cds.clear();
  }

  clear(): void {
    this.entries.clear();
  }

  /** StreamIDs currently cached. */
  sids(): number[] {
    return [...this.entries.keys()].sort((a, b) => a - b);
  }

  /** The CD table indexes cached for `sid`, ascending (empty when none or `sid` is not cached). */
  cdIndexes(sid: number): number[] {
    return [...(this.entries.get(sid)?.cds.keys() ?? [])].sort((a, b) => a - b);
  }

  /**
   * Counters: `entries` is the number of cached configurations of a (StreamID, CD) — each cached
   * CD counts one, a cached StreamID without any cached CD counts one (level-1 CD descriptors are
   * not counted); `hits`/`misses` count lookups that fetched nothing / something.
   */
  stats(): { entries: number; hits: number; misses: number } {
    let entries = 0;
    for (const cfg of this.entries.values()) entries += Math.max(1, cfg.cds.size);
    return { entries, hits: this.hits, misses: this.misses };
  }
}

/**
 * The one road from an STE to a configuration (smmuv3.md §4.1-§4.4; QEMU `smmuv3_get_config` →
 * `smmuv3_decode_config` → `decode_ste` → `smmu_get_cd` → `decode_cd`), and the configuration
 * cache that holds its result per StreamID. The command path (CFGI_*, the ATC's ATS check) and
 * the translation walk both read configurations only through `ConfigCache`.
 *
 * The cache holds the decoded STE, and the decoded CD once a translation fetched it: as on
 * hardware, STE and CD are fetched when first needed and stay cached until a CFGI command or a
 * reset, whatever memory says in between (vector 37). Nothing is cached when a decode fails.
 *
 * Project decisions (smmuv3.md "Decisions"): a malformed STE (S2AA64=0 included) is C_BAD_STE;
 * ATS is enabled only for a translating stream (Config S1, S2 or nested) with EATS=TRANS on an
 * SMMU with IDR0.ATS. Abort and bypass streams never use ATS: the architecture treats their
 * ATS requests as with EATS=0 (IHI0070E §5.2, quoted by Linux `arm_smmu_attach_prepare`).
 */
import { CD, CD_DWORDS, CD_TG0_GRANULE_LOG2, CD_TG1_GRANULE_LOG2 } from './cd.js';
import { fault, isFault, RECORDABLE_FAULTS, type Fault } from './events.js';
import { wordGet } from './fields.js';
import type { SmmuFeatures } from './idr.js';
import { STE, STE_CFG, STE_EATS } from './ste.js';
import type { StreamTable } from './strtab.js';
import {
  levelShift,
  readDwords,
  s2StartLevel,
  s2Translate,
  type S1Config,
  type S1TableConfig,
  type S2Config,
  type WalkMemory,
} from './walk.js';

export type StreamMode = 'abort' | 'bypass' | 's1' | 's2' | 'nested';

/** The cached configuration of one StreamID (QEMU `SMMUTransCfg`). */
export interface StreamConfig {
  readonly sid: number;
  /** The STE as fetched (later writes to it matter only after CFGI_STE). */
  readonly ste: readonly bigint[];
  /** STE.Config. */
  readonly config: number;
  readonly mode: StreamMode;
  /** S2VMID when S2P is implemented, else −1 (§4.3), whatever the Config. */
  readonly vmid: number;
  /** ATS enabled: see the file comment. */
  readonly ats: boolean;
  readonly s2: S2Config | null;
  /** S1ContextPtr of a stage-1 or nested stream (an IPA when nested), else 0. */
  readonly cdPtr: bigint;
  /** The decoded CD: set by the first translation of a stage-1 or nested stream. */
  s1: S1Config | null;
}

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

/** `decode_ste` (§4.3): the configuration of `sid` from its STE, without the CD. */
export function decodeSteConfig(features: SmmuFeatures, sid: number, ste: readonly bigint[]): StreamConfig | Fault {
  const { s1p, s2p } = features;
  if (wordGet(ste, STE.V) === 0) return fault('C_BAD_STE');
  const config = wordGet(ste, STE.CONFIG);
  const vmid = s2p ? wordGet(ste, STE.S2VMID) : -1;
  const common = { sid, ste, config, vmid, cdPtr: 0n, s1: null };
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
  if (s1) {
    if (wordGet(ste, STE.S1CDMAX) !== 0) return fault('C_BAD_STE');
    if (wordGet(ste, STE.S1STALLD) === 1) return fault('C_BAD_STE');
    cdPtr = wordGet(ste, STE.S1CONTEXTPTR);
    if (!s2 && cdPtr >= 1n << BigInt(features.oasBits)) return fault('C_BAD_STE');
  }
  return {
    ...common,
    mode: s1 && s2 ? 'nested' : s1 ? 's1' : 's2',
    ats: features.ats && wordGet(ste, STE.EATS) === STE_EATS.TRANS,
    s2: s2cfg,
    cdPtr,
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

/** `smmu_get_cd` + `decode_cd` (§4.4): the CD of a stage-1 or nested stream, fetched through stage 2 (class CD) when nested. */
function fetchCd(features: SmmuFeatures, cfg: StreamConfig, mem: WalkMemory): S1Config | Fault {
  let cdAddr = cfg.cdPtr;
  if (cfg.s2 !== null) {
    const t = s2Translate(cfg.s2, cfg.cdPtr, false, 'CD', mem);
    // A stage-2 fault of the CD fetch is recorded as STE.S2R says, not as a stage-1 fault.
    if (isFault(t)) return RECORDABLE_FAULTS.has(t.type) ? { ...t, record: cfg.s2.record } : t;
    cdAddr = t.out;
  }
  const words = readDwords(mem, cdAddr, CD_DWORDS);
  if (words === null) return fault('F_CD_FETCH', 0, null, null, cdAddr);
  return decodeCdConfig(features, words);
}

/** The configuration cache of one SMMU (§4.1 step 2), filled only by the decode above. */
export class ConfigCache {
  private readonly entries = new Map<number, StreamConfig>();
  private hits = 0;
  private misses = 0;

  constructor(
    private readonly features: SmmuFeatures,
    private readonly streamTable: StreamTable,
  ) {}

  /**
   * `smmuv3_get_config`: the configuration of `sid` a translation uses, CD included. On a miss
   * the STE is fetched and decoded, then (stage 1, nested) the CD; the result is cached only
   * when every step succeeded. Counts one hit or one miss.
   */
  get(sid: number, mem: WalkMemory): StreamConfig | Fault {
    return this.lookup(sid, mem, true);
  }

  /** The same for the STE alone (the CD is left for the first translation): what ATS checks need. */
  getSte(sid: number, mem: WalkMemory): StreamConfig | Fault {
    return this.lookup(sid, mem, false);
  }

  private lookup(sid: number, mem: WalkMemory, withCd: boolean): StreamConfig | Fault {
    let cfg = this.entries.get(sid);
    const miss = cfg === undefined;
    if (cfg === undefined) {
      this.misses++;
      const ste = this.streamTable.fetch(sid, mem);
      if (isFault(ste)) return ste;
      const decoded = decodeSteConfig(this.features, sid, ste);
      if (isFault(decoded)) return decoded;
      cfg = decoded;
    } else {
      this.hits++;
    }
    if (withCd && cfg.s1 === null && (cfg.mode === 's1' || cfg.mode === 'nested')) {
      const s1 = fetchCd(this.features, cfg, mem);
      if (isFault(s1)) return s1;
      cfg.s1 = s1;
    }
    if (miss) this.entries.set(sid, cfg);
    return cfg;
  }

  /** CFGI_STE / CFGI_CD / CFGI_CD_ALL (`smmuv3_flush_config`): the whole configuration of `sid`. */
  invalidate(sid: number): void {
    this.entries.delete(sid);
  }

  /** CFGI_STE_RANGE (`smmu_configs_inv_sid_range`): the 2^(range+1) StreamIDs around `sid`. */
  invalidateRange(sid: number, range: number): void {
    const span = 2 ** (range + 1);
    const start = sid - (sid % span);
    const end = start + span - 1;
    for (const k of this.entries.keys()) if (k >= start && k <= end) this.entries.delete(k);
  }

  clear(): void {
    this.entries.clear();
  }

  /** StreamIDs currently cached. */
  sids(): number[] {
    return [...this.entries.keys()].sort((a, b) => a - b);
  }

  stats(): { entries: number; hits: number; misses: number } {
    return { entries: this.entries.size, hits: this.hits, misses: this.misses };
  }
}

/**
 * Substreams (IHI0070 STE.S1CDMax, STE.S1DSS, STE.S1Fmt, §7.3.7, §7.3.9; smmuv3.md §3.2, §4.4):
 * which CD a transaction of (StreamID, SubstreamID) uses, and fetching it from the stream's CD
 * table — one CD, a linear table, or a 2-level table through level-1 descriptors (the layouts of
 * Linux `arm_smmu_get_cd_ptr`, src/hw/cd.ts). Every fetch (level-1 descriptor, CD) goes through
 * stage 2 with class CD when the stream is nested (QEMU `smmu_get_cd`).
 *
 * Called by the configuration cache (src/hw/config.ts), which keeps what is fetched here.
 */
import { cdInLeafTable, cdTableSlot, CD_DWORDS, L1CD } from './cd.js';
import type { StreamConfig, StreamMode } from './stream-config.js';
import { fault, isFault, RECORDABLE_FAULTS, type Fault } from './events.js';
import { dwGet } from './fields.js';
import type { SmmuFeatures } from './idr.js';
import { STE_S1DSS } from './ste.js';
import { readDwords, s2Translate, type WalkMemory } from './walk.js';

/** The largest SubstreamID a transaction can carry (20 bits, PCIe PASID). */
export const SSID_MAX = 0xfffff;

/** The modes of a transaction that uses no CD. */
export type StageOneUnused = Extract<StreamMode, 'abort' | 'bypass' | 's2'>;

/** How a transaction goes through its stream: without a CD (`mode`), or with CD number `index`. */
export type SubstreamRoute = { readonly kind: 'stages'; readonly mode: StageOneUnused } | { readonly kind: 'cd'; readonly index: number };

const ROUTES: Readonly<Record<StageOneUnused, SubstreamRoute>> = {
  abort: { kind: 'stages', mode: 'abort' },
  bypass: { kind: 'stages', mode: 'bypass' },
  s2: { kind: 'stages', mode: 's2' },
};

/**
 * The SubstreamID rules (IHI0070 STE.S1CDMax, STE.S1DSS, §7.3.7 F_STREAM_DISABLED, §7.3.9
 * C_BAD_SUBSTREAMID) for a transaction of `cfg` with `ssid` (undefined: none):
 * - an abort stream aborts silently whatever the SubstreamID;
 * - a SubstreamID on a stream without stage 1 (bypass, stage-2-only) is C_BAD_SUBSTREAMID;
 * - with stage 1: a SubstreamID when substreams are disabled (S1CDMax 0) or unsupported
 *   (IDR1.SSIDSIZE 0), or ≥ 2^S1CDMax, is C_BAD_SUBSTREAMID; SubstreamID 0 with S1DSS=SSID0 is
 *   F_STREAM_DISABLED (CD 0 is reserved for traffic without one); otherwise CD number `ssid`;
 * - without a SubstreamID: the one CD when substreams are disabled, else S1DSS decides —
 *   TERMINATE (and the reserved 0b11) F_STREAM_DISABLED, BYPASS stage 1 bypassed (stage 2, if
 *   enabled, still translates), SSID0 CD 0.
 */
export function substreamRoute(ssidBits: number, cfg: StreamConfig, ssid: number | undefined): SubstreamRoute | Fault {
  const { mode } = cfg;
  if (mode === 'abort') return ROUTES.abort;
  if (mode === 'bypass' || mode === 's2') return ssid === undefined ? ROUTES[mode] : fault('C_BAD_SUBSTREAMID');
  if (ssid !== undefined) {
    if (ssidBits === 0 || cfg.s1cdmax === 0 || ssid >= 2 ** cfg.s1cdmax) return fault('C_BAD_SUBSTREAMID');
    if (ssid === 0 && cfg.s1dss === STE_S1DSS.SSID0) return fault('F_STREAM_DISABLED');
    return { kind: 'cd', index: ssid };
  }
  if (cfg.s1cdmax === 0 || cfg.s1dss === STE_S1DSS.SSID0) return CD0;
  if (cfg.s1dss === STE_S1DSS.BYPASS) return mode === 'nested' ? ROUTES.s2 : ROUTES.bypass;
  return fault('F_STREAM_DISABLED');
}

const CD0: SubstreamRoute = { kind: 'cd', index: 0 };

/**
 * The PA of a configuration fetch at `addr` (an IPA when the stream is nested: stage 2 with class
 * CD, its faults recorded as STE.S2R says, not as stage-1 faults; QEMU `smmu_get_cd`).
 */
function fetchAddress(cfg: StreamConfig, addr: bigint, mem: WalkMemory): bigint | Fault {
  if (cfg.s2 === null) return addr;
  const t = s2Translate(cfg.s2, addr, false, 'CD', mem);
  if (isFault(t)) return RECORDABLE_FAULTS.has(t.type) ? { ...t, record: cfg.s2.record } : t;
  return t.out;
}

/**
 * The level-2 table of level-1 index `l1Index`, `l1Addr` being its descriptor: from the cached
 * level-1 descriptors of `cfg`, else fetched (and then cached). A read failure is F_CD_FETCH at
 * the PA read; V=0, or (stage 1 only) an L2Ptr beyond the output size, is C_BAD_SUBSTREAMID
 * (IHI0070 §7.3.9, §3.4.3).
 */
function leafTable(features: SmmuFeatures, cfg: StreamConfig, l1Index: number, l1Addr: bigint, mem: WalkMemory): bigint | Fault {
  const cached = cfg.l1cds.get(l1Index);
  if (cached !== undefined) return cached;
  const pa = fetchAddress(cfg, l1Addr, mem);
  if (isFault(pa)) return pa;
  const desc = mem.read64(pa);
  if (desc === null) return fault('F_CD_FETCH', 0, null, null, pa);
  if (dwGet(desc, L1CD.V) === 0) return fault('C_BAD_SUBSTREAMID');
  const l2Ptr = dwGet(desc, L1CD.L2PTR);
  if (cfg.s2 === null && l2Ptr >= 1n << BigInt(features.oasBits)) return fault('C_BAD_SUBSTREAMID');
  cfg.l1cds.set(l1Index, l2Ptr);
  return l2Ptr;
}

/**
 * `smmu_find_cd` + `smmu_get_cd` (§4.4): the words of CD number `index` of the stream's CD table
 * (decoded by src/hw/config.ts `decodeCdConfig`). A CD read failure is F_CD_FETCH with the PA
 * read. A level-1 descriptor fetched on the way is cached in `cfg` (a structure fetched and
 * valid); the CD is left to the caller.
 */
export function fetchCdWords(features: SmmuFeatures, cfg: StreamConfig, index: number, mem: WalkMemory): bigint[] | Fault {
  const slot = cdTableSlot(cfg.cdPtr, cfg.s1fmt, cfg.s1cdmax, index);
  let cdAddr: bigint;
  if (slot.level === 1) {
    cdAddr = slot.cdAddr;
  } else {
    const l2Ptr = leafTable(features, cfg, slot.l1Index, slot.l1Addr, mem);
    if (isFault(l2Ptr)) return l2Ptr;
    cdAddr = cdInLeafTable(l2Ptr, cfg.s1fmt, slot.l2Index);
  }
  const pa = fetchAddress(cfg, cdAddr, mem);
  if (isFault(pa)) return pa;
  const words = readDwords(mem, pa, CD_DWORDS);
  return words === null ? fault('F_CD_FETCH', 0, null, null, pa) : words;
}

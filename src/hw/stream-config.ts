/**
 * The decoded configuration of a stream and of one of its substreams: what src/hw/config.ts
 * builds and caches and src/hw/cdtable.ts and the walk read (a module of its own so the two do
 * not import each other).
 */
import type { S1Config, S2Config } from './walk.js';

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
  /**
   * Effective STE.S1CDMax of a stage-1 or nested stream: the CD table holds 2^s1cdmax CDs; 0 is
   * one CD at cdPtr, substreams disabled (also when IDR1.SSIDSIZE is 0 and the field is IGNORED).
   */
  readonly s1cdmax: number;
  /** Effective STE.S1Fmt (`STE_S1FMT`; the reserved 0b11 behaves as LINEAR); 0 when s1cdmax is 0. */
  readonly s1fmt: number;
  /** Effective STE.S1DSS (`STE_S1DSS`; the reserved 0b11 behaves as TERMINATE); 0 when s1cdmax is 0. */
  readonly s1dss: number;
  /** The CDs fetched so far, decoded, by CD table index (0: the single CD), until CFGI_CD / CFGI_CD_ALL / CFGI_STE. */
  readonly cds: Map<number, S1Config>;
  /** The level-1 CD descriptors fetched so far (their L2Ptr), by level-1 index, until CFGI_CD Leaf=0 / CFGI_CD_ALL / CFGI_STE. */
  readonly l1cds: Map<number, bigint>;
}

/** What one transaction of (StreamID, SubstreamID) is translated with (src/hw/cdtable.ts `substreamRoute`). */
export interface SubstreamConfig {
  readonly stream: StreamConfig;
  /**
   * The stages the transaction goes through: the stream's mode, or with stage 1 bypassed by
   * STE.S1DSS=BYPASS for a transaction without a SubstreamID ('bypass' for a stage-1 stream, 's2'
   * for a nested one).
   */
  readonly mode: StreamMode;
  /** The CD of a stage-1 or nested translation (mode 's1' / 'nested'), else null. */
  readonly s1: S1Config | null;
  /** Its CD table index, −1 without a CD. */
  readonly cdIndex: number;
}

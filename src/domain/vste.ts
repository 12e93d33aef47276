/**
 * The guest STE a nested HWPT is allocated from (iommufd.md §3.2, arm_smmu_validate_vste):
 * which bits a guest may set, which Config values it may use, and the decoded view.
 */
import { fail } from './errors.js';

// arm-smmu-v3.h: STRTAB_STE_0_NESTING_ALLOWED = V | CFG | S1FMT | S1CTXPTR | S1CDMAX.
export const STRTAB_STE_0_NESTING_ALLOWED = 0xf80fffffffffffffn;
// STRTAB_STE_1_NESTING_ALLOWED = S1DSS | S1CIR | S1COR | S1CSH | S1STALLD | EATS.
export const STRTAB_STE_1_NESTING_ALLOWED = 0x380000ffn;

const field = (word: bigint, hi: number, lo: number): bigint => (word >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n);

export const STE0_V = (w: bigint) => Number(field(w, 0, 0));
export const STE0_CONFIG = (w: bigint) => Number(field(w, 3, 1));
export const STE0_S1FMT = (w: bigint) => Number(field(w, 5, 4));
/** S1ContextPtr [51:6] as the address it encodes (bits [51:6] kept in place). */
export const STE0_S1CTXPTR = (w: bigint) => field(w, 51, 6) << 6n;
export const STE0_S1CDMAX = (w: bigint) => Number(field(w, 63, 59));
export const STE1_S1DSS = (w: bigint) => Number(field(w, 1, 0));
export const STE1_EATS = (w: bigint) => Number(field(w, 29, 28));
export const STE1_EATS_MASK = 0x30000000n;

export const STRTAB_STE_0_CFG_ABORT = 0;
export const STRTAB_STE_0_CFG_BYPASS = 4;
export const STRTAB_STE_0_CFG_S1_TRANS = 5;
export const STRTAB_STE_1_EATS_ABT = 0;
export const STRTAB_STE_1_EATS_TRANS = 1;

export type VsteConfig = 'abort' | 'bypass' | 's1_translate' | 'invalid';

export interface ValidatedVste {
  /** The words as accepted: a V=0 vSTE is zeroed (the kernel keeps nothing of it). */
  ste: [bigint, bigint];
  /** arm_smmu_validate_vste: cfg == S1_TRANS && EATS == TRANS. */
  enableAts: boolean;
}

/** arm_smmu_validate_vste: violations are EIO. */
export function validateVste(ste0: bigint, ste1: bigint): ValidatedVste {
  if (STE0_V(ste0) === 0) return { ste: [0n, 0n], enableAts: false };
  if ((ste0 & ~STRTAB_STE_0_NESTING_ALLOWED) !== 0n || (ste1 & ~STRTAB_STE_1_NESTING_ALLOWED) !== 0n) {
    fail('EIO', 'vSTE sets bits a guest may not control (allowed: word 0 0xf80fffffffffffff, word 1 0x380000ff)');
  }
  const cfg = STE0_CONFIG(ste0);
  if (cfg !== STRTAB_STE_0_CFG_ABORT && cfg !== STRTAB_STE_0_CFG_BYPASS && cfg !== STRTAB_STE_0_CFG_S1_TRANS) {
    fail('EIO', `vSTE Config ${cfg} is not abort (0), bypass (4) or S1 translate (5)`);
  }
  const eats = STE1_EATS(ste1);
  if (eats !== STRTAB_STE_1_EATS_ABT && eats !== STRTAB_STE_1_EATS_TRANS) {
    fail('EIO', `vSTE EATS ${eats} is not ABT (0) or TRANS (1)`);
  }
  // The kernel strips EATS from the copy it keeps (arm_smmu_make_nested_domain_ste sets it from
  // enable_ats at attach): the stored vSTE has EATS 0, `enableAts` remembers what it asked for.
  // What the stored words configure is read back from them (decodeVste), in one place.
  return { ste: [ste0, ste1 & ~STE1_EATS_MASK], enableAts: cfg === STRTAB_STE_0_CFG_S1_TRANS && eats === STRTAB_STE_1_EATS_TRANS };
}

export interface DecodedVste {
  config: VsteConfig;
  valid: boolean;
  s1ContextPtr: bigint;
  s1Fmt: number;
  s1CdMax: number;
  s1Dss: number;
  eats: number;
}

export function decodeVste(ste0: bigint, ste1: bigint): DecodedVste {
  const valid = STE0_V(ste0) === 1;
  const cfg = STE0_CONFIG(ste0);
  return {
    valid,
    config: !valid ? 'invalid' : cfg === STRTAB_STE_0_CFG_ABORT ? 'abort' : cfg === STRTAB_STE_0_CFG_BYPASS ? 'bypass' : 's1_translate',
    s1ContextPtr: STE0_S1CTXPTR(ste0),
    s1Fmt: STE0_S1FMT(ste0),
    s1CdMax: STE0_S1CDMAX(ste0),
    s1Dss: STE1_S1DSS(ste1),
    eats: STE1_EATS(ste1),
  };
}

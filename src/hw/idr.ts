/**
 * SMMUv3 ID registers (smmuv3.md §6.1): the fields of IDR0..IDR5 in one table, grouped by
 * register and named as in the architecture and Linux `arm-smmu-v3.h` (IDR0_*, IDR1_*, ...), read
 * with the register accessors of src/hw/fields.ts; and the decoded `features` the service reports.
 */
import { regField, regGet, regSet, type RegField } from './fields.js';

/** A field of one of IDR0..IDR5: its register and its bits there. */
export interface IdrField extends RegField {
  readonly reg: 0 | 1 | 2 | 3 | 4 | 5;
}

function f(reg: IdrField['reg'], hi: number, lo: number = hi): IdrField {
  return Object.freeze({ ...regField(hi, lo), reg });
}

/** Field map of IDR0..IDR5 (smmuv3.md §6.1), by field name; `reg` says which IDR. */
export const IDR = {
  // IDR0
  S2P: f(0, 0),
  S1P: f(0, 1),
  TTF: f(0, 3, 2),
  COHACC: f(0, 4),
  BTM: f(0, 5),
  HTTU: f(0, 7, 6),
  HYP: f(0, 9),
  ATS: f(0, 10),
  ASID16: f(0, 12),
  MSI: f(0, 13),
  SEV: f(0, 14),
  PRI: f(0, 16),
  VMID16: f(0, 18),
  CD2L: f(0, 19),
  TTENDIAN: f(0, 22, 21),
  STALL_MODEL: f(0, 25, 24),
  TERM_MODEL: f(0, 26),
  ST_LEVEL: f(0, 28, 27),
  // IDR1
  SIDSIZE: f(1, 5, 0),
  SSIDSIZE: f(1, 10, 6),
  PRIQS: f(1, 15, 11),
  EVENTQS: f(1, 20, 16),
  CMDQS: f(1, 25, 21),
  // IDR3
  FWB: f(3, 8),
  RIL: f(3, 10),
  BBML: f(3, 12, 11),
  // IDR5
  OAS: f(5, 2, 0),
  GRAN4K: f(5, 4),
  GRAN16K: f(5, 5),
  GRAN64K: f(5, 6),
  VAX: f(5, 11, 10),
} as const satisfies Record<string, IdrField>;

export type IdrFieldName = keyof typeof IDR;
export type IdrRegisters = readonly [number, number, number, number, number, number];

export function getIdrField(idr: IdrRegisters, name: IdrFieldName): number {
  const field = IDR[name];
  return regGet(idr[field.reg], field);
}

/** Returns a copy of `idr` with `name` set to `value` (value is truncated to the field width). */
export function setIdrField(idr: IdrRegisters, name: IdrFieldName, value: number): IdrRegisters {
  const field = IDR[name];
  const out = [...idr] as [number, number, number, number, number, number];
  out[field.reg] = regSet(out[field.reg], field, value);
  return out;
}

export function buildIdr(values: Partial<Record<IdrFieldName, number>>): IdrRegisters {
  let idr: IdrRegisters = [0, 0, 0, 0, 0, 0];
  for (const [name, value] of Object.entries(values)) {
    idr = setIdrField(idr, name as IdrFieldName, value as number);
  }
  return idr;
}

/**
 * The default SMMU of api.md ("Shapes that tests rely on"): a nesting-capable SMMUv3.
 * IDR0 0x0d44141b, IDR1 0x02730510, IDR3 0x00001400, IDR5 0x00000075.
 */
export const DEFAULT_IDR: IdrRegisters = buildIdr({
  S1P: 1,
  S2P: 1,
  TTF: 2,
  COHACC: 1,
  ATS: 1,
  ASID16: 1,
  VMID16: 1,
  TTENDIAN: 2,
  STALL_MODEL: 1,
  TERM_MODEL: 1,
  ST_LEVEL: 1,
  SIDSIZE: 16,
  SSIDSIZE: 20,
  EVENTQS: 19,
  CMDQS: 19,
  RIL: 1,
  BBML: 2,
  OAS: 5,
  GRAN4K: 1,
  GRAN16K: 1,
  GRAN64K: 1,
});
export const DEFAULT_IIDR = 0;
export const DEFAULT_AIDR = 0x1;

/** IDR5.OAS encoding → output address bits (smmuv3.md §6.1). */
const OAS_BITS = [32, 36, 40, 42, 44, 48, 52] as const;

export interface SmmuFeatures {
  s1p: boolean;
  s2p: boolean;
  /** Linux ARM_SMMU_FEAT_NESTING: both stages implemented. */
  nesting: boolean;
  ats: boolean;
  pri: boolean;
  vmidBits: 8 | 16;
  asidBits: 8 | 16;
  sidBits: number;
  ssidBits: number;
  oasBits: number;
  granules: Array<'4k' | '16k' | '64k'>;
  ril: boolean;
  cmdqs: number;
  eventqs: number;
}

export function decodeFeatures(idr: IdrRegisters): SmmuFeatures {
  const s1p = getIdrField(idr, 'S1P') === 1;
  const s2p = getIdrField(idr, 'S2P') === 1;
  const granules: SmmuFeatures['granules'] = [];
  if (getIdrField(idr, 'GRAN4K')) granules.push('4k');
  if (getIdrField(idr, 'GRAN16K')) granules.push('16k');
  if (getIdrField(idr, 'GRAN64K')) granules.push('64k');
  const oas = getIdrField(idr, 'OAS');
  return {
    s1p,
    s2p,
    nesting: s1p && s2p,
    ats: getIdrField(idr, 'ATS') === 1,
    pri: getIdrField(idr, 'PRI') === 1,
    vmidBits: getIdrField(idr, 'VMID16') ? 16 : 8,
    asidBits: getIdrField(idr, 'ASID16') ? 16 : 8,
    sidBits: getIdrField(idr, 'SIDSIZE'),
    ssidBits: getIdrField(idr, 'SSIDSIZE'),
    // Reserved OAS encodings are treated as 48 bits, as Linux does for unknown values.
    oasBits: OAS_BITS[oas] ?? 48,
    granules,
    ril: getIdrField(idr, 'RIL') === 1,
    cmdqs: getIdrField(idr, 'CMDQS'),
    eventqs: getIdrField(idr, 'EVENTQS'),
  };
}

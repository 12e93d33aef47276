/**
 * SMMUv3 control and queue registers (smmuv3.md §2.1, §3.1; QEMU `smmuv3-internal.h` REG32/FIELD,
 * Linux `arm-smmu-v3.h` ARM_SMMU_* masks): one field table per register, read and written with
 * regGet/regSet (32-bit) or dwGet/dwSet (64-bit). The ID registers are in src/hw/idr.ts.
 */
import { addrField, numField, regField, regFieldOfWidth, type FieldTable, type RegField, type RegFieldTable } from './fields.js';

/** CR0 (0x20) and CR0ACK (0x24). */
export const CR0 = {
  SMMUEN: regField(0),
  PRIQEN: regField(1),
  EVENTQEN: regField(2),
  CMDQEN: regField(3),
} as const satisfies RegFieldTable;
/** `SMMU_CR0_RESERVED` (QEMU smmuv3-common.h): CR0ACK = CR0 & ~this. */
export const CR0_RESERVED = 0xfffffc20;

/** IRQ_CTRL (0x50). */
export const IRQ_CTRL = {
  GERROR_IRQEN: regField(0),
  PRIQ_IRQEN: regField(1),
  EVENTQ_IRQEN: regField(2),
} as const satisfies RegFieldTable;

/** GERROR (0x60) and GERRORN (0x64): only CMDQ_ERR is modelled. */
export const GERROR = {
  CMDQ_ERR: regField(0),
} as const satisfies RegFieldTable;

/** CMDQ_BASE (0x90) and the other queue BASE registers, 64-bit (Linux `Q_BASE_*`). */
export const Q_BASE = {
  LOG2SIZE: numField(0, 4, 0),
  ADDR: addrField(0, 51, 5),
  RA: numField(0, 62),
} as const satisfies FieldTable;

/** CMDQ_CONS (0x9C): the fixed fields; RD and its wrap bit are in `queuePointer`. */
export const CMDQ_CONS = {
  /** CERROR of the command at RD (`FIELD(CMDQ_CONS, ERR, 24, 7)`). */
  ERR: regField(30, 24),
} as const satisfies RegFieldTable;

/**
 * The index and wrap fields of PROD/CONS for a queue of 2^log2Size entries (QEMU `Q_IDX`/`Q_WRAP`,
 * Linux `Q_IDX`/`Q_WRP`): IDX [log2Size−1:0], WR [log2Size], and WRAP_IDX [log2Size:0], the two
 * together (QEMU `WRAP_INDEX_MASK`), in which PROD and CONS are compared and advanced.
 */
export interface QueuePointerFields {
  readonly IDX: RegField;
  readonly WR: RegField;
  readonly WRAP_IDX: RegField;
}

/** Largest LOG2SIZE whose PROD/CONS fit in 32 bits (WR at bit 31). */
export const QUEUE_LOG2SIZE_MAX = 31;

const QUEUE_POINTERS: readonly QueuePointerFields[] = Array.from({ length: QUEUE_LOG2SIZE_MAX + 1 }, (_, log2Size) =>
  Object.freeze({
    IDX: regFieldOfWidth(0, log2Size),
    WR: regField(log2Size),
    WRAP_IDX: regField(log2Size, 0),
  }),
);

/** PROD/CONS fields of a queue of 2^log2Size entries (built once per size). */
export function queuePointer(log2Size: number): QueuePointerFields {
  const p = QUEUE_POINTERS[log2Size];
  if (p === undefined) throw noQueuePointer(log2Size);
  return p;
}

/**
 * queuePointer's error, built out of line: queuePointer is inlined into every queue operation of
 * the batch path, and a template literal there would be compiled into each of them.
 */
function noQueuePointer(log2Size: number): RangeError {
  return new RangeError(`no queue of 2^${log2Size} entries (LOG2SIZE 0..${QUEUE_LOG2SIZE_MAX})`);
}

/** STRTAB_BASE (0x80), 64-bit. */
export const STRTAB_BASE = {
  ADDR: addrField(0, 51, 6),
  RA: numField(0, 62),
} as const satisfies FieldTable;

/** STRTAB_BASE_CFG (0x88). */
export const STRTAB_BASE_CFG = {
  LOG2SIZE: regField(5, 0),
  SPLIT: regField(10, 6),
  FMT: regField(17, 16),
} as const satisfies RegFieldTable;

/** STRTAB_BASE_CFG.FMT values. */
export const STRTAB_FMT = { LINEAR: 0, TWO_LEVEL: 1 } as const;

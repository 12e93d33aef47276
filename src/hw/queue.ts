/**
 * Command-queue state and the generic consumer (smmuv3.md §2.1-§2.4, QEMU `smmuv3_cmdq_consume`).
 *
 * The consumer runs over any queue: a `QueueState` (PROD, CONS with wrap bit and ERR, GERROR /
 * GERRORN CMDQ_ERR bit, enable), a `CommandMemory` that says where each entry lives (or that it
 * is not backed → CERROR_ABT), an executor (the SMMU's command semantics) and an optional
 * per-queue filter that may reject a command (→ its CERROR) or rewrite it in place before it
 * executes (the hook a Tegra241 vCMDQ needs for its allowed-command set and VMID/SID rewrite).
 */
import { CMD_BYTES, cmdOpcode } from './commands.js';

/** CMDQ_CONS.ERR codes (§2.3; Linux `CMDQ_ERR_CERROR_*`). */
export const CERROR = { NONE: 0, ILL: 1, ABT: 2, ATC_INV_SYNC: 3 } as const;
/** CERROR.NONE as a plain constant for the consumer loop. */
const CERROR_NONE = CERROR.NONE;
export type CerrorCode = 'CERROR_ILL' | 'CERROR_ABT' | 'CERROR_ATC_INV_SYNC';

/** CERROR value → name used in API responses. */
export function cerrorName(code: number): CerrorCode {
  switch (code) {
    case CERROR.ILL:
      return 'CERROR_ILL';
    case CERROR.ABT:
      return 'CERROR_ABT';
    case CERROR.ATC_INV_SYNC:
      return 'CERROR_ATC_INV_SYNC';
    default:
      throw new RangeError(`not a CERROR code: ${code}`);
  }
}

/**
 * Module-local copies of imported constants used per command: TurboFan folds these, whereas an
 * imported binding is re-read (with its TDZ check) on every use.
 */
const ENTRY_BYTES = CMD_BYTES;
const opcodeAt = cmdOpcode;

/** A field of a 32-bit register. */
interface RegField32 {
  readonly lo: number;
  readonly width: number;
}

function regGet(value: number, f: RegField32): number {
  return (value >>> f.lo) & ((1 << f.width) - 1);
}

function regSet(value: number, f: RegField32, v: number): number {
  const m = ((1 << f.width) - 1) << f.lo;
  return ((value & ~m) | ((v << f.lo) & m)) >>> 0;
}

/** CMDQ_CONS.ERR, bits [30:24] (`FIELD(CMDQ_CONS, ERR, 24, 7)`, Q-COM L380). */
export const CMDQ_CONS_ERR: RegField32 = { lo: 24, width: 7 };
/** GERROR/GERRORN.CMDQ_ERR, bit 0. */
export const GERROR_CMDQ_ERR = 0x1;
/** The same, not exported (an exported binding is read through its cell on every use). */
const CMDQ_ERR_BIT = GERROR_CMDQ_ERR;
/** CR0 bits (§2.1, §8): SMMUEN [0], PRIQEN [1], EVENTQEN [2], CMDQEN [3]. */
export const CR0_SMMUEN = 0x1;
export const CR0_EVENTQEN = 0x4;
export const CR0_CMDQEN = 0x8;
/** `SMMU_CR0_RESERVED` (Q-COM L333): CR0ACK = CR0 & ~this. */
export const CR0_RESERVED = 0xfffffc20;
/** IRQ_CTRL.GERROR_IRQEN [0], EVENTQ_IRQEN [2]. */
export const IRQ_CTRL_GERROR_IRQEN = 0x1;
export const IRQ_CTRL_EVENTQ_IRQEN = 0x4;
/** BASE.LOG2SIZE, bits [4:0] of CMDQ_BASE (§2.1). */
export const Q_BASE_LOG2SIZE: RegField32 = { lo: 0, width: 5 };

/** One command queue's architectural state (§2.1). */
export interface QueueState {
  /** Effective LOG2SIZE (already clamped). */
  log2Size: number;
  /** PROD register value (index in [log2Size−1:0], wrap bit at log2Size). */
  prod: number;
  /** CONS register value (index, wrap bit, ERR in [30:24]). */
  cons: number;
  /** CR0.CMDQEN (or the vCMDQ's CONFIG.EN). */
  enabled: boolean;
  /** GERROR.CMDQ_ERR bit (bit 0); the queue is stopped while it differs from GERRORN's. */
  gerror: number;
  gerrorn: number;
  /** An ATC_INV since the last CMD_SYNC failed to complete (fault injection). */
  atcInvSyncPending: boolean;
}

/** A fresh, empty, enabled queue of 2^log2Size entries. */
export function createQueueState(log2Size: number): QueueState {
  if (!Number.isInteger(log2Size) || log2Size < 0 || log2Size > 24) throw new RangeError(`bad queue log2 size ${log2Size}`);
  return { log2Size, prod: 0, cons: 0, enabled: true, gerror: 0, gerrorn: 0, atcInvSyncPending: false };
}

/** `WRAP_INDEX_MASK` = 2^(log2size+1) − 1 (Q-INT L82-94). */
export function wrapIndexMask(log2Size: number): number {
  // A shift, not `2 **` (a floating-point pow call on the per-command path), when it fits.
  return log2Size < 30 ? (1 << (log2Size + 1)) - 1 : 2 ** (log2Size + 1) - 1;
}

/** Mask of the index part of a PROD/CONS value, 2^log2Size − 1. */
export function queueIndexMask(log2Size: number): number {
  return log2Size < 31 ? (1 << log2Size) - 1 : 2 ** log2Size - 1;
}

/** Index part of a PROD/CONS value. */
export function queueIndex(ptr: number, log2Size: number): number {
  return ptr & queueIndexMask(log2Size);
}

/** Wrap bit of a PROD/CONS value. */
export function queueWrap(ptr: number, log2Size: number): number {
  return (ptr >>> log2Size) & 1;
}

/** CONS.ERR of a queue. */
export function queueErr(q: QueueState): number {
  return regGet(q.cons, CMDQ_CONS_ERR);
}

/** CMDQ_ERR active: GERROR xor GERRORN bit 0 (§2.2 step 2). */
export function queueStopped(q: QueueState): boolean {
  return ((q.gerror ^ q.gerrorn) & GERROR_CMDQ_ERR) !== 0;
}

/** Entries between CONS and PROD, `smmuv3_q_empty` ⇔ 0, full ⇔ 2^log2Size (Q-INT L96-104). */
export function queuePending(q: QueueState): number {
  const wim = wrapIndexMask(q.log2Size);
  return ((q.prod & wim) - (q.cons & wim) + wim + 1) & wim;
}

/** Free slots a producer may still fill. */
export function queueFree(q: QueueState): number {
  return Math.max(0, queueCapacity(q.log2Size) - queuePending(q));
}

/** Number of entries of a queue, 2^log2Size (a shift when it fits, not `2 **`). */
export function queueCapacity(log2Size: number): number {
  return log2Size < 31 ? 1 << log2Size : 2 ** log2Size;
}

/** `queue_cons_incr` (Q-INT L111-118): deposit cons+1 into [log2size:0], ERR preserved. */
function consIncr(cons: number, log2Size: number): number {
  const wim = wrapIndexMask(log2Size);
  return ((cons & ~wim) | ((cons + 1) & wim)) >>> 0;
}

/** Advances a PROD value by `n` entries (wrap-aware). */
export function prodAdvance(prod: number, log2Size: number, n: number): number {
  const wim = wrapIndexMask(log2Size);
  return ((prod & ~wim) | ((prod + n) & wim)) >>> 0;
}

/**
 * GERRORN write for this queue (§2.1): the error is acknowledged when the CMDQ_ERR bits become
 * equal again. Project decision: CONS.ERR is cleared on acknowledgement (QEMU keeps the stale
 * value, vector A6 "quirk"), so ERR is non-zero only while the queue is stopped.
 */
export function writeQueueGerrorn(q: QueueState, value: number): void {
  const wasStopped = queueStopped(q);
  q.gerrorn = value & GERROR_CMDQ_ERR;
  if (wasStopped && !queueStopped(q)) q.cons = regSet(q.cons, CMDQ_CONS_ERR, CERROR.NONE);
}

/** Acknowledges a stopped queue's error (GERRORN := GERROR). */
export function acknowledgeQueueError(q: QueueState): void {
  writeQueueGerrorn(q, q.gerror);
}

/** Where the entries of a queue live. */
export interface CommandMemory {
  readonly view: DataView;
  /** Byte offset in `view` of entry `index`, or −1 when that entry is not backed (→ CERROR_ABT). */
  entryOffset(index: number): number;
  /**
   * Optional promise that the entries are contiguous 16-byte slots from this byte offset, i.e.
   * `entryOffset(i)` is `contiguousBase + 16·i` when that slot lies inside `view`, else −1. The
   * consumer then computes offsets itself instead of calling `entryOffset` per command.
   */
  readonly contiguousBase?: number;
}

/** A queue whose 2^n entries are contiguous 16-byte slots in `bytes` from `baseOffset`. */
export function ringMemory(bytes: Uint8Array, baseOffset = 0): CommandMemory {
  return new RingMemory(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), baseOffset);
}

/** ringMemory's result: a class, not an object with a per-queue closure (keeps call sites monomorphic). */
class RingMemory implements CommandMemory {
  constructor(
    readonly view: DataView,
    readonly contiguousBase: number,
  ) {}

  entryOffset(index: number): number {
    const off = this.contiguousBase + index * CMD_BYTES;
    return off >= 0 && off + CMD_BYTES <= this.view.byteLength ? off : -1;
  }
}

/**
 * Per-queue filter: inspects (and may rewrite in place) the command at `offset` before it
 * executes. Returns CERROR.NONE to let it run, or a CERROR code to stop the queue on it.
 */
export type CommandFilter = (view: DataView, offset: number, opcode: number) => number;

/** Command semantics: returns CERROR.NONE or the CERROR code of a failing command. */
export interface CommandExecutor {
  execute(view: DataView, offset: number, opcode: number, queue: QueueState): number;
}

/** A queue stopped on this command (§2.3). */
export interface QueueError {
  code: CerrorCode;
  /** Queue slot (CONS index) of the failing entry. */
  index: number;
  /** Opcode of the failing command; null when the entry could not be read (CERROR_ABT). */
  opcode: number | null;
}

/** Outcome of one consumer run (§2.2). */
export interface ConsumeResult {
  consumed: number;
  error: QueueError | null;
}

/**
 * `smmuv3_cmdq_consume` (§2.2): unless disabled, executes entries from CONS until the queue is
 * empty, the CMDQ_ERR is active, or a command fails. CONS advances only past completed
 * commands; on failure CONS stays on the failing entry, CONS.ERR gets the code and GERROR's
 * CMDQ_ERR bit toggles, stopping the queue until GERRORN acknowledges it. Never throws for any
 * queue content. Allocates nothing per command.
 */
export function consumeQueue(
  q: QueueState,
  mem: CommandMemory,
  executor: CommandExecutor,
  filter?: CommandFilter,
): ConsumeResult {
  if (!q.enabled) return { consumed: 0, error: null };
  const log2Size = q.log2Size;
  const wim = wrapIndexMask(log2Size);
  const indexMask = queueIndexMask(log2Size);
  const view = mem.view;
  const lastOffset = view.byteLength - CMD_BYTES; // an entry must end inside the view
  const base = mem.contiguousBase ?? -1;
  const contiguous = base >= 0 && Number.isInteger(base);
  let consumed = 0;
  let err: number = CERROR_NONE;
  let errOpcode: number | null = null;
  // The consumer owns CONS during a run (executors and filters only read it): kept in a local,
  // stored back after every command.
  let cons = q.cons;
  while (((cons ^ q.prod) & wim) !== 0) {
    if (((q.gerror ^ q.gerrorn) & CMDQ_ERR_BIT) !== 0) break; // queueStopped
    const index = cons & indexMask;
    const off = contiguous ? base + index * ENTRY_BYTES : mem.entryOffset(index);
    if (off < 0 || off > lastOffset) {
      err = CERROR.ABT;
      break;
    }
    const opcode = opcodeAt(view, off);
    errOpcode = opcode;
    if (filter !== undefined) {
      err = filter(view, off, opcode);
      if (err !== CERROR_NONE) break;
    }
    err = executor.execute(view, off, opcode, q);
    if (err !== CERROR_NONE) break;
    cons = consIncr(cons, log2Size);
    q.cons = cons;
    consumed++;
  }
  if (err === CERROR.NONE) return { consumed, error: null };
  if (err !== CERROR.ABT && err !== CERROR.ATC_INV_SYNC) err = CERROR.ILL;
  q.cons = regSet(q.cons, CMDQ_CONS_ERR, err);
  q.gerror ^= GERROR_CMDQ_ERR;
  return {
    consumed,
    error: { code: cerrorName(err), index: queueIndex(q.cons, q.log2Size), opcode: err === CERROR.ABT ? null : errOpcode },
  };
}

/** LOG2SIZE of a queue BASE register value. */
export function baseLog2Size(base: bigint): number {
  return regGet(Number(base & 0xffffffffn), Q_BASE_LOG2SIZE);
}

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
import { dwGet, regGet, regMask, regSet } from './fields.js';
import { CMDQ_CONS, GERROR, Q_BASE, queuePointer } from './registers.js';

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
/** GERROR.CMDQ_ERR in place: the queue is stopped while GERROR and GERRORN differ in it. */
const CMDQ_ERR_MASK = regMask(GERROR.CMDQ_ERR);

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

/** `WRAP_INDEX_MASK` = 2^(log2size+1) − 1: PROD/CONS.WRAP_IDX in place. */
export function wrapIndexMask(log2Size: number): number {
  return regMask(queuePointer(log2Size).WRAP_IDX);
}

/** Mask of the index part of a PROD/CONS value, 2^log2Size − 1: PROD/CONS.IDX in place. */
export function queueIndexMask(log2Size: number): number {
  return regMask(queuePointer(log2Size).IDX);
}

/** Index part of a PROD/CONS value (`Q_IDX`). */
export function queueIndex(ptr: number, log2Size: number): number {
  return regGet(ptr, queuePointer(log2Size).IDX);
}

/** Wrap bit of a PROD/CONS value (`Q_WRAP`). */
export function queueWrap(ptr: number, log2Size: number): number {
  return regGet(ptr, queuePointer(log2Size).WR);
}

/** CONS.ERR of a queue. */
export function queueErr(q: QueueState): number {
  return regGet(q.cons, CMDQ_CONS.ERR);
}

/** CMDQ_ERR active: GERROR xor GERRORN (§2.2 step 2). */
export function queueStopped(q: QueueState): boolean {
  return regGet(q.gerror ^ q.gerrorn, GERROR.CMDQ_ERR) !== 0;
}

/**
 * Entries between CONS and PROD, `smmuv3_q_empty` ⇔ 0, full ⇔ 2^log2Size (QEMU
 * smmuv3-internal.h): the distance of their WRAP_IDX fields, modulo the wrap-index space.
 */
export function queuePending(q: QueueState): number {
  const wrapIdx = queuePointer(q.log2Size).WRAP_IDX;
  return regGet(regGet(q.prod, wrapIdx) - regGet(q.cons, wrapIdx), wrapIdx);
}

/** Free slots a producer may still fill. */
export function queueFree(q: QueueState): number {
  return Math.max(0, queueCapacity(q.log2Size) - queuePending(q));
}

/** Number of entries of a queue, 2^log2Size (a shift when it fits, not `2 **`). */
export function queueCapacity(log2Size: number): number {
  return log2Size < 31 ? 1 << log2Size : 2 ** log2Size;
}

/** Advances a PROD value by `n` entries: WRAP_IDX += n, wrapping; the other bits kept. */
export function prodAdvance(prod: number, log2Size: number, n: number): number {
  return regSet(prod, queuePointer(log2Size).WRAP_IDX, prod + n);
}

/**
 * GERRORN write for this queue (§2.1): the error is acknowledged when the CMDQ_ERR bits become
 * equal again. Project decision: CONS.ERR is cleared on acknowledgement (QEMU keeps the stale
 * value, vector A6 "quirk"), so ERR is non-zero only while the queue is stopped.
 */
export function writeQueueGerrorn(q: QueueState, value: number): void {
  const wasStopped = queueStopped(q);
  q.gerrorn = regSet(0, GERROR.CMDQ_ERR, regGet(value, GERROR.CMDQ_ERR));
  if (wasStopped && !queueStopped(q)) q.cons = regSet(q.cons, CMDQ_CONS.ERR, CERROR.NONE);
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
 * A `Uint8Array` over `length` bytes of another view's memory from `start` (relative to that
 * view), kept and handed out again while the same window is asked for: the copies of a batch
 * into and out of a queue (src/hw/cmdq.ts `submit`, the command log of src/hw/execute.ts) then
 * neither allocate nor read `buffer`/`byteOffset` (a runtime call on a Node Buffer) when the
 * same windows repeat. Every byte allocated on the batch path counts: the young-generation pages
 * V8 hands out again after a scavenge are faulted in afresh, a few µs per 4 KiB page.
 */
export class ByteWindow {
  private bytes: Uint8Array | null = null;
  private source: ArrayBufferView | null = null;
  private start = 0;

  /**
   * The window; a new view only when it differs from the last. A view's buffer and offset never
   * change; its length is re-read, so a detached or shrunk buffer gets a new view (which throws).
   * The kept views keep `source` alive.
   */
  of(source: ArrayBufferView, start: number, length: number): Uint8Array {
    const last = this.bytes;
    if (last !== null && source === this.source && start === this.start && last.length === length) return last;
    const bytes = new Uint8Array(source.buffer, source.byteOffset + start, length);
    this.bytes = bytes;
    this.source = source;
    this.start = start;
    return bytes;
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

/** Outcome of one consumer run (§2.2), frozen: runs without error share them (consumeResult). */
export interface ConsumeResult {
  readonly consumed: number;
  readonly error: QueueError | null;
}

/** Runs without error that consumed at most this many entries share one result per count. */
const SHARED_RESULTS_MAX = 4096;
const sharedResults = new Array<ConsumeResult | undefined>(SHARED_RESULTS_MAX + 1);

/**
 * The frozen outcome of a run. A run without error of at most SHARED_RESULTS_MAX entries gets
 * the shared one of its count, so the consumer allocates nothing on its common path (allocation
 * on the batch path costs page faults, see ByteWindow).
 */
function consumeResult(consumed: number, error: QueueError | null): ConsumeResult {
  if (error === null && consumed <= SHARED_RESULTS_MAX) {
    const shared = sharedResults[consumed];
    if (shared !== undefined) return shared;
    return (sharedResults[consumed] = Object.freeze({ consumed, error }));
  }
  return Object.freeze({ consumed, error });
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
  if (!q.enabled) return consumeResult(0, null);
  // PROD/CONS.IDX and .WRAP_IDX in place, once per run: the loop compares and advances with them.
  const ptr = queuePointer(q.log2Size);
  const idxMask = regMask(ptr.IDX);
  const wrapIdxMask = regMask(ptr.WRAP_IDX);
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
  while (((cons ^ q.prod) & wrapIdxMask) !== 0) {
    if (((q.gerror ^ q.gerrorn) & CMDQ_ERR_MASK) !== 0) break; // queueStopped
    const index = cons & idxMask;
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
    cons = ((cons & ~wrapIdxMask) | ((cons + 1) & wrapIdxMask)) >>> 0; // `queue_cons_incr`: WRAP_IDX + 1, ERR kept
    q.cons = cons;
    consumed++;
  }
  if (err === CERROR.NONE) return consumeResult(consumed, null);
  if (err !== CERROR.ABT && err !== CERROR.ATC_INV_SYNC) err = CERROR.ILL;
  q.cons = regSet(q.cons, CMDQ_CONS.ERR, err);
  q.gerror ^= CMDQ_ERR_MASK;
  return consumeResult(consumed, {
    code: cerrorName(err),
    index: queueIndex(q.cons, q.log2Size),
    opcode: err === CERROR.ABT ? null : errOpcode,
  });
}

/** LOG2SIZE of a queue BASE register value. */
export function baseLog2Size(base: bigint): number {
  return dwGet(base, Q_BASE.LOG2SIZE);
}

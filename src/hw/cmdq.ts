/**
 * The SMMU's own command queue (smmuv3.md §2.1-§2.2): CMDQ_BASE, CMDQ_PROD and CMDQ_CONS, the
 * ring they describe, and `submit` — a producer writing a batch at PROD and moving PROD, which
 * runs the consumer (QEMU `smmuv3_write_mmio` on CMDQ_PROD → `smmuv3_cmdq_consume`). The
 * consumer and the command semantics are src/hw/queue.ts and src/hw/execute.ts; the GERROR /
 * GERRORN registers and the interrupt that reports a stop belong to the SMMU (src/hw/smmu.ts).
 */
import { CMD_BYTES } from './commands.js';
import type { CommandEngine } from './execute.js';
import { regGet, regSet } from './fields.js';
import {
  acknowledgeQueueError,
  baseLog2Size,
  ByteWindow,
  createQueueState,
  prodAdvance,
  queueCapacity,
  queueErr,
  queueFree,
  queueIndex,
  queuePending,
  queueStopped,
  ringMemory,
  writeQueueGerrorn,
  type CerrorCode,
  type CommandMemory,
  type ConsumeResult,
  type QueueState,
} from './queue.js';
import { CMDQ_CONS } from './registers.js';

/** Architectural maximum of IDR1.CMDQS (QEMU `SMMU_CMDQS` = 19). */
export const CMDQS_MAX = 19;

/** Why a submitted batch stopped (§2.3 CERROR codes). */
export interface SubmitError {
  code: CerrorCode;
  /** Position of the failing command in the submitted batch (negative: an older queued entry). */
  index: number;
  opcode: number | null;
  /** Queue slot of the failing command. */
  slot: number;
}

/**
 * Outcome of submitCommands (§2.2: everything up to PROD or the failing command ran), frozen: a
 * batch that ran through shares the result of its count (submitResult).
 */
export interface SubmitResult {
  /** Commands of this batch that executed. */
  readonly consumed: number;
  /** Commands of this batch written into the queue (less than count only if it stopped full). */
  readonly enqueued: number;
  readonly error: SubmitError | null;
  /** Queue stopped on an error, waiting for acknowledgeError(). */
  readonly stopped: boolean;
}

/** Batches of at most this many commands that all executed share one result per count. */
const SHARED_RESULTS_MAX = 4096;
const sharedResults = new Array<SubmitResult | undefined>(SHARED_RESULTS_MAX + 1);

/**
 * The frozen outcome of a submit. A batch of at most SHARED_RESULTS_MAX commands that was
 * enqueued and executed entirely, the queue running, gets the shared one of its count: the
 * batch path allocates nothing (allocation there costs page faults, see ByteWindow).
 */
function submitResult(consumed: number, enqueued: number, error: SubmitError | null, stopped: boolean): SubmitResult {
  if (error === null && !stopped && consumed === enqueued && consumed <= SHARED_RESULTS_MAX) {
    const shared = sharedResults[consumed];
    if (shared !== undefined) return shared;
    return (sharedResults[consumed] = Object.freeze({ consumed, enqueued, error, stopped }));
  }
  return Object.freeze({ consumed, enqueued, error, stopped });
}

/** Main command-queue pointers and state (§2.1). */
export interface CmdqStateView {
  log2Size: number;
  prod: number;
  cons: number;
  err: number;
  stopped: boolean;
  enabled: boolean;
  pending: number;
}

/** The main command queue of one SMMU. */
export class CommandQueue {
  private readonly q: QueueState;
  private base: bigint;
  private ring: Uint8Array;
  private ringMem: CommandMemory;
  /** Views of the submitted buffers' command runs, reused while a caller resubmits the same range. */
  private readonly srcRun = new ByteWindow();
  private readonly srcWrapRun = new ByteWindow();

  /**
   * @param maxLog2Size IDR1.CMDQS (at most CMDQS_MAX): BASE.LOG2SIZE is clamped to it
   * @param onStop called when a consumer run stops on an error (the SMMU raises GERROR)
   */
  constructor(
    private readonly engine: CommandEngine,
    private readonly maxLog2Size: number,
    log2Size: number,
    private readonly onStop: () => void,
  ) {
    const log2 = Math.min(log2Size, maxLog2Size);
    this.base = BigInt(log2);
    this.q = createQueueState(log2);
    this.ring = new Uint8Array(CMD_BYTES << log2);
    this.ringMem = ringMemory(this.ring);
  }

  /** Runs the consumer from CONS to PROD (or to the failing command). */
  consume(): ConsumeResult {
    const r = this.engine.run(this.q, this.ringMem);
    if (r.error !== null) this.onStop();
    return r;
  }

  /**
   * Writes `count` 16-byte commands from `buf` at byte `offset` into the queue at PROD and runs
   * the consumer (a PROD write, §2.1), chunked by the free space. Stops at the first error;
   * commands that did not fit in a stopped full queue are not enqueued.
   */
  submit(buf: Uint8Array, offset: number, count: number): SubmitResult {
    if (!Number.isInteger(offset) || !Number.isInteger(count) || offset < 0 || count < 0 || offset + count * CMD_BYTES > buf.byteLength) {
      throw new RangeError('submitCommands: offset/count outside the buffer');
    }
    const q = this.q;
    let ahead = queuePending(q); // older entries the consumer must pass first
    let enqueued = 0;
    let consumed = 0;
    let error: SubmitError | null = null;
    while (enqueued < count) {
      const n = Math.min(queueFree(q), count - enqueued);
      if (n === 0) break;
      // Copy the n commands into the ring at PROD: one contiguous run, or two when it wraps.
      // Plain Uint8Array views over `buf` (a Node Buffer's own subarray is several times slower),
      // reused when the same range comes again (ByteWindow: no allocation per batch).
      const slot = queueIndex(q.prod, q.log2Size);
      const first = Math.min(n, queueCapacity(q.log2Size) - slot);
      const src = offset + enqueued * CMD_BYTES;
      this.ring.set(this.srcRun.of(buf, src, first * CMD_BYTES), slot * CMD_BYTES);
      if (first < n) this.ring.set(this.srcWrapRun.of(buf, src + first * CMD_BYTES, (n - first) * CMD_BYTES), 0);
      q.prod = prodAdvance(q.prod, q.log2Size, n);
      enqueued += n;
      const r = this.consume();
      const ownConsumed = Math.max(0, r.consumed - ahead);
      ahead = Math.max(0, ahead - r.consumed);
      if (r.error !== null) {
        error = { ...r.error, index: ahead > 0 ? -ahead : consumed + ownConsumed, slot: r.error.index };
      }
      consumed += ownConsumed;
      if (error !== null || queuePending(q) !== 0) break;
    }
    return submitResult(consumed, enqueued, error, queueStopped(q));
  }

  // Registers.

  /** CMDQ_BASE write: LOG2SIZE clamped to IDR1.CMDQS (readback keeps the written value). */
  writeBase(value: bigint): void {
    this.base = value & ((1n << 64n) - 1n);
    const log2 = Math.min(baseLog2Size(this.base), this.maxLog2Size);
    if (log2 !== this.q.log2Size) {
      this.q.log2Size = log2;
      this.ring = new Uint8Array(CMD_BYTES << log2);
      this.ringMem = ringMemory(this.ring);
    }
  }

  readBase(): bigint {
    return this.base;
  }

  /** The memory of the queue (2^log2Size 16-byte slots). */
  memory(): Uint8Array {
    return this.ring;
  }

  /** CMDQ_PROD write: stored verbatim, then the consumer runs (QEMU `smmuv3_write_mmio`). */
  writeProd(value: number): ConsumeResult {
    this.q.prod = value >>> 0;
    return this.consume();
  }

  readProd(): number {
    return this.q.prod;
  }

  /** CMDQ_CONS write: no consume. ERR stays SMMU-owned (the written ERR bits are ignored). */
  writeCons(value: number): void {
    this.q.cons = regSet(value, CMDQ_CONS.ERR, regGet(this.q.cons, CMDQ_CONS.ERR));
  }

  readCons(): number {
    return this.q.cons >>> 0;
  }

  /** CR0.CMDQEN. */
  setEnabled(enabled: boolean): void {
    this.q.enabled = enabled;
  }

  /** The CMDQ_ERR bit of GERROR. */
  gerror(): number {
    return this.q.gerror;
  }

  /** A GERRORN write: the queue restarts when its CMDQ_ERR bits become equal. */
  writeGerrorn(value: number): void {
    writeQueueGerrorn(this.q, value);
  }

  /** GERRORN := GERROR for CMDQ_ERR. */
  acknowledge(): void {
    acknowledgeQueueError(this.q);
  }

  view(): CmdqStateView {
    const q = this.q;
    return {
      log2Size: q.log2Size,
      prod: q.prod,
      cons: q.cons,
      err: queueErr(q),
      stopped: queueStopped(q),
      enabled: q.enabled,
      pending: queuePending(q),
    };
  }
}

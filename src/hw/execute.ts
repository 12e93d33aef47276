/**
 * What each command does (smmuv3.md §2.5, §2.6, §5 table; the switch of QEMU
 * `smmuv3_cmdq_consume`), and what the SMMU keeps about the commands it executed: counters per
 * opcode and CERROR, the CMD_SYNC interrupt count and a log of the last COMMAND_LOG_SIZE raw
 * commands. `run` is how any queue (the main CMDQ of src/hw/cmdq.ts, a guest vCMDQ) reaches these
 * semantics through the generic consumer of src/hw/queue.ts.
 *
 * Where QEMU flushes the whole configuration of a StreamID for CFGI_CD and CFGI_CD_ALL, the model
 * does what the architecture says (IHI0070 §4.3.3, §4.3.4): one CD, or the CDs, of the StreamID
 * (src/hw/config.ts); ATC_INV honours SSV, SubstreamID and Global (src/hw/atc.ts).
 *
 * This is the hot path of invalidation and vCMDQs: commands are read straight from the queue's
 * DataView, nothing is allocated per command.
 */
import type { Atc } from './atc.js';
import {
  CMD,
  CMD_BYTES,
  cmdGetAsid,
  cmdGetVmid,
  CMDQ_OP_ATC_INV,
  CMDQ_OP_CFGI_CD,
  CMDQ_OP_CFGI_CD_ALL,
  CMDQ_OP_CFGI_STE,
  CMDQ_OP_CFGI_STE_RANGE,
  CMDQ_OP_CMD_SYNC,
  CMDQ_OP_PREFETCH_ADDR,
  CMDQ_OP_PREFETCH_CFG,
  CMDQ_OP_PRI_RESP,
  CMDQ_OP_RESUME,
  CMDQ_OP_STALL_TERM,
  CMDQ_OP_TLBI_EL2_ALL,
  CMDQ_OP_TLBI_EL2_ASID,
  CMDQ_OP_TLBI_EL2_VA,
  CMDQ_OP_TLBI_EL2_VAA,
  CMDQ_OP_TLBI_EL3_ALL,
  CMDQ_OP_TLBI_EL3_VA,
  CMDQ_OP_TLBI_NH_ALL,
  CMDQ_OP_TLBI_NH_ASID,
  CMDQ_OP_TLBI_NH_VA,
  CMDQ_OP_TLBI_NH_VAA,
  CMDQ_OP_TLBI_NSNH_ALL,
  CMDQ_OP_TLBI_S12_VMALL,
  CMDQ_OP_TLBI_S2_IPA,
  CMD_SYNC_CS,
  COMMAND_LAYOUTS,
  commandName,
  type CommandName,
} from './commands.js';
import type { ConfigCache } from './config.js';
import { getBig, getNum } from './fields.js';
import type { SmmuFeatures } from './idr.js';
import {
  ByteWindow,
  CERROR,
  consumeQueue,
  queueIndexMask,
  type CerrorCode,
  type CommandExecutor,
  type CommandFilter,
  type CommandMemory,
  type ConsumeResult,
  type QueueState,
} from './queue.js';
import { rangeInvalidate } from './range-inval.js';
import type { Iotlb } from './tlb.js';

const L = COMMAND_LAYOUTS;
/**
 * Module-local copies of the constants `execute` uses per command: TurboFan folds these, whereas
 * an imported binding is re-read (with its TDZ check) on every use.
 */
const OP_TLBI_NH_VA = CMDQ_OP_TLBI_NH_VA;
const OP_TLBI_NH_VAA = CMDQ_OP_TLBI_NH_VAA;
const CERROR_NONE = CERROR.NONE;
const CERROR_ILL = CERROR.ILL;
/** How many executed commands the model remembers for inspection. */
export const COMMAND_LOG_SIZE = 1024;

/** Counters of the executed commands (`GET /v1/smmus/{id}/state`). */
export interface CommandStats {
  executed: number;
  byOpcode: Partial<Record<CommandName, number>>;
  errors: Record<CerrorCode, number>;
}

/** The command semantics of one SMMU and its record of executed commands. */
export class CommandEngine implements CommandExecutor {
  private readonly opCounts = new Uint32Array(256);
  private readonly errorCounts: Record<CerrorCode, number> = { CERROR_ILL: 0, CERROR_ABT: 0, CERROR_ATC_INV_SYNC: 0 };
  /** CMD_SYNC wired interrupts pulsed (CS=IRQ and the reserved CS=3, §2.4). */
  cmdSyncIrqs = 0;
  private readonly atcInvFaultSids = new Set<number>();
  /** The last COMMAND_LOG_SIZE executed commands, raw (a ring of 16-byte slots). */
  private readonly commandLog = new Uint8Array(COMMAND_LOG_SIZE * CMD_BYTES);
  private readonly commandLogView = new DataView(this.commandLog.buffer);
  /** Commands executed so far (the log's running count). */
  private commandLogCount = 0;
  /** Views of the queue runs `logRun` copies (at most two per run when the log wraps), reused. */
  private readonly logSrc = new ByteWindow();
  private readonly logSrcWrap = new ByteWindow();
  /**
   * Whether `execute` copies each command into the log itself; false during a run that `logRun`
   * records in bulk afterwards (no filter, contiguous queue memory).
   */
  private logEachCommand = true;

  constructor(
    private readonly features: SmmuFeatures,
    private readonly iotlb: Iotlb,
    private readonly atc: Atc,
    private readonly configs: ConfigCache,
  ) {}

  /**
   * Fault injection (smmuv3.md Decisions): while set, ATC_INV commands for `sid` fail to
   * complete — nothing is removed and the next CMD_SYNC on that queue reports CERROR_ATC_INV_SYNC.
   */
  setAtcInvFault(sid: number, failing: boolean): void {
    if (failing) this.atcInvFaultSids.add(sid);
    else this.atcInvFaultSids.delete(sid);
  }

  /**
   * Consumes `q` (§2.2) with these semantics; `filter` may reject (CERROR) or rewrite each
   * command first. Counts the CERROR of a run that stops.
   */
  run(q: QueueState, mem: CommandMemory, filter?: CommandFilter): ConsumeResult {
    const base = mem.contiguousBase;
    // Without a filter nothing rewrites the entries while they execute, so a contiguous queue's
    // executed commands can be logged in bulk after the run (same bytes, same order).
    const bulk = filter === undefined && base !== undefined && base >= 0 && Number.isInteger(base);
    const first = q.cons;
    const log2Size = q.log2Size;
    let r: ConsumeResult;
    if (bulk) {
      this.logEachCommand = false;
      try {
        r = consumeQueue(q, mem, this);
      } finally {
        this.logEachCommand = true;
      }
      if (r.consumed !== 0) this.logRun(mem.view, base, first, queueIndexMask(log2Size), r.consumed);
    } else {
      r = consumeQueue(q, mem, this, filter);
    }
    if (r.error !== null) this.errorCounts[r.error.code]++;
    return r;
  }

  // -------------------------------------------------------------------------------------------
  // Command semantics.

  private vmidOf(view: DataView, offset: number): number {
    if (!this.features.s2p) return -1;
    const vmid = cmdGetVmid(view, offset);
    return this.features.vmidBits === 16 ? vmid : vmid & 0xff; // VMID[15:8] RES0 without VMID16
  }

  private asidOf(view: DataView, offset: number): number {
    const asid = cmdGetAsid(view, offset);
    return this.features.asidBits === 16 ? asid : asid & 0xff; // ASID[15:8] RES0 without ASID16
  }

  /**
   * CommandExecutor: executes one command and records it (counters, command log). Kept small:
   * the common TLBI_NH_VA/VAA is handled here, every other opcode in `executeOther`. Called by
   * the queue consumer only; use `run`.
   * @internal
   */
  execute(view: DataView, off: number, opcode: number, q: QueueState): number {
    // `!== true` on booleans: a pointer compare instead of a generic ToBoolean.
    if (opcode === OP_TLBI_NH_VA || opcode === OP_TLBI_NH_VAA) {
      if (this.features.s1p !== true) return CERROR_ILL;
      // An empty IOTLB has nothing to remove: skip decoding the command's fields.
      if (this.iotlb.size !== 0) this.tlbiStage1Range(view, off, opcode);
    } else {
      const err = this.executeOther(view, off, opcode, q);
      if (err !== CERROR_NONE) return err;
    }
    this.opCounts[opcode]++;
    if (this.logEachCommand === true) {
      // The raw command into the log ring: four 32-bit copies, no allocation.
      const slot = (this.commandLogCount++ % COMMAND_LOG_SIZE) * CMD_BYTES;
      const log = this.commandLogView;
      log.setUint32(slot, view.getUint32(off, true), true);
      log.setUint32(slot + 4, view.getUint32(off + 4, true), true);
      log.setUint32(slot + 8, view.getUint32(off + 8, true), true);
      log.setUint32(slot + 12, view.getUint32(off + 12, true), true);
    }
    return CERROR_NONE;
  }

  /** TLBI_NH_VA / TLBI_NH_VAA with a non-empty IOTLB (§2.5, §2.6). */
  private tlbiStage1Range(view: DataView, off: number, opcode: number): void {
    const asid = opcode === CMDQ_OP_TLBI_NH_VA ? this.asidOf(view, off) : -1;
    const vmid = this.vmidOf(view, off);
    // No entry of this ASID/VMID: nothing to remove, skip the range decode (bigint arithmetic).
    if (!this.iotlb.mayHoldStage1(asid, vmid)) return;
    this.rangeInval(view, off, 1, asid, vmid, getBig(view, off, L.TLBI_NH_VA.ADDR));
  }

  /** Every opcode but TLBI_NH_VA/VAA: returns CERROR.NONE or the failing command's CERROR. */
  private executeOther(view: DataView, off: number, opcode: number, q: QueueState): number {
    const { s1p, s2p } = this.features;
    switch (opcode) {
      case CMDQ_OP_PREFETCH_CFG:
      case CMDQ_OP_PREFETCH_ADDR:
        break;
      case CMDQ_OP_CFGI_STE:
        // The STE and every CD fetched through it (IHI0070 §4.3.1); Leaf only concerns level-1
        // stream table descriptors, which the model does not cache.
        if (getNum(view, off, CMD.SSEC)) return CERROR.ILL;
        this.configs.invalidate(getNum(view, off, CMD.SID));
        break;
      case CMDQ_OP_CFGI_CD:
        // The CD of table index SSID, with Leaf=0 also its level-1 descriptor (IHI0070 §4.3.3).
        if (getNum(view, off, CMD.SSEC)) return CERROR.ILL;
        this.configs.invalidateCd(getNum(view, off, CMD.SID), getNum(view, off, L.CFGI_CD.SSID), getNum(view, off, L.CFGI_CD.LEAF) === 1);
        break;
      case CMDQ_OP_CFGI_CD_ALL:
        // Every CD and level-1 CD descriptor of the SID; the STE stays (IHI0070 §4.3.4).
        if (getNum(view, off, CMD.SSEC)) return CERROR.ILL;
        this.configs.invalidateCdAll(getNum(view, off, CMD.SID));
        break;
      case CMDQ_OP_CFGI_STE_RANGE:
        if (getNum(view, off, CMD.SSEC)) return CERROR.ILL;
        this.configs.invalidateRange(getNum(view, off, CMD.SID), getNum(view, off, L.CFGI_STE_RANGE.RANGE));
        break;
      case CMDQ_OP_TLBI_NH_ASID:
        if (!s1p) return CERROR.ILL;
        this.iotlb.invAsidVmid(this.asidOf(view, off), this.vmidOf(view, off));
        break;
      case CMDQ_OP_TLBI_NH_ALL:
        if (!s1p) return CERROR.ILL;
        if (s2p) this.iotlb.invVmidS1(this.vmidOf(view, off));
        else this.iotlb.invAll(); // falls through to NSNH_ALL in QEMU
        break;
      case CMDQ_OP_TLBI_NSNH_ALL:
        this.iotlb.invAll();
        break;
      case CMDQ_OP_TLBI_S12_VMALL:
        if (!s2p) return CERROR.ILL;
        this.iotlb.invVmid(this.vmidOf(view, off));
        break;
      case CMDQ_OP_TLBI_S2_IPA:
        if (!s2p) return CERROR.ILL;
        if (this.iotlb.size !== 0) {
          const vmid = this.vmidOf(view, off);
          if (this.iotlb.mayHoldStage2(vmid)) this.rangeInval(view, off, 2, -1, vmid, getBig(view, off, L.TLBI_S2_IPA.ADDR));
        }
        break;
      case CMDQ_OP_TLBI_EL3_ALL:
      case CMDQ_OP_TLBI_EL3_VA:
      case CMDQ_OP_TLBI_EL2_ALL:
      case CMDQ_OP_TLBI_EL2_ASID:
      case CMDQ_OP_TLBI_EL2_VA:
      case CMDQ_OP_TLBI_EL2_VAA:
      case CMDQ_OP_PRI_RESP:
      case CMDQ_OP_RESUME:
      case CMDQ_OP_STALL_TERM:
        break; // accepted, no effect (§2.5; vector A12)
      case CMDQ_OP_ATC_INV: {
        const sid = getNum(view, off, L.ATC_INV.SID);
        if (this.atcInvFaultSids.has(sid)) {
          q.atcInvSyncPending = true;
          break;
        }
        this.atc.invalidate(
          sid,
          getNum(view, off, L.ATC_INV.SSV) === 1,
          getNum(view, off, L.ATC_INV.SSID),
          getBig(view, off, L.ATC_INV.ADDR),
          getNum(view, off, L.ATC_INV.SIZE),
          getNum(view, off, L.ATC_INV.GLOBAL) === 1,
        );
        break;
      }
      case CMDQ_OP_CMD_SYNC:
        if (q.atcInvSyncPending) {
          // Reported once; the retried CMD_SYNC completes (Linux __arm_smmu_cmdq_skip_err).
          q.atcInvSyncPending = false;
          return CERROR.ATC_INV_SYNC;
        }
        // CS=IRQ and reserved CS=3 pulse the CMD_SYNC wired IRQ, not gated by IRQ_CTRL (§2.4).
        if (getNum(view, off, L.CMD_SYNC.CS) & CMD_SYNC_CS.IRQ) this.cmdSyncIrqs++;
        break;
      default:
        return CERROR.ILL;
    }
    return CERROR.NONE;
  }

  /** `smmuv3_range_inval` (§2.6) for NH_VA/NH_VAA (stage 1) and S2_IPA (stage 2). */
  private rangeInval(view: DataView, off: number, stage: 1 | 2, asid: number, vmid: number, addr: bigint): void {
    const tg = getNum(view, off, CMD.TG);
    const num = getNum(view, off, CMD.NUM);
    const scale = getNum(view, off, CMD.SCALE);
    const ttl = getNum(view, off, CMD.TTL);
    rangeInvalidate(this.iotlb, stage, asid, vmid, addr, tg, num, scale, ttl);
  }

  // -------------------------------------------------------------------------------------------
  // Record of executed commands.

  /**
   * Appends to the command log the `count` commands a run without filter executed from a
   * contiguous ring (`contiguousBase`), starting at slot `first`: the bytes are exactly those
   * executed (nothing writes the queue memory during such a run), copied by runs, not per command.
   */
  private logRun(view: DataView, base: number, first: number, indexMask: number, count: number): void {
    // Only the last COMMAND_LOG_SIZE commands can remain in the log.
    const skip = count > COMMAND_LOG_SIZE ? count - COMMAND_LOG_SIZE : 0;
    let k = skip;
    let logSlot = (this.commandLogCount + skip) % COMMAND_LOG_SIZE;
    while (k < count) {
      const index = (first + k) & indexMask;
      const run = Math.min(count - k, indexMask + 1 - index, COMMAND_LOG_SIZE - logSlot);
      const window = k === skip ? this.logSrc : this.logSrcWrap;
      const src = window.of(view, base + index * CMD_BYTES, run * CMD_BYTES);
      this.commandLog.set(src, logSlot * CMD_BYTES);
      k += run;
      logSlot = (logSlot + run) % COMMAND_LOG_SIZE;
    }
    this.commandLogCount += count;
  }

  /** The last `limit` (at most COMMAND_LOG_SIZE) executed commands, oldest first, and the running total. */
  executedCommands(limit = COMMAND_LOG_SIZE): { total: number; commands: Array<[bigint, bigint]> } {
    const n = Math.min(limit, this.commandLogCount, COMMAND_LOG_SIZE);
    const view = this.commandLogView;
    const commands: Array<[bigint, bigint]> = [];
    for (let k = this.commandLogCount - n; k < this.commandLogCount; k++) {
      const off = (k % COMMAND_LOG_SIZE) * CMD_BYTES;
      commands.push([view.getBigUint64(off, true), view.getBigUint64(off + 8, true)]);
    }
    return { total: this.commandLogCount, commands };
  }

  stats(): CommandStats {
    const byOpcode: Partial<Record<CommandName, number>> = {};
    this.opCounts.forEach((n, op) => {
      const name = commandName(op);
      if (n > 0 && name !== null) byOpcode[name] = n;
    });
    return { executed: this.commandLogCount, byOpcode, errors: { ...this.errorCounts } };
  }
}

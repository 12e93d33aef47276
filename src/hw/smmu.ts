/**
 * One physical SMMUv3 (smmuv3.md): ID registers, a stream table whose STEs the caller sets, a
 * configuration cache keyed by StreamID, the IOTLB, per-device ATCs, the main command queue
 * with its registers, and the command semantics of §2.5-§2.6 (QEMU `smmuv3_cmdq_consume`).
 * Synchronous and deterministic: when a call returns every command up to PROD, or up to the
 * failing one, has executed.
 */
import { Atc, type AtcEntry, type AtcStats } from './atc.js';
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
  COMMAND_LAYOUTS,
  commandName,
  encodeCommand,
  type CommandName,
} from './commands.js';
import { getBig, getNum, wordGet, wordsToBytes } from './fields.js';
import { decodeFeatures, DEFAULT_AIDR, DEFAULT_IIDR, type IdrRegisters, type SmmuFeatures } from './idr.js';
import {
  acknowledgeQueueError,
  baseLog2Size,
  CERROR,
  CMDQ_CONS_ERR,
  consumeQueue,
  CR0_CMDQEN,
  CR0_EVENTQEN,
  CR0_RESERVED,
  CR0_SMMUEN,
  createQueueState,
  GERROR_CMDQ_ERR,
  IRQ_CTRL_EVENTQ_IRQEN,
  IRQ_CTRL_GERROR_IRQEN,
  prodAdvance,
  queueErr,
  queueFree,
  queueIndex,
  queueIndexMask,
  queueCapacity,
  queuePending,
  queueStopped,
  ringMemory,
  writeQueueGerrorn,
  type CerrorCode,
  type CommandExecutor,
  type CommandFilter,
  type CommandMemory,
  type ConsumeResult,
  type QueueState,
} from './queue.js';
import { STE, STE_CFG, STE_EATS, steWords, type SteWords } from './ste.js';
import { Iotlb, IOTLB_DEFAULT_CAPACITY, rangeInvalidate, type IotlbEntry, type IotlbKey, type IotlbStats } from './tlb.js';
import type { StrtabRegs } from './strtab.js';
import { translate as walkTranslate, type TranslateRequest, type TranslateResult, type WalkMemory } from './walk.js';

/** Construction parameters of one physical SMMU (api.md `POST /v1/smmus`). */
export interface SmmuModelOptions {
  /** IDR0..IDR5 (src/hw/idr.ts). */
  idr: IdrRegisters;
  iidr?: number;
  aidr?: number;
  /** IOTLB capacity (default 256, QEMU's `SMMU_IOTLB_MAX_SIZE`). */
  iotlbSize?: number;
  /** Initial CMDQ_BASE.LOG2SIZE (default 8), clamped to IDR1.CMDQS (≤ 19) like every BASE write. */
  cmdqLog2Size?: number;
}

/** What the configuration cache holds for a StreamID: a snapshot of the STE when fetched. */
export interface CachedConfig {
  sid: number;
  ste: readonly bigint[];
  /** STE.Config. */
  config: number;
  /** S2VMID when S2P is implemented, else −1 (§4.3). */
  vmid: number;
  /** STE.EATS = TRANS: ATS translations fill this device's ATC. */
  ats: boolean;
}

/** Why a submitted batch stopped (§2.3 CERROR codes). */
export interface SubmitError {
  code: CerrorCode;
  /** Position of the failing command in the submitted batch (negative: an older queued entry). */
  index: number;
  opcode: number | null;
  /** Queue slot of the failing command. */
  slot: number;
}

/** Outcome of submitCommands (§2.2: everything up to PROD or the failing command ran). */
export interface SubmitResult {
  /** Commands of this batch that executed. */
  consumed: number;
  /** Commands of this batch written into the queue (less than count only if it stopped full). */
  enqueued: number;
  error: SubmitError | null;
  /** Queue stopped on an error, waiting for acknowledgeError(). */
  stopped: boolean;
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

/** Plain-object counters for `GET /v1/smmus/{id}/state` and vIOMMU stats. */
export interface SmmuStats {
  commands: {
    executed: number;
    byOpcode: Partial<Record<CommandName, number>>;
    errors: Record<CerrorCode, number>;
  };
  iotlb: IotlbStats;
  atc: AtcStats;
  configCache: { entries: number; hits: number; misses: number };
  cmdq: CmdqStateView;
  irqs: { cmdSync: number; gerror: number };
}

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
/** Architectural maximum of IDR1.CMDQS (QEMU `SMMU_CMDQS` = 19). */
const CMDQS_MAX = 19;

/** One physical SMMUv3 instance and all of its state (see the file comment). */
export class SmmuModel implements CommandExecutor {
  readonly idr: IdrRegisters;
  readonly iidr: number;
  readonly aidr: number;
  readonly features: SmmuFeatures;
  readonly iotlb: Iotlb;
  readonly atc = new Atc();

  private readonly streamTable = new Map<number, SteWords>();
  private readonly configCache = new Map<number, CachedConfig>();
  private configHits = 0;
  private configMisses = 0;
  private readonly atcInvFaultSids = new Set<number>();

  private readonly cmdq: QueueState;
  private cmdqBase: bigint;
  private ring: Uint8Array;
  private ringMem: CommandMemory;
  private cr0 = CR0_SMMUEN | CR0_EVENTQEN | CR0_CMDQEN;
  private cr0ack = CR0_SMMUEN | CR0_EVENTQEN | CR0_CMDQEN;
  private irqCtrl = IRQ_CTRL_GERROR_IRQEN | IRQ_CTRL_EVENTQ_IRQEN;
  private gerrornReg = 0;

  private readonly opCounts = new Uint32Array(256);
  private readonly errorCounts: Record<CerrorCode, number> = { CERROR_ILL: 0, CERROR_ABT: 0, CERROR_ATC_INV_SYNC: 0 };
  private cmdSyncIrqs = 0;
  private gerrorIrqs = 0;
  /** The last COMMAND_LOG_SIZE executed commands, raw (a ring of 16-byte slots). */
  private readonly commandLog = new Uint8Array(COMMAND_LOG_SIZE * CMD_BYTES);
  private readonly commandLogView = new DataView(this.commandLog.buffer);
  /** Commands executed so far (the log's running count; also `stats().commands.executed`). */
  private commandLogCount = 0;
  /**
   * Whether executeCommand copies each command into the log itself; false during a run that
   * `logRun` records in bulk afterwards (no filter, contiguous queue memory).
   */
  private logEachCommand = true;

  constructor(opts: SmmuModelOptions) {
    this.idr = [...opts.idr] as unknown as IdrRegisters;
    this.iidr = opts.iidr ?? DEFAULT_IIDR;
    this.aidr = opts.aidr ?? DEFAULT_AIDR;
    this.features = decodeFeatures(this.idr);
    this.iotlb = new Iotlb(opts.iotlbSize ?? IOTLB_DEFAULT_CAPACITY);
    const log2 = this.clampCmdqLog2(opts.cmdqLog2Size ?? 8);
    this.cmdqBase = BigInt(log2);
    this.cmdq = createQueueState(log2);
    this.ring = new Uint8Array(CMD_BYTES << log2);
    this.ringMem = ringMemory(this.ring);
  }

  /** LOG2SIZE is clamped to IDR1.CMDQS, itself at most 19 (`SMMU_CMDQS`, §2.1). */
  private clampCmdqLog2(log2: number): number {
    return Math.min(log2, this.features.cmdqs, CMDQS_MAX);
  }

  // -------------------------------------------------------------------------------------------
  // Stream table and configuration cache (§3.1, §5).

  private checkSid(sid: number): void {
    if (!Number.isInteger(sid) || sid < 0 || sid >= 2 ** Math.min(this.features.sidBits, 32)) {
      throw new RangeError(`StreamID ${sid} is beyond SIDSIZE ${this.features.sidBits}`);
    }
  }

  /**
   * Writes the STE of `sid` in the stream table (a memory write: like hardware, the
   * configuration cache keeps its old copy until CFGI_STE; see installSte).
   */
  setSte(sid: number, words: ArrayLike<bigint>): void {
    this.checkSid(sid);
    this.streamTable.set(sid, steWords(words));
  }

  /** setSte followed by the CFGI_STE(sid) Linux issues after writing an STE (`arm_smmu_write_ste`). */
  installSte(sid: number, words: ArrayLike<bigint>): void {
    this.setSte(sid, words);
    this.configCache.delete(sid);
  }

  /** Removes the STE of `sid` (the slot reads as all-zero: V=0). Config cache untouched. */
  clearSte(sid: number): void {
    this.checkSid(sid);
    this.streamTable.delete(sid);
  }

  /** The STE of `sid` as stored, or null when none was set. */
  getSte(sid: number): SteWords | null {
    const ste = this.streamTable.get(sid);
    return ste === undefined ? null : [...ste];
  }

  /** StreamIDs that have an STE. */
  streamIds(): number[] {
    return [...this.streamTable.keys()].sort((a, b) => a - b);
  }

  /**
   * `smmuv3_get_config` (§4.1 step 2): the cached configuration of `sid`, fetched from the
   * stream table on a miss. A missing or invalid (V=0) STE is not cached (decode failure).
   */
  fetchConfig(sid: number): CachedConfig | null {
    const hit = this.configCache.get(sid);
    if (hit !== undefined) {
      this.configHits++;
      return hit;
    }
    this.configMisses++;
    const ste = this.streamTable.get(sid);
    if (ste === undefined || wordGet(ste, STE.V) === 0) return null;
    const cfg: CachedConfig = Object.freeze({
      sid,
      ste: Object.freeze([...ste]),
      config: wordGet(ste, STE.CONFIG),
      vmid: this.features.s2p ? wordGet(ste, STE.S2VMID) : -1,
      ats: wordGet(ste, STE.EATS) === STE_EATS.TRANS && wordGet(ste, STE.CONFIG) !== STE_CFG.ABORT,
    });
    this.configCache.set(sid, cfg);
    return cfg;
  }

  /** StreamIDs currently in the configuration cache. */
  configCacheSids(): number[] {
    return [...this.configCache.keys()].sort((a, b) => a - b);
  }

  // -------------------------------------------------------------------------------------------
  // Translation walk (src/hw/walk.ts): stream table in memory and config-cache access.

  /** STRTAB_BASE / STRTAB_BASE_CFG when the stream table lives in memory (null: STEs set with setSte). */
  private strtab: StrtabRegs | null = null;

  /**
   * Points the walk at a stream table in memory (STRTAB_BASE, STRTAB_BASE_CFG, §3.1), or back to
   * the STEs set with setSte/installSte (null). Cached configurations are kept, as for a
   * register write on hardware (software follows with CFGI_ALL).
   */
  setStreamTable(regs: StrtabRegs | null): void {
    this.strtab = regs === null ? null : { base: regs.base & ((1n << 64n) - 1n), cfg: regs.cfg >>> 0 };
  }

  /** The in-memory stream table registers, or null when the installed STEs are used. */
  streamTableRegs(): StrtabRegs | null {
    return this.strtab === null ? null : { ...this.strtab };
  }

  /** Config-cache probe for the walk: counts a hit or a miss. */
  configCacheLookup(sid: number): CachedConfig | undefined {
    const hit = this.configCache.get(sid);
    if (hit === undefined) this.configMisses++;
    else this.configHits++;
    return hit;
  }

  /** Caches the configuration the walk fetched and decoded for `sid` (STE snapshot). */
  configCacheStore(sid: number, ste: ArrayLike<bigint>): CachedConfig {
    const words = steWords(ste);
    const cfg: CachedConfig = Object.freeze({
      sid,
      ste: Object.freeze(words),
      config: wordGet(words, STE.CONFIG),
      vmid: this.features.s2p ? wordGet(words, STE.S2VMID) : -1,
      ats: wordGet(words, STE.EATS) === STE_EATS.TRANS && wordGet(words, STE.CONFIG) !== STE_CFG.ABORT,
    });
    this.configCache.set(sid, cfg);
    return cfg;
  }

  /** One DMA access through this SMMU (smmuv3.md §4, src/hw/walk.ts `translate`). */
  translate(req: TranslateRequest, memory: WalkMemory): TranslateResult {
    return walkTranslate(this, req, memory);
  }

  // -------------------------------------------------------------------------------------------
  // IOTLB and ATC (§5; the walk that fills them comes later).

  /** Inserts an IOTLB entry (LRU eviction when full). */
  iotlbInsert(entry: IotlbEntry): void {
    this.iotlb.insert(entry);
  }

  /** Exact-key IOTLB lookup; counts hits and misses. */
  iotlbLookup(key: IotlbKey): IotlbEntry | undefined {
    return this.iotlb.lookup(key);
  }

  /**
   * Fills the ATC of `entry.sid`. Only an SMMU with IDR0.ATS and a stream whose cached
   * configuration enables ATS (EATS=TRANS) has an ATC: returns false (nothing stored) otherwise.
   */
  atcInsert(entry: AtcEntry): boolean {
    if (!this.features.ats || !this.fetchConfig(entry.sid)?.ats) return false;
    this.atc.insert(entry);
    return true;
  }

  /** The ATC entry of (sid, ssid) containing `iova`. */
  atcLookup(sid: number, ssid: number, iova: bigint): AtcEntry | undefined {
    return this.atc.lookup(sid, ssid, iova);
  }

  /**
   * Fault injection (smmuv3.md Decisions): while set, ATC_INV commands for `sid` fail to
   * complete — nothing is removed and the next CMD_SYNC on that queue reports CERROR_ATC_INV_SYNC.
   */
  setAtcInvFault(sid: number, failing: boolean): void {
    if (failing) this.atcInvFaultSids.add(sid);
    else this.atcInvFaultSids.delete(sid);
  }

  // -------------------------------------------------------------------------------------------
  // Command semantics (§2.5, §2.6, §5 table).

  private vmidOf(view: DataView, offset: number): number {
    if (!this.features.s2p) return -1;
    const vmid = cmdGetVmid(view, offset);
    return this.features.vmidBits === 16 ? vmid : vmid & 0xff; // VMID[15:8] RES0 without VMID16
  }

  private asidOf(view: DataView, offset: number): number {
    const asid = cmdGetAsid(view, offset);
    return this.features.asidBits === 16 ? asid : asid & 0xff;
  }

  private dropConfigRange(sid: number, range: number): void {
    const span = 2 ** (range + 1);
    const start = sid - (sid % span);
    const end = start + span - 1;
    for (const k of this.configCache.keys()) if (k >= start && k <= end) this.configCache.delete(k);
  }

  /**
   * CommandExecutor (the model is the executor its consumer runs, a method rather than a
   * per-instance closure so the consumer loop can inline it): executes one command and records
   * it (counters, command log). Kept small: the common TLBI_NH_VA/VAA is handled here, every
   * other opcode in `executeOther`. Used by the queue consumer; call consume/submitCommands.
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
      const src = new Uint8Array(view.buffer, view.byteOffset + base + index * CMD_BYTES, run * CMD_BYTES);
      this.commandLog.set(src, logSlot * CMD_BYTES);
      k += run;
      logSlot = (logSlot + run) % COMMAND_LOG_SIZE;
    }
    this.commandLogCount += count;
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
      case CMDQ_OP_CFGI_CD:
      case CMDQ_OP_CFGI_CD_ALL:
        // SSID and Leaf are ignored: the whole config of the SID is dropped (§2.5).
        if (getNum(view, off, CMD.SSEC)) return CERROR.ILL;
        this.configCache.delete(getNum(view, off, CMD.SID));
        break;
      case CMDQ_OP_CFGI_STE_RANGE:
        if (getNum(view, off, CMD.SSEC)) return CERROR.ILL;
        this.dropConfigRange(getNum(view, off, CMD.SID), getNum(view, off, L.CFGI_STE_RANGE.RANGE));
        break;
      case CMDQ_OP_TLBI_NH_ASID:
        if (!s1p) return CERROR.ILL;
        this.iotlb.invAsidVmid(this.asidOf(view, off), this.vmidOf(view, off));
        break;
      case CMDQ_OP_TLBI_NH_ALL:
        if (!s1p) return CERROR.ILL;
        if (s2p) this.iotlb.invVmidS1(this.vmidOf(view, off));
        else this.iotlb.invAll(); // falls through to NSNH_ALL in QEMU (L1452-1454)
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
        if (getNum(view, off, L.CMD_SYNC.CS) & 1) this.cmdSyncIrqs++;
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
  // Queues.

  private runConsumer(q: QueueState, mem: CommandMemory, filter?: CommandFilter): ConsumeResult {
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

  private consumeMain(): ConsumeResult {
    const r = this.runConsumer(this.cmdq, this.ringMem);
    if (r.error !== null && this.irqCtrl & IRQ_CTRL_GERROR_IRQEN) this.gerrorIrqs++;
    return r;
  }

  /**
   * Consumes a queue that lives in caller-provided memory (e.g. a guest vCMDQ) with this SMMU's
   * command semantics; `filter` may reject (CERROR) or rewrite each command first (§2.2).
   */
  consume(queue: QueueState, memory: CommandMemory, filter?: CommandFilter): ConsumeResult {
    return this.runConsumer(queue, memory, filter);
  }

  /**
   * Writes `count` 16-byte commands from `buf` at byte `offset` into the main command queue at
   * PROD and runs the consumer (a PROD write, §2.1), chunked by the free space. Stops at the
   * first error; commands that did not fit in a stopped full queue are not enqueued.
   */
  submitCommands(buf: Uint8Array, offset = 0, count = Math.floor((buf.byteLength - offset) / CMD_BYTES)): SubmitResult {
    if (!Number.isInteger(offset) || !Number.isInteger(count) || offset < 0 || count < 0 || offset + count * CMD_BYTES > buf.byteLength) {
      throw new RangeError('submitCommands: offset/count outside the buffer');
    }
    const q = this.cmdq;
    let ahead = queuePending(q); // older entries the consumer must pass first
    let enqueued = 0;
    let consumed = 0;
    let error: SubmitError | null = null;
    while (enqueued < count) {
      const n = Math.min(queueFree(q), count - enqueued);
      if (n === 0) break;
      // Copy the n commands into the ring at PROD: one contiguous run, or two when it wraps.
      // Plain Uint8Array views over `buf` (a Node Buffer's own subarray is several times slower).
      const slot = queueIndex(q.prod, q.log2Size);
      const first = Math.min(n, queueCapacity(q.log2Size) - slot);
      const src = buf.byteOffset + offset + enqueued * CMD_BYTES;
      this.ring.set(new Uint8Array(buf.buffer, src, first * CMD_BYTES), slot * CMD_BYTES);
      if (first < n) this.ring.set(new Uint8Array(buf.buffer, src + first * CMD_BYTES, (n - first) * CMD_BYTES), 0);
      q.prod = prodAdvance(q.prod, q.log2Size, n);
      enqueued += n;
      const r = this.consumeMain();
      const ownConsumed = Math.max(0, r.consumed - ahead);
      ahead = Math.max(0, ahead - r.consumed);
      if (r.error !== null) {
        error = { ...r.error, index: ahead > 0 ? -ahead : consumed + ownConsumed, slot: r.error.index };
      }
      consumed += ownConsumed;
      if (error !== null || queuePending(q) !== 0) break;
    }
    return { consumed, enqueued, error, stopped: queueStopped(q) };
  }

  /** GERRORN := GERROR for CMDQ_ERR (§2.1): restarts a stopped main queue and consumes. */
  acknowledgeError(): ConsumeResult {
    this.gerrornReg = (this.gerrornReg & ~GERROR_CMDQ_ERR) | (this.cmdq.gerror & GERROR_CMDQ_ERR);
    acknowledgeQueueError(this.cmdq);
    return this.consumeMain();
  }

  /**
   * Linux `__arm_smmu_cmdq_skip_err` + GERRORN: for CERROR_ILL replaces the failing command with
   * a CMD_SYNC (CS=NONE form Linux builds when no MSI), then acknowledges. For ABT and
   * ATC_INV_SYNC only acknowledges (the entry is retried).
   */
  skipFailedCommand(): ConsumeResult {
    if (queueStopped(this.cmdq) && queueErr(this.cmdq) === CERROR.ILL) {
      const slot = queueIndex(this.cmdq.cons, this.cmdq.log2Size);
      wordsToBytes(encodeCommand('CMD_SYNC', { CS: 2, MSH: 3, MSIATTR: 0xf }), this.ring, slot * CMD_BYTES);
    }
    return this.acknowledgeError();
  }

  // Register-level access to the main queue (§2.1), for tests and the service's state view.

  /** CMDQ_BASE write: LOG2SIZE clamped to IDR1.CMDQS (readback keeps the written value). */
  writeCmdqBase(value: bigint): void {
    this.cmdqBase = value & ((1n << 64n) - 1n);
    const log2 = this.clampCmdqLog2(baseLog2Size(this.cmdqBase));
    if (log2 !== this.cmdq.log2Size) {
      this.cmdq.log2Size = log2;
      this.ring = new Uint8Array(CMD_BYTES << log2);
      this.ringMem = ringMemory(this.ring);
    }
  }

  readCmdqBase(): bigint {
    return this.cmdqBase;
  }

  /** The memory of the main command queue (2^log2Size 16-byte slots). */
  cmdqRing(): Uint8Array {
    return this.ring;
  }

  /** CMDQ_PROD write: stored verbatim, then the consumer runs (Q-V3 L1655-1657). */
  writeCmdqProd(value: number): ConsumeResult {
    this.cmdq.prod = value >>> 0;
    return this.consumeMain();
  }

  readCmdqProd(): number {
    return this.cmdq.prod;
  }

  /** CMDQ_CONS write: no consume. ERR stays SMMU-owned (the written ERR bits are ignored). */
  writeCmdqCons(value: number): void {
    const errMask = (2 ** CMDQ_CONS_ERR.width - 1) * 2 ** CMDQ_CONS_ERR.lo;
    this.cmdq.cons = ((this.cmdq.cons & errMask) | (value & ~errMask)) >>> 0;
  }

  readCmdqCons(): number {
    return this.cmdq.cons >>> 0;
  }

  /** CR0 write: CR0ACK = value & ~CR0_RESERVED, CMDQEN gates the consumer, which then runs. */
  writeCr0(value: number): ConsumeResult {
    this.cr0 = value >>> 0;
    this.cr0ack = (value & ~CR0_RESERVED) >>> 0;
    this.cmdq.enabled = (value & CR0_CMDQEN) !== 0;
    return this.consumeMain();
  }

  readCr0(): number {
    return this.cr0;
  }

  readCr0Ack(): number {
    return this.cr0ack;
  }

  readGerror(): number {
    return this.cmdq.gerror;
  }

  readGerrorn(): number {
    return this.gerrornReg;
  }

  /** GERRORN write: acknowledges when CMDQ_ERR bits become equal; the consumer runs. */
  writeGerrorn(value: number): ConsumeResult {
    this.gerrornReg = value >>> 0;
    writeQueueGerrorn(this.cmdq, value);
    return this.consumeMain();
  }

  writeIrqCtrl(value: number): void {
    this.irqCtrl = value >>> 0;
  }

  readIrqCtrl(): number {
    return this.irqCtrl;
  }

  /** Main command queue pointers and state. */
  cmdqState(): CmdqStateView {
    const q = this.cmdq;
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

  /**
   * The commands this SMMU executed, oldest first (at most the last COMMAND_LOG_SIZE), with the
   * running count of all executed commands: what "the hardware received".
   */
  executedCommands(limit = COMMAND_LOG_SIZE): { total: number; commands: Array<[bigint, bigint]> } {
    const n = Math.min(limit, this.commandLogCount, COMMAND_LOG_SIZE);
    const view = new DataView(this.commandLog.buffer);
    const commands: Array<[bigint, bigint]> = [];
    for (let k = this.commandLogCount - n; k < this.commandLogCount; k++) {
      const off = (k % COMMAND_LOG_SIZE) * CMD_BYTES;
      commands.push([view.getBigUint64(off, true), view.getBigUint64(off + 8, true)]);
    }
    return { total: this.commandLogCount, commands };
  }

  /** Counters and state for the service's stats (plain object). */
  stats(): SmmuStats {
    const byOpcode: Partial<Record<CommandName, number>> = {};
    this.opCounts.forEach((n, op) => {
      const name = commandName(op);
      if (n > 0 && name !== null) byOpcode[name] = n;
    });
    return {
      commands: { executed: this.commandLogCount, byOpcode, errors: { ...this.errorCounts } },
      iotlb: this.iotlb.stats(),
      atc: this.atc.stats(),
      configCache: { entries: this.configCache.size, hits: this.configHits, misses: this.configMisses },
      cmdq: this.cmdqState(),
      irqs: { cmdSync: this.cmdSyncIrqs, gerror: this.gerrorIrqs },
    };
  }

  /** Device reset: both caches and the ATCs are emptied (`smmu_base_reset_exit`); STEs stay. */
  resetCaches(): void {
    this.iotlb.invAll();
    this.configCache.clear();
    this.atc.clear();
  }
}

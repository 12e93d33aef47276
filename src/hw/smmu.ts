/**
 * One physical SMMUv3 (smmuv3.md), the device as software sees it: ID registers, CR0/CR0ACK,
 * IRQ_CTRL, GERROR/GERRORN, the main command queue's registers, a stream table, and the caches
 * (configuration, IOTLB, per-device ATCs). It wires the parts that do the work:
 * src/hw/strtab.ts (STEs), src/hw/config.ts (STE/CD decode and the config cache),
 * src/hw/execute.ts (command semantics), src/hw/cmdq.ts (the main queue), src/hw/translate.ts
 * (DMA translation). Synchronous and deterministic: when a call returns every command up to
 * PROD, or up to the failing one, has executed.
 *
 * Hardware only: what the host driver does with it (STE install, skipping a failed command) is
 * src/domain/driver/.
 */
import { Atc, type AtcEntry, type AtcStats } from './atc.js';
import { CMD_BYTES } from './commands.js';
import { CMDQS_MAX, CommandQueue, type CmdqStateView, type SubmitResult } from './cmdq.js';
import { ConfigCache, type StreamConfig } from './config.js';
import { isFault } from './events.js';
import { CommandEngine, COMMAND_LOG_SIZE, type CommandStats } from './execute.js';
import { encodeReg, regGet, regSet } from './fields.js';
import { decodeFeatures, DEFAULT_AIDR, DEFAULT_IIDR, getIdrField, type IdrRegisters, type SmmuFeatures } from './idr.js';
import type { CommandFilter, CommandMemory, ConsumeResult, QueueState } from './queue.js';
import { CR0, CR0_RESERVED, GERROR, IRQ_CTRL } from './registers.js';
import { StreamTable, type StrtabRegs } from './strtab.js';
import type { SteWords } from './ste.js';
import { Iotlb, IOTLB_DEFAULT_CAPACITY, type IotlbEntry, type IotlbKey, type IotlbStats } from './tlb.js';
import { translate, type TranslateRequest, type TranslateResult, type TranslationContext } from './translate.js';
import type { WalkMemory } from './walk.js';

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

/** Plain-object counters for `GET /v1/smmus/{id}/state` and vIOMMU stats. */
export interface SmmuStats {
  commands: CommandStats;
  iotlb: IotlbStats;
  atc: AtcStats;
  configCache: { entries: number; hits: number; misses: number };
  cmdq: CmdqStateView;
  irqs: { cmdSync: number; gerror: number };
}

/** Memory with nothing in it: what a configuration fetch reads when the caller gives none. */
const NO_MEMORY: WalkMemory = { read64: () => null };

/** One physical SMMUv3 instance and all of its state (see the file comment). */
export class Smmuv3 {
  readonly idr: IdrRegisters;
  readonly iidr: number;
  readonly aidr: number;
  readonly features: SmmuFeatures;
  readonly iotlb: Iotlb;
  readonly atc = new Atc();

  private readonly streamTable: StreamTable;
  private readonly configs: ConfigCache;
  private readonly engine: CommandEngine;
  private readonly cmdq: CommandQueue;
  private readonly translation: TranslationContext;

  private cr0 = encodeReg(CR0, { SMMUEN: 1, EVENTQEN: 1, CMDQEN: 1 }, 'CR0');
  private cr0ack = this.cr0;
  private irqCtrl = encodeReg(IRQ_CTRL, { GERROR_IRQEN: 1, EVENTQ_IRQEN: 1 }, 'IRQ_CTRL');
  private gerrornReg = 0;
  private gerrorIrqs = 0;

  constructor(opts: SmmuModelOptions) {
    this.idr = [...opts.idr] as unknown as IdrRegisters;
    this.iidr = opts.iidr ?? DEFAULT_IIDR;
    this.aidr = opts.aidr ?? DEFAULT_AIDR;
    this.features = decodeFeatures(this.idr);
    this.iotlb = new Iotlb(opts.iotlbSize ?? IOTLB_DEFAULT_CAPACITY);
    this.streamTable = new StreamTable(this.features.sidBits);
    this.configs = new ConfigCache(this.features, this.streamTable, getIdrField(this.idr, 'CD2L') === 1);
    this.engine = new CommandEngine(this.features, this.iotlb, this.atc, this.configs);
    const raiseGerror = (): void => {
      if (regGet(this.irqCtrl, IRQ_CTRL.GERROR_IRQEN)) this.gerrorIrqs++;
    };
    this.cmdq = new CommandQueue(this.engine, Math.min(this.features.cmdqs, CMDQS_MAX), opts.cmdqLog2Size ?? 8, raiseGerror);
    const { iotlb, atc, configs } = this;
    this.translation = {
      iotlb,
      atc,
      oasBits: this.features.oasBits,
      smmuEnabled: () => regGet(this.cr0, CR0.SMMUEN) === 1,
      config: (sid, ssid, mem) => configs.get(sid, mem, ssid),
    };
  }

  // -------------------------------------------------------------------------------------------
  // Stream table and configuration cache (§3.1, §4.1-§4.4).

  /**
   * Writes the STE of `sid` in the stream table (a memory write: like hardware, the
   * configuration cache keeps its old copy until CFGI_STE).
   */
  setSte(sid: number, words: ArrayLike<bigint>): void {
    this.streamTable.set(sid, words);
  }

  /** Removes the STE of `sid` (the slot reads as all-zero: V=0). Config cache untouched. */
  clearSte(sid: number): void {
    this.streamTable.clear(sid);
  }

  /** The STE of `sid` as stored, or null when none was set. */
  getSte(sid: number): SteWords | null {
    return this.streamTable.get(sid);
  }

  /** StreamIDs that have an STE. */
  streamIds(): number[] {
    return this.streamTable.sids();
  }

  /**
   * Points the SMMU at a stream table in memory (STRTAB_BASE, STRTAB_BASE_CFG, §3.1), or back to
   * the STEs set with setSte (null). Cached configurations are kept, as for a register write on
   * hardware (software follows with CFGI_ALL).
   */
  setStreamTable(regs: StrtabRegs | null): void {
    this.streamTable.setRegs(regs);
  }

  /** The in-memory stream table registers, or null when the STEs set with setSte are used. */
  streamTableRegs(): StrtabRegs | null {
    return this.streamTable.getRegs();
  }

  /**
   * `smmuv3_get_config` for the STE (§4.1 step 2): the cached configuration of `sid`, fetched
   * (from `mem` when the stream table is in memory) and decoded on a miss; null when the fetch or
   * the decode fails, and then nothing is cached. The CD is left to the first translation.
   */
  fetchConfig(sid: number, mem: WalkMemory = NO_MEMORY): StreamConfig | null {
    const cfg = this.configs.getSte(sid, mem);
    return isFault(cfg) ? null : cfg;
  }

  /** StreamIDs currently in the configuration cache. */
  configCacheSids(): number[] {
    return this.configs.sids();
  }

  /** The CD table indexes (SubstreamIDs; 0 for a single CD) whose CD is cached for `sid`. */
  configCacheCds(sid: number): number[] {
    return this.configs.cdIndexes(sid);
  }

  /**
   * Drops the cached configuration of `sid`: the effect of CFGI_STE(sid) without queuing the
   * command (the hardware unit tests' shortcut, test/hw/helpers.ts; the host driver issues the
   * real command, src/domain/driver/arm-smmu-v3.ts installSte).
   */
  dropCachedConfig(sid: number): void {
    this.configs.invalidate(sid);
  }

  /** One DMA access through this SMMU (smmuv3.md §4, src/hw/translate.ts). */
  translate(req: TranslateRequest, memory: WalkMemory): TranslateResult {
    return translate(this.translation, req, memory);
  }

  // -------------------------------------------------------------------------------------------
  // IOTLB and ATC (§5).

  /** Inserts an IOTLB entry (LRU eviction when full). */
  iotlbInsert(entry: IotlbEntry): void {
    this.iotlb.insert(entry);
  }

  /** Exact-key IOTLB lookup; counts hits and misses. */
  iotlbLookup(key: IotlbKey): IotlbEntry | undefined {
    return this.iotlb.lookup(key);
  }

  /**
   * An ATS translation completion: fills the ATC of `entry.sid` when its configuration enables
   * ATS (src/hw/config.ts: IDR0.ATS, EATS=TRANS, a translating Config); false, nothing stored,
   * otherwise.
   */
  atcInsert(entry: AtcEntry): boolean {
    if (!this.fetchConfig(entry.sid)?.ats) return false;
    this.atc.insert(entry);
    return true;
  }

  /** The ATC entry of (sid, ssid) containing `iova`. */
  atcLookup(sid: number, ssid: number, iova: bigint): AtcEntry | undefined {
    return this.atc.lookup(sid, ssid, iova);
  }

  /** Fault injection: ATC_INV for `sid` fails to complete (src/hw/execute.ts). */
  setAtcInvFault(sid: number, failing: boolean): void {
    this.engine.setAtcInvFault(sid, failing);
  }

  // -------------------------------------------------------------------------------------------
  // Command queues (§2).

  /**
   * Consumes a queue that lives in caller-provided memory (e.g. a guest vCMDQ) with this SMMU's
   * command semantics; `filter` may reject (CERROR) or rewrite each command first (§2.2).
   */
  consume(queue: QueueState, memory: CommandMemory, filter?: CommandFilter): ConsumeResult {
    return this.engine.run(queue, memory, filter);
  }

  /** Writes `count` commands of `buf` at PROD of the main queue and runs it (src/hw/cmdq.ts `submit`). */
  submitCommands(buf: Uint8Array, offset = 0, count = Math.floor((buf.byteLength - offset) / CMD_BYTES)): SubmitResult {
    return this.cmdq.submit(buf, offset, count);
  }

  /** GERRORN := GERROR for CMDQ_ERR (§2.1): restarts a stopped main queue and consumes. */
  acknowledgeError(): ConsumeResult {
    this.gerrornReg = regSet(this.gerrornReg, GERROR.CMDQ_ERR, regGet(this.cmdq.gerror(), GERROR.CMDQ_ERR));
    this.cmdq.acknowledge();
    return this.cmdq.consume();
  }

  // Register-level access (§2.1), for tests and the service's state view.

  /** CMDQ_BASE write: LOG2SIZE clamped to IDR1.CMDQS (readback keeps the written value). */
  writeCmdqBase(value: bigint): void {
    this.cmdq.writeBase(value);
  }

  readCmdqBase(): bigint {
    return this.cmdq.readBase();
  }

  /** The memory of the main command queue (2^log2Size 16-byte slots). */
  cmdqRing(): Uint8Array {
    return this.cmdq.memory();
  }

  /** CMDQ_PROD write: stored verbatim, then the consumer runs. */
  writeCmdqProd(value: number): ConsumeResult {
    return this.cmdq.writeProd(value);
  }

  readCmdqProd(): number {
    return this.cmdq.readProd();
  }

  /** CMDQ_CONS write: no consume; ERR stays SMMU-owned. */
  writeCmdqCons(value: number): void {
    this.cmdq.writeCons(value);
  }

  readCmdqCons(): number {
    return this.cmdq.readCons();
  }

  /** CR0 write: CR0ACK = value & ~CR0_RESERVED, CMDQEN gates the consumer, which then runs. */
  writeCr0(value: number): ConsumeResult {
    this.cr0 = value >>> 0;
    this.cr0ack = (value & ~CR0_RESERVED) >>> 0;
    this.cmdq.setEnabled(regGet(value, CR0.CMDQEN) === 1);
    return this.cmdq.consume();
  }

  readCr0(): number {
    return this.cr0;
  }

  readCr0Ack(): number {
    return this.cr0ack;
  }

  readGerror(): number {
    return this.cmdq.gerror();
  }

  readGerrorn(): number {
    return this.gerrornReg;
  }

  /** GERRORN write: acknowledges when CMDQ_ERR bits become equal; the consumer runs. */
  writeGerrorn(value: number): ConsumeResult {
    this.gerrornReg = value >>> 0;
    this.cmdq.writeGerrorn(value);
    return this.cmdq.consume();
  }

  writeIrqCtrl(value: number): void {
    this.irqCtrl = value >>> 0;
  }

  readIrqCtrl(): number {
    return this.irqCtrl;
  }

  /** Main command queue pointers and state. */
  cmdqState(): CmdqStateView {
    return this.cmdq.view();
  }

  // -------------------------------------------------------------------------------------------
  // Inspection and reset.

  /**
   * The commands this SMMU executed, oldest first (at most the last COMMAND_LOG_SIZE), with the
   * running count of all executed commands: what "the hardware received".
   */
  executedCommands(limit = COMMAND_LOG_SIZE): { total: number; commands: Array<[bigint, bigint]> } {
    return this.engine.executedCommands(limit);
  }

  /** Counters and state for the service's stats (plain object). */
  stats(): SmmuStats {
    return {
      commands: this.engine.stats(),
      iotlb: this.iotlb.stats(),
      atc: this.atc.stats(),
      configCache: this.configs.stats(),
      cmdq: this.cmdqState(),
      irqs: { cmdSync: this.engine.cmdSyncIrqs, gerror: this.gerrorIrqs },
    };
  }

  /** Device reset: both caches and the ATCs are emptied (`smmu_base_reset_exit`); STEs stay. */
  resetCaches(): void {
    this.iotlb.invAll();
    this.configs.clear();
    this.atc.clear();
  }
}

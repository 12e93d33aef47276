/**
 * Tegra241 CMDQV guest queues (IOMMU_HW_QUEUE_ALLOC; iommufd.md §2.8 and §4, smmuv3.md §7): the
 * allocation rules, and the guest's register writes (PROD, CONFIG.EN, GERRORN) persisted with
 * the queue memory they change. What the hardware does with the queue — the guest-owned filter,
 * the VMID and SID rewrite, the error map — is src/hw/tegra241-cmdqv.ts.
 */
import {
  CMD_BYTES,
  consumeVcmdq,
  getIdrField,
  lvcmdqErrMap as vintfErrMap,
  prodAdvance,
  queueFree,
  queueCapacity,
  queueIndex,
  queueStopped,
  wordsToBytes,
  writeQueueGerrorn,
  type QueueState,
  type Vintf,
} from '../hw/index.js';
import { LINUX_CMD_SYNC } from './driver/arm-smmu-v3.js';
import { fail } from './errors.js';
import { eventqOf, queueEvent } from './eventq.js';
import type { WriteTx } from './graph.js';
import type { Hardware } from './hardware.js';
import { allocId } from './ids.js';
import { U64_MAX } from './ioas.js';
import { GUEST_PAGE, hostSegments, writeHost } from './memory.js';
import { lookupObject } from './object-table.js';
import type { Reader } from './reader.js';
import { log2SizeOf, pinnedSpan, type HwQueueRec, type ViommuRec } from './objects/index.js';
import type { DeviceRec, ObjectRec, SmmuRec } from './types.js';

export const HW_QUEUE_ALLOC_TYPES = ['default', 'tegra241_cmdqv'] as const;
export type HwQueueAllocType = (typeof HW_QUEUE_ALLOC_TYPES)[number];

export interface AllocHwQueueInput {
  viommuId: number;
  type: HwQueueAllocType;
  index: number;
  nestingParentIova: bigint;
  length: bigint;
}

function queuesOf(r: Reader, viommuId: number): HwQueueRec[] {
  const queues: HwQueueRec[] = [];
  for (const o of r.indexed('objects', 'viommuType', `${viommuId}:hw_queue`) as Iterable<ObjectRec>) if (o.type === 'hw_queue') queues.push(o);
  return queues;
}

/** The IOAS of the vIOMMU's nest parent: where the queue memory lives. */
function parentIoasOf(r: Reader, viommu: ViommuRec): number {
  const parent = r.get('objects', viommu.hwptId);
  if (parent?.type !== 'hwpt_paging') throw new Error(`vIOMMU ${viommu.id}: nest parent ${viommu.hwptId} is not a paging HWPT`);
  return parent.ioasId;
}

/** IOMMU_HW_QUEUE_ALLOC: the core's checks (iommufd_hw_queue_alloc_ioctl), then tegra241_vintf_alloc_lvcmdq_user. */
export function allocHwQueue(tx: WriteTx, input: AllocHwQueueInput): HwQueueRec {
  // 1. type DEFAULT → EOPNOTSUPP; 2. length 0 → EINVAL; 3. u64 overflow → EOVERFLOW.
  if (input.type === 'default') fail('EOPNOTSUPP', 'HW queue type default is reserved');
  if (input.length === 0n) fail('EINVAL', 'length must not be 0');
  if (input.nestingParentIova + input.length - 1n > U64_MAX) fail('EOVERFLOW', 'nestingParentIova + length overflows 64 bits');
  // 4. vIOMMU → ENOENT; 5. a vIOMMU type without HW queues → EOPNOTSUPP.
  const viommu = lookupObject(tx, null, input.viommuId, ['viommu'], 'viommuId');
  if (viommu.viommuType !== 'tegra241_cmdqv') fail('EOPNOTSUPP', `vIOMMU ${viommu.id} is ${viommu.viommuType}: only tegra241_cmdqv has HW queues`);
  const smmu = tx.get('smmus', viommu.smmuId) as SmmuRec;
  const cmdqv = smmu.cmdqv as NonNullable<SmmuRec['cmdqv']>;
  // 6. Pin the page-aligned span in the parent IOAS: mapped (ENOENT) and contiguous (EFAULT).
  const ioasId = parentIoasOf(tx, viommu);
  const { start, end } = pinnedSpan({ queueIova: input.nestingParentIova, queueLength: input.length });
  if (end - start > 0x1_0000_0000n) fail('ERANGE', 'the queue spans too many pages to pin');
  const segs = hostSegments(tx, ioasId, start, Number(end - start));
  for (let i = 1; i < segs.length; i++) {
    if (segs[i].host !== segs[i - 1].host + BigInt(segs[i - 1].length)) fail('EFAULT', 'the queue memory is not physically contiguous');
  }
  const basePa = segs[0].host + (input.nestingParentIova - start);
  // 7. tegra241_vintf_alloc_lvcmdq_user: index, then order, then size and alignment.
  const queues = queuesOf(tx, viommu.id);
  if (input.index >= cmdqv.vcmdqsPerVintf) fail('EINVAL', `index ${input.index} is not below ${cmdqv.vcmdqsPerVintf} LVCMDQs per VINTF`);
  const same = queues.find((q) => q.queueIndex === input.index);
  if (same) fail('EEXIST', `index ${input.index} is HW queue ${same.id}`);
  const prev = input.index > 0 ? queues.find((q) => q.queueIndex === input.index - 1) : undefined;
  if (input.index > 0 && !prev) fail('EIO', `index ${input.index - 1} must be allocated first (LVCMDQs map in ascending order)`);
  const maxLength = 2n ** BigInt(getIdrField(smmu.idr, 'CMDQS') + 4);
  const len = input.length;
  if ((len & (len - 1n)) !== 0n || len < 32n || len > maxLength) fail('EINVAL', `length must be a power of two from 32 to ${maxLength} bytes`);
  if (basePa % len !== 0n || basePa >= 1n << 48n) fail('EINVAL', `the queue base 0x${basePa.toString(16)} is not aligned to its length (or beyond VCMDQ_ADDR)`);
  return tx.put('objects', {
      id: allocId(tx),
      contextId: viommu.contextId,
      type: 'hw_queue',
      viommuId: viommu.id,
      ioasId,
      smmuId: viommu.smmuId,
      queueType: 'tegra241_cmdqv',
      queueIndex: input.index,
      queueIova: input.nestingParentIova,
      queueLength: Number(len),
      queueBase: basePa,
      prevQueueId: prev?.id ?? null,
      qProd: 0,
      qCons: 0,
      qEnabled: false,
      qGerror: 0,
      qGerrorn: 0,
      createdAt: Date.now(),
    } satisfies HwQueueRec);
}

function stateOf(q: HwQueueRec): QueueState {
  return {
    log2Size: log2SizeOf(q),
    prod: q.qProd,
    cons: q.qCons,
    enabled: q.qEnabled,
    gerror: q.qGerror,
    gerrorn: q.qGerrorn,
    atcInvSyncPending: false,
  };
}

export interface QueueRunResult {
  consumed: number;
  prod: number;
  cons: number;
  error: { code: string; index: number; opcode: number | null } | null;
}

/** A run of consecutive queue slots the guest wrote, exactly as it wrote them. */
interface WrittenRun {
  slot: number;
  bytes: Uint8Array;
}

const PAGE_BYTES = Number(GUEST_PAGE);

/**
 * The consumer's copy of a queue's memory, one per queue length up to RING_KEPT_MAX, reused by
 * every run: the consumer rewrites VMID and SIDs in it (tegra241-cmdqv.ts), so it cannot be guest
 * memory itself, and runs are synchronous, so one copy per length is never in use twice. A PROD
 * write used to allocate it afresh (plus a copy of each page it wrote): 8 KiB of garbage per
 * 4 KiB queue write. Larger queues (up to 2^(CMDQS+4) bytes) still get a copy per run rather
 * than holding megabytes for good.
 */
const RING_KEPT_MAX = 64 * 1024;
const rings = new Map<number, Uint8Array>();

function ringOf(length: number): Uint8Array {
  if (length > RING_KEPT_MAX) return new Uint8Array(length);
  let ring = rings.get(length);
  if (ring === undefined) {
    ring = new Uint8Array(length);
    rings.set(length, ring);
  }
  return ring;
}

/** Calls `each` for every page-sized run of [host, host + length): its page address, offset in the page, offset in the run, and length. */
function pageRuns(host: bigint, length: number, each: (pageAddr: bigint, within: number, done: number, n: number) => void): void {
  let done = 0;
  while (done < length) {
    const addr = host + BigInt(done);
    const pageAddr = addr & ~(GUEST_PAGE - 1n);
    const within = Number(addr - pageAddr);
    const n = Math.min(length - done, PAGE_BYTES - within);
    each(pageAddr, within, done, n);
    done += n;
  }
}

/** Fills `ring` with host memory [host, host + ring.length) as `r` sees it (unwritten pages read as zero). */
function readRing(r: Reader, host: bigint, ring: Uint8Array): void {
  pageRuns(host, ring.length, (pageAddr, within, done, n) => {
    const page = r.get('pages', pageAddr.toString(16));
    if (page) ring.set(page.data.subarray(within, within + n), done);
    else ring.fill(0, done, done + n);
  });
}

/**
 * The guest's command bytes into its memory at host address `host`: each page whose bytes they
 * change is written (memory.ts writeHost: a new page record, ENOMEM past the limit); a page that
 * already holds exactly these bytes — a guest that refills its ring with the commands it held —
 * is left as it is, so the commit carries no page it would not change.
 */
function writeCommands(tx: WriteTx, host: bigint, bytes: Uint8Array, limitBytes: number): void {
  pageRuns(host, bytes.length, (pageAddr, within, done, n) => {
    const part = bytes.subarray(done, done + n);
    const page = tx.get('pages', pageAddr.toString(16));
    if (page === undefined || Buffer.compare(page.data.subarray(within, within + n), part) !== 0) writeHost(tx, pageAddr + BigInt(within), part, limitBytes);
  });
}

/**
 * The queue record with its registers from `state`, built field by field: `{ ...q, qProd, … }`
 * (a spread followed by properties) is V8's slow path on Node 20.
 */
function withRegisters(q: HwQueueRec, state: QueueState): HwQueueRec {
  return {
    id: q.id,
    contextId: q.contextId,
    type: q.type,
    viommuId: q.viommuId,
    ioasId: q.ioasId,
    smmuId: q.smmuId,
    queueType: q.queueType,
    queueIndex: q.queueIndex,
    queueIova: q.queueIova,
    queueLength: q.queueLength,
    queueBase: q.queueBase,
    prevQueueId: q.prevQueueId,
    qProd: state.prod,
    qCons: state.cons,
    qEnabled: state.enabled,
    qGerror: state.gerror,
    qGerrorn: state.gerrorn,
    createdAt: q.createdAt,
  } satisfies Required<HwQueueRec>;
}

/** The vIOMMU's VINTF as the consumer sees it: its VMID, and its SID_MATCH/SID_REPLACE slots, read only when an ATC_INV needs them. */
class GuestVintf implements Vintf {
  private slots: Map<number, number> | null = null;

  constructor(
    readonly vmid: number,
    private readonly r: Reader,
    private readonly viommuId: number,
  ) {}

  sidReplace(vsid: number): number | undefined {
    if (this.slots === null) {
      const slots = new Map<number, number>();
      for (const o of this.r.indexed('objects', 'viommuType', `${this.viommuId}:vdevice`) as Iterable<ObjectRec>) {
        if (o.type === 'vdevice' && o.sidSlot !== null) slots.set(o.virtId, (this.r.get('devices', o.deviceId) as DeviceRec).streamId);
      }
      this.slots = slots;
    }
    return this.slots.get(vsid);
  }
}

/**
 * Runs the SMMU's consumer over the guest queue (after a PROD, CONFIG.EN or GERRORN write): the
 * guest's writes land in its memory, the hardware consumes (src/hw/tegra241-cmdqv.ts), and the
 * queue's registers are persisted; a new error is forwarded as the VINTF's error map.
 *
 * What a PROD write stages: the queue record (its registers), and each page of queue memory
 * whose bytes the guest's commands change — nothing else (the consumer's VMID/SID rewrite is in
 * its own copy, never in guest memory).
 */
function run(tx: WriteTx, hw: Hardware, q: HwQueueRec, state: QueueState, limitBytes: number, written: readonly WrittenRun[]): QueueRunResult {
  const viommu = tx.get('objects', q.viommuId) as ViommuRec;
  const base = q.queueBase;
  const ring = ringOf(q.queueLength);
  readRing(tx, base, ring);
  // `written` holds runs of consecutive slots: each lands in the ring and, exactly as the guest
  // wrote it, in guest memory.
  for (const w of written) {
    ring.set(w.bytes, w.slot * CMD_BYTES);
    writeCommands(tx, base + BigInt(w.slot * CMD_BYTES), w.bytes, limitBytes);
  }
  const wasStopped = queueStopped(state);
  const result = consumeVcmdq(hw.model(q.smmuId), new GuestVintf(viommu.vmid, tx, viommu.id), state, ring);
  tx.put('objects', withRegisters(q, state));
  if (result.error && !wasStopped) reportError(tx, viommu);
  return { consumed: result.consumed, prod: state.prod, cons: state.cons, error: result.error };
}

/** The VINTF's LVCMDQ_ERR_MAP over the vIOMMU's queues (§4.5). */
export function lvcmdqErrMap(r: Reader, viommuId: number): [bigint, bigint] {
  return vintfErrMap(queuesOf(r, viommuId).map((q) => ({ index: q.queueIndex, gerror: q.qGerror, gerrorn: q.qGerrorn })));
}

/** The CMDQV interrupt forwards the VINTF's error map to the vIOMMU's tegra241_cmdqv vEVENTQ. */
function reportError(tx: WriteTx, viommu: ViommuRec): void {
  const q = eventqOf(tx, viommu.id, 'tegra241_cmdqv');
  if (q) queueEvent(tx, q, lvcmdqErrMap(tx, viommu.id));
}

/** The guest writes `count` commands at PROD (wrapping) and bumps PROD; all or nothing. */
export function pushCommands(tx: WriteTx, hw: Hardware, queueId: number, buf: Uint8Array, count: number, limitBytes: number): QueueRunResult {
  const q = lookupObject(tx, null, queueId, ['hw_queue'], 'HW queue');
  const state = stateOf(q);
  const free = queueFree(state);
  if (count > free) fail('ENOSPC', `${count} commands do not fit: ${free} free slots (CONS must catch up first)`);
  // At most two runs of slots: from PROD to the end of the ring, then from slot 0 (wrap).
  const size = queueCapacity(state.log2Size);
  const first = queueIndex(state.prod, state.log2Size);
  const head = Math.min(count, size - first);
  const written: WrittenRun[] = [{ slot: first, bytes: buf.subarray(0, head * CMD_BYTES) }];
  if (count > head) written.push({ slot: 0, bytes: buf.subarray(head * CMD_BYTES, count * CMD_BYTES) });
  state.prod = prodAdvance(state.prod, state.log2Size, count);
  const wasStopped = queueStopped(state);
  const out = run(tx, hw, q, state, limitBytes, written);
  // A doorbell (PROD write) is the guest's MMIO store to its VCMDQ page, never an ioctl: it is
  // durable like any write but not an entry of the VMM's audit trail (README "Audit") — unless
  // it stops the queue with a new error, which the audit keeps. CONFIG.EN and GERRORN writes,
  // the queue's creation and destruction stay audited.
  if (out.error === null || wasStopped) tx.unaudited = true;
  return out;
}

/** CONFIG.EN written by the guest; enabling lets the SMMU consume what is pending. */
export function setQueueEnabled(tx: WriteTx, hw: Hardware, queueId: number, enabled: boolean, limitBytes: number): QueueRunResult {
  const q = lookupObject(tx, null, queueId, ['hw_queue'], 'HW queue');
  const state = stateOf(q);
  state.enabled = enabled;
  return run(tx, hw, q, state, limitBytes, []);
}

/**
 * GERRORN := GERROR: acknowledges the error; the queue restarts at CONS, the failing entry. With
 * `replaceWithSync` the failing slot is first overwritten with a CMD_SYNC in guest memory, as a
 * Linux guest's __arm_smmu_cmdq_skip_err does before it acknowledges.
 */
export function acknowledgeQueue(tx: WriteTx, hw: Hardware, queueId: number, replaceWithSync: boolean, limitBytes: number): QueueRunResult {
  const q = lookupObject(tx, null, queueId, ['hw_queue'], 'HW queue');
  const state = stateOf(q);
  const written: WrittenRun[] = [];
  if (replaceWithSync && queueStopped(state)) {
    const sync = new Uint8Array(CMD_BYTES);
    wordsToBytes(LINUX_CMD_SYNC, sync, 0);
    written.push({ slot: queueIndex(state.cons, state.log2Size), bytes: sync });
  }
  writeQueueGerrorn(state, state.gerror);
  return run(tx, hw, q, state, limitBytes, written);
}

/**
 * The domain's front door: every write goes through the Store (serialised, committed, then
 * applied), every read is answered from the in-memory graph. REST and GraphQL call only this.
 * It answers with records; the API's JSON shapes are built by the callers (src/routes/views.ts).
 */
import { bindDevice, createContext, deleteContext, lookupContext, unbindDevice } from './contexts.js';
import { fail } from './errors.js';
import { addr64 } from './format.js';
import { attachDevice, detachDevice } from './attach.js';
import { attachPasid, detachPasid } from './pasid.js';
import { allocHwpt, type AllocHwptInput } from './hwpt.js';
import { createIoas, mapIoas, mappingsOf, unmapIoas, type MapInput } from './ioas.js';
import { createDevice, createSmmu, deleteDevice, deleteSmmu, hwInfo, loadTopology, type CreateDeviceInput, type CreateSmmuInput, type HwInfoType } from './inventory.js';
import { changesStes, destroyObject, lookupObject } from './object-table.js';
import type { Repository } from './repository.js';
import { Store } from './store.js';
import type { Topology } from './topology.js';
import { OBJECT_TYPES, type ContextRec, type DeviceRec, type MappingRec, type ObjectRec, type ObjectType, type SmmuRec, type TableRecords } from './types.js';
import type { HwQueueRec } from './objects/index.js';
import { allocVdevice, allocViommu, type AllocVdeviceInput, type AllocViommuInput } from './viommu.js';
import { Hardware } from './hardware.js';
import { acknowledgeQueue, allocHwQueue, pushCommands, setQueueEnabled, type AllocHwQueueInput } from './hwqueue.js';
import type { ObjectGraph, StagedChange } from './graph.js';
import { mergeAscending, type SortedIds } from './indexes.js';
import { HostMemory, readGuest, writeGuest } from './memory.js';
import { translateDevice, type TranslateInput } from './translate.js';
import { allocEventq, eventqOf, eventqTypeOf, PAYLOAD_WORDS, pendingEvents, queueEvent, readEvents, type AllocEventqInput } from './eventq.js';
import type { EventRec, EventqType } from './types.js';
import { answerRecord, DEFAULT_AUDIT_RETENTION, DEFAULT_IDEMPOTENCY_TTL_MS, expiredKeys, listAudit, storedAnswer, type AuditQuery } from './audit.js';
import { systemScope, type IdempotentRequest } from './write-scope.js';
import { DEFAULT_MAX_INVALIDATION_ENTRIES, invalidateViommu, invalidationTarget, newViommuStats, type InvalidationInput, type ViommuStats } from './invalidate.js';

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface ListQuery {
  limit?: number;
  cursor?: string;
}

/** The id after which a page starts: the cursor (the last id returned), or 0. */
function cursorOf(q: ListQuery): number {
  const after = q.cursor ? Number(q.cursor) : 0;
  if (!Number.isSafeInteger(after) || after < 0) fail('EINVAL', 'cursor is not one this service returned');
  return after;
}

/**
 * A page read from sorted id lists of an index (indexes.ts): a binary search to the cursor, then
 * ids ascending until `limit` records pass `match` and one more shows that the list goes on. It
 * costs the page (and the records `match` skips), not the table.
 */
function pageOf<T extends 'smmus' | 'contexts' | 'devices' | 'objects'>(
  graph: ObjectGraph,
  table: T,
  lists: ReadonlyArray<SortedIds | undefined>,
  q: ListQuery,
  match: (rec: TableRecords[T]) => boolean = () => true,
): Page<TableRecords[T]> {
  const limit = q.limit ?? 100;
  const present = lists.filter((l): l is SortedIds => l !== undefined);
  const items: Array<TableRecords[T]> = [];
  for (const id of mergeAscending(present, cursorOf(q))) {
    const rec = graph.get(table, id);
    if (rec === undefined || !match(rec)) continue;
    if (items.length === limit) return { items, nextCursor: String((items[items.length - 1] as { id: number }).id) };
    items.push(rec);
  }
  return { items, nextCursor: null };
}

export interface ServiceOptions {
  /** Largest invalidation batch accepted (entries); more is EINVAL. */
  maxInvalidationEntries: number;
  /** Total simulated host memory that writes may allocate (bytes); more is ENOMEM. */
  guestMemoryLimit: number;
  /** How long the answer of a request made with an Idempotency-Key is kept (ms). */
  idempotencyTtlMs?: number;
  /** Audit entries kept (the newest). */
  auditRetention?: number;
}

export const DEFAULT_SERVICE_OPTIONS: ServiceOptions = {
  maxInvalidationEntries: DEFAULT_MAX_INVALIDATION_ENTRIES,
  guestMemoryLimit: 256 * 1024 * 1024,
  idempotencyTtlMs: DEFAULT_IDEMPOTENCY_TTL_MS,
  auditRetention: DEFAULT_AUDIT_RETENTION,
};

/** Whether a committed change can change a device's STE (each type's descriptor says). */
function stesChange(c: StagedChange): boolean {
  if (c.table === 'smmus' || c.table === 'devices') return true;
  if (c.table !== 'objects') return false;
  return c.record === null || changesStes(c.record as ObjectRec);
}

export class Iommufd {
  readonly hardware: Hardware;
  /** Host memory as the model reads it (page-table walks, CD fetches, stage 2 via IOAS mappings). */
  readonly hostMemory: HostMemory;
  /** Per-vIOMMU invalidation counters (in memory; they start at zero like hardware counters). */
  private readonly statsByViommu = new Map<number, ViommuStats>();

  constructor(
    readonly store: Store,
    readonly options: ServiceOptions = DEFAULT_SERVICE_OPTIONS,
  ) {
    this.hardware = new Hardware(store.graph);
    this.hostMemory = new HostMemory(store.graph, this.hardware.driverMemory);
    this.hardware.rebuild();
    // STEs follow SMMUs, devices and the HWPTs/vIOMMUs they attach to; queue registers, guest
    // pages and events never change one, so those commits skip the derivation.
    store.onCommit((changes) => {
      if (changes.some(stesChange)) this.hardware.sync(changes);
      // A removed mapping (unmap, or its IOAS destroyed) is flushed from the TLBs of its domains.
      const unmapped = new Set<number>();
      for (const c of changes) if (c.table === 'mappings' && c.record === null) unmapped.add(Number(c.key.split(':')[0]));
      for (const ioasId of unmapped) this.hardware.invalidateIoas(ioasId);
    });
  }

  static async open(repo: Repository, topology: Topology, options: ServiceOptions = DEFAULT_SERVICE_OPTIONS): Promise<{ service: Iommufd; topologyLoaded: boolean }> {
    const store = new Store(repo, { auditRetention: options.auditRetention ?? DEFAULT_AUDIT_RETENTION });
    await store.load();
    const service = new Iommufd(store, options);
    const topologyLoaded = await store.write((tx) => loadTopology(tx, topology), systemScope('loadTopology'));
    return { service, topologyLoaded };
  }

  get graph() {
    return this.store.graph;
  }

  // ---- host inventory ----
  createSmmu(input: CreateSmmuInput) {
    return this.store.write((tx) => createSmmu(tx, input));
  }
  deleteSmmu(id: number) {
    return this.store.write((tx) => deleteSmmu(tx, id));
  }
  getSmmu(id: number) {
    return this.graph.get('smmus', id) ?? fail('ENOENT', `SMMU ${id} does not exist`);
  }
  listSmmus(q: ListQuery) {
    return pageOf(this.graph, 'smmus', [this.graph.sortedIds('smmus', 'all', '')], q);
  }
  createDevice(input: CreateDeviceInput) {
    return this.store.write((tx) => createDevice(tx, input));
  }
  deleteDevice(id: number) {
    return this.store.write((tx) => deleteDevice(tx, id));
  }
  getDevice(id: number) {
    return this.graph.get('devices', id) ?? fail('ENOENT', `device ${id} does not exist`);
  }
  listDevices(q: ListQuery & { smmuId?: number; contextId?: number }) {
    const match = (d: DeviceRec) => (q.smmuId === undefined || d.smmuId === q.smmuId) && (q.contextId === undefined || d.contextId === q.contextId);
    const list =
      q.contextId !== undefined
        ? this.graph.sortedIds('devices', 'context', q.contextId)
        : q.smmuId !== undefined
          ? this.graph.sortedIds('devices', 'smmu', q.smmuId)
          : this.graph.sortedIds('devices', 'all', '');
    return pageOf(this.graph, 'devices', [list], q, match);
  }
  hwInfo(deviceId: number, type: HwInfoType) {
    return hwInfo(this.graph, deviceId, type);
  }

  // ---- contexts ----
  createContext(name: string) {
    return this.store.write((tx) => createContext(tx, name));
  }
  deleteContext(id: number) {
    return this.store.write((tx) => deleteContext(tx, id));
  }
  getContext(id: number) {
    return lookupContext(this.graph, id);
  }
  listContexts(q: ListQuery) {
    return pageOf(this.graph, 'contexts', [this.graph.sortedIds('contexts', 'all', '')], q);
  }
  bindDevice(contextId: number, deviceId: number) {
    return this.store.write((tx) => bindDevice(tx, contextId, deviceId));
  }
  unbindDevice(contextId: number, deviceId: number) {
    return this.store.write((tx) => unbindDevice(tx, contextId, deviceId));
  }

  // ---- objects ----
  getObject<T extends ObjectType>(id: number, types: readonly T[] = OBJECT_TYPES as T[], what = 'object') {
    return lookupObject(this.graph, null, id, types, what);
  }
  listObjects(q: ListQuery & { contextId?: number; types?: readonly ObjectType[]; viommuId?: number }) {
    const match = (o: ObjectRec) =>
      (q.contextId === undefined || o.contextId === q.contextId) &&
      (q.types === undefined || q.types.includes(o.type)) &&
      (q.viommuId === undefined || ('viommuId' in o && o.viommuId === q.viommuId));
    // The narrowest index the filters allow; `match` checks the rest.
    const g = this.graph;
    const lists =
      q.viommuId !== undefined
        ? [g.sortedIds('objects', 'viommu', q.viommuId)]
        : q.types !== undefined
          ? q.types.map((type) => (q.contextId !== undefined ? g.sortedIds('objects', 'contextType', `${q.contextId}:${type}`) : g.sortedIds('objects', 'type', type)))
          : q.contextId !== undefined
            ? [g.sortedIds('objects', 'context', q.contextId)]
            : [g.sortedIds('objects', 'all', '')];
    return pageOf(g, 'objects', lists, q, match);
  }
  /** IOMMU_DESTROY of any id: objects by the generic path; a bound device is held by its binding. */
  destroy(id: number) {
    return this.store.write((tx) => {
      const o = tx.get('objects', id);
      if (!o) {
        const device = tx.get('devices', id);
        if (device && device.contextId !== null) {
          fail('EBUSY', `device ${id} is held by its binding to context ${device.contextId}: unbind it instead`, { blockedBy: [device.contextId] });
        }
        fail('ENOENT', `object ${id} does not exist`);
      }
      destroyObject(tx, o);
      return { id, type: o.type };
    });
  }

  createIoas(contextId: number) {
    return this.store.write((tx) => createIoas(tx, contextId));
  }
  mapIoas(ioasId: number, input: MapInput) {
    return this.store.write((tx) => mapIoas(tx, ioasId, input));
  }
  unmapIoas(ioasId: number, range: { iova: bigint; length: bigint } | null) {
    return this.store.write((tx) => unmapIoas(tx, ioasId, range));
  }
  /** A page of an IOAS's mappings by IOVA (api.md "Lists"): `cursor` is the last IOVA of the page before. */
  listMappings(ioasId: number, q: { limit?: number; cursor?: bigint } = {}): Page<MappingRec> {
    lookupObject(this.graph, null, ioasId, ['ioas'], 'IOAS');
    const all = mappingsOf(this.graph, ioasId);
    const limit = q.limit ?? 100;
    let start = 0;
    if (q.cursor !== undefined) while (start < all.length && all[start].iova <= q.cursor) start++;
    const items = all.slice(start, start + limit);
    return { items, nextCursor: start + limit < all.length ? addr64(items[items.length - 1].iova) : null };
  }
  allocHwpt(input: AllocHwptInput) {
    return this.store.write((tx) => allocHwpt(tx, input));
  }
  attachDevice(deviceId: number, ptId: number) {
    return this.store.write((tx) => attachDevice(tx, deviceId, ptId));
  }
  detachDevice(deviceId: number) {
    return this.store.write((tx) => detachDevice(tx, deviceId));
  }
  attachPasid(deviceId: number, pasid: number, ptId: number) {
    return this.store.write((tx) => attachPasid(tx, deviceId, pasid, ptId));
  }
  detachPasid(deviceId: number, pasid: number) {
    return this.store.write((tx) => detachPasid(tx, deviceId, pasid));
  }
  /** What the host driver programmed for the device: its STE and CD table (hardware.ts). */
  hostConfig(deviceId: number) {
    return this.hardware.deriveHost(this.getDevice(deviceId));
  }
  allocViommu(input: AllocViommuInput) {
    return this.store.write((tx) => allocViommu(tx, input));
  }
  allocVdevice(input: AllocVdeviceInput) {
    return this.store.write((tx) => allocVdevice(tx, input));
  }

  // ---- guest memory ----
  readMemory(ioasId: number, iova: bigint, length: number): Uint8Array {
    lookupObject(this.graph, null, ioasId, ['ioas'], 'IOAS');
    return readGuest(this.graph, ioasId, iova, length);
  }
  writeMemory(ioasId: number, iova: bigint, data: Uint8Array) {
    return this.store.write((tx) => {
      lookupObject(tx, null, ioasId, ['ioas'], 'IOAS');
      writeGuest(tx, ioasId, iova, data, this.options.guestMemoryLimit);
      return { iova, length: data.length };
    });
  }

  // ---- vEVENTQs ----
  allocEventq(input: AllocEventqInput) {
    return this.store.write((tx) => allocEventq(tx, input));
  }
  readEventq(id: number, max: number) {
    return this.store.write((tx) => ({ type: eventqTypeOf(tx, id), records: readEvents(tx, id, max) }));
  }
  /** Pending records of a vEVENTQ after delivery position `afterOrd` (SSE replay). */
  pendingAfter(id: number, afterOrd: number) {
    const q = lookupObject(this.graph, null, id, ['veventq'], 'vEVENTQ');
    return { type: q.eventqType, records: pendingEvents(this.graph, id).filter((e) => e.ord > afterOrd) };
  }
  /** Admin fault injection: queue a raw record on the vIOMMU's vEVENTQ of that type. */
  injectEvent(viommuId: number, type: EventqType, record: bigint[]) {
    return this.store.write((tx) => {
      const viommu = lookupObject(tx, null, viommuId, ['viommu'], 'vIOMMU');
      if (record.length !== PAYLOAD_WORDS[type]) fail('EINVAL', `a ${type} record is ${PAYLOAD_WORDS[type]} 64-bit words`);
      const q = eventqOf(tx, viommu.id, type) ?? fail('EOPNOTSUPP', `vIOMMU ${viommu.id} has no ${type} vEVENTQ: the event would be dropped`);
      return { type, record: queueEvent(tx, q, record) };
    });
  }
  /** Subscribes to every record queued on `eventqId` after now (delivery order). */
  onEvent(eventqId: number, listener: (record: EventRec, type: EventqType) => void): () => void {
    return this.store.onCommit((changes) => {
      for (const c of changes) {
        if (c.table === 'events' && c.created && c.record) {
          const e = c.record as EventRec;
          if (e.eventqId !== eventqId) continue;
          listener(e, eventqTypeOf(this.graph, eventqId));
        }
      }
    });
  }

  // ---- Tegra241 CMDQV guest queues ----
  allocHwQueue(input: AllocHwQueueInput) {
    return this.store.write((tx) => allocHwQueue(tx, input));
  }
  pushQueueCommands(id: number, buf: Uint8Array, count: number) {
    if (count === 0) fail('EINVAL', 'no commands');
    return this.store.write((tx) => pushCommands(tx, this.hardware, id, buf, count, this.options.guestMemoryLimit));
  }
  setQueueEnabled(id: number, enabled: boolean) {
    return this.store.write((tx) => {
      const run = setQueueEnabled(tx, this.hardware, id, enabled, this.options.guestMemoryLimit);
      return { queue: tx.get('objects', id) as HwQueueRec, run };
    });
  }
  acknowledgeQueue(id: number, replaceWithSync: boolean) {
    return this.store.write((tx) => acknowledgeQueue(tx, this.hardware, id, replaceWithSync, this.options.guestMemoryLimit));
  }

  // ---- the hardware side ----
  /**
   * A DMA by the device through its SMMU. A fault whose record the device's vmaster forwards is
   * queued on the vIOMMU's arm_smmuv3 vEVENTQ and committed before the answer (never lost).
   */
  async translate(deviceId: number, input: TranslateInput) {
    const { result, route } = translateDevice(this.graph, this.hardware, this.hostMemory, deviceId, input);
    if (!route) return { result, forwarded: null };
    // The write answers with the whole outcome, so an idempotent request's answer is stored with it.
    return this.store.write((tx) => {
      // Dropped when the vIOMMU has no arm_smmuv3 vEVENTQ (iommufd_viommu_report_event finds none).
      const q = eventqOf(tx, route.viommuId, 'arm_smmuv3');
      if (!q) return { result, forwarded: { viommuId: route.viommuId, virtId: route.virtId, eventqId: null, sequence: null, lostEvents: false } };
      const e = queueEvent(tx, q, route.record);
      return { result, forwarded: { viommuId: route.viommuId, virtId: route.virtId, eventqId: q.id as number | null, sequence: e.sequence as number | null, lostEvents: e.flags !== 0 } };
    });
  }
  /**
   * IOMMU_HWPT_INVALIDATE. `entries` may be a function: it is called only after the target has
   * been looked up, so a malformed entry array is EINVAL after ENOENT, as in the kernel (the core
   * looks up hwpt_id, then the driver copies the array). A malformed request, or one of another
   * data type, changes nothing, its vIOMMU's counters included; one the ARM path takes and fails
   * (no entries, too many, a conversion or SMMU error) counts in `invalidations.errors`.
   */
  invalidate(id: number, entries: InvalidationInput | (() => InvalidationInput), only?: 'viommu'): { entriesProcessed: number } {
    const target = invalidationTarget(this.graph, id, only);
    const input = typeof entries === 'function' ? entries() : entries;
    // __iommu_copy_struct_from_full_user_array: a data_type other than the driver's is EINVAL.
    if (input.dataType !== 'arm_smmuv3') fail('EINVAL', `data type ${input.dataType} is not arm_smmuv3`, { entriesProcessed: 0 });
    const entriesProcessed = invalidateViommu(this.graph, this.hardware, target, input.buf, input.count, this.statsOf(target.id), {
      maxEntries: this.options.maxInvalidationEntries,
    });
    return { entriesProcessed };
  }

  private statsOf(viommuId: number): ViommuStats {
    let stats = this.statsByViommu.get(viommuId);
    if (!stats) {
      stats = newViommuStats();
      this.statsByViommu.set(viommuId, stats);
    }
    return stats;
  }

  /** Its invalidation counters only (what a dashboard shows): no look at the IOTLB or the ATC. */
  viommuInvalidations(id: number) {
    const viommu = lookupObject(this.graph, null, id, ['viommu'], 'vIOMMU');
    const { invalidations } = this.statsOf(viommu.id);
    // Object.assign, not `{ ...invalidations, byOpcode }`: a spread followed by a property is V8's slow path (objects/descriptor.ts withBase).
    return { viommuId: viommu.id, vmid: viommu.vmid, invalidations: Object.assign({}, invalidations, { byOpcode: { ...invalidations.byOpcode } }) };
  }

  /** GET /v1/viommus/{id}/stats: its invalidations, its VMID's share of the IOTLB, its devices' ATC. */
  viommuStats(id: number) {
    const viommu = lookupObject(this.graph, null, id, ['viommu'], 'vIOMMU');
    const model = this.hardware.model(viommu.smmuId as number);
    const sids = new Set<number>();
    for (const o of this.graph.indexedList('objects', 'viommuType', `${viommu.id}:vdevice`)) {
      if (o.type === 'vdevice') sids.add((this.graph.get('devices', o.deviceId as number) as DeviceRec).streamId);
    }
    let atcEntries = 0;
    for (const sid of sids) atcEntries += model.atc.entries(sid).length;
    const { invalidations } = this.statsOf(viommu.id);
    return {
      viommuId: viommu.id,
      vmid: viommu.vmid,
      invalidations: { ...invalidations, byOpcode: { ...invalidations.byOpcode } },
      tlb: model.iotlb.statsForVmid(viommu.vmid as number),
      atc: { entries: atcEntries },
    };
  }

  /** GET /v1/smmus/{id}/state: the model's counters, queue pointers and recent commands. */
  smmuState(id: number, recentCommands = 0) {
    const smmu = this.graph.get('smmus', id) ?? fail('ENOENT', `SMMU ${id} does not exist`);
    const model = this.hardware.model(smmu.id);
    const s = model.stats();
    const log = model.executedCommands(recentCommands);
    return {
      smmuId: smmu.id,
      commands: s.commands,
      tlb: s.iotlb,
      atc: s.atc,
      configCache: s.configCache,
      cmdq: s.cmdq,
      irqs: s.irqs,
      streamTable: { entries: model.streamIds().length },
      recentCommands: log.commands,
    };
  }

  // ---- audit and idempotency (audit.ts, store.ts) ----
  /** GET /v1/audit: accepted writes, oldest first, filtered by context, object or token name. */
  listAudit(q: AuditQuery) {
    return listAudit(this.graph, q);
  }
  /** The committed answer of an idempotent request, unless expired. */
  storedAnswer(caller: string, key: string, now = new Date()) {
    return storedAnswer(this.graph, caller, key, now);
  }
  /**
   * Stores the answer of an idempotent request that no write of its own answered (an error, or a
   * request that wrote nothing, such as an invalidation), in a transaction of its own.
   */
  storeAnswer(request: IdempotentRequest, answer: { status: number; body: string | null; contentType: string | null }) {
    return this.store.write((tx) => {
      const rec = answerRecord(request, answer, new Date());
      tx.put('idempotency', rec);
      return rec;
    }, systemScope('storeAnswer'));
  }
  /** Deletes the answers whose keys have expired; resolves with how many. */
  async purgeExpiredAnswers(now = new Date()): Promise<number> {
    if (expiredKeys(this.graph, now).length === 0) return 0;
    return this.store.write((tx) => {
      const keys = expiredKeys(tx, now);
      for (const key of keys) tx.delete('idempotency', key);
      return keys.length;
    }, systemScope('purgeIdempotencyKeys'));
  }

  // ---- raw records, for GraphQL relations and tests ----
  smmuRecords(): SmmuRec[] {
    return [...this.graph.indexed('smmus', 'all', '')];
  }
  contextRecords(): ContextRec[] {
    return [...this.graph.indexed('contexts', 'all', '')];
  }
}

/**
 * The domain's front door: every write goes through the Store (serialised, committed, then
 * applied), every read is answered from the in-memory graph. REST and GraphQL call only this.
 */
import { bindDevice, createContext, deleteContext, lookupContext, unbindDevice } from './contexts.js';
import { fail } from './errors.js';
import { attachDevice, detachDevice } from './attach.js';
import { allocHwpt, type AllocHwptInput } from './hwpt.js';
import { createIoas, mapIoas, mappingsOf, unmapIoas, type MapInput } from './ioas.js';
import { createDevice, createSmmu, deleteDevice, deleteSmmu, hwInfo, loadTopology, type CreateDeviceInput, type CreateSmmuInput, type HwInfoType } from './inventory.js';
import { destroyObject, lookupObject } from './objects.js';
import type { Repository } from './repository.js';
import { Store } from './store.js';
import type { Topology } from './topology.js';
import { OBJECT_TYPES, type ContextRec, type DeviceRec, type ObjectRec, type ObjectType, type SmmuRec } from './types.js';
import { allocVdevice, allocViommu, type AllocVdeviceInput, type AllocViommuInput } from './viommu.js';
import { contextView, deviceView, mappingView, objectView, smmuView } from './views.js';

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface ListQuery {
  limit?: number;
  cursor?: string;
}

/** api.md "Lists": stable order by id; the cursor is the last id returned. */
export function paginate<T extends { id: number }, V>(records: Iterable<T>, q: ListQuery, view: (r: T) => V): Page<V> {
  const limit = q.limit ?? 100;
  const after = q.cursor ? Number(q.cursor) : 0;
  if (!Number.isSafeInteger(after) || after < 0) fail('EINVAL', 'cursor is not one this service returned');
  const sorted = [...records].filter((r) => r.id > after).sort((a, b) => a.id - b.id);
  const items = sorted.slice(0, limit);
  return { items: items.map(view), nextCursor: sorted.length > limit ? String(items[items.length - 1].id) : null };
}

export class Iommufd {
  constructor(readonly store: Store) {}

  static async open(repo: Repository, topology: Topology): Promise<{ service: Iommufd; topologyLoaded: boolean }> {
    const store = new Store(repo);
    await store.load();
    const service = new Iommufd(store);
    const topologyLoaded = await store.write((tx) => loadTopology(tx, topology));
    return { service, topologyLoaded };
  }

  get graph() {
    return this.store.graph;
  }

  // ---- host inventory ----
  createSmmu(input: CreateSmmuInput) {
    return this.store.write((tx) => smmuView(createSmmu(tx, input)));
  }
  deleteSmmu(id: number) {
    return this.store.write((tx) => deleteSmmu(tx, id));
  }
  getSmmu(id: number) {
    return smmuView(this.graph.get('smmus', id) ?? fail('ENOENT', `SMMU ${id} does not exist`));
  }
  listSmmus(q: ListQuery) {
    return paginate(this.graph.values('smmus'), q, smmuView);
  }
  createDevice(input: CreateDeviceInput) {
    return this.store.write((tx) => deviceView(createDevice(tx, input)));
  }
  deleteDevice(id: number) {
    return this.store.write((tx) => deleteDevice(tx, id));
  }
  getDevice(id: number) {
    return deviceView(this.graph.get('devices', id) ?? fail('ENOENT', `device ${id} does not exist`));
  }
  listDevices(q: ListQuery & { smmuId?: number; contextId?: number }) {
    const match = (d: DeviceRec) => (q.smmuId === undefined || d.smmuId === q.smmuId) && (q.contextId === undefined || d.contextId === q.contextId);
    return paginate([...this.graph.values('devices')].filter(match), q, deviceView);
  }
  hwInfo(deviceId: number, type: HwInfoType) {
    return hwInfo(this.graph, deviceId, type);
  }

  // ---- contexts ----
  createContext(name: string) {
    return this.store.write((tx) => contextView(createContext(tx, name)));
  }
  deleteContext(id: number) {
    return this.store.write((tx) => deleteContext(tx, id));
  }
  getContext(id: number) {
    return contextView(lookupContext(this.graph, id));
  }
  listContexts(q: ListQuery) {
    return paginate(this.graph.values('contexts'), q, contextView);
  }
  bindDevice(contextId: number, deviceId: number) {
    return this.store.write((tx) => deviceView(bindDevice(tx, contextId, deviceId)));
  }
  unbindDevice(contextId: number, deviceId: number) {
    return this.store.write((tx) => unbindDevice(tx, contextId, deviceId));
  }

  // ---- objects ----
  getObject(id: number, types: readonly ObjectType[] = OBJECT_TYPES, what = 'object') {
    return objectView(this.graph, lookupObject(this.graph, null, id, types, what));
  }
  listObjects(q: ListQuery & { contextId?: number; types?: readonly ObjectType[]; viommuId?: number }) {
    const match = (o: ObjectRec) =>
      (q.contextId === undefined || o.contextId === q.contextId) &&
      (q.types === undefined || q.types.includes(o.type)) &&
      (q.viommuId === undefined || o.viommuId === q.viommuId);
    return paginate([...this.graph.values('objects')].filter(match), q, (o) => objectView(this.graph, o));
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
    return this.store.write((tx) => objectView(tx, createIoas(tx, contextId)));
  }
  mapIoas(ioasId: number, input: MapInput) {
    return this.store.write((tx) => mappingView(mapIoas(tx, ioasId, input)));
  }
  unmapIoas(ioasId: number, range: { iova: bigint; length: bigint } | null) {
    return this.store.write((tx) => unmapIoas(tx, ioasId, range));
  }
  listMappings(ioasId: number) {
    lookupObject(this.graph, null, ioasId, ['ioas'], 'IOAS');
    return mappingsOf(this.graph, ioasId).map(mappingView);
  }
  allocHwpt(input: AllocHwptInput) {
    return this.store.write((tx) => objectView(tx, allocHwpt(tx, input)));
  }
  attachDevice(deviceId: number, ptId: number) {
    return this.store.write((tx) => deviceView(attachDevice(tx, deviceId, ptId)));
  }
  detachDevice(deviceId: number) {
    return this.store.write((tx) => deviceView(detachDevice(tx, deviceId)));
  }
  allocViommu(input: AllocViommuInput) {
    return this.store.write((tx) => objectView(tx, allocViommu(tx, input)));
  }
  allocVdevice(input: AllocVdeviceInput) {
    return this.store.write((tx) => objectView(tx, allocVdevice(tx, input)));
  }

  // ---- raw records, for GraphQL relations and tests ----
  smmuRecords(): SmmuRec[] {
    return [...this.graph.values('smmus')];
  }
  contextRecords(): ContextRec[] {
    return [...this.graph.values('contexts')];
  }
}

/**
 * The object table, as the kernel's iommufd_object_ops table does it: each type declares what
 * it holds a users reference on, and one generic path does lookup by id and type (wrong type or
 * another context's id → ENOENT), destroy with EBUSY + blockedBy, and leaf-first teardown.
 */
import { fail } from './errors.js';
import { freeHostRange } from './memory.js';
import type { WriteTx } from './graph.js';

import type { DeviceRec, ObjectRec, ObjectType } from './types.js';

import type { Reader } from './reader.js';

interface ObjectTypeOps {
  /** Ids this object holds a users reference on (kernel: refcount_inc at allocation). */
  refs(o: ObjectRec): number[];
  /** Staged side effects of destroying it, besides deleting its row. */
  destroy?(tx: WriteTx, o: ObjectRec): void;
}

const present = (...ids: Array<number | null>): number[] => ids.filter((id): id is number => id !== null);

export const OBJECT_OPS: Record<ObjectType, ObjectTypeOps> = {
  ioas: {
    refs: () => [],
    destroy(tx, o) {
      for (const m of [...tx.values('mappings')]) {
        if (m.ioasId === o.id) {
          tx.delete('mappings', `${m.ioasId}:${m.iova}`);
          freeHostRange(tx, m.hostAddress, m.length);
        }
      }
    },
  },
  // [H] L138: a paging HWPT holds its IOAS.
  hwpt_paging: { refs: (o) => present(o.ioasId) },
  // [H] L297: a vIOMMU-based nested HWPT holds the vIOMMU.
  hwpt_nested: { refs: (o) => present(o.viommuId, o.viommuId === null ? o.hwptId : null) },
  // [V] L82: a vIOMMU holds its nest-parent HWPT.
  viommu: { refs: (o) => present(o.hwptId) },
  // [V] L206: a vDEVICE holds its vIOMMU (the device only through wait_cnt, never users).
  vdevice: { refs: (o) => present(o.viommuId) },
  // [V] L414 + the internal access pinning the queue memory in the parent IOAS + the previous index.
  hw_queue: { refs: (o) => present(o.viommuId, o.ioasId, o.prevQueueId) },
  // [E] iommufd_veventq_alloc: holds the vIOMMU; its queued records go with it.
  veventq: {
    refs: (o) => present(o.viommuId),
    destroy(tx, o) {
      for (const e of [...tx.values('events')]) if (e.eventqId === o.id) tx.delete('events', `${e.eventqId}:${e.ord}`);
    },
  },
};

export interface Blocker {
  id: number;
  type: ObjectType | 'device';
}

/** Everything holding a users reference on `id`: objects that reference it, attached devices. */
export function usersOf(r: Reader, target: ObjectRec): Blocker[] {
  const users: Blocker[] = [];
  for (const o of r.values('objects') as Iterable<ObjectRec>) {
    if (o.contextId === target.contextId && o.id !== target.id && OBJECT_OPS[o.type].refs(o).includes(target.id)) {
      users.push({ id: o.id, type: o.type });
    }
  }
  for (const d of r.values('devices') as Iterable<DeviceRec>) {
    if (d.attachedTo === target.id) users.push({ id: d.id, type: 'device' });
  }
  return users.sort((a, b) => a.id - b.id);
}

const TYPE_NAMES: Record<ObjectType, string> = {
  ioas: 'IOAS',
  hwpt_paging: 'paging HWPT',
  hwpt_nested: 'nested HWPT',
  viommu: 'vIOMMU',
  vdevice: 'vDEVICE',
  hw_queue: 'HW queue',
  veventq: 'vEVENTQ',
};

export function describeTypes(types: readonly ObjectType[]): string {
  return types.map((t) => TYPE_NAMES[t]).join(' or ');
}

/**
 * iommufd_get_object(): the object `id` of one of `types` in `contextId`. A missing id, a wrong
 * type and another context's id are all ENOENT (unless the caller maps it, as HWPT_ALLOC does).
 */
export function lookupObject(r: Reader, contextId: number | null, id: number, types: readonly ObjectType[], what = 'object'): ObjectRec {
  const o = r.get('objects', id) as ObjectRec | undefined;
  if (!o || (contextId !== null && o.contextId !== contextId) || !types.includes(o.type)) {
    fail('ENOENT', `${what} ${id} is not a ${describeTypes(types)}${contextId !== null ? ` of context ${contextId}` : ''}`);
  }
  return o;
}

export function findObject(r: Reader, contextId: number, id: number): ObjectRec | undefined {
  const o = r.get('objects', id) as ObjectRec | undefined;
  return o && o.contextId === contextId ? o : undefined;
}

/** A bound device of `contextId` (the kernel's idev lookup by dev_id); ENOENT otherwise. */
export function lookupBoundDevice(r: Reader, contextId: number | null, deviceId: number): DeviceRec {
  const d = r.get('devices', deviceId) as DeviceRec | undefined;
  if (!d || d.contextId === null || (contextId !== null && d.contextId !== contextId)) {
    fail('ENOENT', `device ${deviceId} is not bound to ${contextId !== null ? `context ${contextId}` : 'a context'}`);
  }
  return d;
}

/** Removes the object's row and runs its type's destroy side effects (no checks). */
function removeObject(tx: WriteTx, o: ObjectRec): void {
  OBJECT_OPS[o.type].destroy?.(tx, o);
  tx.delete('objects', o.id);
}

/** IOMMU_DESTROY: EBUSY (with the blocking ids) while anything holds a reference. */
export function destroyObject(tx: WriteTx, o: ObjectRec): void {
  const users = usersOf(tx, o);
  if (users.length > 0) {
    fail('EBUSY', `${TYPE_NAMES[o.type]} ${o.id} is in use by ${users.map((u) => `${u.type} ${u.id}`).join(', ')}`, {
      blockedBy: users.map((u) => u.id),
    });
  }
  removeObject(tx, o);
}

/** Releases an auto HWPT (created by attaching to an IOAS) once its last device has left. */
export function releaseAutoHwpt(tx: WriteTx, hwptId: number | null): void {
  if (hwptId === null) return;
  const hwpt = tx.get('objects', hwptId);
  if (hwpt && hwpt.auto && usersOf(tx, hwpt).length === 0) removeObject(tx, hwpt);
}

/**
 * iommufd_fops_release: destroy every object whose only reference is its own, repeatedly,
 * until none is left (leaf-first). Devices must have been detached before.
 */
export function destroyAllObjects(tx: WriteTx, contextId: number): number[] {
  const destroyed: number[] = [];
  for (;;) {
    const remaining = [...tx.values('objects')].filter((o) => o.contextId === contextId);
    if (remaining.length === 0) return destroyed;
    const leaves = remaining.filter((o) => usersOf(tx, o).length === 0);
    if (leaves.length === 0) throw new Error(`context ${contextId}: reference cycle among ${remaining.map((o) => o.id).join(',')}`);
    for (const o of leaves.sort((a, b) => b.id - a.id)) {
      removeObject(tx, o);
      destroyed.push(o.id);
    }
  }
}

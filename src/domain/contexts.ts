/** Contexts (one iommufd file descriptor per VM) and device bind/unbind (VFIO's side). */
import { detachDevice } from './attach.js';
import { fail } from './errors.js';
import { detachPasid } from './pasid.js';
import type { WriteTx } from './graph.js';
import { allocId } from './ids.js';
import { destroyAllObjects, lookupBoundDevice } from './object-table.js';
import type { ContextRec, DeviceRec } from './types.js';

/**
 * Context names are unique, as SMMU and device names are (EEXIST): a retried script that creates
 * "vm1" again gets 409 with the existing id instead of a second, empty VM of the same name.
 */
export function createContext(tx: WriteTx, name: string): ContextRec {
  const [same] = tx.indexed('contexts', 'name', name);
  if (same) fail('EEXIST', `a context named "${name}" exists (id ${same.id})`);
  return tx.put('contexts', { id: allocId(tx), name, createdAt: new Date() });
}

export function lookupContext(tx: Pick<WriteTx, 'get'>, id: number): ContextRec {
  return tx.get('contexts', id) ?? fail('ENOENT', `context ${id} does not exist`);
}

/** VFIO bind: a device belongs to at most one context (EBUSY otherwise). */
export function bindDevice(tx: WriteTx, contextId: number, deviceId: number): DeviceRec {
  const context = lookupContext(tx, contextId);
  const device = tx.get('devices', deviceId) ?? fail('ENOENT', `device ${deviceId} does not exist`);
  if (device.contextId !== null) {
    fail('EBUSY', `device ${deviceId} is already bound to context ${device.contextId}`, { blockedBy: [device.contextId] });
  }
  return tx.put('devices', { ...device, contextId: context.id, attachedTo: null, pasids: [] });
}

/**
 * VFIO unbind: detaches the device and destroys its vDEVICE even though user space did not
 * (iommufd_device_pre_destroy, v6.17 "Destroy vdevice on idevice destroy"). The vDEVICE's id is
 * gone for good: later DESTROY of it is ENOENT, and ids are never reused here anyway.
 */
export function unbindDevice(tx: WriteTx, contextId: number, deviceId: number): { destroyedVdevice: number | null } {
  lookupContext(tx, contextId);
  const device = lookupBoundDevice(tx, contextId, deviceId);
  // iommufd_device_unbind: every PASID, then the RID, is detached first.
  for (const a of device.pasids) detachPasid(tx, device.id, a.pasid);
  detachDevice(tx, device.id);
  let destroyedVdevice: number | null = null;
  for (const o of [...tx.indexed('objects', 'device', device.id)]) {
    if (o.type === 'vdevice') {
      tx.delete('objects', o.id);
      destroyedVdevice = o.id;
    }
  }
  tx.put('devices', { ...(tx.get('devices', device.id) as DeviceRec), contextId: null, attachedTo: null, pasids: [] });
  return { destroyedVdevice };
}

/** Closing the fd: never EBUSY; devices are detached and unbound, objects destroyed leaf-first. */
export function deleteContext(tx: WriteTx, id: number): { destroyedObjects: number[]; unboundDevices: number[] } {
  lookupContext(tx, id);
  const unboundDevices: number[] = [];
  for (const d of [...tx.indexed('devices', 'context', id)]) {
    tx.put('devices', { ...d, contextId: null, attachedTo: null, pasids: [] });
    unboundDevices.push(d.id);
  }
  const destroyedObjects = destroyAllObjects(tx, id);
  tx.delete('contexts', id);
  return { destroyedObjects, unboundDevices: unboundDevices.sort((a, b) => a - b) };
}

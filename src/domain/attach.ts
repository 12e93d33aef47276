/**
 * Device attachment (VFIO attach / replace / detach; iommufd.md §2.9 and §3.3). An IOAS as the
 * target finds or creates an auto paging HWPT for the device's SMMU, as iommufd does; the auto
 * HWPT goes away with its last device.
 */
import { fail } from './errors.js';
import type { WriteTx } from './graph.js';
import { newPagingHwpt } from './hwpt.js';
import { findObject, isBoundDevice, lookupBoundDevice, releaseAutoHwpt } from './object-table.js';
import type { DeviceRec, ObjectRec } from './types.js';
import { decodeVste } from './vste.js';

export function attachDevice(tx: WriteTx, deviceId: number, ptId: number): DeviceRec {
  const device = lookupBoundDevice(tx, null, deviceId);
  const contextId = device.contextId as number;
  // iommufd_device_change_pt: IOMMUFD_OBJ_ANY lookup (ENOENT), then a type switch (EINVAL) —
  // which a bound device's id, an object of the fd too, reaches.
  const pt = findObject(tx, contextId, ptId);
  if (!pt) {
    if (isBoundDevice(tx, contextId, ptId)) fail('EINVAL', `ptId ${ptId} is a device: a device attaches to an IOAS or a HWPT`);
    return fail('ENOENT', `ptId ${ptId} is not an object of context ${contextId}`);
  }
  let hwpt: ObjectRec;
  switch (pt.type) {
    case 'ioas': {
      const existing = [...tx.values('objects')].find((o) => o.type === 'hwpt_paging' && o.auto && o.ioasId === pt.id && o.smmuId === device.smmuId);
      hwpt = existing ?? newPagingHwpt(tx, device, pt.id, { nestParent: false, dirtyTracking: false, auto: true });
      break;
    }
    case 'hwpt_paging':
      // arm_smmu_attach_dev: a domain finalised for another SMMU → EINVAL.
      if (pt.smmuId !== device.smmuId) fail('EINVAL', `HWPT ${pt.id} belongs to SMMU ${pt.smmuId}, device ${device.id} is behind SMMU ${device.smmuId}`);
      hwpt = pt;
      break;
    case 'hwpt_nested': {
      // arm_smmu_attach_dev_nested: the nested domain's SMMU must be the device's (EINVAL).
      if (pt.smmuId !== device.smmuId) fail('EINVAL', `nested HWPT ${pt.id} is on SMMU ${pt.smmuId}, device ${device.id} is behind SMMU ${device.smmuId}`);
      // arm_smmu_attach_prepare_vmaster: an S1-translate vSTE needs the device's vDEVICE on that
      // vIOMMU (ENOENT); abort, bypass and V=0 attach without one (v6.19 "GBPA" change).
      if (decodeVste(pt.vste0 ?? 0n, pt.vste1 ?? 0n).config === 's1_translate') {
        const vdev = [...tx.values('objects')].find((o) => o.type === 'vdevice' && o.viommuId === pt.viommuId && o.deviceId === device.id);
        if (!vdev) fail('ENOENT', `device ${device.id} has no vDEVICE on vIOMMU ${pt.viommuId}, which an S1-translate nested HWPT needs`);
      }
      hwpt = pt;
      break;
    }
    default:
      return fail('EINVAL', `ptId ${pt.id} is a ${pt.type}: a device attaches to an IOAS or a HWPT`);
  }
  const previous = device.attachedTo;
  if (previous === hwpt.id) return device;
  const updated = tx.put('devices', { ...device, attachedTo: hwpt.id });
  releaseAutoHwpt(tx, previous);
  return updated;
}

/** Detach; detaching a device that is not attached changes nothing. */
export function detachDevice(tx: WriteTx, deviceId: number): DeviceRec {
  const device = lookupBoundDevice(tx, null, deviceId);
  if (device.attachedTo === null) return device;
  const updated = tx.put('devices', { ...device, attachedTo: null });
  releaseAutoHwpt(tx, device.attachedTo);
  return updated;
}

/**
 * Device attachment (VFIO attach / replace / detach; iommufd.md §2.9 and §3.3). An IOAS as the
 * target finds or creates an auto paging HWPT for the device's SMMU, as iommufd does; the auto
 * HWPT goes away with its last device.
 */
import { fail } from './errors.js';
import type { WriteTx } from './graph.js';
import { autoHwptFlags, newPagingHwpt } from './hwpt.js';
import { findObject, isBoundDevice, lookupBoundDevice, releaseAutoHwpt } from './object-table.js';
import type { HwptPagingRec } from './objects/index.js';
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
      // iommufd_device_auto_get_domain: the first auto HWPT of this IOAS the device can use (its
      // SMMU; PASID-compatible while it has PASIDs attached) — one that refuses the attach with
      // EINVAL is skipped, not an error — else a new one with the device's auto flags.
      const existing = [...tx.indexed('objects', 'ioas', pt.id)].find(
        (o): o is HwptPagingRec => o.type === 'hwpt_paging' && o.auto && o.smmuId === device.smmuId && (o.pasidCompat || device.pasids.length === 0),
      );
      hwpt = existing ?? newPagingHwpt(tx, device, pt.id, autoHwptFlags(device), true);
      break;
    }
    case 'hwpt_paging':
    case 'hwpt_nested':
      hwpt = pt;
      break;
    default:
      return fail('EINVAL', `ptId ${pt.id} is a ${pt.type}: a device attaches to an IOAS or a HWPT`);
  }
  const previous = device.attachedTo;
  // iommufd_device_do_replace: the HWPT already attached → nothing to do.
  if (previous === hwpt.id) return device;
  // iommufd_hwpt_pasid_compat (RID): a domain not allocated for PASID use cannot take the RID
  // while PASIDs are attached — checked by the core before the driver sees the domain (so the
  // driver's own EBUSY for PASIDs in use, arm_smmu_attach_dev_nested, is never reached).
  if (!(hwpt.type === 'hwpt_paging' && hwpt.pasidCompat) && device.pasids.length > 0) {
    fail('EINVAL', `device ${device.id} has PASIDs attached (${device.pasids.map((a) => a.pasid).join(', ')}); HWPT ${hwpt.id} was not allocated with the pasid flag`);
  }
  if (hwpt.type === 'hwpt_paging') {
    // arm_smmu_attach_dev: a domain finalised for another SMMU → EINVAL.
    if (hwpt.smmuId !== device.smmuId) fail('EINVAL', `HWPT ${hwpt.id} belongs to SMMU ${hwpt.smmuId}, device ${device.id} is behind SMMU ${device.smmuId}`);
  } else if (hwpt.type === 'hwpt_nested') {
    // arm_smmu_attach_dev_nested: the nested domain's SMMU must be the device's (EINVAL).
    if (hwpt.smmuId !== device.smmuId) fail('EINVAL', `nested HWPT ${hwpt.id} is on SMMU ${hwpt.smmuId}, device ${device.id} is behind SMMU ${device.smmuId}`);
    // arm_smmu_attach_prepare_vmaster: an S1-translate vSTE needs the device's vDEVICE on that
    // vIOMMU (ENOENT); abort, bypass and V=0 attach without one (v6.19 "GBPA" change).
    if (decodeVste(hwpt.vste0 ?? 0n, hwpt.vste1 ?? 0n).config === 's1_translate') {
      const viommuId = hwpt.viommuId;
      const vdev = [...tx.indexed('objects', 'device', device.id)].find((o) => o.type === 'vdevice' && o.viommuId === viommuId);
      if (!vdev) fail('ENOENT', `device ${device.id} has no vDEVICE on vIOMMU ${viommuId}, which an S1-translate nested HWPT needs`);
    }
  }
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

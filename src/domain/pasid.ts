/**
 * PASID attachment on the host (VFIO_DEVICE_ATTACH_IOMMUFD_PT with VFIO_DEVICE_ATTACH_PASID, and
 * its DETACH): vfio_iommufd_physical_pasid_attach_ioas attaches a PASID that is not attached yet
 * and replaces the domain of one that is (iommufd_device_attach / iommufd_device_replace); the
 * core's checks (iommufd_hw_pagetable_attach, iommufd_hwpt_pasid_compat, iommu_attach_device_pasid)
 * come before the ARM driver's (arm_smmu_s1_set_dev_pasid → arm_smmu_set_pasid). The device's CD
 * table and STE that result are built in hardware.ts (driver/arm-smmu-v3.ts).
 */
import { decodeFeatures } from '../hw/idr.js';
import { fail } from './errors.js';
import type { WriteTx } from './graph.js';
import { autoHwptFlags, newPagingHwpt } from './hwpt.js';
import { findObject, isBoundDevice, lookupBoundDevice, releaseAutoHwpt } from './object-table.js';
import type { HwptPagingRec } from './objects/index.js';
import type { DeviceRec, ObjectRec, SmmuRec } from './types.js';

/** IOMMU_NO_PASID: the RID's own "PASID", never attached through this path. */
export const IOMMU_NO_PASID = 0;

/**
 * The device's SubstreamID width (arm_smmu_probe_device: master->ssid_bits = min(the SMMU's
 * IDR1.SSIDSIZE, the device's PASID width)); 0 when it cannot issue PASIDs.
 */
export function ssidBitsOf(device: DeviceRec, smmu: SmmuRec): number {
  return Math.min(device.pasidBits, decodeFeatures(smmu.idr).ssidBits);
}

/** Whether a HWPT can take a PASID attachment (the core's hwpt->pasid_compat). */
function pasidCompat(hwpt: ObjectRec): boolean {
  return hwpt.type === 'hwpt_paging' && hwpt.pasidCompat;
}

export function attachPasid(tx: WriteTx, deviceId: number, pasid: number, ptId: number): DeviceRec {
  const device = lookupBoundDevice(tx, null, deviceId);
  const contextId = device.contextId as number;
  // iommu_attach_device_pasid: IOMMU_NO_PASID is the RID, not a PASID.
  if (pasid === IOMMU_NO_PASID) fail('EINVAL', 'PASID 0 is the RID (IOMMU_NO_PASID): attach it with PUT /v1/devices/{id}/attachment');
  // iommufd_device_change_pt: IOMMUFD_OBJ_ANY lookup (ENOENT), then the type switch (EINVAL).
  const pt = findObject(tx, contextId, ptId);
  if (!pt) {
    if (isBoundDevice(tx, contextId, ptId)) fail('EINVAL', `ptId ${ptId} is a device: a PASID attaches to an IOAS or a HWPT`);
    return fail('ENOENT', `ptId ${ptId} is not an object of context ${contextId}`);
  }
  if (pt.type !== 'ioas' && pt.type !== 'hwpt_paging' && pt.type !== 'hwpt_nested') {
    return fail('EINVAL', `ptId ${pt.id} is a ${pt.type}: a PASID attaches to an IOAS or a HWPT`);
  }
  const current = device.pasids.find((a) => a.pasid === pasid) ?? null;
  let hwpt: ObjectRec = pt;
  if (pt.type === 'ioas') {
    // iommufd_device_auto_get_domain: an auto HWPT of the IOAS that takes this PASID (a domain
    // that refuses it with EINVAL is skipped), else a new one with the device's auto flags.
    const reuse = [...tx.indexed('objects', 'ioas', pt.id)].find(
      (o): o is HwptPagingRec => o.type === 'hwpt_paging' && o.auto && o.smmuId === device.smmuId && o.pasidCompat,
    );
    hwpt = reuse ?? newPagingHwpt(tx, device, pt.id, autoHwptFlags(device), true);
  }
  // iommufd_device_do_replace: the same HWPT → nothing to do.
  if (current !== null && current.hwptId === hwpt.id) return device;
  // iommufd_hwpt_pasid_compat: the domain, and the RID's domain, must be PASID-compatible.
  if (!pasidCompat(hwpt)) fail('EINVAL', `HWPT ${hwpt.id} was not allocated with the pasid flag`);
  const rid = device.attachedTo === null ? undefined : tx.get('objects', device.attachedTo);
  if (rid && !pasidCompat(rid)) fail('EINVAL', `the RID of device ${device.id} is attached to HWPT ${rid.id}, which cannot carry PASIDs`);
  // iommu_attach_device_pasid: the PASID must fit the device's width (max_pasids = 2^ssid_bits).
  const smmu = tx.get('smmus', device.smmuId) as SmmuRec;
  const bits = ssidBitsOf(device, smmu);
  if (bits === 0 || pasid >= 2 ** bits) {
    fail('EINVAL', bits === 0 ? `device ${device.id} cannot issue PASIDs` : `PASID ${pasid} is beyond device ${device.id}'s ${bits}-bit PASID width`);
  }
  // arm_smmu_s1_set_dev_pasid: a stage-1 domain of the device's SMMU.
  const domain = hwpt as HwptPagingRec;
  if (domain.smmuId !== device.smmuId) fail('EINVAL', `HWPT ${domain.id} belongs to SMMU ${domain.smmuId}, device ${device.id} is behind SMMU ${device.smmuId}`);
  if (domain.stage !== 1) fail('EINVAL', `HWPT ${domain.id} is a stage-2 domain: a PASID needs a stage-1 domain (a CD)`);
  // arm_smmu_set_pasid: the RID must leave room for a CD table — blocked, identity, or a stage-1
  // domain (whose CD table is already in the STE).
  if (rid && !(rid.type === 'hwpt_paging' && rid.stage === 1)) {
    fail('EINVAL', `the RID of device ${device.id} is attached to ${rid.type === 'hwpt_paging' ? 'a stage-2 domain' : 'a nested domain'}, which leaves no CD table for PASIDs`);
  }
  const pasids = device.pasids.filter((a) => a.pasid !== pasid).concat({ pasid, hwptId: hwpt.id });
  const updated = tx.put('devices', { ...device, pasids: pasids.sort((a, b) => a.pasid - b.pasid) });
  if (current !== null) releaseAutoHwpt(tx, current.hwptId);
  return updated;
}

/** PASID detach (iommufd_device_detach with a PASID): a PASID that is not attached changes nothing. */
export function detachPasid(tx: WriteTx, deviceId: number, pasid: number): DeviceRec {
  const device = lookupBoundDevice(tx, null, deviceId);
  const current = device.pasids.find((a) => a.pasid === pasid);
  if (!current) return device;
  const updated = tx.put('devices', { ...device, pasids: device.pasids.filter((a) => a.pasid !== pasid) });
  releaseAutoHwpt(tx, current.hwptId);
  return updated;
}

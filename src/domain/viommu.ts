/**
 * IOMMU_VIOMMU_ALLOC (iommufd_viommu_alloc_ioctl, arm_vsmmu_init) and IOMMU_VDEVICE_ALLOC
 * (iommufd_vdevice_alloc_ioctl, tegra241_vintf_init_vsid), in the kernel's check order.
 */
import { decodeFeatures } from '../hw/idr.js';
import { fail } from './errors.js';
import type { WriteTx } from './graph.js';
import { allocId } from './ids.js';
import { lookupBoundDevice, lookupObject } from './object-table.js';
import type { VdeviceRec, ViommuRec } from './objects/index.js';
import type { SmmuRec } from './types.js';
import { allocSidSlot, allocVintf, allocVmid } from './vmid.js';

export const VIOMMU_ALLOC_TYPES = ['default', 'arm_smmuv3', 'tegra241_cmdqv'] as const;
export type ViommuAllocType = (typeof VIOMMU_ALLOC_TYPES)[number];

export interface AllocViommuInput {
  deviceId: number;
  hwptId: number;
  /** A ViommuAllocType, or any other name (EOPNOTSUPP, as an unknown type number is). */
  type: string;
}

const isViommuType = (type: string): type is ViommuRec['viommuType'] => (VIOMMU_ALLOC_TYPES as readonly string[]).includes(type) && type !== 'default';

export function allocViommu(tx: WriteTx, input: AllocViommuInput): ViommuRec {
  // 1. type DEFAULT is reserved → EOPNOTSUPP.
  if (input.type === 'default') fail('EOPNOTSUPP', 'vIOMMU type default is reserved');
  // 2. dev_id → ENOENT.
  const device = lookupBoundDevice(tx, null, input.deviceId);
  const contextId = device.contextId as number;
  const smmu = tx.get('smmus', device.smmuId) as SmmuRec;
  // 3. arm_smmu_get_viommu_size returns 0 → EOPNOTSUPP: a type it does not know, no nesting, or
  // the type needs an impl (Tegra241 CMDQV) this SMMU does not have.
  if (!isViommuType(input.type)) return fail('EOPNOTSUPP', `vIOMMU type ${input.type} is not supported by SMMU ${smmu.id}`);
  if (!decodeFeatures(smmu.idr).nesting) fail('EOPNOTSUPP', `SMMU ${smmu.id} does not support nesting (needs S1P and S2P)`);
  if (input.type === 'tegra241_cmdqv' && !smmu.cmdqv) fail('EOPNOTSUPP', `SMMU ${smmu.id} has no Tegra241 CMDQV`);
  // 4. hwpt_id must be a paging HWPT (ENOENT) allocated with NEST_PARENT (EINVAL).
  const parent = lookupObject(tx, contextId, input.hwptId, ['hwpt_paging'], 'hwptId');
  if (!parent.nestParent) fail('EINVAL', `HWPT ${parent.id} was not allocated with nest_parent`);
  // 5. viommu_init. Differs from arm_vsmmu_init as api.md decides: the vIOMMU owns its VMID, so a
  // nest parent finalised on another SMMU is accepted (one S2 shared by vIOMMUs on several SMMUs).
  const vmid = allocVmid(tx, smmu);
  const vintf = input.type === 'tegra241_cmdqv' ? allocVintf(tx, smmu) : null;
  const viommuType = input.type;
  const viommu: ViommuRec = { id: allocId(tx), contextId, type: 'viommu', viommuType, hwptId: parent.id, deviceId: device.id, smmuId: smmu.id, vmid, vintf, createdAt: Date.now() };
  return tx.put('objects', viommu);
}

export interface AllocVdeviceInput {
  viommuId: number;
  deviceId: number;
  virtId: number;
}

export function allocVdevice(tx: WriteTx, input: AllocVdeviceInput): VdeviceRec {
  // 2. viommu_id, then dev_id → ENOENT (iommufd_get_viommu, iommufd_get_device).
  const viommu = lookupObject(tx, null, input.viommuId, ['viommu'], 'viommuId');
  const device = lookupBoundDevice(tx, viommu.contextId, input.deviceId);
  // 3. another physical IOMMU → EINVAL.
  if (device.smmuId !== viommu.smmuId) fail('EINVAL', `device ${device.id} is behind SMMU ${device.smmuId}, vIOMMU ${viommu.id} wraps SMMU ${viommu.smmuId}`);
  // 5. one vDEVICE per device, on any vIOMMU (idev->vdev) → EEXIST.
  const own = [...tx.indexed('objects', 'device', device.id)].find((o): o is VdeviceRec => o.type === 'vdevice');
  if (own) fail('EEXIST', `device ${device.id} already has vDEVICE ${own.id} (vSID 0x${own.virtId.toString(16)})`);
  // 6. the vSID is taken on this vIOMMU → EEXIST (xa_cmpxchg on viommu->vdevs).
  const clash = [...tx.indexed('objects', 'viommuType', `${viommu.id}:vdevice`)].find((o): o is VdeviceRec => o.type === 'vdevice' && o.virtId === input.virtId);
  if (clash) fail('EEXIST', `vSID 0x${input.virtId.toString(16)} is used by vDEVICE ${clash.id} on vIOMMU ${viommu.id}`);
  // 7. Tegra241: one SID_MATCH/SID_REPLACE slot of the VINTF (tegra241_vintf_init_vsid).
  const smmu = tx.get('smmus', viommu.smmuId) as SmmuRec;
  const sidSlot = viommu.viommuType === 'tegra241_cmdqv' ? allocSidSlot(tx, smmu, viommu.id) : null;
  const vdevice: VdeviceRec = {
    id: allocId(tx),
    contextId: viommu.contextId,
    type: 'vdevice',
    viommuId: viommu.id,
    deviceId: device.id,
    smmuId: viommu.smmuId,
    virtId: input.virtId,
    sidSlot,
    createdAt: Date.now(),
  };
  return tx.put('objects', vdevice);
}

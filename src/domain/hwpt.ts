/** IOMMU_HWPT_ALLOC (iommufd_hwpt_alloc, arm_vsmmu_alloc_domain_nested). */
import { getIdrField } from '../hw/idr.js';
import { fail } from './errors.js';
import type { WriteTx } from './graph.js';
import { allocId } from './ids.js';
import { findObject, lookupBoundDevice } from './object-table.js';
import type { HwptNestedRec, HwptPagingRec } from './objects/index.js';
import type { DeviceRec, SmmuRec } from './types.js';
import { allocVmid } from './vmid.js';
import { validateVste } from './vste.js';

export const HWPT_ALLOC_FLAGS = ['nest_parent', 'dirty_tracking', 'pasid'] as const;
export type HwptAllocFlag = (typeof HWPT_ALLOC_FLAGS)[number];
export const HWPT_DATA_TYPES = ['none', 'vtd_s1', 'arm_smmuv3'] as const;
export type HwptDataType = (typeof HWPT_DATA_TYPES)[number];

export interface AllocHwptInput {
  deviceId: number;
  ptId: number;
  flags: HwptAllocFlag[];
  data?: { type: HwptDataType; ste?: [bigint, bigint] };
}

/**
 * A stage-2 paging HWPT for `device`'s SMMU. The ARM driver finalises a paging domain for the
 * allocating device's SMMU at once (arm_smmu_domain_alloc_paging_flags), and an S2 domain owns a
 * VMID from then on (arm_smmu_domain_finalise_s2); every paging HWPT is modelled as stage 2.
 */
export function newPagingHwpt(tx: WriteTx, device: DeviceRec, ioasId: number, opts: { nestParent: boolean; dirtyTracking: boolean; auto: boolean }): HwptPagingRec {
  const smmu = tx.get('smmus', device.smmuId) as SmmuRec;
  const vmid = allocVmid(tx, smmu);
  return tx.put('objects', {
    id: allocId(tx),
    contextId: device.contextId as number,
    type: 'hwpt_paging',
    ioasId,
    deviceId: device.id,
    smmuId: smmu.id,
    vmid,
    ...opts,
    createdAt: new Date(),
  } satisfies HwptPagingRec);
}

export function allocHwpt(tx: WriteTx, input: AllocHwptInput): HwptPagingRec | HwptNestedRec {
  const dataType: HwptDataType = input.data?.type ?? 'none';
  const hasData = input.data?.ste !== undefined;
  // 2. data_type NONE with data, or a data_type without data → EINVAL.
  if ((dataType === 'none' && hasData) || (dataType !== 'none' && !hasData)) {
    fail('EINVAL', dataType === 'none' ? 'data.ste given without a data type' : `data type ${dataType} needs data.ste`);
  }
  // 3. dev_id → ENOENT.
  const device = lookupBoundDevice(tx, null, input.deviceId);
  const contextId = device.contextId as number;
  // 4. pt_id not found → EINVAL, not ENOENT (iommufd_hwpt_alloc turns a failed pt_id lookup into -EINVAL).
  const pt = findObject(tx, contextId, input.ptId) ?? fail('EINVAL', `ptId ${input.ptId} is not an object of context ${contextId}`);
  const flags = new Set(input.flags);
  switch (pt.type) {
    case 'ioas': {
      // iommufd_hwpt_paging_alloc → arm_smmu_domain_alloc_paging_flags.
      if (hasData) fail('EOPNOTSUPP', 'a paging HWPT takes no driver data');
      if (flags.has('dirty_tracking')) {
        const smmu = tx.get('smmus', device.smmuId) as SmmuRec;
        if (getIdrField(smmu.idr, 'HTTU') !== 2) fail('EOPNOTSUPP', `SMMU ${smmu.id} cannot track dirty pages (IDR0.HTTU != 2)`);
      }
      return newPagingHwpt(tx, device, pt.id, { nestParent: flags.has('nest_parent'), dirtyTracking: flags.has('dirty_tracking'), auto: false });
    }
    case 'hwpt_paging': {
      // iommufd_hwpt_nested_alloc: flags, then data, then the driver op. The ARM
      // driver has no domain_alloc_nested: its nested HWPTs are allocated on a vIOMMU.
      if (flags.size > 0) fail('EOPNOTSUPP', `flags ${[...flags].join(', ')} are not supported for a nested HWPT`);
      if (!hasData) fail('EOPNOTSUPP', 'a nested HWPT needs driver data');
      return fail('EOPNOTSUPP', 'the ARM SMMUv3 driver allocates nested HWPTs on a vIOMMU, not on a paging HWPT');
    }
    case 'viommu': {
      // iommufd_hwpt_alloc: the device must sit behind the vIOMMU's physical SMMU.
      if (device.smmuId !== pt.smmuId) fail('EINVAL', `device ${device.id} is behind SMMU ${device.smmuId}, vIOMMU ${pt.id} wraps SMMU ${pt.smmuId}`);
      // iommufd_viommu_alloc_hwpt_nested; arm_vsmmu_alloc_domain_nested rejects every flag (PASID included).
      if (flags.size > 0) fail('EOPNOTSUPP', `flags ${[...flags].join(', ')} are not supported for a nested HWPT`);
      if (!hasData) fail('EOPNOTSUPP', 'a nested HWPT needs driver data');
      if (dataType !== 'arm_smmuv3') fail('EINVAL', `data type ${dataType} is not arm_smmuv3`);
      const [ste0, ste1] = input.data!.ste!;
      const vste = validateVste(ste0, ste1);
      return tx.put('objects', {
        id: allocId(tx),
        contextId,
        type: 'hwpt_nested',
        viommuId: pt.id,
        deviceId: device.id,
        smmuId: pt.smmuId,
        vste0: vste.ste[0],
        vste1: vste.ste[1],
        enableAts: vste.enableAts,
        createdAt: new Date(),
      } satisfies HwptNestedRec);
    }
    default:
      // iommufd_hwpt_alloc: any other type (nested on nested, a vDEVICE, ...) is EINVAL.
      return fail('EINVAL', `ptId ${pt.id} is a ${pt.type}, not an IOAS, paging HWPT or vIOMMU`);
  }
}

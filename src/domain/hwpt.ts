/** IOMMU_HWPT_ALLOC (iommufd_hwpt_alloc, arm_vsmmu_alloc_domain_nested). */
import { decodeFeatures, getIdrField } from '../hw/idr.js';
import { fail } from './errors.js';
import type { WriteTx } from './graph.js';
import { allocId } from './ids.js';
import { findObject, lookupBoundDevice } from './object-table.js';
import type { HwptNestedRec, HwptPagingRec } from './objects/index.js';
import type { DeviceRec, SmmuRec } from './types.js';
import { allocAsid, allocVmid } from './vmid.js';
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
 * A paging HWPT for `device`'s SMMU, finalised at once as arm_smmu_domain_alloc_paging_flags does:
 * no flags → stage 1 when the SMMU has it (else stage 2); `nest_parent` alone → stage 2 (needs
 * nesting: S1P and S2P); `dirty_tracking` and/or `pasid` → stage 1 (needs S1P); any other mix →
 * EOPNOTSUPP. A stage-1 domain owns an ASID (arm_smmu_domain_finalise_s1), a stage-2 one a VMID
 * (arm_smmu_domain_finalise_s2).
 */
export function newPagingHwpt(tx: WriteTx, device: DeviceRec, ioasId: number, flags: ReadonlySet<HwptAllocFlag>, auto: boolean): HwptPagingRec {
  const smmu = tx.get('smmus', device.smmuId) as SmmuRec;
  const { s1p, s2p } = decodeFeatures(smmu.idr);
  const nestParent = flags.has('nest_parent');
  let stage: 1 | 2;
  if (flags.size === 0) stage = s1p ? 1 : 2;
  else if (nestParent) {
    if (flags.size > 1) fail('EOPNOTSUPP', `nest_parent cannot be combined with ${[...flags].filter((f) => f !== 'nest_parent').join(', ')}`);
    if (!s1p || !s2p) fail('EOPNOTSUPP', `SMMU ${smmu.id} cannot nest (a nest parent needs stage 1 and stage 2)`);
    stage = 2;
  } else {
    if (!s1p) fail('EOPNOTSUPP', `SMMU ${smmu.id} has no stage 1, which ${[...flags].join(' and ')} need`);
    stage = 1;
  }
  return tx.put('objects', {
    id: allocId(tx),
    contextId: device.contextId as number,
    type: 'hwpt_paging',
    ioasId,
    deviceId: device.id,
    smmuId: smmu.id,
    stage,
    vmid: stage === 2 ? allocVmid(tx, smmu) : 0,
    asid: stage === 1 ? allocAsid(tx, smmu) : 0,
    nestParent,
    dirtyTracking: flags.has('dirty_tracking'),
    pasidCompat: flags.has('pasid'),
    auto,
    createdAt: Date.now(),
  } satisfies HwptPagingRec);
}

/**
 * The flags of an auto HWPT (iommufd_device_auto_get_domain): IOMMU_HWPT_ALLOC_PASID when the
 * device can issue PASIDs, so the domain of its RID can carry PASIDs and a PASID may share it.
 */
export function autoHwptFlags(device: DeviceRec): ReadonlySet<HwptAllocFlag> {
  return new Set<HwptAllocFlag>(device.pasidBits > 0 ? ['pasid'] : []);
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
      return newPagingHwpt(tx, device, pt.id, flags, false);
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
        createdAt: Date.now(),
      } satisfies HwptNestedRec);
    }
    default:
      // iommufd_hwpt_alloc: any other type (nested on nested, a vDEVICE, ...) is EINVAL.
      return fail('EINVAL', `ptId ${pt.id} is a ${pt.type}, not an IOAS, paging HWPT or vIOMMU`);
  }
}

/**
 * Paging HWPT (IOMMU_HWPT_ALLOC on an IOAS, or the auto HWPT of an attach): a domain of one SMMU,
 * as arm_smmu_domain_alloc_paging_flags makes it — stage 1 (a CD with an ASID) unless it is a
 * nest parent (or the SMMU has no stage 1), then stage 2 (an S2 STE with a VMID). Rules:
 * ../hwpt.ts, ../attach.ts, ../pasid.ts.
 */
import { withBase, type ObjectBase, type ObjectDescriptor } from './descriptor.js';

export interface HwptPagingRec extends ObjectBase {
  type: 'hwpt_paging';
  ioasId: number;
  /** The device named at allocation (or attached, for an auto HWPT). */
  deviceId: number;
  smmuId: number;
  /** 1: stage-1 domain (ASID); 2: stage-2 domain (VMID). */
  stage: 1 | 2;
  /** Stage 2: the VMID it owns on smmuId (≥ 1); stage 1: 0 (none). */
  vmid: number;
  /** Stage 1: its ASID (≥ 1, arm_smmu_domain_finalise_s1); stage 2: 0 (none). */
  asid: number;
  nestParent: boolean;
  dirtyTracking: boolean;
  /** Allocated with IOMMU_HWPT_ALLOC_PASID (the kernel's hwpt->pasid_compat). */
  pasidCompat: boolean;
  /** Created implicitly by attaching a device to an IOAS; released with its last device. */
  auto: boolean;
}

export const hwptPaging: ObjectDescriptor<HwptPagingRec> = {
  type: 'hwpt_paging',
  name: 'paging HWPT',
  graphqlType: 'Hwpt',
  columns: {
    ioasId: 'int',
    deviceId: 'int',
    smmuId: 'int',
    stage: 'int',
    vmid: 'int',
    asid: 'int',
    nestParent: 'bool',
    dirtyTracking: 'bool',
    pasidCompat: 'bool',
    auto: 'bool',
  },
  // iommufd_hwpt_paging_alloc: a paging HWPT holds its IOAS.
  refs: (o) => [o.ioasId],
  changesStes: true,
  view: (o, ctx) =>
    withBase(o, {
      ioasId: o.ioasId,
      nestParent: o.nestParent,
      dirtyTracking: o.dirtyTracking,
      pasid: o.pasidCompat,
      auto: o.auto,
      smmuId: o.smmuId,
      stage: o.stage,
      vmid: o.stage === 2 ? o.vmid : null,
      asid: o.stage === 1 ? o.asid : null,
      deviceId: o.deviceId,
      devices: ctx.attachedDevices(o.id),
      pasidDevices: ctx.pasidAttachments(o.id),
    }),
};

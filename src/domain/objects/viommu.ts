/**
 * vIOMMU (IOMMU_VIOMMU_ALLOC): the guest's SMMU over a nest parent, owning a VMID (and, for a
 * Tegra241 CMDQV, a VINTF). Rules: ../viommu.ts.
 */
import { withBase, type ObjectBase, type ObjectDescriptor } from './descriptor.js';

export const VIOMMU_TYPES = ['arm_smmuv3', 'tegra241_cmdqv'] as const;
export type ViommuType = (typeof VIOMMU_TYPES)[number];

export interface ViommuRec extends ObjectBase {
  type: 'viommu';
  viommuType: ViommuType;
  /** The nest-parent HWPT. */
  hwptId: number;
  deviceId: number;
  smmuId: number;
  vmid: number;
  /** tegra241_cmdqv: its VINTF index. */
  vintf: number | null;
}

export const viommu: ObjectDescriptor<ViommuRec> = {
  type: 'viommu',
  name: 'vIOMMU',
  graphqlType: 'Viommu',
  columns: { viommuType: 'text', hwptId: 'int', deviceId: 'int', smmuId: 'int', vmid: 'int', vintf: 'int' },
  // iommufd_viommu_alloc: a vIOMMU holds its nest-parent HWPT.
  refs: (o) => [o.hwptId],
  changesStes: true,
  view: (o) =>
    withBase(o, {
      viommuType: o.viommuType,
      smmuId: o.smmuId,
      hwptId: o.hwptId,
      deviceId: o.deviceId,
      vmid: o.vmid,
      ...(o.viommuType === 'tegra241_cmdqv' ? { vintf: o.vintf } : {}),
    }),
};

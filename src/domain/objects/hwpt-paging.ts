/**
 * Paging HWPT (IOMMU_HWPT_ALLOC on an IOAS, or the auto HWPT of an attach): a stage-2 domain of
 * one SMMU with its VMID. Rules: ../hwpt.ts, ../attach.ts.
 */
import { baseView, type ObjectBase, type ObjectDescriptor } from './descriptor.js';

export interface HwptPagingRec extends ObjectBase {
  type: 'hwpt_paging';
  ioasId: number;
  /** The device named at allocation (or attached, for an auto HWPT). */
  deviceId: number;
  smmuId: number;
  vmid: number;
  nestParent: boolean;
  dirtyTracking: boolean;
  /** Created implicitly by attaching a device to an IOAS; released with its last device. */
  auto: boolean;
}

export const hwptPaging: ObjectDescriptor<HwptPagingRec> = {
  type: 'hwpt_paging',
  name: 'paging HWPT',
  graphqlType: 'Hwpt',
  columns: { ioasId: 'int', deviceId: 'int', smmuId: 'int', vmid: 'int', nestParent: 'bool', dirtyTracking: 'bool', auto: 'bool' },
  // iommufd_hwpt_paging_alloc: a paging HWPT holds its IOAS.
  refs: (o) => [o.ioasId],
  changesStes: true,
  view: (o, ctx) => ({
    ...baseView(o),
    ioasId: o.ioasId,
    nestParent: o.nestParent,
    dirtyTracking: o.dirtyTracking,
    auto: o.auto,
    smmuId: o.smmuId,
    vmid: o.vmid,
    deviceId: o.deviceId,
    devices: ctx.attachedDevices(o.id),
  }),
};

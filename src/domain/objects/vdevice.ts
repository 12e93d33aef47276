/**
 * vDEVICE (IOMMU_VDEVICE_ALLOC): the guest's vSID of a physical device on a vIOMMU (and, on a
 * Tegra241 CMDQV, its SID_MATCH/SID_REPLACE slot). Rules: ../viommu.ts.
 */
import { withBase, type ObjectBase, type ObjectDescriptor } from './descriptor.js';

export interface VdeviceRec extends ObjectBase {
  type: 'vdevice';
  viommuId: number;
  deviceId: number;
  smmuId: number;
  /** The guest's vSID. */
  virtId: number;
  sidSlot: number | null;
}

export const vdevice: ObjectDescriptor<VdeviceRec> = {
  type: 'vdevice',
  name: 'vDEVICE',
  graphqlType: 'Vdevice',
  columns: { viommuId: 'int', deviceId: 'int', smmuId: 'int', virtId: 'bigint', sidSlot: 'int' },
  // iommufd_vdevice_alloc_ioctl: a vDEVICE holds its vIOMMU (the device only through wait_cnt).
  refs: (o) => [o.viommuId],
  // The vSID → StreamID table changes, not an STE.
  changesStes: false,
  view: (o, ctx) =>
    withBase(o, {
      viommuId: o.viommuId,
      deviceId: o.deviceId,
      virtId: o.virtId,
      physicalStreamId: ctx.streamIdOf(o.deviceId),
      ...(o.sidSlot !== null ? { sidSlot: o.sidSlot } : {}),
    }),
};

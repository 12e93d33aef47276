/**
 * Nested HWPT (IOMMU_HWPT_ALLOC on a vIOMMU): the guest's STE, validated as
 * arm_smmu_validate_vste does, over the vIOMMU's nest parent. Rules: ../hwpt.ts.
 */
import { addr64, word64 } from '../format.js';
import { decodeVste } from '../vste.js';
import { withBase, type ObjectBase, type ObjectDescriptor } from './descriptor.js';

export interface HwptNestedRec extends ObjectBase {
  type: 'hwpt_nested';
  viommuId: number;
  deviceId: number;
  smmuId: number;
  /** The guest STE words as accepted. */
  vste0: bigint;
  vste1: bigint;
  /** ATS enabled by the vSTE (Config S1 and EATS=1). */
  enableAts: boolean;
}

export function vsteView(o: Pick<HwptNestedRec, 'vste0' | 'vste1'>) {
  const d = decodeVste(o.vste0, o.vste1);
  return {
    ste: [word64(o.vste0), word64(o.vste1)],
    valid: d.valid,
    config: d.config,
    s1ContextPtr: addr64(d.s1ContextPtr),
    s1Fmt: d.s1Fmt,
    s1CdMax: d.s1CdMax,
    s1Dss: d.s1Dss,
    eats: d.eats,
  };
}
export type VsteView = ReturnType<typeof vsteView>;

export const hwptNested: ObjectDescriptor<HwptNestedRec> = {
  type: 'hwpt_nested',
  name: 'nested HWPT',
  graphqlType: 'Hwpt',
  columns: { viommuId: 'int', deviceId: 'int', smmuId: 'int', vste0: 'hex64', vste1: 'hex64', enableAts: 'bool' },
  // iommufd_viommu_alloc_hwpt_nested: a vIOMMU-based nested HWPT holds the vIOMMU.
  refs: (o) => [o.viommuId],
  changesStes: true,
  view: (o, ctx) =>
    withBase(o, {
      nestParent: false,
      viommuId: o.viommuId,
      smmuId: o.smmuId,
      deviceId: o.deviceId,
      enableAts: o.enableAts,
      vste: vsteView(o),
      devices: ctx.attachedDevices(o.id),
    }),
};

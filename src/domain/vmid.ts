/**
 * Per-SMMU allocators, derived from the live objects so that destroying an object releases what
 * it held without a separate free path: VMIDs (vIOMMUs and stage-2 paging HWPTs), ASIDs (stage-1
 * paging HWPTs), Tegra241
 * VINTFs (one per tegra241_cmdqv vIOMMU) and SID_MATCH/SID_REPLACE slots (one per vDEVICE).
 */
import { decodeFeatures } from '../hw/idr.js';
import { fail } from './errors.js';
import type { WriteTx } from './graph.js';
import type { SmmuRec } from './types.js';

/** Lowest free VMID on `smmu`; VMID 0 is reserved for bypass STEs (arm_smmu_domain_finalise_s2). */
export function allocVmid(tx: WriteTx, smmu: SmmuRec): number {
  const used = new Set<number>();
  for (const o of tx.indexed('objects', 'smmu', smmu.id)) if (o.type === 'viommu' || (o.type === 'hwpt_paging' && o.stage === 2)) used.add(o.vmid);
  const max = (1 << decodeFeatures(smmu.idr).vmidBits) - 1;
  for (let vmid = 1; vmid <= max; vmid++) if (!used.has(vmid)) return vmid;
  return fail('ENOSPC', `SMMU ${smmu.id} has no free VMID (${max} in use)`);
}

/**
 * Lowest free ASID for a stage-1 domain on `smmu` (arm_smmu_domain_finalise_s1): the driver's ASID
 * space is one xarray for every SMMU of the host (arm_smmu_asid_xa), allocated in [1, 2^asidBits
 * − 1] of the domain's SMMU; a full space is xa_alloc's EBUSY.
 */
export function allocAsid(tx: WriteTx, smmu: SmmuRec): number {
  const used = new Set<number>();
  for (const o of tx.indexed('objects', 'type', 'hwpt_paging')) if (o.type === 'hwpt_paging' && o.stage === 1) used.add(o.asid);
  const max = (1 << decodeFeatures(smmu.idr).asidBits) - 1;
  for (let asid = 1; asid <= max; asid++) if (!used.has(asid)) return asid;
  return fail('EBUSY', `no free ASID in [1, ${max}] for SMMU ${smmu.id}`);
}

/** tegra241_cmdqv_init_vintf_user: VINTF0 belongs to the host; user VINTFs are 1..vintfs-1. */
export function allocVintf(tx: WriteTx, smmu: SmmuRec): number {
  const vintfs = smmu.cmdqv?.vintfs ?? 0;
  const used = new Set<number>();
  for (const o of tx.indexed('objects', 'smmu', smmu.id)) if (o.type === 'viommu' && o.vintf !== null) used.add(o.vintf);
  for (let vintf = 1; vintf < vintfs; vintf++) if (!used.has(vintf)) return vintf;
  return fail('ENOSPC', `SMMU ${smmu.id} has no free VINTF (${Math.max(vintfs - 1, 0)} user VINTFs, all taken)`);
}

/** tegra241_vintf_init_vsid: one of sidsPerVintf SID_MATCH/SID_REPLACE slots of the vIOMMU's VINTF. */
export function allocSidSlot(tx: WriteTx, smmu: SmmuRec, viommuId: number): number {
  const slots = smmu.cmdqv?.sidsPerVintf ?? 0;
  const used = new Set<number>();
  for (const o of tx.indexed('objects', 'viommu', viommuId)) if (o.type === 'vdevice' && o.sidSlot !== null) used.add(o.sidSlot);
  for (let slot = 0; slot < slots; slot++) if (!used.has(slot)) return slot;
  return fail('ENOSPC', `vIOMMU ${viommuId}: all ${slots} SID_MATCH/SID_REPLACE slots of its VINTF are in use`);
}

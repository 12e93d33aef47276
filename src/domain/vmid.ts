/**
 * Per-SMMU allocators, derived from the live objects so that destroying an object releases what
 * it held without a separate free path: VMIDs (vIOMMUs and stage-2 paging HWPTs), ASIDs (stage-1
 * paging HWPTs), Tegra241
 * VINTFs (one per tegra241_cmdqv vIOMMU) and SID_MATCH/SID_REPLACE slots (one per vDEVICE).
 *
 * Each is the kernel's IDA: the lowest id of its range that no live object holds (ida_alloc_range,
 * xa_alloc). The ids held are the graph's used-id sets (indexes.ts USED_ID_SPECS), kept as
 * commits apply and corrected by the transaction's own staged objects, so an allocation costs a
 * bitmap walk, not a look at every object of the SMMU; a write that fails (its rules, or its
 * commit) never reaches the graph and so holds nothing.
 */
import { decodeFeatures } from '../hw/idr.js';
import { fail } from './errors.js';
import type { WriteTx } from './graph.js';
import type { SmmuRec } from './types.js';

/** Lowest free VMID on `smmu`; VMID 0 is reserved for bypass STEs (arm_smmu_domain_finalise_s2). */
export function allocVmid(tx: WriteTx, smmu: SmmuRec): number {
  const max = (1 << decodeFeatures(smmu.idr).vmidBits) - 1;
  return tx.nextFreeId('objects', 'vmid', smmu.id, 1, max) ?? fail('ENOSPC', `SMMU ${smmu.id} has no free VMID (${max} in use)`);
}

/**
 * Lowest free ASID for a stage-1 domain on `smmu` (arm_smmu_domain_finalise_s1): the driver's ASID
 * space is one xarray for every SMMU of the host (arm_smmu_asid_xa), allocated in [1, 2^asidBits
 * − 1] of the domain's SMMU; a full space is xa_alloc's EBUSY.
 */
export function allocAsid(tx: WriteTx, smmu: SmmuRec): number {
  const max = (1 << decodeFeatures(smmu.idr).asidBits) - 1;
  return tx.nextFreeId('objects', 'asid', '', 1, max) ?? fail('EBUSY', `no free ASID in [1, ${max}] for SMMU ${smmu.id}`);
}

/** tegra241_cmdqv_init_vintf_user: VINTF0 belongs to the host; user VINTFs are 1..vintfs-1. */
export function allocVintf(tx: WriteTx, smmu: SmmuRec): number {
  const vintfs = smmu.cmdqv?.vintfs ?? 0;
  return tx.nextFreeId('objects', 'vintf', smmu.id, 1, vintfs - 1) ?? fail('ENOSPC', `SMMU ${smmu.id} has no free VINTF (${Math.max(vintfs - 1, 0)} user VINTFs, all taken)`);
}

/** tegra241_vintf_init_vsid: one of sidsPerVintf SID_MATCH/SID_REPLACE slots of the vIOMMU's VINTF. */
export function allocSidSlot(tx: WriteTx, smmu: SmmuRec, viommuId: number): number {
  const slots = smmu.cmdqv?.sidsPerVintf ?? 0;
  return tx.nextFreeId('objects', 'sidSlot', viommuId, 0, slots - 1) ?? fail('ENOSPC', `vIOMMU ${viommuId}: all ${slots} SID_MATCH/SID_REPLACE slots of its VINTF are in use`);
}

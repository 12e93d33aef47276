/**
 * Guest TLB/ATC/CD-cache invalidation through a vIOMMU: IOMMU_HWPT_INVALIDATE with a vIOMMU id
 * (iommufd.md §2.4, §3.4; arm_vsmmu_cache_invalidate and arm_vsmmu_convert_user_cmd). Entries
 * are converted in place, exactly as the kernel converts them, and issued to the physical SMMU's
 * command queue in batches of at most 63 commands plus a CMD_SYNC.
 */
import { CMD_BYTES, cmdGetSid, cmdOpcode, commandName } from '../hw/index.js';
import { CMDQ_BATCH, convertUserCmd, issueCmdlist } from './driver/arm-smmu-v3.js';
import { fail } from './errors.js';
import { isBoundDevice } from './object-table.js';
import type { Hardware } from './hardware.js';
import type { Reader } from './reader.js';
import type { ViommuRec } from './objects/index.js';
import type { DeviceRec, ObjectRec } from './types.js';

/** The kernel's batch of commands before its CMD_SYNC (driver/arm-smmu-v3.ts). */
export const INVALIDATION_BATCH = CMDQ_BATCH;
export const DEFAULT_MAX_INVALIDATION_ENTRIES = 4096;

export interface ViommuStats {
  /**
   * `skipped`: commands the SMMU refused inside an issued batch (CERROR_ILL, CERROR_ABT,
   * CERROR_ATC_INV_SYNC), which the host driver skipped; the request still succeeded.
   */
  invalidations: { requests: number; entries: number; batches: number; errors: number; skipped: number; byOpcode: Record<string, number> };
}

export function newViommuStats(): ViommuStats {
  return { invalidations: { requests: 0, entries: 0, batches: 0, errors: 0, skipped: 0, byOpcode: {} } };
}

/** The entry array of a request: `count` 16-byte little-endian entries in `buf`. */
export interface InvalidationInput {
  dataType: string;
  buf: Uint8Array;
  count: number;
}

export interface InvalidateOptions {
  maxEntries: number;
}

/**
 * The request's target (dispatch of iommufd_hwpt_invalidate on the object type): a vIOMMU
 * invalidates; an ARM nested HWPT has no cache_invalidate_user (EOPNOTSUPP); anything else,
 * a paging HWPT or an IOAS included, is EINVAL; a missing id is ENOENT.
 */
export function invalidationTarget(r: Reader, id: number, only?: 'viommu'): ViommuRec {
  const o = r.get('objects', id) as ObjectRec | undefined;
  // iommufd_hwpt_invalidate: IOMMUFD_OBJ_ANY lookup, then the type switch: a bound device (an
  // object of the fd) is EINVAL like any type that cannot be invalidated.
  if (!o && only !== 'viommu' && isBoundDevice(r, null, id)) fail('EINVAL', `device ${id} cannot be invalidated (only a vIOMMU or a nested HWPT)`, { entriesProcessed: 0 });
  if (!o || (only === 'viommu' && o.type !== 'viommu')) fail('ENOENT', `${only === 'viommu' ? 'vIOMMU' : 'object'} ${id} does not exist`, { entriesProcessed: 0 });
  if (o.type === 'viommu') return o;
  if (o.type === 'hwpt_nested') fail('EOPNOTSUPP', `nested HWPT ${id}: the ARM SMMUv3 driver invalidates through the vIOMMU, not the nested HWPT`, { entriesProcessed: 0 });
  return fail('EINVAL', `${o.type} ${id} cannot be invalidated (only a vIOMMU or a nested HWPT)`, { entriesProcessed: 0 });
}

/**
 * Converts and issues `count` little-endian 16-byte entries of `buf` (rewritten in place).
 * Returns the number of entries handled; on failure throws with `entriesProcessed` = the index
 * of the first failing entry, every entry before it having been issued.
 */
export function invalidateViommu(
  r: Reader,
  hw: Hardware,
  viommu: ViommuRec,
  buf: Uint8Array,
  count: number,
  stats: ViommuStats,
  opts: InvalidateOptions,
): number {
  stats.invalidations.requests++;
  try {
    // iommu_copy_struct_from_full_user_array: entry_num 0 is EINVAL on the ARM path (§2.4, §7.1).
    if (count === 0) fail('EINVAL', 'no invalidation entries (the ARM SMMUv3 path rejects entry_num 0)', { entriesProcessed: 0 });
    if (count > opts.maxEntries) fail('EINVAL', `${count} entries exceed the maximum batch of ${opts.maxEntries}`, { entriesProcessed: 0 });
    return convertAndIssue(r, hw, viommu, buf, count, stats);
  } catch (err) {
    stats.invalidations.errors++;
    throw err;
  }
}

/**
 * arm_vsmmu_cache_invalidate: each entry converted by the driver (arm_vsmmu_convert_user_cmd),
 * issued in batches of CMDQ_BATCH with the driver's CMD_SYNC (arm_smmu_cmdq_issue_cmdlist). A
 * conversion failure issues what came before it and stops with `entriesProcessed` = its index.
 * A command the SMMU refuses inside an issued batch does not fail the call: the driver skips it
 * (__arm_smmu_cmdq_skip_err) and the batch completes, every entry counted (iommufd.md §3.4); the
 * skip is counted in the vIOMMU's `skipped` and the SMMU's command errors. The model never times
 * out a CMD_SYNC, the only failure of an issued batch the kernel reports.
 */
function convertAndIssue(r: Reader, hw: Hardware, viommu: ViommuRec, buf: Uint8Array, count: number, stats: ViommuStats): number {
  const model = hw.model(viommu.smmuId);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const byOpcode = stats.invalidations.byOpcode;
  let vsidTable: Map<number, number> | null = null;
  const streamIdOf = (vsid: number): number | undefined => (vsidTable ??= vsidToStreamId(r, viommu.id)).get(vsid);
  let batchStart = 0;

  const issue = (end: number): void => {
    if (end === batchStart) return;
    const skipped = issueCmdlist(model, buf, batchStart, end - batchStart);
    stats.invalidations.batches++;
    stats.invalidations.skipped += skipped;
    stats.invalidations.entries += end - batchStart;
    batchStart = end;
  };

  for (let i = 0; i < count; i++) {
    const off = i * CMD_BYTES;
    const opcode = cmdOpcode(view, off);
    switch (convertUserCmd(view, off, viommu.vmid, streamIdOf)) {
      case 'unknown-vsid':
        issue(i);
        fail('EIO', `entry ${i}: vSID 0x${cmdGetSid(view, off).toString(16)} has no vDEVICE on vIOMMU ${viommu.id}`, { entriesProcessed: i });
        break;
      case 'not-allowed':
        issue(i);
        fail('EIO', `entry ${i}: opcode 0x${opcode.toString(16).padStart(2, '0')} (${commandName(opcode) ?? 'unknown'}) may not be issued by a guest`, {
          entriesProcessed: i,
        });
        break;
      case 'ok':
        break;
    }
    const name = commandName(opcode) as string;
    byOpcode[name] = (byOpcode[name] ?? 0) + 1;
    if (i + 1 - batchStart === INVALIDATION_BATCH) issue(i + 1);
  }
  issue(count);
  return count;
}

/** The vIOMMU's vdevs table: vSID → physical StreamID (iommufd_viommu_find_dev). */
function vsidToStreamId(r: Reader, viommuId: number): Map<number, number> {
  const table = new Map<number, number>();
  for (const o of r.indexed('objects', 'viommuType', `${viommuId}:vdevice`) as Iterable<ObjectRec>) {
    if (o.type === 'vdevice') {
      const device = r.get('devices', o.deviceId) as DeviceRec;
      table.set(o.virtId, device.streamId);
    }
  }
  return table;
}

/** The physical side: SMMU instances and devices (api.md "Host inventory"), and GET_HW_INFO. */
import { DEFAULT_AIDR, DEFAULT_IDR, DEFAULT_IIDR, decodeFeatures, getIdrField, type IdrRegisters } from '../hw/idr.js';
import { fail } from './errors.js';
import type { WriteTx } from './graph.js';
import { allocId } from './ids.js';
import type { Reader } from './reader.js';
import type { Topology } from './topology.js';
import type { CmdqvParams, DeviceRec, SmmuRec } from './types.js';

export const DEFAULT_IOTLB_SIZE = 256;

export interface CreateSmmuInput {
  name: string;
  idr?: number[];
  iidr?: number;
  aidr?: number;
  iotlbSize?: number;
  cmdqv?: { vintfs: number; vcmdqsPerVintf: number; sidsPerVintf: number; version?: number };
}

const isPow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;

export function createSmmu(tx: WriteTx, input: CreateSmmuInput): SmmuRec {
  const [same] = tx.indexed('smmus', 'name', input.name);
  if (same) fail('EEXIST', `an SMMU named "${input.name}" exists (id ${same.id})`);
  let cmdqv: CmdqvParams | null = null;
  if (input.cmdqv) {
    const { vintfs, vcmdqsPerVintf, sidsPerVintf } = input.cmdqv;
    // CMDQV PARAM carries these as log2 fields (NUM_VINTF_LOG2, NUM_VCMDQ_LOG2, NUM_SID_PER_VM_LOG2).
    for (const [name, v] of Object.entries({ vintfs, vcmdqsPerVintf, sidsPerVintf })) {
      if (!isPow2(v)) fail('EINVAL', `cmdqv.${name} must be a power of two (the CMDQV PARAM register holds its log2)`);
    }
    cmdqv = { version: input.cmdqv.version ?? 1, vintfs, vcmdqsPerVintf, sidsPerVintf };
  }
  const idr = (input.idr ?? DEFAULT_IDR).map((v) => v >>> 0) as unknown as IdrRegisters;
  // arm_smmu_device_hw_probe: a command queue of CMDQ_BATCH_ENTRIES (64) or fewer is refused
  // (the driver's batch and its CMD_SYNC must fit): no host could drive such an SMMU.
  if (getIdrField(idr, 'CMDQS') <= 6) fail('EINVAL', `idr[1].CMDQS ${getIdrField(idr, 'CMDQS')}: a command queue of 64 entries or fewer is not supported (the host driver refuses it)`);
  const smmu: SmmuRec = {
    id: allocId(tx),
    name: input.name,
    idr,
    iidr: input.iidr ?? DEFAULT_IIDR,
    aidr: input.aidr ?? DEFAULT_AIDR,
    iotlbSize: input.iotlbSize ?? DEFAULT_IOTLB_SIZE,
    cmdqv,
    createdAt: new Date(),
  };
  return tx.put('smmus', smmu);
}

/** Removing an SMMU that still has devices is EBUSY: nothing is ever deleted silently. */
export function deleteSmmu(tx: WriteTx, id: number): void {
  const smmu = tx.get('smmus', id) ?? fail('ENOENT', `SMMU ${id} does not exist`);
  const devices = [...tx.indexed('devices', 'smmu', smmu.id)].map((d) => d.id);
  if (devices.length > 0) fail('EBUSY', `SMMU ${id} still has devices ${devices.join(', ')}`, { blockedBy: devices.sort((a, b) => a - b) });
  // Objects finalised on this SMMU (paging HWPTs owning its VMIDs, vIOMMUs, vDEVICEs, ...) outlive
  // an unbind of their device; removing the SMMU under them would orphan them silently.
  const objects = [...tx.indexed('objects', 'smmu', smmu.id)].map((o) => o.id);
  if (objects.length > 0) fail('EBUSY', `SMMU ${id} is still used by objects ${objects.join(', ')}`, { blockedBy: objects.sort((a, b) => a - b) });
  tx.delete('smmus', id);
}

export interface CreateDeviceInput {
  name: string;
  smmuId: number;
  streamId: number;
  ats?: boolean;
  pasidBits?: number;
}

export function createDevice(tx: WriteTx, input: CreateDeviceInput): DeviceRec {
  const smmu = tx.get('smmus', input.smmuId) ?? fail('ENOENT', `SMMU ${input.smmuId} does not exist`);
  const sidBits = getIdrField(smmu.idr, 'SIDSIZE');
  if (sidBits < 32 && input.streamId >= 2 ** sidBits) {
    fail('EINVAL', `StreamID 0x${input.streamId.toString(16)} is beyond SMMU ${smmu.id}'s SIDSIZE (${sidBits} bits)`);
  }
  // A StreamID names one device per SMMU, a name one device of the host: both through an index
  // (indexes.ts), not a look at every device. When two devices clash, the lower id is named.
  const [sidClash] = tx.indexed('devices', 'streamId', `${smmu.id}:${input.streamId}`);
  const [nameClash] = tx.indexed('devices', 'name', input.name);
  if (sidClash && !(nameClash && nameClash.id < sidClash.id)) fail('EEXIST', `StreamID 0x${input.streamId.toString(16)} is used by device ${sidClash.id} on SMMU ${smmu.id}`);
  if (nameClash) fail('EEXIST', `a device named "${input.name}" exists (id ${nameClash.id})`);
  const device: DeviceRec = {
    id: allocId(tx),
    name: input.name,
    smmuId: smmu.id,
    streamId: input.streamId,
    ats: input.ats ?? false,
    pasidBits: input.pasidBits ?? 0,
    contextId: null,
    attachedTo: null,
    pasids: [],
    createdAt: new Date(),
  };
  return tx.put('devices', device);
}

/**
 * A device bound to a context is in use (EBUSY): unbind it first. So is a device that objects
 * still name (a HWPT, vIOMMU or vDEVICE allocated through it: their `deviceId`, which outlives an
 * unbind), as an SMMU with objects on it is: destroy them first (`blockedBy` lists them).
 */
export function deleteDevice(tx: WriteTx, id: number): void {
  const device = tx.get('devices', id) ?? fail('ENOENT', `device ${id} does not exist`);
  if (device.contextId !== null) fail('EBUSY', `device ${id} is bound to context ${device.contextId}`, { blockedBy: [device.contextId] });
  const users = [...tx.indexed('objects', 'device', device.id)].map((o) => o.id).sort((a, b) => a - b);
  if (users.length > 0) fail('EBUSY', `device ${id} is still named by objects ${users.join(', ')}: destroy them first`, { blockedBy: users });
  tx.delete('devices', id);
}

/** Loads `topology` if the inventory is empty; returns whether it did. */
export function loadTopology(tx: WriteTx, topology: Topology): boolean {
  if (tx.size('smmus') > 0) return false;
  for (const s of topology.smmus) {
    const smmu = createSmmu(tx, s);
    for (const d of s.devices ?? []) createDevice(tx, { ...d, smmuId: smmu.id });
  }
  return true;
}

export const HW_INFO_TYPES = ['default', 'intel_vtd', 'arm_smmuv3', 'tegra241_cmdqv', 'amd'] as const;
export type HwInfoType = (typeof HW_INFO_TYPES)[number];

export interface HwInfo {
  type: 'arm_smmuv3' | 'tegra241_cmdqv';
  data: { flags: number; idr: number[]; iidr: number; aidr: number } | { flags: number; version: number; log2vcmdqs: number; log2vsids: number };
  maxPasidLog2: number;
  capabilities: string[];
}

/** IOMMU_GET_HW_INFO (iommufd_get_hw_info, arm_smmu_hw_info, tegra241_cmdqv_hw_info). */
export function hwInfo(r: Reader, deviceId: number, type: HwInfoType): HwInfo {
  // Rule 3: dev_id must be a bound device (a device is an object of its context only while bound).
  const device = r.get('devices', deviceId);
  if (!device || device.contextId === null) fail('ENOENT', `device ${deviceId} is not bound to a context`);
  const smmu = r.get('smmus', device.smmuId) as SmmuRec;
  const features = decodeFeatures(smmu.idr);
  const capabilities: string[] = [];
  // IOMMU_HW_CAP_DIRTY_TRACKING: IDR0.HTTU = 2 (access + dirty).
  if (getIdrField(smmu.idr, 'HTTU') === 2) capabilities.push('dirty_tracking');
  if (device.pasidBits > 0) capabilities.push('pci_pasid_exec', 'pci_pasid_priv');
  if (!device.ats || !features.ats) capabilities.push('pci_ats_not_supported');
  const common = { maxPasidLog2: device.pasidBits, capabilities };
  switch (type) {
    case 'default':
    case 'arm_smmuv3':
      return { type: 'arm_smmuv3', data: { flags: 0, idr: [...smmu.idr], iidr: smmu.iidr, aidr: smmu.aidr }, ...common };
    case 'tegra241_cmdqv': {
      // Only an SMMU with a CMDQV has the impl hook that accepts type 3.
      if (!smmu.cmdqv) fail('EOPNOTSUPP', `SMMU ${smmu.id} has no Tegra241 CMDQV`);
      return {
        type: 'tegra241_cmdqv',
        data: {
          flags: 0,
          version: smmu.cmdqv.version,
          log2vcmdqs: Math.log2(smmu.cmdqv.vcmdqsPerVintf),
          log2vsids: Math.log2(smmu.cmdqv.sidsPerVintf),
        },
        ...common,
      };
    }
    default:
      // arm_smmu_hw_info: neither DEFAULT nor ARM_SMMUV3 and no impl hook → EOPNOTSUPP.
      return fail('EOPNOTSUPP', `hw-info type ${type} is not supported by SMMU ${smmu.id}`);
  }
}

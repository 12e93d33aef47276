/**
 * A device's DMA through its SMMU (POST /v1/devices/{id}/translate): the model walks the
 * device's STE, CD, stage 1 and stage 2 over simulated host memory (stage 2 resolved through the
 * nest parent's IOAS mappings), with its IOTLB and ATC. A fault's 32-byte event record reaches
 * the VM as the ARM driver forwards it (iommufd.md §3.5): only for a device with a vmaster — a
 * vDEVICE on the vIOMMU of the nested HWPT it is attached to — with the StreamID replaced by the
 * vSID, onto that vIOMMU's arm_smmuv3 vEVENTQ. Anything else stays with the host (not forwarded).
 */
import type { TranslateResult } from '../hw/index.js';
import { fail } from './errors.js';
import type { Hardware } from './hardware.js';
import type { HostMemory } from './memory.js';
import type { Reader } from './reader.js';
import type { DeviceRec, ObjectRec } from './types.js';

export interface TranslateInput {
  iova: bigint;
  ssid?: number;
  access: 'read' | 'write';
}

/** Where a fault's event goes: the vIOMMU's arm_smmuv3 vEVENTQ, with the vSID in word 0. */
export interface EventRoute {
  viommuId: number;
  virtId: number;
  /** The record with StreamID [63:32] of word 0 replaced by the vSID. */
  record: bigint[];
}

/** The device's vmaster (arm_smmu_attach_prepare_vmaster): its vDEVICE on the attached nested HWPT's vIOMMU. */
export function vmasterOf(r: Reader, device: DeviceRec): { viommuId: number; virtId: number } | null {
  if (device.attachedTo === null) return null;
  const hwpt = r.get('objects', device.attachedTo) as ObjectRec | undefined;
  if (!hwpt || hwpt.type !== 'hwpt_nested') return null;
  for (const o of r.indexed('objects', 'device', device.id) as Iterable<ObjectRec>) {
    if (o.type === 'vdevice' && o.viommuId === hwpt.viommuId) return { viommuId: o.viommuId, virtId: o.virtId };
  }
  return null;
}

/** Runs the DMA in the model; returns the result and, for a forwarded fault, its route. */
export function translateDevice(r: Reader, hw: Hardware, memory: HostMemory, deviceId: number, input: TranslateInput): { result: TranslateResult; route: EventRoute | null } {
  const device = (r.get('devices', deviceId) as DeviceRec | undefined) ?? fail('ENOENT', `device ${deviceId} does not exist`);
  const result = hw.model(device.smmuId).translate({ sid: device.streamId, ssid: input.ssid, iova: input.iova, access: input.access }, memory);
  if (result.ok || result.event === null) return { result, route: null };
  const vmaster = vmasterOf(r, device);
  if (!vmaster) return { result, route: null };
  const record = [...result.event];
  record[0] = (record[0]! & 0xffffffffn) | (BigInt(vmaster.virtId) << 32n);
  return { result, route: { ...vmaster, record } };
}

/**
 * The physical side as the model sees it: one Smmuv3 per SMMU of the inventory, whose stream
 * table is derived from the committed object graph after every write (as the ARM driver writes
 * an STE and issues CFGI_STE on attach, replace and detach). Rebuilt from the database at start,
 * with empty caches, as after a hardware reset.
 */
import { Smmuv3, type SteWords } from '../hw/index.js';
import { buildAbortSte, buildNestedSte, buildS2Ste, installSte } from './driver/arm-smmu-v3.js';
import type { ObjectGraph } from './graph.js';
import type { DeviceRec, SmmuRec } from './types.js';
import { decodeVste } from './vste.js';

/** The S2 "table base" of an IOAS: the model resolves stage 2 through the IOAS mappings. */
export const s2HandleOfIoas = (ioasId: number): bigint => BigInt(ioasId) << 4n;

export class Hardware {
  private readonly models = new Map<number, Smmuv3>();
  /** The STE each device currently has installed, as 16-digit hex words, to spot changes. */
  private readonly installed = new Map<number, string>();

  constructor(private readonly graph: ObjectGraph) {}

  /** Fresh models for every SMMU (caches empty) and every device's STE installed. */
  rebuild(): void {
    this.models.clear();
    this.installed.clear();
    this.sync();
  }

  model(smmuId: number): Smmuv3 {
    const m = this.models.get(smmuId);
    if (!m) throw new Error(`no hardware model for SMMU ${smmuId}`);
    return m;
  }

  hasModel(smmuId: number): boolean {
    return this.models.has(smmuId);
  }

  /** Brings the models in line with the committed graph: SMMUs added/removed, STEs changed. */
  sync(): void {
    for (const smmu of this.graph.values('smmus')) {
      if (!this.models.has(smmu.id)) this.models.set(smmu.id, newModel(smmu));
    }
    for (const id of [...this.models.keys()]) if (!this.graph.get('smmus', id)) this.models.delete(id);
    const seen = new Set<number>();
    for (const device of this.graph.values('devices')) {
      seen.add(device.id);
      const ste = this.deriveSte(device);
      const key = ste.map((w) => w.toString(16)).join(',');
      if (this.installed.get(device.id) === key) continue;
      installSte(this.model(device.smmuId), device.streamId, ste);
      this.installed.set(device.id, key);
    }
    for (const id of [...this.installed.keys()]) if (!seen.has(id)) this.installed.delete(id);
  }

  /** The physical STE of a device, from what it is attached to (iommufd.md §3.3). */
  deriveSte(device: DeviceRec): SteWords {
    const hwpt = device.attachedTo === null ? undefined : this.graph.get('objects', device.attachedTo);
    if (!hwpt || device.contextId === null) return buildAbortSte();
    if (hwpt.type === 'hwpt_paging') {
      return buildS2Ste({ vmid: hwpt.vmid, s2ttb: s2HandleOfIoas(hwpt.ioasId), ats: false });
    }
    if (hwpt.type !== 'hwpt_nested') return buildAbortSte();
    const viommu = this.graph.get('objects', hwpt.viommuId);
    const parent = viommu?.type === 'viommu' ? this.graph.get('objects', viommu.hwptId) : undefined;
    if (viommu?.type !== 'viommu' || parent?.type !== 'hwpt_paging') throw new Error(`nested HWPT ${hwpt.id}: no vIOMMU with a nest parent`);
    const vste: [bigint, bigint] = [hwpt.vste0, hwpt.vste1];
    const config = decodeVste(vste[0], vste[1]).config;
    if (config === 'invalid' || config === 'abort') return buildAbortSte();
    // arm_smmu_make_nested_domain_ste: the parent's S2 STE, with the vIOMMU's VMID.
    const ats = hwpt.enableAts && device.ats;
    const s2 = buildS2Ste({ vmid: viommu.vmid, s2ttb: s2HandleOfIoas(parent.ioasId), ats: config === 's1_translate' && ats });
    if (config === 'bypass') return s2;
    return buildNestedSte(vste, s2, { ats });
  }
}

function newModel(smmu: SmmuRec): Smmuv3 {
  return new Smmuv3({ idr: smmu.idr, iidr: smmu.iidr, aidr: smmu.aidr, iotlbSize: smmu.iotlbSize });
}

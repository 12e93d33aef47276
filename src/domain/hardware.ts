/**
 * The physical side as the model sees it: one Smmuv3 per SMMU of the inventory, whose stream
 * table and the driver's CD tables are derived from the committed object graph after every write
 * (as the ARM driver writes a CD and issues CFGI_CD, writes an STE and issues CFGI_STE, on
 * attach, replace and detach). Rebuilt from the database at start, with empty caches, as after a
 * hardware reset.
 */
import { ATC_INV_SIZE_ALL, decodeFeatures, encodeCommand, getIdrField, Smmuv3, steGet, wordsToBytes, CMD_BYTES, type SteWords } from '../hw/index.js';
import { buildAbortSte, buildNestedSte, buildS2Ste, clearSte, installSte, issueCmdlist } from './driver/arm-smmu-v3.js';
import { buildCdTableSte, buildS1Cd, cdTableLayout, cdTableRegion, DriverMemory, S1DSS, s1HandleOfIoas, writeCd, type CdTableLayout } from './driver/cd-table.js';
import type { ObjectGraph, StagedChange } from './graph.js';
import type { Reader } from './reader.js';
import type { HwptPagingRec } from './objects/index.js';
import { ssidBitsOf } from './pasid.js';
import type { DeviceRec, SmmuRec } from './types.js';
import { decodeVste } from './vste.js';

/** The S2 "table base" of an IOAS: the model resolves stage 2 through the IOAS mappings. */
export const s2HandleOfIoas = (ioasId: number): bigint => BigInt(ioasId) << 4n;

/** One CD of a device's table: the stage-1 domain behind an SSID. */
export interface HostCd {
  ssid: number;
  hwptId: number;
  asid: number;
  words: bigint[];
}

/** What the host driver programs for one device: its STE, and its CD table when it has one. */
export interface HostConfig {
  ste: SteWords;
  cdTable: (CdTableLayout & { s1dss: number; cds: HostCd[] }) | null;
}

const key = (words: readonly bigint[]): string => words.map((w) => w.toString(16)).join(',');

export class Hardware {
  private readonly models = new Map<number, Smmuv3>();
  /** DMA-coherent memory of the host driver: the CD tables (read by the models). */
  readonly driverMemory = new DriverMemory();
  /** The STE each device currently has installed (and where), to spot changes and removals. */
  private readonly installed = new Map<number, { key: string; smmuId: number; streamId: number }>();
  /** The CD table each device currently has, and the CDs it holds by SSID. */
  private readonly installedCds = new Map<number, { layout: CdTableLayout; cds: Map<number, string> }>();
  /**
   * The objects each device's configuration was derived from (its domain, its PASIDs' domains,
   * a nested domain's vIOMMU and nest parent), and the reverse: a commit re-derives only the
   * devices that read a changed object (issue 13: an attach costs its devices, not the host's).
   */
  private readonly dependsOn = new Map<number, number[]>();
  /** Per object, the devices that read it: one device as the bare number (most objects: no Set each). */
  private readonly dependents = new Map<number, number | Set<number>>();

  constructor(private readonly graph: ObjectGraph) {}

  /** Fresh models for every SMMU (caches empty) and every device's CD table and STE installed. */
  rebuild(): void {
    this.models.clear();
    this.installed.clear();
    this.installedCds.clear();
    this.dependsOn.clear();
    this.dependents.clear();
    this.driverMemory.clear();
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

  /**
   * Brings the models in line with the committed graph: SMMUs added/removed, CDs and STEs changed.
   * With `changes` (one commit's), only the devices they can affect are derived again: a changed
   * or removed device, the devices of a changed SMMU, and the devices whose configuration read a
   * changed object; without, every device (start, reset).
   */
  sync(changes?: readonly StagedChange[]): void {
    const smmusChanged = changes === undefined || changes.some((c) => c.table === 'smmus');
    if (smmusChanged) {
      for (const smmu of this.graph.values('smmus')) {
        if (!this.models.has(smmu.id)) this.models.set(smmu.id, newModel(smmu));
      }
      for (const id of [...this.models.keys()]) if (!this.graph.get('smmus', id)) this.models.delete(id);
    }
    const affected = changes === undefined ? null : this.affectedDevices(changes);
    const devices = affected === null ? this.graph.values('devices') : [...affected].sort((a, b) => a - b).map((id) => this.graph.get('devices', id));
    const seen = new Set<number>();
    for (const device of devices) {
      if (device === undefined) continue;
      seen.add(device.id);
      const host = this.deriveHost(device);
      this.recordDependencies(device);
      const model = this.model(device.smmuId);
      // The driver's order: new and changed CDs, and PASID CDs going away, before the STE
      // (arm_smmu_set_pasid, arm_smmu_blocking_set_dev_pasid); the RID's CD 0 going away after
      // it (arm_smmu_attach_dev_ste, and arm_smmu_attach_dev for a stage-2 domain, clear CD 0 once
      // the new STE is in).
      const table = host.cdTable;
      const dropsCd0 = this.installedCds.get(device.id)?.cds.has(0) === true && !table?.cds.some((cd) => cd.ssid === 0);
      if (table || this.installedCds.has(device.id)) this.installCds(model, device, table, dropsCd0 ? 0 : null);
      const steKey = key(host.ste);
      if (this.installed.get(device.id)?.key !== steKey) {
        installSte(model, device.streamId, host.ste);
        this.installed.set(device.id, { key: steKey, smmuId: device.smmuId, streamId: device.streamId });
      }
      if (dropsCd0) this.installCds(model, device, table, null);
    }
    // A device gone from the inventory: its STE leaves the stream table at once (CFGI_STE +
    // CMD_SYNC), unless a device added in the same commit took its StreamID.
    const gone = affected === null ? [...this.installed.keys()].filter((id) => !seen.has(id)) : [...affected].filter((id) => !seen.has(id) && this.installed.has(id));
    for (const id of gone) {
      const was = this.installed.get(id) as { key: string; smmuId: number; streamId: number };
      this.installed.delete(id);
      this.installedCds.delete(id);
      this.forgetDependencies(id);
      const model = this.models.get(was.smmuId);
      // The graph is committed: a device that now has the StreamID is found by its index.
      const reused = [...this.graph.indexed('devices', 'streamId', `${was.smmuId}:${was.streamId}`)].some((d) => this.installed.has(d.id));
      if (model && !reused) clearSte(model, was.streamId);
    }
  }

  /** The devices one commit can change the configuration of. */
  private affectedDevices(changes: readonly StagedChange[]): Set<number> {
    const out = new Set<number>();
    for (const c of changes) {
      if (c.table === 'devices') out.add(Number(c.key));
      else if (c.table === 'smmus') for (const d of this.graph.indexed('devices', 'smmu', c.key)) out.add(d.id);
      else if (c.table === 'objects') {
        const deps = this.dependents.get(Number(c.key));
        if (typeof deps === 'number') out.add(deps);
        else if (deps !== undefined) for (const id of deps) out.add(id);
      }
    }
    return out;
  }

  /** Notes which objects `device`'s configuration reads (deriveHost's reads, by id). */
  private recordDependencies(device: DeviceRec): void {
    const ids: number[] = [];
    if (device.attachedTo !== null) {
      ids.push(device.attachedTo);
      const hwpt = this.graph.get('objects', device.attachedTo);
      if (hwpt?.type === 'hwpt_nested') {
        ids.push(hwpt.viommuId);
        const viommu = this.graph.get('objects', hwpt.viommuId);
        if (viommu?.type === 'viommu') ids.push(viommu.hwptId);
      }
    }
    for (const a of device.pasids) ids.push(a.hwptId);
    this.forgetDependencies(device.id);
    // An exact copy: the pushed list reserves 17 slots (~150 bytes a device on the large host).
    this.dependsOn.set(device.id, ids.slice());
    for (const id of ids) {
      const deps = this.dependents.get(id);
      if (deps === undefined) this.dependents.set(id, device.id);
      else if (typeof deps === 'number') {
        if (deps !== device.id) this.dependents.set(id, new Set([deps, device.id]));
      } else deps.add(device.id);
    }
  }

  private forgetDependencies(deviceId: number): void {
    for (const id of this.dependsOn.get(deviceId) ?? []) {
      const deps = this.dependents.get(id);
      if (deps === deviceId) this.dependents.delete(id);
      else if (typeof deps === 'object') {
        deps.delete(deviceId);
        if (deps.size === 0) this.dependents.delete(id);
      }
    }
    this.dependsOn.delete(deviceId);
  }

  /**
   * `arm_smmu_write_cd_entry` for every CD that changed (written, or cleared — but `keep`, whose
   * clearing waits for the STE), then `arm_smmu_sync_cd`: CFGI_CD (SSID, leaf) for each, and a
   * CMD_SYNC, through the main queue.
   */
  private installCds(model: Smmuv3, device: DeviceRec, table: HostConfig['cdTable'], keep: number | null): void {
    const previous = this.installedCds.get(device.id);
    const before = previous?.cds ?? new Map<number, string>();
    const after = new Map<number, string>();
    const changed: number[] = [];
    for (const cd of table?.cds ?? []) {
      const k = key(cd.words);
      after.set(cd.ssid, k);
      if (before.get(cd.ssid) !== k) {
        writeCd(this.driverMemory, table as CdTableLayout, cd.ssid, cd.words);
        changed.push(cd.ssid);
      }
    }
    for (const ssid of before.keys()) {
      if (after.has(ssid)) continue;
      if (ssid === keep) {
        after.set(ssid, before.get(ssid) as string);
        continue;
      }
      writeCd(this.driverMemory, table ?? (previous as { layout: CdTableLayout }).layout, ssid, new Array<bigint>(8).fill(0n));
      changed.push(ssid);
    }
    const layout = table ?? previous?.layout;
    if (layout && after.size > 0) this.installedCds.set(device.id, { layout, cds: after });
    else this.installedCds.delete(device.id);
    if (changed.length === 0) return;
    const buf = new Uint8Array(changed.length * CMD_BYTES);
    changed.forEach((ssid, i) => wordsToBytes(encodeCommand('CFGI_CD', { SID: device.streamId, SSID: ssid, LEAF: 1 }), buf, i * CMD_BYTES));
    issueCmdlist(model, buf, 0, changed.length);
  }

  /**
   * After an IOAS unmap (`iopt_unmap_iova_range` → `iommu_unmap` → the domain's `iotlb_sync`): every
   * domain over the IOAS drops what its TLB may hold — a stage-1 domain by its ASID (TLBI_NH_ASID,
   * `arm_smmu_tlb_inv_asid`), a stage-2 domain by its VMID (TLBI_S12_VMALL), and a nest parent for
   * each vIOMMU on it too, whose guests' stage-1 entries were combined with it (the driver's
   * TLBI_NH_ALL + S2 range of a nest parent) — then the ATCs of the devices attached through them
   * (ATC_INV of everything, `arm_smmu_atc_inv_domain`), each SMMU's batch ended by a CMD_SYNC.
   */
  invalidateIoas(ioasId: number): void {
    const bySmmu = new Map<number, bigint[][]>();
    const add = (smmuId: number, cmd: bigint[]): void => {
      const list = bySmmu.get(smmuId) ?? [];
      list.push(cmd);
      bySmmu.set(smmuId, list);
    };
    // Devices behind a nested HWPT over a vIOMMU on one of these nest parents: their ATCs go after
    // the TLB invalidations, in device order.
    const nestedDevices: DeviceRec[] = [];
    for (const o of this.graph.indexed('objects', 'ioas', ioasId)) {
      if (o.type !== 'hwpt_paging') continue;
      if (o.stage === 1) add(o.smmuId, encodeCommand('TLBI_NH_ASID', { ASID: o.asid, VMID: 0 }));
      else add(o.smmuId, encodeCommand('TLBI_S12_VMALL', { VMID: o.vmid }));
      if (!o.nestParent) continue;
      for (const v of this.graph.indexed('objects', 'hwpt', o.id)) {
        if (v.type !== 'viommu') continue;
        add(v.smmuId, encodeCommand('TLBI_S12_VMALL', { VMID: v.vmid }));
        for (const nested of this.graph.indexed('objects', 'viommu', v.id)) {
          if (nested.type === 'hwpt_nested') nestedDevices.push(...this.graph.indexed('devices', 'attachedTo', nested.id));
        }
      }
    }
    for (const d of nestedDevices.sort((a, b) => a.id - b.id)) {
      if (steGet(this.deriveSte(d), 'EATS') !== 0) add(d.smmuId, encodeCommand('ATC_INV', { SID: d.streamId, SIZE: ATC_INV_SIZE_ALL }));
    }
    for (const [smmuId, cmds] of bySmmu) {
      const buf = new Uint8Array(cmds.length * CMD_BYTES);
      cmds.forEach((c, i) => wordsToBytes(c, buf, i * CMD_BYTES));
      issueCmdlist(this.model(smmuId), buf, 0, cmds.length);
    }
  }

  /** The physical STE of a device, from what it is attached to (iommufd.md §3.3). */
  deriveSte(device: DeviceRec): SteWords {
    return this.deriveHost(device).ste;
  }

  /**
   * What the driver programs for `device`: an abort STE while it is unbound or blocked without
   * PASIDs; the S2 STE of a stage-2 domain; the nested STE of a nested domain; and a CD table
   * STE (`arm_smmu_make_cdtable_ste`) when its RID is on a stage-1 domain (S1DSS=SSID0, that
   * domain's CD at SSID 0) or PASIDs are attached (S1DSS from the RID: blocked → terminate).
   */
  deriveHost(device: DeviceRec, r: Reader = this.graph): HostConfig {
    const hwpt = device.attachedTo === null ? undefined : r.get('objects', device.attachedTo);
    if (device.contextId === null) return { ste: buildAbortSte(), cdTable: null };
    const smmu = r.get('smmus', device.smmuId) as SmmuRec;
    const cds: HostCd[] = [];
    for (const a of device.pasids) {
      const domain = r.get('objects', a.hwptId);
      if (domain?.type === 'hwpt_paging' && domain.stage === 1) cds.push(this.s1Cd(smmu, a.pasid, domain));
    }
    if (hwpt?.type === 'hwpt_paging' && hwpt.stage === 1) {
      return this.cdTableConfig(smmu, device, S1DSS.SSID0, [this.s1Cd(smmu, 0, hwpt), ...cds]);
    }
    if (!hwpt) return cds.length > 0 ? this.cdTableConfig(smmu, device, S1DSS.TERMINATE, cds) : { ste: buildAbortSte(), cdTable: null };
    if (hwpt.type === 'hwpt_paging') {
      return { ste: buildS2Ste({ vmid: hwpt.vmid, s2ttb: s2HandleOfIoas(hwpt.ioasId), ats: false }), cdTable: null };
    }
    if (hwpt.type !== 'hwpt_nested') return { ste: buildAbortSte(), cdTable: null };
    const viommu = r.get('objects', hwpt.viommuId);
    const parent = viommu?.type === 'viommu' ? r.get('objects', viommu.hwptId) : undefined;
    if (viommu?.type !== 'viommu' || parent?.type !== 'hwpt_paging') throw new Error(`nested HWPT ${hwpt.id}: no vIOMMU with a nest parent`);
    const vste: [bigint, bigint] = [hwpt.vste0, hwpt.vste1];
    const config = decodeVste(vste[0], vste[1]).config;
    if (config === 'invalid' || config === 'abort') return { ste: buildAbortSte(), cdTable: null };
    // arm_smmu_make_nested_domain_ste: the parent's S2 STE, with the vIOMMU's VMID.
    const ats = hwpt.enableAts && device.ats;
    const s2 = buildS2Ste({ vmid: viommu.vmid, s2ttb: s2HandleOfIoas(parent.ioasId), ats: config === 's1_translate' && ats });
    if (config === 'bypass') return { ste: s2, cdTable: null };
    return { ste: buildNestedSte(vste, s2, { ats }), cdTable: null };
  }

  private s1Cd(smmu: SmmuRec, ssid: number, domain: HwptPagingRec): HostCd {
    const words = buildS1Cd({ asid: domain.asid, ttb0: s1HandleOfIoas(domain.ioasId), ips: getIdrField(smmu.idr, 'OAS') });
    return { ssid, hwptId: domain.id, asid: domain.asid, words };
  }

  private cdTableConfig(smmu: SmmuRec, device: DeviceRec, s1dss: number, cds: HostCd[]): HostConfig {
    const features = decodeFeatures(smmu.idr);
    const layout = cdTableLayout(cdTableRegion(device.id), ssidBitsOf(device, smmu), getIdrField(smmu.idr, 'CD2L') === 1);
    // arm_smmu_make_cdtable_ste: S1STALLD when the SMMU supports stalls (STALL_MODEL 0 or 2) and
    // the master does not use them; ATS stays off for host paging domains, as for stage 2 here.
    const stalls = getIdrField(smmu.idr, 'STALL_MODEL') !== 1 && features.s1p;
    const ste = buildCdTableSte(layout, s1dss, { ats: false, stalls });
    return { ste, cdTable: { ...layout, s1dss, cds: cds.sort((a, b) => a.ssid - b.ssid) } };
  }
}

function newModel(smmu: SmmuRec): Smmuv3 {
  return new Smmuv3({ idr: smmu.idr, iidr: smmu.iidr, aidr: smmu.aidr, iotlbSize: smmu.iotlbSize });
}

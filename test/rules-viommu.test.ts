/**
 * Contract tests for the vIOMMU rules of iommufd.md: GET_HW_INFO (§2.2, §6.2, T2), VIOMMU_ALLOC
 * (§2.5, §3.1, §6.4, A1, T1), VDEVICE_ALLOC (§2.6, §6.6, T4), contexts and bind/unbind (§1.4,
 * §6.9 scenario 80), and inventory changes that never silently delete referenced objects.
 * Every rejected request is checked for its errno/status and for leaving DB and graph unchanged.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_IDR, setIdrField } from '../src/hw/idr.js';
import { buildViommu, deviceByName, expectConsistent, expectProblem, expectUnchanged, must, startApp, type Res, type TestApp } from './helper.js';

let t: TestApp | undefined;
const tmpDirs: string[] = [];
afterEach(async () => {
  await t?.close();
  t = undefined;
  for (const d of tmpDirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Rejected: the problem has this errno and status, and neither the DB nor the graph moved. */
async function rejected(t: TestApp, errno: string, status: number, send: () => Promise<Res>) {
  let res: Res | undefined;
  await expectUnchanged(t, async () => {
    res = await send();
    expectProblem(res, errno, status);
  });
  return res!.body;
}

// Context names are unique (EEXIST): each context a test creates gets its own.
let contexts = 0;
const ctxOf = async (t: TestApp, name = `vm-ctx-${++contexts}`) => must(await t.req('POST', '/v1/contexts', { name }), 201).id as number;
const bind = async (t: TestApp, ctx: number, dev: number) => must(await t.req('POST', `/v1/contexts/${ctx}/devices`, { deviceId: dev }), 201);
const ioasOf = async (t: TestApp, ctx: number) => must(await t.req('POST', '/v1/ioas', { contextId: ctx }), 201).id as number;
const nestParent = async (t: TestApp, dev: number, ioas: number) =>
  must(await t.req('POST', '/v1/hwpts', { deviceId: dev, ptId: ioas, flags: ['nest_parent'] }), 201).id as number;
const viommu = (t: TestApp, deviceId: number, hwptId: number, type = 'arm_smmuv3') => t.req('POST', '/v1/viommus', { deviceId, hwptId, type });
const vdevice = (t: TestApp, viommuId: number, deviceId: number, virtId: number) => t.req('POST', '/v1/vdevices', { viommuId, deviceId, virtId });

describe('GET_HW_INFO (§2.2, §6.2, §6.11 T2)', () => {
  it('§2.2 GET_HW_INFO: type default and arm_smmuv3 report the SMMU\'s raw IDR0..5, IIDR and AIDR with flags 0 (§6.2)', async () => {
    t = await startApp();
    const nic0 = await deviceByName(t, 'nic0');
    const ctx = await ctxOf(t);
    await bind(t, ctx, nic0.id);
    const smmu = must(await t.req('GET', `/v1/smmus/${nic0.smmuId}`), 200);
    for (const q of ['', '?type=default', '?type=arm_smmuv3']) {
      const info = must(await t.req('GET', `/v1/devices/${nic0.id}/hw-info${q}`), 200);
      expect(info.type).toBe('arm_smmuv3');
      expect(info.data).toEqual({ flags: 0, idr: smmu.idr, iidr: smmu.iidr, aidr: smmu.aidr });
      expect(info.data.idr).toHaveLength(6);
      expect(info.maxPasidLog2).toBe(0);
      expect(Array.isArray(info.capabilities)).toBe(true);
    }
  });

  it('§2.2 GET_HW_INFO: maxPasidLog2 and capabilities are per device (PASID width, PASID exec/priv, ATS not supported) (§6.2 scenario 9)', async () => {
    t = await startApp();
    const ctx = await ctxOf(t);
    const gpu0 = await deviceByName(t, 'gpu0');
    const nvme0 = await deviceByName(t, 'nvme0');
    const nic0 = await deviceByName(t, 'nic0');
    for (const d of [gpu0, nvme0, nic0]) await bind(t, ctx, d.id);
    const gpu = must(await t.req('GET', `/v1/devices/${gpu0.id}/hw-info`), 200);
    expect(gpu.maxPasidLog2).toBe(20);
    expect(gpu.capabilities).toEqual(expect.arrayContaining(['pci_pasid_exec', 'pci_pasid_priv']));
    expect(gpu.capabilities).not.toContain('pci_ats_not_supported');
    const nvme = must(await t.req('GET', `/v1/devices/${nvme0.id}/hw-info`), 200);
    expect(nvme.maxPasidLog2).toBe(0);
    expect(nvme.capabilities).toContain('pci_ats_not_supported');
    expect(nvme.capabilities).not.toContain('pci_pasid_exec');
    const nic = must(await t.req('GET', `/v1/devices/${nic0.id}/hw-info`), 200);
    expect(nic.capabilities).not.toContain('pci_ats_not_supported');
  });

  it('§2.2 GET_HW_INFO: a type the SMMU does not support is EOPNOTSUPP (tegra241_cmdqv without a CMDQV, intel_vtd, amd) (§6.2 scenario 7)', async () => {
    t = await startApp();
    const ctx = await ctxOf(t);
    const nic0 = await deviceByName(t, 'nic0');
    const nic1 = await deviceByName(t, 'nic1');
    await bind(t, ctx, nic0.id);
    await bind(t, ctx, nic1.id);
    await rejected(t, 'EOPNOTSUPP', 422, () => t!.req('GET', `/v1/devices/${nic0.id}/hw-info?type=tegra241_cmdqv`));
    for (const dev of [nic0.id, nic1.id]) {
      for (const type of ['intel_vtd', 'amd']) await rejected(t, 'EOPNOTSUPP', 422, () => t!.req('GET', `/v1/devices/${dev}/hw-info?type=${type}`));
    }
  });

  it('§2.2 GET_HW_INFO: a device that is not bound (or does not exist) is ENOENT (§6.2 scenario 10)', async () => {
    t = await startApp();
    const nic0 = await deviceByName(t, 'nic0');
    await rejected(t, 'ENOENT', 404, () => t!.req('GET', `/v1/devices/${nic0.id}/hw-info`));
    await rejected(t, 'ENOENT', 404, () => t!.req('GET', '/v1/devices/999999/hw-info'));
  });

  it('§6.11 T2: on the CMDQV SMMU, tegra241_cmdqv reports version, log2vcmdqs, log2vsids; without it the same device reports arm_smmuv3', async () => {
    t = await startApp();
    const ctx = await ctxOf(t);
    const nic1 = await deviceByName(t, 'nic1');
    await bind(t, ctx, nic1.id);
    const smmu = must(await t.req('GET', `/v1/smmus/${nic1.smmuId}`), 200);
    expect(smmu.cmdqv).toMatchObject({ vintfs: 4, vcmdqsPerVintf: 2, sidsPerVintf: 16 });
    const cmdqv = must(await t.req('GET', `/v1/devices/${nic1.id}/hw-info?type=tegra241_cmdqv`), 200);
    expect(cmdqv).toMatchObject({ type: 'tegra241_cmdqv', data: { version: 1, log2vcmdqs: 1, log2vsids: 4 } });
    expect(cmdqv.data).toEqual({ flags: 0, version: 1, log2vcmdqs: 1, log2vsids: 4 });
    const plain = must(await t.req('GET', `/v1/devices/${nic1.id}/hw-info`), 200);
    expect(plain.type).toBe('arm_smmuv3');
    expect(plain.data).toEqual({ flags: 0, idr: smmu.idr, iidr: smmu.iidr, aidr: smmu.aidr });
  });
});

/** A context with `devices` bound, one IOAS they are attached to, and a nest parent per device name given. */
async function vmWith(t: TestApp, names: string[]) {
  const ctx = await ctxOf(t);
  const ioas = await ioasOf(t, ctx);
  const dev: Record<string, number> = {};
  for (const n of names) {
    dev[n] = (await deviceByName(t, n)).id;
    await bind(t, ctx, dev[n]);
    must(await t.req('PUT', `/v1/devices/${dev[n]}/attachment`, { ptId: ioas }), 200);
  }
  return { ctx, ioas, dev };
}

/** An SMMU with these IDR0 fields changed from the default, and one device on it. */
async function customSmmu(t: TestApp, name: string, idr0: number, cmdqv?: object) {
  const base = must(await t.req('GET', '/v1/smmus?limit=500'), 200).items.find((s: { name: string }) => s.name === 'smmu0');
  const idr = [...base.idr];
  idr[0] = idr0 >>> 0;
  const smmu = must(await t.req('POST', '/v1/smmus', { name, idr, ...(cmdqv ? { cmdqv } : {}) }), 201);
  const device = must(await t.req('POST', '/v1/devices', { name: `${name}-dev`, smmuId: smmu.id, streamId: 0x10 }), 201);
  return { smmu, device, defaultIdr0: base.idr[0] as number };
}

describe('VIOMMU_ALLOC (§2.5, §3.1, §6.4, §6.10 A1, §6.11 T1)', () => {
  it('§2.5 VIOMMU_ALLOC: a type the SMMU does not know is EOPNOTSUPP (get_viommu_size returns 0), after the device lookup (ENOENT)', async () => {
    t = await startApp();
    const g = await buildViommu(t);
    await expectUnchanged(t!, async () => {
      expectProblem(await t!.req('POST', '/v1/viommus', { deviceId: g.dev, hwptId: g.parent, type: 'intel_vtd' }), 'EOPNOTSUPP', 422);
      expectProblem(await t!.req('POST', '/v1/viommus', { deviceId: 999999, hwptId: g.parent, type: 'intel_vtd' }), 'ENOENT', 404);
      expectProblem(await t!.req('POST', '/v1/viommus', { deviceId: g.dev, hwptId: g.parent, type: '' }), 'EINVAL', 400);
    });
  });

  it('§2.5 VIOMMU_ALLOC: the parent must be a nest-parent paging HWPT (EINVAL); a missing id, an IOAS or another type is ENOENT (§6.4 scenarios 38, 39)', async () => {
    t = await startApp();
    const g = await buildViommu(t);
    const plain = must(await t.req('POST', '/v1/hwpts', { deviceId: g.dev, ptId: g.ioas, flags: [] }), 201).id;
    await rejected(t, 'EINVAL', 400, () => viommu(t!, g.dev, plain));
    const dirty = must(await t.req('GET', `/v1/objects/${plain}`), 200);
    expect(dirty).toMatchObject({ type: 'hwpt_paging', nestParent: false });
    await rejected(t, 'ENOENT', 404, () => viommu(t!, g.dev, 999999));
    await rejected(t, 'ENOENT', 404, () => viommu(t!, g.dev, g.ioas));
    await rejected(t, 'ENOENT', 404, () => viommu(t!, g.dev, g.viommu));
    const nested = must(await t.req('POST', '/v1/hwpts', { deviceId: g.dev, ptId: g.viommu, data: { type: 'arm_smmuv3', ste: ['0x1', '0x0'] } }), 201).id;
    await rejected(t, 'ENOENT', 404, () => viommu(t!, g.dev, nested));
    // A nest parent of another context is a foreign id: ENOENT.
    const other = await vmWith(t, ['nvme0']);
    const foreignParent = await nestParent(t, other.dev.nvme0, other.ioas);
    await rejected(t, 'ENOENT', 404, () => viommu(t!, g.dev, foreignParent));
    // The right parent works, and several vIOMMUs may wrap the same parent (§6.4 scenario 43).
    const v2 = must(await viommu(t, g.dev, g.parent), 201);
    expect(v2).toMatchObject({ type: 'viommu', viommuType: 'arm_smmuv3', contextId: g.ctx, hwptId: g.parent });
  });

  it('§2.5 VIOMMU_ALLOC: type default is EOPNOTSUPP before the device is looked up; an unbound device is ENOENT before the HWPT (§6.4 scenarios 40, 42)', async () => {
    t = await startApp();
    const g = await buildViommu(t);
    await rejected(t, 'EOPNOTSUPP', 422, () => viommu(t!, g.dev, g.parent, 'default'));
    await rejected(t, 'EOPNOTSUPP', 422, () => viommu(t!, 999999, 999999, 'default'));
    await rejected(t, 'ENOENT', 404, () => viommu(t!, 999999, g.parent));
    const nvme0 = await deviceByName(t, 'nvme0');
    await rejected(t, 'ENOENT', 404, () => viommu(t!, nvme0.id, g.parent));
    await rejected(t, 'ENOENT', 404, () => viommu(t!, nvme0.id, 999999));
    // An unknown type (the selftest's IOMMU_VIOMMU_TYPE_SELFTEST on an ARM SMMU) is EOPNOTSUPP
    // from the driver; a malformed type name is a body validation failure (EINVAL with errors).
    await rejected(t, 'EOPNOTSUPP', 422, () => viommu(t!, g.dev, g.parent, 'selftest'));
    const bad = await rejected(t, 'EINVAL', 400, () => viommu(t!, g.dev, g.parent, 'self test'));
    expect(Array.isArray(bad.errors)).toBe(true);
  });

  it('§2.5 VIOMMU_ALLOC: the vIOMMU wraps the device\'s SMMU; a nest parent allocated through a device of another SMMU is accepted (api.md: the vIOMMU owns its VMID)', async () => {
    t = await startApp();
    const { dev, ioas, ctx } = await vmWith(t, ['nic0', 'nic1']);
    const nic0 = await deviceByName(t, 'nic0');
    const nic1 = await deviceByName(t, 'nic1');
    expect(nic0.smmuId).not.toBe(nic1.smmuId);
    const parent = await nestParent(t, dev.nic0, ioas);
    const v0 = must(await viommu(t, dev.nic0, parent), 201);
    const v1 = must(await viommu(t, dev.nic1, parent), 201);
    expect(v0).toMatchObject({ smmuId: nic0.smmuId, hwptId: parent, contextId: ctx });
    expect(v1).toMatchObject({ smmuId: nic1.smmuId, hwptId: parent, contextId: ctx });
    expect(must(await t.req('GET', `/v1/viommus/${v1.id}`), 200)).toMatchObject({ id: v1.id, smmuId: nic1.smmuId });
    // Both hold the parent (EBUSY lists them) (§6.4 scenario 41).
    const busy = await rejected(t, 'EBUSY', 409, () => t!.req('DELETE', `/v1/objects/${parent}`));
    expect(busy.blockedBy).toEqual([v0.id, v1.id]);
  });

  it('§2.5 VIOMMU_ALLOC: each vIOMMU owns a VMID of its SMMU, never VMID 0, distinct per SMMU even on one parent; released on destroy and reused', async () => {
    t = await startApp();
    const { dev, ioas } = await vmWith(t, ['nic0', 'nic1']);
    const parent = await nestParent(t, dev.nic0, ioas);
    const a = must(await viommu(t, dev.nic0, parent), 201);
    const b = must(await viommu(t, dev.nic0, parent), 201);
    const c = must(await viommu(t, dev.nic1, parent), 201);
    for (const v of [a, b, c]) {
      expect(Number.isInteger(v.vmid)).toBe(true);
      expect(v.vmid).toBeGreaterThan(0);
      expect(v.vmid).toBeLessThanOrEqual(0xffff);
    }
    expect(a.vmid).not.toBe(b.vmid);
    // VMIDs of SMMU0's S2 objects (the auto and parent HWPTs also own one) never collide with a vIOMMU's.
    const smmu0Vmids = must(await t.req('GET', '/v1/objects?limit=500'), 200).items.filter((o: { smmuId?: number; vmid?: number | null }) => o.smmuId === a.smmuId && o.vmid != null).map((o: { vmid: number }) => o.vmid);
    expect(new Set(smmu0Vmids).size).toBe(smmu0Vmids.length);
    // Another SMMU has its own VMID space: its first vIOMMU gets the lowest free VMID there.
    const smmu1Vmids = must(await t.req('GET', '/v1/objects?limit=500'), 200).items.filter((o: { smmuId?: number; vmid?: number | null }) => o.smmuId === c.smmuId && o.vmid != null).map((o: { vmid: number }) => o.vmid);
    expect(new Set(smmu1Vmids).size).toBe(smmu1Vmids.length);
    const lowestFree = (used: number[]) => {
      let v = 1;
      while (used.includes(v)) v++;
      return v;
    };
    expect(c.vmid).toBe(lowestFree(smmu1Vmids.filter((v: number) => v !== c.vmid)));
    // Destroy releases the VMID; the next allocation on that SMMU reuses the lowest free one.
    must(await t.req('DELETE', `/v1/objects/${a.id}`), 204);
    const d = must(await viommu(t, dev.nic0, parent), 201);
    expect(d.vmid).toBe(a.vmid);
    expect(d.id).toBeGreaterThan(c.id);
    expect(must(await t.req('GET', `/v1/viommus/${d.id}/stats`), 200).vmid).toBe(a.vmid);
  });

  it('§2.5 VIOMMU_ALLOC: an exhausted VMID space is ENOSPC (8-bit VMID SMMU from HOST_TOPOLOGY); VMID 0 is never handed out; a destroyed vIOMMU\'s VMID is reused', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vsmmu-topo-'));
    tmpDirs.push(dir);
    const idr = [...setIdrField(DEFAULT_IDR, 'VMID16', 0)];
    const file = path.join(dir, 'topology.json');
    writeFileSync(file, JSON.stringify({ smmus: [{ name: 'smmu8', idr, devices: [{ name: 'dev8', streamId: 0x10 }] }] }));
    t = await startApp({ env: { HOST_TOPOLOGY: file } });
    const smmus = must(await t.req('GET', '/v1/smmus'), 200).items;
    expect(smmus).toHaveLength(1);
    expect(smmus[0].features.vmidBits).toBe(8);
    const g = await buildViommu(t, { device: 'dev8' });
    const first = must(await t.req('GET', `/v1/viommus/${g.viommu}`), 200);
    const viommus = [first];
    for (;;) {
      const res = await viommu(t, g.dev, g.parent);
      if (res.status !== 201) {
        // Leave the failing request to the assertion below.
        expectProblem(res, 'ENOSPC', 409);
        break;
      }
      viommus.push(res.body);
      if (viommus.length > 300) throw new Error('VMIDs never ran out');
    }
    // Every VMID from 1 to 255 is owned (auto HWPT, nest parent, vIOMMUs); none is 0.
    const vmids = must(await t.req('GET', '/v1/objects?limit=500'), 200).items.filter((o: { vmid?: number | null }) => o.vmid != null).map((o: { vmid: number }) => o.vmid).sort((x: number, y: number) => x - y);
    expect(vmids).toEqual(Array.from({ length: 255 }, (_, i) => i + 1));
    await rejected(t, 'ENOSPC', 409, () => viommu(t!, g.dev, g.parent));
    // Destroying one vIOMMU releases its VMID; the next vIOMMU gets exactly that one.
    const victim = viommus[100];
    must(await t.req('DELETE', `/v1/objects/${victim.id}`), 204);
    const again = must(await viommu(t, g.dev, g.parent), 201);
    expect(again.vmid).toBe(victim.vmid);
    await rejected(t, 'ENOSPC', 409, () => viommu(t!, g.dev, g.parent));
    // A paging HWPT (an S2 domain) needs a VMID too.
    await rejected(t, 'ENOSPC', 409, () => t!.req('POST', '/v1/hwpts', { deviceId: g.dev, ptId: g.ioas, flags: ['nest_parent'] }));
  });

  it('§6.10 A1: an SMMU without both S1P and S2P (no FEAT_NESTING) cannot host a vIOMMU (EOPNOTSUPP, before the HWPT is looked up)', async () => {
    t = await startApp();
    const noS1 = await customSmmu(t, 'smmu-s2only', setIdrField(DEFAULT_IDR, 'S1P', 0)[0]);
    const noS2 = await customSmmu(t, 'smmu-s1only', setIdrField(DEFAULT_IDR, 'S2P', 0)[0]);
    expect(noS1.smmu.features).toMatchObject({ s1p: false, s2p: true, nesting: false });
    expect(noS2.smmu.features).toMatchObject({ s1p: true, s2p: false, nesting: false });
    const ctx = await ctxOf(t);
    const ioas = await ioasOf(t, ctx);
    for (const { device } of [noS1, noS2]) {
      await bind(t, ctx, device.id);
      await rejected(t, 'EOPNOTSUPP', 422, () => viommu(t!, device.id, 999999));
    }
    // With a real nest parent of the same context, still EOPNOTSUPP.
    const nic0 = await deviceByName(t, 'nic0');
    await bind(t, ctx, nic0.id);
    const parent = await nestParent(t, nic0.id, ioas);
    for (const { device } of [noS1, noS2]) {
      for (const type of ['arm_smmuv3', 'tegra241_cmdqv']) await rejected(t, 'EOPNOTSUPP', 422, () => viommu(t!, device.id, parent, type));
    }
  });

  it('§3.1 VIOMMU_ALLOC: tegra241_cmdqv only where the SMMU has a CMDQV (EOPNOTSUPP otherwise, before the HWPT is looked up)', async () => {
    t = await startApp();
    const g = await buildViommu(t);
    await rejected(t, 'EOPNOTSUPP', 422, () => viommu(t!, g.dev, g.parent, 'tegra241_cmdqv'));
    await rejected(t, 'EOPNOTSUPP', 422, () => viommu(t!, g.dev, 999999, 'tegra241_cmdqv'));
    const arm = must(await t.req('GET', `/v1/viommus/${g.viommu}`), 200);
    expect(arm.viommuType).toBe('arm_smmuv3');
    expect(arm.vintf ?? null).toBeNull();
  });

  it('§6.11 T1: each tegra241_cmdqv vIOMMU takes one user VINTF (1..vintfs-1); none free is ENOSPC; destroy releases it', async () => {
    t = await startApp();
    const { dev, ioas } = await vmWith(t, ['nic1']);
    const parent = await nestParent(t, dev.nic1, ioas);
    const got = [];
    for (let i = 0; i < 3; i++) got.push(must(await viommu(t, dev.nic1, parent, 'tegra241_cmdqv'), 201));
    expect(got.map((v) => v.vintf).sort()).toEqual([1, 2, 3]);
    for (const v of got) expect(v).toMatchObject({ type: 'viommu', viommuType: 'tegra241_cmdqv', hwptId: parent });
    await rejected(t, 'ENOSPC', 409, () => viommu(t!, dev.nic1, parent, 'tegra241_cmdqv'));
    // An arm_smmuv3 vIOMMU on the same SMMU needs no VINTF.
    const arm = must(await viommu(t, dev.nic1, parent, 'arm_smmuv3'), 201);
    expect(arm.vintf ?? null).toBeNull();
    must(await t.req('DELETE', `/v1/objects/${got[1].id}`), 204);
    const again = must(await viommu(t, dev.nic1, parent, 'tegra241_cmdqv'), 201);
    expect(again.vintf).toBe(got[1].vintf);
    await rejected(t, 'ENOSPC', 409, () => viommu(t!, dev.nic1, parent, 'tegra241_cmdqv'));
  });
});

describe('VDEVICE_ALLOC (§2.6, §6.6, §6.11 T4)', () => {
  it('§2.6 VDEVICE_ALLOC: the response names the vIOMMU, device, vSID and physical StreamID; the vIOMMU is held (EBUSY) until the vDEVICE is destroyed', async () => {
    t = await startApp();
    const g = await buildViommu(t);
    const nic0 = await deviceByName(t, 'nic0');
    const vd = must(await vdevice(t, g.viommu, g.dev, 0x99), 201);
    expect(vd).toMatchObject({ type: 'vdevice', contextId: g.ctx, viommuId: g.viommu, deviceId: g.dev, virtId: 0x99, physicalStreamId: nic0.streamId });
    expect(must(await t.req('GET', `/v1/vdevices/${vd.id}`), 200)).toMatchObject({ id: vd.id, virtId: 0x99 });
    const busy = await rejected(t, 'EBUSY', 409, () => t!.req('DELETE', `/v1/objects/${g.viommu}`));
    expect(busy.blockedBy).toEqual([vd.id]);
    must(await t.req('DELETE', `/v1/objects/${vd.id}`), 204);
    await rejected(t, 'ENOENT', 404, () => t!.req('DELETE', `/v1/objects/${vd.id}`));
    must(await t.req('DELETE', `/v1/objects/${g.viommu}`), 204);
  });

  it('§2.6 VDEVICE_ALLOC: a vSID already used on the vIOMMU is EEXIST (§6.6 scenario 56)', async () => {
    t = await startApp();
    const { dev, ioas } = await vmWith(t, ['nic0', 'nvme0']);
    const parent = await nestParent(t, dev.nic0, ioas);
    const v = must(await viommu(t, dev.nic0, parent), 201).id;
    must(await vdevice(t, v, dev.nic0, 0x99), 201);
    await rejected(t, 'EEXIST', 409, () => vdevice(t!, v, dev.nvme0, 0x99));
    // The same vSID on another vIOMMU is fine: vSIDs are per vIOMMU.
    const v2 = must(await viommu(t, dev.nic0, parent), 201).id;
    must(await vdevice(t, v2, dev.nvme0, 0x99), 201);
  });

  it('§2.6 VDEVICE_ALLOC: a device that already has a vDEVICE (on any vIOMMU, with any vSID) is EEXIST (§6.6 scenario 56)', async () => {
    t = await startApp();
    const { dev, ioas } = await vmWith(t, ['nic0']);
    const parent = await nestParent(t, dev.nic0, ioas);
    const v = must(await viommu(t, dev.nic0, parent), 201).id;
    const v2 = must(await viommu(t, dev.nic0, parent), 201).id;
    must(await vdevice(t, v, dev.nic0, 0x99), 201);
    await rejected(t, 'EEXIST', 409, () => vdevice(t!, v, dev.nic0, 0x99));
    await rejected(t, 'EEXIST', 409, () => vdevice(t!, v, dev.nic0, 0x88));
    await rejected(t, 'EEXIST', 409, () => vdevice(t!, v2, dev.nic0, 0x77));
  });

  it('§2.6 VDEVICE_ALLOC: a device behind another SMMU than the vIOMMU\'s is EINVAL, checked before EEXIST (§6.6 scenario 63)', async () => {
    t = await startApp();
    const { dev, ioas } = await vmWith(t, ['nic0', 'nic1']);
    const parent = await nestParent(t, dev.nic0, ioas);
    const v0 = must(await viommu(t, dev.nic0, parent), 201).id;
    const v1 = must(await viommu(t, dev.nic1, parent), 201).id;
    await rejected(t, 'EINVAL', 400, () => vdevice(t!, v0, dev.nic1, 0x10));
    must(await vdevice(t, v0, dev.nic0, 0x10), 201);
    // nic0 has a vDEVICE, but the SMMU mismatch is checked first (iommufd_vdevice_alloc_ioctl: the SMMU before idev->vdev).
    await rejected(t, 'EINVAL', 400, () => vdevice(t!, v1, dev.nic0, 0x20));
  });

  it('§2.6 VDEVICE_ALLOC: an unknown vIOMMU, a non-vIOMMU id, an unbound device or one of another context is ENOENT; the vIOMMU is looked up first (§6.6 scenario 62)', async () => {
    t = await startApp();
    const g = await buildViommu(t);
    const nvme0 = await deviceByName(t, 'nvme0');
    await rejected(t, 'ENOENT', 404, () => vdevice(t!, 999999, g.dev, 0x99));
    await rejected(t, 'ENOENT', 404, () => vdevice(t!, g.parent, g.dev, 0x99));
    await rejected(t, 'ENOENT', 404, () => vdevice(t!, g.ioas, g.dev, 0x99));
    await rejected(t, 'ENOENT', 404, () => vdevice(t!, g.viommu, nvme0.id, 0x99));
    await rejected(t, 'ENOENT', 404, () => vdevice(t!, g.viommu, 999999, 0x99));
    // Another context's device: a foreign id.
    const other = await ctxOf(t, 'other');
    await bind(t, other, nvme0.id);
    await rejected(t, 'ENOENT', 404, () => vdevice(t!, g.viommu, nvme0.id, 0x99));
    // An unknown vIOMMU with an unknown device: the vIOMMU is reported (same errno either way).
    await rejected(t, 'ENOENT', 404, () => vdevice(t!, 999999, 999999, 0x99));
  });

  it('§6.11 T4: virtId above 0xffffffff is EINVAL; 0xffffffff itself is a valid vSID (arm_smmuv3 and tegra241_cmdqv)', async () => {
    t = await startApp();
    const { dev, ioas } = await vmWith(t, ['nic0', 'nic1']);
    const parent = await nestParent(t, dev.nic0, ioas);
    const arm = must(await viommu(t, dev.nic0, parent), 201).id;
    const tegra = must(await viommu(t, dev.nic1, parent, 'tegra241_cmdqv'), 201).id;
    for (const [v, d] of [[arm, dev.nic0], [tegra, dev.nic1]]) {
      await rejected(t, 'EINVAL', 400, () => vdevice(t!, v, d, 0x100000000));
      await rejected(t, 'EINVAL', 400, () => vdevice(t!, v, d, -1));
      expect(must(await vdevice(t, v, d, 0xffffffff), 201).virtId).toBe(0xffffffff);
    }
  });

  it('§6.11 T4: more vDEVICEs than sidsPerVintf on one VINTF is ENOSPC; a destroyed vDEVICE frees its SID slot', async () => {
    t = await startApp();
    const nic1 = await deviceByName(t, 'nic1');
    const smmu = must(await t.req('GET', `/v1/smmus/${nic1.smmuId}`), 200);
    const slots = smmu.cmdqv.sidsPerVintf as number;
    expect(slots).toBe(16);
    const { ctx, dev, ioas } = await vmWith(t, ['nic1', 'nvme1', 'gpu1', 'accel1']);
    const ids = Object.values(dev);
    for (let i = ids.length; i < slots + 2; i++) {
      const d = must(await t.req('POST', '/v1/devices', { name: `vf${i}`, smmuId: nic1.smmuId, streamId: 0x300 + i }), 201);
      await bind(t, ctx, d.id);
      ids.push(d.id);
    }
    const parent = await nestParent(t, dev.nic1, ioas);
    const v = must(await viommu(t, dev.nic1, parent, 'tegra241_cmdqv'), 201).id;
    const made = [];
    for (let i = 0; i < slots; i++) made.push(must(await vdevice(t, v, ids[i], 0x1000 + i), 201));
    expect(new Set(made.map((m) => m.sidSlot)).size).toBe(slots);
    await rejected(t, 'ENOSPC', 409, () => vdevice(t!, v, ids[slots], 0x2000));
    // Another tegra vIOMMU has its own VINTF and its own slots.
    const v2 = must(await viommu(t, dev.nic1, parent, 'tegra241_cmdqv'), 201).id;
    must(await vdevice(t, v2, ids[slots + 1], 0x1000), 201);
    must(await t.req('DELETE', `/v1/objects/${made[3].id}`), 204);
    const again = must(await vdevice(t, v, ids[slots], 0x2000), 201);
    expect(again.sidSlot).toBe(made[3].sidSlot);
    await rejected(t, 'ENOSPC', 409, () => vdevice(t!, v, ids[3], 0x2001));
  });

  it('§2.6 VDEVICE_ALLOC: destroying the vDEVICE frees both its vSID and its device, so 0x99 then 0x88 works (§6.6 scenarios 52, 57)', async () => {
    t = await startApp();
    const g = await buildViommu(t);
    // An S1-translate nested HWPT: attach before any vDEVICE is ENOENT (scenario 52).
    const nested = must(await t.req('POST', '/v1/hwpts', { deviceId: g.dev, ptId: g.viommu, data: { type: 'arm_smmuv3', ste: ['0x000000008000000b', '0x0'] } }), 201).id;
    await rejected(t, 'ENOENT', 404, () => t!.req('PUT', `/v1/devices/${g.dev}/attachment`, { ptId: nested }));
    const first = must(await vdevice(t, g.viommu, g.dev, 0x99), 201);
    must(await t.req('PUT', `/v1/devices/${g.dev}/attachment`, { ptId: nested }), 200);
    must(await t.req('PUT', `/v1/devices/${g.dev}/attachment`, { ptId: g.ioas }), 200);
    must(await t.req('DELETE', `/v1/objects/${first.id}`), 204);
    const second = must(await vdevice(t, g.viommu, g.dev, 0x88), 201);
    expect(second.id).toBeGreaterThan(first.id);
    must(await t.req('PUT', `/v1/devices/${g.dev}/attachment`, { ptId: nested }), 200);
    // The old vSID is free again too (for another device of the SMMU).
    const nvme0 = await deviceByName(t, 'nvme0');
    await bind(t, g.ctx, nvme0.id);
    must(await vdevice(t, g.viommu, nvme0.id, 0x99), 201);
  });

  it('§1.4 VDEVICE_ALLOC: unbinding a device destroys its vDEVICE, frees its vSID and SID slot, and releases the vIOMMU (v6.17)', async () => {
    t = await startApp();
    const g = await buildViommu(t, { device: 'nic1', type: 'tegra241_cmdqv' });
    const vd = must(await vdevice(t, g.viommu, g.dev, 0x42), 201);
    const out = must(await t.req('DELETE', `/v1/contexts/${g.ctx}/devices/${g.dev}`), 200);
    expect(out).toMatchObject({ destroyedVdevice: vd.id });
    await rejected(t, 'ENOENT', 404, () => t!.req('GET', `/v1/objects/${vd.id}`));
    expect(must(await t.req('GET', `/v1/devices/${g.dev}`), 200)).toMatchObject({ contextId: null, attachedTo: null });
    // The vIOMMU stays (its own object) and nothing holds it any more.
    expect(must(await t.req('GET', `/v1/viommus/${g.viommu}`), 200).id).toBe(g.viommu);
    const nvme1 = await deviceByName(t, 'nvme1');
    await bind(t, g.ctx, nvme1.id);
    const reuse = must(await vdevice(t, g.viommu, nvme1.id, 0x42), 201);
    expect(reuse.sidSlot).toBe(vd.sidSlot);
    must(await t.req('DELETE', `/v1/objects/${reuse.id}`), 204);
    must(await t.req('DELETE', `/v1/objects/${g.viommu}`), 204);
  });
});

/** Everything a VM builds on the CMDQV SMMU plus an ARM vIOMMU on SMMU0, all alive. */
async function fullGraph(t: TestApp) {
  const g = await buildViommu(t, { device: 'nic1', type: 'tegra241_cmdqv' });
  must(await t.req('POST', `/v1/ioas/${g.ioas}/mappings`, { iova: '0x40000000', length: '0x10000' }), 201);
  const vd = must(await vdevice(t, g.viommu, g.dev, 0x99), 201).id;
  const nested = must(await t.req('POST', '/v1/hwpts', { deviceId: g.dev, ptId: g.viommu, data: { type: 'arm_smmuv3', ste: ['0x000000008000000b', '0x0'] } }), 201).id;
  must(await t.req('PUT', `/v1/devices/${g.dev}/attachment`, { ptId: nested }), 200);
  const eq = must(await t.req('POST', '/v1/eventqs', { viommuId: g.viommu, type: 'arm_smmuv3', depth: 4 }), 201).id;
  const q0 = must(await t.req('POST', '/v1/hw-queues', { viommuId: g.viommu, type: 'tegra241_cmdqv', index: 0, nestingParentIova: '0x40000000', length: '0x1000' }), 201).id;
  const q1 = must(await t.req('POST', '/v1/hw-queues', { viommuId: g.viommu, type: 'tegra241_cmdqv', index: 1, nestingParentIova: '0x40001000', length: '0x1000' }), 201).id;
  const nic0 = (await deviceByName(t, 'nic0')).id;
  await bind(t, g.ctx, nic0);
  must(await t.req('PUT', `/v1/devices/${nic0}/attachment`, { ptId: g.ioas }), 200);
  const armParent = await nestParent(t, nic0, g.ioas);
  const arm = must(await viommu(t, nic0, armParent), 201).id;
  const armVd = must(await vdevice(t, arm, nic0, 0x10), 201).id;
  return { ...g, vd, nested, eq, q0, q1, nic0, armParent, arm, armVd };
}

/** Ids an object holds a users reference on, from its public view (iommufd.md §1.2). */
function heldBy(o: Record<string, any>): number[] {
  const ids: Array<number | null | undefined> = [];
  switch (o.type) {
    case 'hwpt_paging':
      ids.push(o.ioasId);
      break;
    case 'hwpt_nested':
    case 'vdevice':
    case 'veventq':
      ids.push(o.viommuId);
      break;
    case 'viommu':
      ids.push(o.hwptId);
      break;
    case 'hw_queue':
      ids.push(o.viommuId);
      break;
  }
  return ids.filter((x): x is number => typeof x === 'number');
}

describe('Allocator state across a restart', () => {
  it('§6.11 T1/T4: VMIDs, VINTFs and SID slots held by live objects are still held after a restart (ENOSPC persists, no double allocation)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vsmmu-restart-'));
    tmpDirs.push(dir);
    t = await startApp({ dir });
    const { dev, ioas } = await vmWith(t, ['nic1', 'nvme1']);
    const parent = await nestParent(t, dev.nic1, ioas);
    const vs: Array<{ id: number; vmid: number; vintf: number }> = [];
    for (let i = 0; i < 3; i++) vs.push(must(await viommu(t, dev.nic1, parent, 'tegra241_cmdqv'), 201));
    const vd = must(await vdevice(t, vs[0].id, dev.nic1, 0x1), 201);
    t = await t.restart();
    await rejected(t, 'ENOSPC', 409, () => viommu(t!, dev.nic1, parent, 'tegra241_cmdqv'));
    await rejected(t, 'EEXIST', 409, () => vdevice(t!, vs[0].id, dev.nvme1, 0x1));
    const vd2 = must(await vdevice(t, vs[0].id, dev.nvme1, 0x2), 201);
    expect(vd2.sidSlot).not.toBe(vd.sidSlot);
    const arm = must(await viommu(t, dev.nic1, parent), 201);
    expect(vs.map((v) => v.vmid)).not.toContain(arm.vmid);
  });
});

describe('Contexts and bind/unbind (§1.4, §6.9)', () => {
  it('contexts: create returns { id, name }; list is ordered by id with a cursor; an unknown id is ENOENT; a bad body is EINVAL', async () => {
    t = await startApp();
    const a = must(await t.req('POST', '/v1/contexts', { name: 'vm-a' }), 201);
    const b = must(await t.req('POST', '/v1/contexts', { name: 'vm-b' }), 201);
    expect(a).toMatchObject({ name: 'vm-a' });
    expect(b.id).toBeGreaterThan(a.id);
    expect(must(await t.req('GET', `/v1/contexts/${a.id}`), 200)).toMatchObject({ id: a.id, name: 'vm-a' });
    const page1 = must(await t.req('GET', '/v1/contexts?limit=1'), 200);
    expect(page1.items.map((c: { id: number }) => c.id)).toEqual([a.id]);
    const page2 = must(await t.req('GET', `/v1/contexts?limit=1&cursor=${page1.nextCursor}`), 200);
    expect(page2).toMatchObject({ items: [{ id: b.id, name: 'vm-b' }], nextCursor: null });
    await rejected(t, 'ENOENT', 404, () => t!.req('GET', '/v1/contexts/999999'));
    await rejected(t, 'ENOENT', 404, () => t!.req('DELETE', '/v1/contexts/999999'));
    await rejected(t, 'EINVAL', 400, () => t!.req('POST', '/v1/contexts', {}));
    await rejected(t, 'EINVAL', 400, () => t!.req('POST', '/v1/contexts', { name: '' }));
    await rejected(t, 'ENOENT', 404, () => t!.req('POST', '/v1/ioas', { contextId: 999999 }));
  });

  it('contexts: DELETE with the whole graph alive destroys every object leaf-first, unbinds its devices, never EBUSY (§1.4, §6.9 scenario 80)', async () => {
    t = await startApp();
    const g = await fullGraph(t);
    const all = must(await t.req('GET', `/v1/objects?contextId=${g.ctx}&limit=500`), 200).items as Array<Record<string, any>>;
    expect(all.map((o) => o.type).sort()).toEqual(
      // nic1's auto HWPT went when it moved onto the nested HWPT; nic0's auto HWPT and two nest parents stay.
      ['hw_queue', 'hw_queue', 'hwpt_nested', 'hwpt_paging', 'hwpt_paging', 'hwpt_paging', 'ioas', 'vdevice', 'vdevice', 'veventq', 'viommu', 'viommu'].sort(),
    );
    // A second context, which must be left alone.
    const other = await vmWith(t, ['nvme0']);
    const otherObjects = must(await t.req('GET', `/v1/objects?contextId=${other.ctx}`), 200).items;
    expect(otherObjects.length).toBeGreaterThan(0);
    const out = must(await t.req('DELETE', `/v1/contexts/${g.ctx}`), 200);
    expect([...out.destroyedObjects].sort((x: number, y: number) => x - y)).toEqual(all.map((o) => o.id).sort((x, y) => x - y));
    expect(out.unboundDevices).toEqual([g.nic0, g.dev].sort((x, y) => x - y));
    // Leaf-first: every object is destroyed after everything holding it (hw_queue index 1 before 0 too).
    const order = new Map<number, number>(out.destroyedObjects.map((id: number, i: number) => [id, i]));
    for (const o of all) for (const held of heldBy(o)) expect(order.get(o.id)!).toBeLessThan(order.get(held)!);
    expect(order.get(g.q1)!).toBeLessThan(order.get(g.q0)!);
    for (const o of all) await rejected(t, 'ENOENT', 404, () => t!.req('GET', `/v1/objects/${o.id}`));
    for (const d of [g.dev, g.nic0]) expect(must(await t.req('GET', `/v1/devices/${d}`), 200)).toMatchObject({ contextId: null, attachedTo: null });
    await rejected(t, 'ENOENT', 404, () => t!.req('GET', `/v1/contexts/${g.ctx}`));
    await rejected(t, 'ENOENT', 404, () => t!.req('DELETE', `/v1/contexts/${g.ctx}`));
    expect(must(await t.req('GET', `/v1/objects?contextId=${other.ctx}`), 200).items).toEqual(otherObjects);
    await expectConsistent(t);
  });

  it('contexts: closing a context releases its VMIDs and VINTFs for the next VM', async () => {
    t = await startApp();
    const first = await buildViommu(t, { device: 'nic1', type: 'tegra241_cmdqv' });
    const p = must(await t.req('GET', `/v1/viommus/${first.viommu}`), 200);
    const extra = [];
    for (let i = 0; i < 2; i++) extra.push(must(await viommu(t, first.dev, first.parent, 'tegra241_cmdqv'), 201));
    await rejected(t, 'ENOSPC', 409, () => viommu(t!, first.dev, first.parent, 'tegra241_cmdqv'));
    must(await t.req('DELETE', `/v1/contexts/${first.ctx}`), 200);
    const second = await buildViommu(t, { device: 'nic1', type: 'tegra241_cmdqv' });
    const q = must(await t.req('GET', `/v1/viommus/${second.viommu}`), 200);
    expect(q.vmid).toBe(p.vmid);
    expect(q.vintf).toBe(p.vintf);
    for (let i = 0; i < 2; i++) must(await viommu(t, second.dev, second.parent, 'tegra241_cmdqv'), 201);
  });

  it('bind: a device is bound to at most one context (EBUSY); unknown device or context is ENOENT; after unbind it may be bound elsewhere', async () => {
    t = await startApp();
    const a = await ctxOf(t, 'a');
    const b = await ctxOf(t, 'b');
    const nic0 = await deviceByName(t, 'nic0');
    const bound = await bind(t, a, nic0.id);
    expect(bound).toMatchObject({ id: nic0.id, contextId: a, attachedTo: null });
    await rejected(t, 'EBUSY', 409, () => t!.req('POST', `/v1/contexts/${b}/devices`, { deviceId: nic0.id }));
    await rejected(t, 'ENOENT', 404, () => t!.req('POST', `/v1/contexts/${b}/devices`, { deviceId: 999999 }));
    await rejected(t, 'ENOENT', 404, () => t!.req('POST', `/v1/contexts/999999/devices`, { deviceId: nic0.id }));
    // Unbinding through the wrong context, or a device that is not bound, is ENOENT.
    await rejected(t, 'ENOENT', 404, () => t!.req('DELETE', `/v1/contexts/${b}/devices/${nic0.id}`));
    const nvme0 = await deviceByName(t, 'nvme0');
    await rejected(t, 'ENOENT', 404, () => t!.req('DELETE', `/v1/contexts/${a}/devices/${nvme0.id}`));
    expect(must(await t.req('GET', `/v1/contexts/${a}/devices`), 200).items.map((d: { id: number }) => d.id)).toEqual([nic0.id]);
    must(await t.req('DELETE', `/v1/contexts/${a}/devices/${nic0.id}`), 200);
    expect(must(await t.req('GET', `/v1/contexts/${a}/devices`), 200).items).toEqual([]);
    expect(await bind(t, b, nic0.id)).toMatchObject({ contextId: b });
  });

  it('bind: another context\'s objects and devices are foreign ids (ENOENT)', async () => {
    t = await startApp();
    const g = await buildViommu(t);
    const other = await vmWith(t, ['nvme0']);
    await rejected(t, 'ENOENT', 404, () => t!.req('PUT', `/v1/devices/${other.dev.nvme0}/attachment`, { ptId: g.ioas }));
    await rejected(t, 'ENOENT', 404, () => vdevice(t!, g.viommu, other.dev.nvme0, 0x5));
    await rejected(t, 'ENOENT', 404, () => t!.req('DELETE', `/v1/contexts/${other.ctx}/devices/${g.dev}`));
  });

  it('unbind: detaches the device (its auto HWPT goes with it) and releases the nested HWPT it was attached to', async () => {
    t = await startApp();
    const g = await buildViommu(t);
    const auto = must(await t.req('GET', `/v1/devices/${g.dev}`), 200).attachedTo;
    expect(must(await t.req('GET', `/v1/hwpts/${auto}`), 200)).toMatchObject({ auto: true });
    const bypass = must(await t.req('POST', '/v1/hwpts', { deviceId: g.dev, ptId: g.viommu, data: { type: 'arm_smmuv3', ste: ['0x9', '0x0'] } }), 201).id;
    must(await t.req('PUT', `/v1/devices/${g.dev}/attachment`, { ptId: bypass }), 200);
    await rejected(t, 'ENOENT', 404, () => t!.req('GET', `/v1/objects/${auto}`));
    await rejected(t, 'EBUSY', 409, () => t!.req('DELETE', `/v1/objects/${bypass}`));
    must(await t.req('DELETE', `/v1/contexts/${g.ctx}/devices/${g.dev}`), 200);
    expect(must(await t.req('GET', `/v1/devices/${g.dev}`), 200)).toMatchObject({ contextId: null, attachedTo: null });
    must(await t.req('DELETE', `/v1/objects/${bypass}`), 204);
    // The IOAS-attached case: the auto HWPT is released on unbind.
    const nvme0 = (await deviceByName(t, 'nvme0')).id;
    await bind(t, g.ctx, nvme0);
    const dev = must(await t.req('PUT', `/v1/devices/${nvme0}/attachment`, { ptId: g.ioas }), 200);
    must(await t.req('DELETE', `/v1/contexts/${g.ctx}/devices/${nvme0}`), 200);
    await rejected(t, 'ENOENT', 404, () => t!.req('GET', `/v1/objects/${dev.attachedTo}`));
  });

  it('§6.9 scenario 80: after the device is unbound its vDEVICE id is a tombstone (DESTROY ENOENT, never reused); closing the context still succeeds', async () => {
    t = await startApp();
    const g = await fullGraph(t);
    const out = must(await t.req('DELETE', `/v1/contexts/${g.ctx}/devices/${g.dev}`), 200);
    expect(out.destroyedVdevice).toBe(g.vd);
    await rejected(t, 'ENOENT', 404, () => t!.req('DELETE', `/v1/objects/${g.vd}`));
    await rejected(t, 'ENOENT', 404, () => t!.req('GET', `/v1/vdevices/${g.vd}`));
    // The vIOMMU is no longer held by that vDEVICE, but still by its other children.
    const busy = await rejected(t, 'EBUSY', 409, () => t!.req('DELETE', `/v1/objects/${g.viommu}`));
    expect(busy.blockedBy).not.toContain(g.vd);
    expect(busy.blockedBy).toEqual(expect.arrayContaining([g.nested, g.eq, g.q0, g.q1]));
    // The unbound device detached from the nested HWPT, which is now destroyable.
    expect(must(await t.req('GET', `/v1/hwpts/${g.nested}`), 200).devices).toEqual([]);
    // Ids are never reused: a new object gets an id above the tombstone.
    const again = await bind(t, g.ctx, g.dev);
    expect(again.contextId).toBe(g.ctx);
    const vd2 = must(await vdevice(t, g.viommu, g.dev, 0x99), 201);
    expect(vd2.id).toBeGreaterThan(g.vd);
    const closed = must(await t.req('DELETE', `/v1/contexts/${g.ctx}`), 200);
    expect(closed.destroyedObjects).not.toContain(g.vd);
    expect(closed.destroyedObjects).toContain(vd2.id);
    expect(must(await t.req('GET', `/v1/objects?contextId=${g.ctx}`), 200).items).toEqual([]);
  });
});

describe('Inventory changes never silently delete referenced objects', () => {
  it('inventory: deleting a bound device is EBUSY; an unbound one goes (204) and is then ENOENT', async () => {
    t = await startApp();
    const g = await buildViommu(t);
    const busy = await rejected(t, 'EBUSY', 409, () => t!.req('DELETE', `/v1/devices/${g.dev}`));
    expect(busy.blockedBy).toEqual([g.ctx]);
    // IOMMU_DESTROY of a bound device is EBUSY as well (§6.1 scenario 5).
    await rejected(t, 'EBUSY', 409, () => t!.req('DELETE', `/v1/objects/${g.dev}`));
    const nvme0 = (await deviceByName(t, 'nvme0')).id;
    must(await t.req('DELETE', `/v1/devices/${nvme0}`), 204);
    await rejected(t, 'ENOENT', 404, () => t!.req('GET', `/v1/devices/${nvme0}`));
    await rejected(t, 'ENOENT', 404, () => t!.req('DELETE', `/v1/devices/${nvme0}`));
  });

  it('inventory: deleting an SMMU with devices is EBUSY (blockedBy the devices); an empty one goes', async () => {
    t = await startApp();
    const nic0 = await deviceByName(t, 'nic0');
    const devices = must(await t.req('GET', `/v1/devices?smmuId=${nic0.smmuId}`), 200).items.map((d: { id: number }) => d.id);
    const busy = await rejected(t, 'EBUSY', 409, () => t!.req('DELETE', `/v1/smmus/${nic0.smmuId}`));
    expect(busy.blockedBy).toEqual(devices);
    const spare = must(await t.req('POST', '/v1/smmus', { name: 'spare' }), 201);
    must(await t.req('DELETE', `/v1/smmus/${spare.id}`), 204);
    await rejected(t, 'ENOENT', 404, () => t!.req('GET', `/v1/smmus/${spare.id}`));
    await rejected(t, 'ENOENT', 404, () => t!.req('DELETE', `/v1/smmus/${spare.id}`));
  });

  it('inventory: an unbound device still named by objects of a context (HWPTs, vIOMMU) is EBUSY, and so is its SMMU; once the context is closed both go', async () => {
    t = await startApp();
    const { smmu, device } = await customSmmu(t, 'hotplug', DEFAULT_IDR[0]);
    const g = await buildViommu(t, { device: 'hotplug-dev' });
    expect(g.dev).toBe(device.id);
    must(await t.req('DELETE', `/v1/contexts/${g.ctx}/devices/${g.dev}`), 200);
    // Issue 12: the objects allocated through the device name it in `deviceId` and outlive the
    // unbind; the device cannot leave the inventory under them.
    const naming = must(await t.req('GET', `/v1/objects?contextId=${g.ctx}`), 200).items.filter((o: { deviceId?: number }) => o.deviceId === g.dev).map((o: { id: number }) => o.id);
    expect(naming).toEqual(expect.arrayContaining([g.parent, g.viommu]));
    const deviceBusy = await rejected(t, 'EBUSY', 409, () => t!.req('DELETE', `/v1/devices/${g.dev}`));
    expect(deviceBusy.blockedBy).toEqual(naming);
    const busy = await rejected(t, 'EBUSY', 409, () => t!.req('DELETE', `/v1/smmus/${smmu.id}`));
    expect(busy.blockedBy).toEqual([g.dev]);
    expect(must(await t.req('GET', `/v1/viommus/${g.viommu}/stats`), 200).vmid).toBeGreaterThan(0);
    // Once the context is closed nothing references the device or the SMMU any more.
    must(await t.req('DELETE', `/v1/contexts/${g.ctx}`), 200);
    must(await t.req('DELETE', `/v1/devices/${g.dev}`), 204);
    must(await t.req('DELETE', `/v1/smmus/${smmu.id}`), 204);
  });

  it('inventory: a different HOST_TOPOLOGY at restart does not replace a non-empty inventory (objects and their devices survive)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vsmmu-topo-'));
    tmpDirs.push(dir);
    t = await startApp({ dir });
    const g = await buildViommu(t);
    const before = await t.snapshot();
    const smmusBefore = must(await t.req('GET', '/v1/smmus'), 200).items;
    await t.close();
    const file = path.join(dir, 'other-topology.json');
    writeFileSync(file, JSON.stringify({ smmus: [{ name: 'replacement', devices: [{ name: 'r0', streamId: 1 }] }] }));
    t = await startApp({ dir, env: { HOST_TOPOLOGY: file } });
    expect(must(await t.req('GET', '/v1/smmus'), 200).items).toEqual(smmusBefore);
    expect(must(await t.req('GET', `/v1/viommus/${g.viommu}`), 200).id).toBe(g.viommu);
    expect((await t.snapshot()).db).toBe(before.db);
    await rejected(t, 'ENOENT', 404, () => t!.req('GET', '/v1/devices/999999'));
  });
});

/**
 * Contract tests for paging-HWPT stages and PASID attach on the host (issue 11), each named after
 * the kernel rule it checks:
 * - arm_smmu_domain_alloc_paging_flags: stage 1 (an ASID) unless `nest_parent` (stage 2, a VMID);
 *   which flag combinations exist; arm_smmu_domain_finalise_s1's ASID allocation.
 * - VFIO's PASID attach (vfio_iommufd_physical_pasid_attach_ioas: attach, or replace when the PASID
 *   is attached), the core's checks (iommufd_device_change_pt, iommufd_hwpt_pasid_compat,
 *   iommu_attach_device_pasid) before the driver's (arm_smmu_s1_set_dev_pasid, arm_smmu_set_pasid),
 *   and detach (arm_smmu_blocking_set_dev_pasid).
 * - The STE and CD table the driver builds (arm_smmu_make_cdtable_ste, arm_smmu_make_s1_cd,
 *   arm_smmu_write_cd_entry + CFGI_CD), visible in GET /v1/devices/{id}, GraphQL and the SMMU state.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_IDR, setIdrField } from '../src/hw/idr.js';
import { decodeCommand } from '../src/hw/commands.js';
import { deviceByName, expectProblem, expectUnchanged, must, startApp, type TestApp } from './helper.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

interface Vm {
  ctx: number;
  /** gpu0: 20 PASID bits. */
  gpu: number;
  /** accel0: 8 PASID bits. */
  accel: number;
  /** nic0: no PASIDs. */
  nic: number;
  ioas: number;
}

async function vm(): Promise<Vm> {
  t = await startApp();
  const ctx = must(await t.req('POST', '/v1/contexts', { name: 'vm' }), 201).id;
  const bind = async (name: string): Promise<number> => {
    const id = (await deviceByName(t!, name)).id;
    must(await t!.req('POST', `/v1/contexts/${ctx}/devices`, { deviceId: id }), 201);
    return id;
  };
  const gpu = await bind('gpu0');
  const accel = await bind('accel0');
  const nic = await bind('nic0');
  const ioas = must(await t.req('POST', '/v1/ioas', { contextId: ctx }), 201).id;
  return { ctx, gpu, accel, nic, ioas };
}

const hwpt = async (deviceId: number, ptId: number, flags: string[] = []): Promise<any> => must(await t!.req('POST', '/v1/hwpts', { deviceId, ptId, flags }), 201);
const putPasid = (deviceId: number, pasid: number | string, ptId: number) => t!.req('PUT', `/v1/devices/${deviceId}/pasids/${pasid}/attachment`, { ptId });
const delPasid = (deviceId: number, pasid: number) => t!.req('DELETE', `/v1/devices/${deviceId}/pasids/${pasid}/attachment`);
const attach = (deviceId: number, ptId: number) => t!.req('PUT', `/v1/devices/${deviceId}/attachment`, { ptId });

/** An SMMU of its own with IDR0 changed, and one device on it bound to a new context. */
async function customSmmu(fields: Record<string, number>, pasidBits = 0): Promise<{ ctx: number; dev: number; ioas: number }> {
  t = await startApp();
  let idr = DEFAULT_IDR;
  for (const [k, v] of Object.entries(fields)) idr = setIdrField(idr, k as never, v);
  const smmu = must(await t.req('POST', '/v1/smmus', { name: 'custom', idr }), 201).id;
  const dev = must(await t.req('POST', '/v1/devices', { name: 'd0', smmuId: smmu, streamId: 5, pasidBits }), 201).id;
  const ctx = must(await t.req('POST', '/v1/contexts', { name: 'vm' }), 201).id;
  must(await t.req('POST', `/v1/contexts/${ctx}/devices`, { deviceId: dev }), 201);
  const ioas = must(await t.req('POST', '/v1/ioas', { contextId: ctx }), 201).id;
  return { ctx, dev, ioas };
}

/** The commands the SMMU executed since `since` (its running total), decoded by name. */
async function commandsSince(smmuId: number, since: number): Promise<Array<{ name: string; fields: Record<string, unknown> }>> {
  const st = must(await t!.req('GET', `/v1/smmus/${smmuId}/state?commands=1024`), 200);
  const recent: Array<[string, string]> = st.recentCommands;
  const n = st.commands.executed - since;
  return recent.slice(recent.length - n).map(([w0, w1]) => {
    const d = decodeCommand([BigInt(w0), BigInt(w1)]);
    return { name: d.name ?? 'ILLEGAL', fields: d.fields as Record<string, unknown> };
  });
}


/** EINVAL (400) with a detail saying which rule refused: several rules share the errno. */
function einval(res: Awaited<ReturnType<TestApp['req']>>, detail: RegExp): void {
  expectProblem(res, 'EINVAL', 400);
  expect(res.body.detail).toMatch(detail);
}
describe('paging HWPT stage (arm_smmu_domain_alloc_paging_flags)', () => {
  it('no flags → stage 1 with an ASID and no VMID; nest_parent → stage 2 with a VMID and no ASID', async () => {
    const v = await vm();
    const s1 = await hwpt(v.gpu, v.ioas);
    expect(s1).toMatchObject({ type: 'hwpt_paging', stage: 1, vmid: null, nestParent: false, pasid: false });
    expect(s1.asid).toBeGreaterThanOrEqual(1);
    const s2 = await hwpt(v.gpu, v.ioas, ['nest_parent']);
    expect(s2).toMatchObject({ stage: 2, asid: null, nestParent: true });
    expect(s2.vmid).toBeGreaterThanOrEqual(1);
    const q = await t!.gql(`{ hwpt(id: ${s1.id}) { stage asid vmid pasid } }`);
    expect(q.data.hwpt).toEqual({ stage: 1, asid: s1.asid, vmid: null, pasid: false });
  });

  it('pasid and/or dirty_tracking → stage 1; the pasid flag is kept as the HWPT\'s PASID compatibility', async () => {
    const v = await vm();
    expect(await hwpt(v.gpu, v.ioas, ['pasid'])).toMatchObject({ stage: 1, pasid: true, dirtyTracking: false });
  });

  it('nest_parent with pasid or dirty_tracking → EOPNOTSUPP, nothing allocated', async () => {
    const v = await vm();
    for (const flags of [['nest_parent', 'pasid'], ['nest_parent', 'dirty_tracking']]) {
      await expectUnchanged(t!, async () => expectProblem(await t!.req('POST', '/v1/hwpts', { deviceId: v.gpu, ptId: v.ioas, flags }), 'EOPNOTSUPP', 422));
    }
  });

  it('ASIDs (arm_smmu_domain_finalise_s1) are distinct, start at 1 and are freed on destroy', async () => {
    const v = await vm();
    const a = await hwpt(v.gpu, v.ioas);
    const b = await hwpt(v.gpu, v.ioas);
    expect(a.asid).toBe(1);
    expect(b.asid).toBe(2);
    must(await t!.req('DELETE', `/v1/objects/${a.id}`), 204);
    expect((await hwpt(v.gpu, v.ioas)).asid).toBe(1);
  });

  it('an SMMU without stage 1: no flags → stage 2; pasid → EOPNOTSUPP', async () => {
    const c = await customSmmu({ S1P: 0 });
    expect(await hwpt(c.dev, c.ioas)).toMatchObject({ stage: 2, asid: null });
    await expectUnchanged(t!, async () => expectProblem(await t!.req('POST', '/v1/hwpts', { deviceId: c.dev, ptId: c.ioas, flags: ['pasid'] }), 'EOPNOTSUPP', 422));
  });

  it('an SMMU without stage 2: nest_parent → EOPNOTSUPP (ARM_SMMU_FEAT_NESTING needs both stages)', async () => {
    const c = await customSmmu({ S2P: 0 });
    await expectUnchanged(t!, async () =>
      expectProblem(await t!.req('POST', '/v1/hwpts', { deviceId: c.dev, ptId: c.ioas, flags: ['nest_parent'] }), 'EOPNOTSUPP', 422),
    );
  });

  it('the auto HWPT of an attach is stage 1, PASID-compatible when the device can issue PASIDs', async () => {
    const v = await vm();
    const ioas2 = must(await t!.req('POST', '/v1/ioas', { contextId: v.ctx }), 201).id;
    const gpu = must(await attach(v.gpu, v.ioas), 200);
    const nic = must(await attach(v.nic, ioas2), 200);
    // A device of the same SMMU attaching to the same IOAS later shares the first one's auto HWPT.
    expect(must(await attach(v.accel, v.ioas), 200).attachedTo).toBe(gpu.attachedTo);
    const g = must(await t!.req('GET', `/v1/hwpts/${gpu.attachedTo}`), 200);
    const n = must(await t!.req('GET', `/v1/hwpts/${nic.attachedTo}`), 200);
    expect(g).toMatchObject({ auto: true, stage: 1, pasid: true, vmid: null });
    expect(n).toMatchObject({ auto: true, stage: 1, pasid: false, vmid: null });
  });

  it('a RID on a stage-1 domain gets a CD-table STE (S1DSS=SSID0) with the domain\'s CD at SSID 0, installed with CFGI_CD then CFGI_STE', async () => {
    const v = await vm();
    const dom = await hwpt(v.accel, v.ioas);
    const smmu = (await deviceByName(t!, 'accel0')).smmuId;
    const before = must(await t!.req('GET', `/v1/smmus/${smmu}/state`), 200).commands.executed;
    const d = must(await attach(v.accel, dom.id), 200);
    expect(d.host.config).toBe('s1_translate');
    expect(d.host.cdTable).toMatchObject({ s1fmt: 'linear', s1cdmax: 8, s1dss: 'ssid0' });
    expect(d.host.cdTable.cds).toEqual([expect.objectContaining({ ssid: 0, hwptId: dom.id, asid: dom.asid })]);
    const cmds = await commandsSince(smmu, before);
    expect(cmds.map((c) => c.name)).toEqual(['CFGI_CD', 'CMD_SYNC', 'CFGI_STE', 'CMD_SYNC']);
    expect(cmds[0].fields).toMatchObject({ SID: 0x103, SSID: 0, LEAF: 1 });
  });
});

describe('PASID attach (VFIO attach with a PASID; iommufd core then arm_smmu_set_pasid)', () => {
  it('attach to a pasid HWPT with the RID blocked: a CD-table STE with S1DSS=terminate and the CD at that SSID', async () => {
    const v = await vm();
    const dom = await hwpt(v.gpu, v.ioas, ['pasid']);
    const smmu = (await deviceByName(t!, 'gpu0')).smmuId;
    const before = must(await t!.req('GET', `/v1/smmus/${smmu}/state`), 200).commands.executed;
    const d = must(await putPasid(v.gpu, 5, dom.id), 200);
    expect(d.pasids).toEqual([{ pasid: 5, hwptId: dom.id }]);
    expect(d.attachedTo).toBeNull();
    expect(d.host.config).toBe('s1_translate');
    expect(d.host.cdTable).toMatchObject({ s1fmt: 'linear', s1cdmax: 20, s1dss: 'terminate' });
    expect(d.host.cdTable.cds.map((c: { ssid: number }) => c.ssid)).toEqual([5]);
    expect(must(await t!.req('GET', `/v1/devices/${v.gpu}`), 200)).toEqual(d);
    expect(must(await t!.req('GET', `/v1/hwpts/${dom.id}`), 200).pasidDevices).toEqual([{ deviceId: v.gpu, pasid: 5 }]);
    expect((await t!.gql(`{ hwpt(id: ${dom.id}) { pasidDevices { deviceId pasid } } }`)).data.hwpt.pasidDevices).toEqual([{ deviceId: String(v.gpu), pasid: 5 }]);
    const cmds = await commandsSince(smmu, before);
    expect(cmds.map((c) => c.name)).toEqual(['CFGI_CD', 'CMD_SYNC', 'CFGI_STE', 'CMD_SYNC']);
    expect(cmds[0].fields).toMatchObject({ SID: 0x102, SSID: 5, LEAF: 1 });
    const q = await t!.gql(`{ device(id: ${v.gpu}) { pasids { pasid hwpt { id } } host { config cdTable { s1dss s1cdmax cds { ssid asid } } } } }`);
    expect(q.data.device).toEqual({
      pasids: [{ pasid: 5, hwpt: { id: String(dom.id) } }],
      host: { config: 's1_translate', cdTable: { s1dss: 'terminate', s1cdmax: 20, cds: [{ ssid: 5, asid: dom.asid }] } },
    });
  });

  it('with the RID on a PASID-compatible stage-1 domain: S1DSS=SSID0, CDs at SSID 0 and at the PASID', async () => {
    const v = await vm();
    const rid = await hwpt(v.gpu, v.ioas, ['pasid']);
    const dom = await hwpt(v.gpu, v.ioas, ['pasid']);
    must(await attach(v.gpu, rid.id), 200);
    const d = must(await putPasid(v.gpu, 7, dom.id), 200);
    expect(d.host.cdTable.s1dss).toBe('ssid0');
    expect(d.host.cdTable.cds.map((c: { ssid: number; hwptId: number }) => [c.ssid, c.hwptId])).toEqual([
      [0, rid.id],
      [7, dom.id],
    ]);
  });

  it('PASID 0 is IOMMU_NO_PASID → EINVAL', async () => {
    const v = await vm();
    const dom = await hwpt(v.gpu, v.ioas, ['pasid']);
    await expectUnchanged(t!, async () => expectProblem(await putPasid(v.gpu, 0, dom.id), 'EINVAL', 400));
  });

  it('iommufd_device_change_pt: an unknown ptId → ENOENT; a device id or a vIOMMU → EINVAL', async () => {
    const v = await vm();
    const parent = await hwpt(v.gpu, v.ioas, ['nest_parent']);
    const viommu = must(await t!.req('POST', '/v1/viommus', { deviceId: v.gpu, hwptId: parent.id, type: 'arm_smmuv3' }), 201);
    await expectUnchanged(t!, async () => {
      expectProblem(await putPasid(v.gpu, 1, 999_999), 'ENOENT', 404);
      einval(await putPasid(v.gpu, 1, v.nic), /is a device: a PASID attaches to an IOAS or a HWPT/);
      einval(await putPasid(v.gpu, 1, viommu.id), /is a viommu: a PASID attaches to an IOAS or a HWPT/);
    });
  });

  it('iommufd_hwpt_pasid_compat: a HWPT allocated without the pasid flag → EINVAL (a nest parent, a plain stage-1 HWPT)', async () => {
    const v = await vm();
    const plain = await hwpt(v.gpu, v.ioas);
    const parent = await hwpt(v.gpu, v.ioas, ['nest_parent']);
    await expectUnchanged(t!, async () => {
      einval(await putPasid(v.gpu, 1, plain.id), /was not allocated with the pasid flag/);
      einval(await putPasid(v.gpu, 1, parent.id), /was not allocated with the pasid flag/);
    });
  });

  it('iommufd_hwpt_pasid_compat: a nested HWPT is never PASID-compatible → EINVAL, refused by that check (not the driver\'s stage check after it)', async () => {
    const v = await vm();
    const parent = await hwpt(v.gpu, v.ioas, ['nest_parent']);
    const viommu = must(await t!.req('POST', '/v1/viommus', { deviceId: v.gpu, hwptId: parent.id, type: 'arm_smmuv3' }), 201);
    const nested = must(await t!.req('POST', '/v1/hwpts', { deviceId: v.gpu, ptId: viommu.id, data: { type: 'arm_smmuv3', ste: ['0x9', '0x0'] } }), 201);
    await expectUnchanged(t!, async () => einval(await putPasid(v.gpu, 1, nested.id), /was not allocated with the pasid flag/));
  });

  it('iommufd_hwpt_pasid_compat: the RID on a domain that cannot carry PASIDs (plain stage 1, stage-2 nest parent) → EINVAL', async () => {
    const v = await vm();
    const dom = await hwpt(v.gpu, v.ioas, ['pasid']);
    const plain = await hwpt(v.gpu, v.ioas);
    const parent = await hwpt(v.gpu, v.ioas, ['nest_parent']);
    for (const rid of [plain.id, parent.id]) {
      must(await attach(v.gpu, rid), 200);
      await expectUnchanged(t!, async () => expectProblem(await putPasid(v.gpu, 3, dom.id), 'EINVAL', 400));
    }
  });

  it('iommu_attach_device_pasid: a PASID beyond the device\'s width → EINVAL; a device without PASIDs takes none', async () => {
    const v = await vm();
    const dom = await hwpt(v.accel, v.ioas, ['pasid']);
    must(await putPasid(v.accel, 255, dom.id), 200);
    await expectUnchanged(t!, async () => {
      einval(await putPasid(v.accel, 256, dom.id), /PASID 256 is beyond device \d+'s 8-bit PASID width/);
      einval(await putPasid(v.nic, 1, dom.id), /cannot issue PASIDs/);
    });
  });

  it('arm_smmu_s1_set_dev_pasid: a domain of another SMMU → EINVAL', async () => {
    const v = await vm();
    const gpu1 = (await deviceByName(t!, 'gpu1')).id;
    must(await t!.req('POST', `/v1/contexts/${v.ctx}/devices`, { deviceId: gpu1 }), 201);
    const other = await hwpt(gpu1, v.ioas, ['pasid']);
    await expectUnchanged(t!, async () => expectProblem(await putPasid(v.gpu, 1, other.id), 'EINVAL', 400));
  });

  it('a PUT on an attached PASID replaces its domain (iommufd_device_replace); the same domain again changes nothing', async () => {
    const v = await vm();
    const a = await hwpt(v.gpu, v.ioas, ['pasid']);
    const b = await hwpt(v.gpu, v.ioas, ['pasid']);
    must(await putPasid(v.gpu, 9, a.id), 200);
    await expectUnchanged(t!, async () => must(await putPasid(v.gpu, 9, a.id), 200));
    const d = must(await putPasid(v.gpu, 9, b.id), 200);
    expect(d.pasids).toEqual([{ pasid: 9, hwptId: b.id }]);
    expect(d.host.cdTable.cds).toEqual([expect.objectContaining({ ssid: 9, hwptId: b.id, asid: b.asid })]);
    expect(must(await t!.req('GET', `/v1/hwpts/${a.id}`), 200).pasidDevices).toEqual([]);
  });

  it('iommufd_device_auto_get_domain: an auto HWPT that refuses the RID (no pasid flag, PASIDs attached) is skipped: a new PASID-compatible one, then the first that takes it', async () => {
    const v = await vm();
    // nic0 (no PASIDs) makes the IOAS's first auto HWPT, without the pasid flag.
    const first = must(await attach(v.nic, v.ioas), 200).attachedTo;
    expect(must(await t!.req('GET', `/v1/hwpts/${first}`), 200)).toMatchObject({ auto: true, pasid: false });
    // gpu0 with a PASID attached: iommufd_hwpt_pasid_compat refuses `first` (EINVAL), so the
    // kernel goes on to allocate a new auto HWPT, PASID-compatible — not an error.
    must(await putPasid(v.gpu, 5, (await hwpt(v.gpu, v.ioas, ['pasid'])).id), 200);
    const second = must(await attach(v.gpu, v.ioas), 200).attachedTo;
    expect(second).not.toBe(first);
    expect(must(await t!.req('GET', `/v1/hwpts/${second}`), 200)).toMatchObject({ auto: true, pasid: true, ioasId: v.ioas });
    // accel0 with a PASID attached: `first` still refuses it, `second` takes it — reused, no third.
    must(await putPasid(v.accel, 3, (await hwpt(v.accel, v.ioas, ['pasid'])).id), 200);
    expect(must(await attach(v.accel, v.ioas), 200).attachedTo).toBe(second);
    // nvme0 without PASIDs takes the first one that accepts it: `first`.
    const nvme = (await deviceByName(t!, 'nvme0')).id;
    must(await t!.req('POST', `/v1/contexts/${v.ctx}/devices`, { deviceId: nvme }), 201);
    expect(must(await attach(nvme, v.ioas), 200).attachedTo).toBe(first);
    const autos = must(await t!.req('GET', `/v1/hwpts?contextId=${v.ctx}`), 200).items.filter((h: { auto: boolean; ioasId: number }) => h.auto && h.ioasId === v.ioas);
    expect(autos.map((h: { id: number }) => h.id).sort((a: number, b: number) => a - b)).toEqual([first, second].sort((a, b) => a - b));
  });

  it('iommufd_device_auto_get_domain for a PASID: an IOAS whose auto HWPT the RID already made is reused for the PASID, by another device of the SMMU too', async () => {
    const v = await vm();
    const auto = must(await attach(v.gpu, v.ioas), 200).attachedTo;
    expect(must(await putPasid(v.gpu, 4, v.ioas), 200).pasids).toEqual([{ pasid: 4, hwptId: auto }]);
    expect(must(await putPasid(v.accel, 2, v.ioas), 200).pasids).toEqual([{ pasid: 2, hwptId: auto }]);
    const autos = must(await t!.req('GET', `/v1/hwpts?contextId=${v.ctx}`), 200).items.filter((h: { auto: boolean }) => h.auto);
    expect(autos.map((h: { id: number }) => h.id)).toEqual([auto]);
  });

  it('PASID attachments: kept in PASID order; a replace releases the auto HWPT it leaves; a detach takes only its PASID; detaching one not attached changes nothing', async () => {
    const v = await vm();
    const dom = await hwpt(v.gpu, v.ioas, ['pasid']);
    for (const pasid of [9, 3, 6]) must(await putPasid(v.gpu, pasid, dom.id), 200);
    expect(must(await t!.req('GET', `/v1/devices/${v.gpu}`), 200).pasids.map((a: { pasid: number }) => a.pasid)).toEqual([3, 6, 9]);
    // PASID 4 on the IOAS gets an auto HWPT of its own (the RID is not attached), then moves to `dom`.
    const auto = must(await putPasid(v.gpu, 4, v.ioas), 200).pasids.find((a: { pasid: number }) => a.pasid === 4).hwptId;
    expect(must(await t!.req('GET', `/v1/hwpts/${auto}`), 200)).toMatchObject({ auto: true, ioasId: v.ioas });
    expect(must(await putPasid(v.gpu, 4, dom.id), 200).pasids.map((a: { pasid: number; hwptId: number }) => [a.pasid, a.hwptId])).toEqual([[3, dom.id], [4, dom.id], [6, dom.id], [9, dom.id]]);
    expectProblem(await t!.req('GET', `/v1/hwpts/${auto}`), 'ENOENT', 404);
    expect(must(await delPasid(v.gpu, 6), 200).pasids.map((a: { pasid: number }) => a.pasid)).toEqual([3, 4, 9]);
    await expectUnchanged(t!, async () => {
      expect(must(await delPasid(v.gpu, 7), 200).pasids.map((a: { pasid: number }) => a.pasid)).toEqual([3, 4, 9]);
    });
  });

  it('an IOAS as ptId: the PASID gets a PASID-compatible auto HWPT, shared with the RID\'s attach to the same IOAS, released with its last user', async () => {
    const v = await vm();
    const d = must(await putPasid(v.gpu, 4, v.ioas), 200);
    const auto = d.pasids[0].hwptId;
    expect(must(await t!.req('GET', `/v1/hwpts/${auto}`), 200)).toMatchObject({ auto: true, stage: 1, pasid: true, ioasId: v.ioas });
    expect(must(await attach(v.gpu, v.ioas), 200).attachedTo).toBe(auto);
    must(await t!.req('DELETE', `/v1/devices/${v.gpu}/attachment`), 200);
    must(await t!.req('GET', `/v1/hwpts/${auto}`), 200);
    must(await delPasid(v.gpu, 4), 200);
    expectProblem(await t!.req('GET', `/v1/hwpts/${auto}`), 'ENOENT', 404);
  });

  it('detach: the PASID\'s CD is cleared (CFGI_CD) and, with no PASID left and the RID blocked, the STE goes back to abort', async () => {
    const v = await vm();
    const dom = await hwpt(v.gpu, v.ioas, ['pasid']);
    must(await putPasid(v.gpu, 5, dom.id), 200);
    const smmu = (await deviceByName(t!, 'gpu0')).smmuId;
    const before = must(await t!.req('GET', `/v1/smmus/${smmu}/state`), 200).commands.executed;
    const d = must(await delPasid(v.gpu, 5), 200);
    expect(d.pasids).toEqual([]);
    expect(d.host).toMatchObject({ config: 'abort', cdTable: null });
    const cmds = await commandsSince(smmu, before);
    expect(cmds.map((c) => c.name)).toEqual(['CFGI_CD', 'CMD_SYNC', 'CFGI_STE', 'CMD_SYNC']);
    expect(cmds[0].fields).toMatchObject({ SID: 0x102, SSID: 5, LEAF: 1 });
    await expectUnchanged(t!, async () => must(await delPasid(v.gpu, 5), 200));
  });

  it('iommufd_hwpt_pasid_compat (RID): with PASIDs attached, a RID attach to a non-PASID domain → EINVAL; to a PASID-compatible one → 200', async () => {
    const v = await vm();
    const dom = await hwpt(v.gpu, v.ioas, ['pasid']);
    const plain = await hwpt(v.gpu, v.ioas);
    const parent = await hwpt(v.gpu, v.ioas, ['nest_parent']);
    must(await putPasid(v.gpu, 5, dom.id), 200);
    await expectUnchanged(t!, async () => {
      expectProblem(await attach(v.gpu, plain.id), 'EINVAL', 400);
      expectProblem(await attach(v.gpu, parent.id), 'EINVAL', 400);
    });
    const d = must(await attach(v.gpu, dom.id), 200);
    expect(d.host.cdTable.s1dss).toBe('ssid0');
  });

  it('with PASIDs attached, a RID attach to a nested HWPT → EINVAL (the core\'s pasid_compat check comes before the driver\'s EBUSY)', async () => {
    const v = await vm();
    const dom = await hwpt(v.gpu, v.ioas, ['pasid']);
    const parent = await hwpt(v.gpu, v.ioas, ['nest_parent']);
    const viommu = must(await t!.req('POST', '/v1/viommus', { deviceId: v.gpu, hwptId: parent.id, type: 'arm_smmuv3' }), 201);
    const bypass = must(await t!.req('POST', '/v1/hwpts', { deviceId: v.gpu, ptId: viommu.id, data: { type: 'arm_smmuv3', ste: ['0x9', '0x0'] } }), 201);
    must(await putPasid(v.gpu, 5, dom.id), 200);
    await expectUnchanged(t!, async () => expectProblem(await attach(v.gpu, bypass.id), 'EINVAL', 400));
  });

  it('the RID leaving a stage-1 domain: the new STE first, then CD 0 cleared (arm_smmu_attach_dev_ste); with PASIDs left the table stays (S1DSS=terminate)', async () => {
    const v = await vm();
    const rid = await hwpt(v.gpu, v.ioas, ['pasid']);
    const dom = await hwpt(v.gpu, v.ioas, ['pasid']);
    must(await attach(v.gpu, rid.id), 200);
    const smmu = (await deviceByName(t!, 'gpu0')).smmuId;
    let before = must(await t!.req('GET', `/v1/smmus/${smmu}/state`), 200).commands.executed;
    must(await t!.req('DELETE', `/v1/devices/${v.gpu}/attachment`), 200);
    let cmds = await commandsSince(smmu, before);
    expect(cmds.map((c) => c.name)).toEqual(['CFGI_STE', 'CMD_SYNC', 'CFGI_CD', 'CMD_SYNC']);
    expect(cmds[2].fields).toMatchObject({ SSID: 0 });
    must(await attach(v.gpu, rid.id), 200);
    must(await putPasid(v.gpu, 8, dom.id), 200);
    before = must(await t!.req('GET', `/v1/smmus/${smmu}/state`), 200).commands.executed;
    const d = must(await t!.req('DELETE', `/v1/devices/${v.gpu}/attachment`), 200);
    expect(d.host.cdTable).toMatchObject({ s1dss: 'terminate' });
    expect(d.host.cdTable.cds.map((c: { ssid: number }) => c.ssid)).toEqual([8]);
    cmds = await commandsSince(smmu, before);
    expect(cmds.map((c) => c.name)).toEqual(['CFGI_STE', 'CMD_SYNC', 'CFGI_CD', 'CMD_SYNC']);
  });

  it('a HWPT with a PASID attached is held: DESTROY → EBUSY naming the device', async () => {
    const v = await vm();
    const dom = await hwpt(v.gpu, v.ioas, ['pasid']);
    must(await putPasid(v.gpu, 5, dom.id), 200);
    await expectUnchanged(t!, async () => {
      const res = await t!.req('DELETE', `/v1/objects/${dom.id}`);
      expectProblem(res, 'EBUSY', 409);
      expect(res.body.blockedBy).toEqual([v.gpu]);
    });
  });

  it('unbind detaches every PASID (iommufd_device_unbind); closing the context too', async () => {
    const v = await vm();
    const dom = await hwpt(v.gpu, v.ioas, ['pasid']);
    must(await putPasid(v.gpu, 5, dom.id), 200);
    must(await putPasid(v.gpu, 6, v.ioas), 200);
    must(await t!.req('DELETE', `/v1/contexts/${v.ctx}/devices/${v.gpu}`), 200);
    const d = must(await t!.req('GET', `/v1/devices/${v.gpu}`), 200);
    expect(d).toMatchObject({ contextId: null, pasids: [], host: { config: 'abort', cdTable: null } });
    must(await t!.req('DELETE', `/v1/objects/${dom.id}`), 204);
    must(await t!.req('POST', `/v1/contexts/${v.ctx}/devices`, { deviceId: v.gpu }), 201);
    must(await putPasid(v.gpu, 5, v.ioas), 200);
    must(await t!.req('DELETE', `/v1/contexts/${v.ctx}`), 200);
    expect(must(await t!.req('GET', `/v1/devices/${v.gpu}`), 200)).toMatchObject({ contextId: null, pasids: [] });
  });

  it('PASID attachments, the CD table and the STE survive a restart (the CD table is rebuilt by the driver)', async () => {
    const v = await vm();
    const dom = await hwpt(v.gpu, v.ioas, ['pasid']);
    must(await putPasid(v.gpu, 5, dom.id), 200);
    must(await putPasid(v.gpu, 1000, dom.id), 200);
    const before = must(await t!.req('GET', `/v1/devices/${v.gpu}`), 200);
    t = await t!.restart();
    expect(must(await t.req('GET', `/v1/devices/${v.gpu}`), 200)).toEqual(before);
    expect(must(await t.req('GET', `/v1/hwpts/${dom.id}`), 200).pasidDevices).toEqual([
      { deviceId: v.gpu, pasid: 5 },
      { deviceId: v.gpu, pasid: 1000 },
    ]);
  });

  it('malformed PASIDs and bodies are EINVAL and change nothing', async () => {
    const v = await vm();
    const dom = await hwpt(v.gpu, v.ioas, ['pasid']);
    await expectUnchanged(t!, async () => {
      expectProblem(await putPasid(v.gpu, '-1', dom.id), 'EINVAL', 400);
      expectProblem(await putPasid(v.gpu, '4294967296', dom.id), 'EINVAL', 400);
      expectProblem(await putPasid(v.gpu, 'x', dom.id), 'EINVAL', 400);
      expectProblem(await t!.req('PUT', `/v1/devices/${v.gpu}/pasids/5/attachment`, { ptId: dom.id, extra: 1 }), 'EINVAL', 400);
      expectProblem(await t!.req('PUT', `/v1/devices/${v.gpu}/pasids/5/attachment`, {}), 'EINVAL', 400);
    });
  });

  it('GraphQL attachDevicePasid / detachDevicePasid follow the same rules', async () => {
    const v = await vm();
    const dom = await hwpt(v.gpu, v.ioas, ['pasid']);
    const ok = await t!.gql(`mutation { attachDevicePasid(deviceId: ${v.gpu}, pasid: 5, ptId: ${dom.id}) { pasids { pasid hwptId } } }`);
    expect(ok.data.attachDevicePasid.pasids).toEqual([{ pasid: 5, hwptId: String(dom.id) }]);
    const bad = await t!.gql(`mutation { attachDevicePasid(deviceId: ${v.gpu}, pasid: 0, ptId: ${dom.id}) { id } }`);
    expect(bad.errors[0].extensions.errno).toBe('EINVAL');
    const off = await t!.gql(`mutation { detachDevicePasid(deviceId: ${v.gpu}, pasid: 5) { pasids { pasid } } }`);
    expect(off.data.detachDevicePasid.pasids).toEqual([]);
  });
});

/**
 * Contract tests for the object rules around HWPTs (iommufd.md §1.4, §2.1, §2.3, §2.9, §3.2, §3.3
 * and the scenarios of §6.1, §6.3, §6.5 and §6.10 adapted to ARM SMMUv3).
 *
 * Not covered here, because the REST contract (api.md) has no resource for them:
 * - FAULT objects / IOPF (IOMMU_FAULT_QUEUE_ALLOC, FAULT_ID_VALID, fault_id): §6.3 items 13, 22,
 *   35 (its fault part) and 36 (its fault part), §6.5 items 46, 47 and the fault read of 50.
 * - PASID attach (A8's "attach while the device has PASID domains → EBUSY").
 * - The ioctl framing of §6.1 (struct size, E2BIG tails, NULL pointers, ENOTTY): REST has no
 *   struct sizes; its analogue (unknown body fields, malformed ids) is tested as EINVAL.
 * - The selftest mock's IOTLB contents (§6.3 items 19, 24–33): ARM invalidation goes through the
 *   vIOMMU (§3.4) and is another file's subject; only the HWPT-targeted rules (23, A11) are here.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_IDR, setIdrField } from '../src/hw/idr.js';
import { steGet } from '../src/hw/ste.js';
import { buildViommu, deviceByName, expectProblem, expectUnchanged, must, startApp, type Graph, type Res, type TestApp } from './helper.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

async function app(): Promise<TestApp> {
  t = await startApp();
  return t;
}

const hex = (v: bigint): string => '0x' + v.toString(16);
/** The 16-digit lowercase form responses use for STE words. */
const word = (v: bigint): string => '0x' + v.toString(16).padStart(16, '0');

// Legal vSTEs (iommufd.md §3.2 "Example legal values").
const ABORT = 0x1n;
const BYPASS = 0x9n;
const CD_PTR = 0x80000000n;
const S1 = 0xbn | CD_PTR;
const EATS_TRANS = 1n << 28n;

const nestedReq = (t: TestApp, deviceId: number, ptId: number, ste0: bigint, ste1 = 0n, extra: Record<string, unknown> = {}): Promise<Res> =>
  t.req('POST', '/v1/hwpts', { deviceId, ptId, data: { type: 'arm_smmuv3', ste: [hex(ste0), hex(ste1)] }, ...extra });

async function nested(t: TestApp, g: Graph, ste0: bigint, ste1 = 0n): Promise<any> {
  return must(await nestedReq(t, g.dev, g.viommu, ste0, ste1), 201);
}

const attach = (t: TestApp, deviceId: number, ptId: number): Promise<Res> => t.req('PUT', `/v1/devices/${deviceId}/attachment`, { ptId });
const destroy = (t: TestApp, id: number): Promise<Res> => t.req('DELETE', `/v1/objects/${id}`);

/** A second context ("another fd") with its own bound device and IOAS. */
async function otherContext(t: TestApp, deviceName = 'nvme0'): Promise<{ ctx: number; dev: number; ioas: number }> {
  const ctx = must(await t.req('POST', '/v1/contexts', { name: 'vm2' }), 201).id;
  const dev = (await deviceByName(t, deviceName)).id;
  must(await t.req('POST', `/v1/contexts/${ctx}/devices`, { deviceId: dev }), 201);
  const ioas = must(await t.req('POST', '/v1/ioas', { contextId: ctx }), 201).id;
  return { ctx, dev, ioas };
}

/** Binds another device of the built-in topology to the graph's context. */
async function bindToo(t: TestApp, g: Graph, name: string): Promise<number> {
  const dev = (await deviceByName(t, name)).id;
  must(await t.req('POST', `/v1/contexts/${g.ctx}/devices`, { deviceId: dev }), 201);
  return dev;
}

async function expectBusy(t: TestApp, id: number, blockedBy: number[]): Promise<void> {
  await expectUnchanged(t, async () => {
    const res = await destroy(t, id);
    expectProblem(res, 'EBUSY', 409);
    expect(res.body.blockedBy).toEqual([...blockedBy].sort((a, b) => a - b));
  });
  must(await t.req('GET', `/v1/objects/${id}`), 200);
}

async function expectGone(t: TestApp, id: number): Promise<void> {
  must(await destroy(t, id), 204);
  expectProblem(await t.req('GET', `/v1/objects/${id}`), 'ENOENT', 404);
}

describe('§2.1 / §1.4 IOMMU_DESTROY (DELETE /v1/objects/{id})', () => {
  it('§2.1 DESTROY: an id that names nothing is ENOENT', async () => {
    const t = await app();
    const g = await buildViommu(t);
    await expectUnchanged(t, async () => {
      expectProblem(await destroy(t, 999999), 'ENOENT', 404);
      // §6.1 item 1: IOMMU_DESTROY{id 0} → ENOENT (0 is a u32 that names no object).
      expectProblem(await destroy(t, 0), 'ENOENT', 404);
      // The GraphQL destroy mutation follows the same rule.
      for (const id of [0, 999999]) {
        const res = await t.gql(`mutation { destroy(id: ${id}) }`);
        expect(res.errors[0].extensions).toMatchObject({ errno: 'ENOENT', status: 404 });
      }
      expectProblem(await destroy(t, 0x7fffffff), 'ENOENT', 404);
    });
    expect(g.viommu).toBeGreaterThan(0);
  });

  it('§2.1 DESTROY: a malformed id (not a decimal u32 ≥ 1) is EINVAL with errors', async () => {
    const t = await app();
    await buildViommu(t);
    await expectUnchanged(t, async () => {
      for (const bad of ['abc', '-1', '4294967296', '1.5']) {
        const res = await t.req('DELETE', `/v1/objects/${bad}`);
        expectProblem(res, 'EINVAL', 400);
        expect(res.body.errors.length).toBeGreaterThan(0);
      }
    });
  });

  it('§1.4 DESTROY: an id destroyed once is ENOENT afterwards and is never reused', async () => {
    const t = await app();
    const g = await buildViommu(t);
    const n = await nested(t, g, ABORT);
    await expectGone(t, n.id);
    await expectUnchanged(t, async () => expectProblem(await destroy(t, n.id), 'ENOENT', 404));
    const again = await nested(t, g, ABORT);
    expect(again.id).toBeGreaterThan(n.id);
  });

  it('§1.1 typed lookups: an id of the wrong type is ENOENT on every typed route (GET, DELETE sub-resources, attachment)', async () => {
    const t = await app();
    const g = await buildViommu(t);
    const n = await nested(t, g, ABORT);
    await expectUnchanged(t, async () => {
      expectProblem(await t.req('GET', `/v1/hwpts/${g.viommu}`), 'ENOENT', 404);
      expectProblem(await t.req('GET', `/v1/hwpts/${g.ioas}`), 'ENOENT', 404);
      expectProblem(await t.req('GET', `/v1/viommus/${g.parent}`), 'ENOENT', 404);
      expectProblem(await t.req('GET', `/v1/ioas/${n.id}`), 'ENOENT', 404);
      expectProblem(await t.req('GET', `/v1/vdevices/${g.viommu}`), 'ENOENT', 404);
      // A HWPT id where an IOAS is expected (unmap), an object id where a device is expected.
      expectProblem(await t.req('DELETE', `/v1/ioas/${g.parent}/mappings?iova=0x0&length=0x1000`), 'ENOENT', 404);
      expectProblem(await t.req('DELETE', `/v1/devices/${n.id}/attachment`), 'ENOENT', 404);
      expectProblem(await t.req('DELETE', `/v1/contexts/${g.ctx}/devices/${g.ioas}`), 'ENOENT', 404);
    });
  });

  it("§1.1 another context's id is ENOENT wherever a context's object is named (attach, vIOMMU, vDEVICE, unbind)", async () => {
    const t = await app();
    const g = await buildViommu(t);
    const o = await otherContext(t);
    const oParent = must(await t.req('POST', '/v1/hwpts', { deviceId: o.dev, ptId: o.ioas, flags: ['nest_parent'] }), 201).id;
    await expectUnchanged(t, async () => {
      // The device belongs to context A; the IOAS / HWPT to context B.
      expectProblem(await attach(t, g.dev, o.ioas), 'ENOENT', 404);
      expectProblem(await attach(t, g.dev, oParent), 'ENOENT', 404);
      expectProblem(await attach(t, o.dev, g.parent), 'ENOENT', 404);
      expectProblem(await t.req('POST', '/v1/viommus', { deviceId: g.dev, hwptId: oParent, type: 'arm_smmuv3' }), 'ENOENT', 404);
      expectProblem(await t.req('POST', '/v1/vdevices', { viommuId: g.viommu, deviceId: o.dev, virtId: 1 }), 'ENOENT', 404);
      expectProblem(await t.req('DELETE', `/v1/contexts/${g.ctx}/devices/${o.dev}`), 'ENOENT', 404);
    });
  });

  it('§1.2 DESTROY: EBUSY lists the blockers — IOAS by its paging HWPTs, parent by the vIOMMU, vIOMMU by its nested HWPT and vDEVICE, nested HWPT by the attached device (§6.1 item 4)', async () => {
    const t = await app();
    const g = await buildViommu(t);
    const auto = (await t.req('GET', `/v1/devices/${g.dev}`)).body.attachedTo as number;
    expect(auto).not.toBe(g.parent);
    const vdev = must(await t.req('POST', '/v1/vdevices', { viommuId: g.viommu, deviceId: g.dev, virtId: 0x99 }), 201).id;
    const n = await nested(t, g, S1);
    // Detach from the auto HWPT first so only the paging HWPTs hold the IOAS below.
    must(await attach(t, g.dev, n.id), 200);
    await expectBusy(t, g.ioas, [g.parent]);
    await expectBusy(t, g.parent, [g.viommu]);
    await expectBusy(t, g.viommu, [vdev, n.id]);
    await expectBusy(t, n.id, [g.dev]);
  });

  it('§6.1 item 4: DESTROY(IOAS) while a device is attached to it (auto HWPT) is EBUSY; an IOAS nothing uses is destroyed', async () => {
    const t = await app();
    const ctx = must(await t.req('POST', '/v1/contexts', { name: 'vm' }), 201).id;
    const dev = (await deviceByName(t, 'nic0')).id;
    must(await t.req('POST', `/v1/contexts/${ctx}/devices`, { deviceId: dev }), 201);
    const ioas = must(await t.req('POST', '/v1/ioas', { contextId: ctx }), 201).id;
    const lone = must(await t.req('POST', '/v1/ioas', { contextId: ctx }), 201).id;
    const attached = must(await attach(t, dev, ioas), 200);
    const auto = must(await t.req('GET', `/v1/hwpts/${attached.attachedTo}`), 200);
    expect(auto).toMatchObject({ type: 'hwpt_paging', ioasId: ioas, auto: true, devices: [dev] });
    await expectBusy(t, ioas, [auto.id]);
    // no_domain variant: nothing uses it.
    await expectGone(t, lone);
  });

  it('§6.1 item 5: DESTROY(id of a bound device) is EBUSY (the binding holds it); an unbound device is not an object (ENOENT)', async () => {
    const t = await app();
    const g = await buildViommu(t);
    await expectUnchanged(t, async () => {
      const res = await destroy(t, g.dev);
      expectProblem(res, 'EBUSY', 409);
      expect(res.body.blockedBy).toEqual([g.ctx]);
    });
    const free = (await deviceByName(t, 'nvme0')).id;
    await expectUnchanged(t, async () => expectProblem(await destroy(t, free), 'ENOENT', 404));
  });

  it('§1.4 DESTROY succeeds once the users are gone: leaf-first teardown of a whole graph, the auto HWPT going with its last device', async () => {
    const t = await app();
    const g = await buildViommu(t);
    const auto = (await t.req('GET', `/v1/devices/${g.dev}`)).body.attachedTo as number;
    const vdev = must(await t.req('POST', '/v1/vdevices', { viommuId: g.viommu, deviceId: g.dev, virtId: 0x99 }), 201).id;
    const n = await nested(t, g, S1);
    must(await attach(t, g.dev, n.id), 200);
    // Leaving the IOAS released the auto HWPT: it is gone without a DESTROY.
    expectProblem(await t.req('GET', `/v1/objects/${auto}`), 'ENOENT', 404);
    await expectBusy(t, n.id, [g.dev]);
    must(await t.req('DELETE', `/v1/devices/${g.dev}/attachment`), 200);
    await expectGone(t, n.id);
    await expectBusy(t, g.viommu, [vdev]);
    await expectGone(t, vdev);
    await expectGone(t, g.viommu);
    await expectGone(t, g.parent);
    await expectGone(t, g.ioas);
    expect((await t.req('GET', `/v1/objects?contextId=${g.ctx}`)).body.items).toEqual([]);
  });

  it('§1.4 vdevice tombstone (§6.9 item 80): unbinding the device destroys its vDEVICE; DESTROY of that id is ENOENT', async () => {
    const t = await app();
    const g = await buildViommu(t);
    const vdev = must(await t.req('POST', '/v1/vdevices', { viommuId: g.viommu, deviceId: g.dev, virtId: 0x99 }), 201).id;
    const out = must(await t.req('DELETE', `/v1/contexts/${g.ctx}/devices/${g.dev}`), 200);
    expect(out.destroyedVdevice).toBe(vdev);
    await expectUnchanged(t, async () => expectProblem(await destroy(t, vdev), 'ENOENT', 404));
    // The vIOMMU is free again: nothing else holds it.
    await expectGone(t, g.viommu);
  });

  it('§1.4 closing the context (DELETE /v1/contexts/{id}) destroys the whole live graph leaf-first and is never EBUSY', async () => {
    const t = await app();
    const g = await buildViommu(t);
    const vdev = must(await t.req('POST', '/v1/vdevices', { viommuId: g.viommu, deviceId: g.dev, virtId: 0x99 }), 201).id;
    const n = await nested(t, g, S1);
    must(await attach(t, g.dev, n.id), 200);
    const out = must(await t.req('DELETE', `/v1/contexts/${g.ctx}`), 200);
    expect(out.unboundDevices).toEqual([g.dev]);
    expect([...out.destroyedObjects].sort((a: number, b: number) => a - b)).toEqual([g.ioas, g.parent, g.viommu, vdev, n.id].sort((a, b) => a - b));
    // Leaf-first: the nested HWPT before its vIOMMU, the vIOMMU before its parent, the parent before the IOAS.
    const pos = (id: number) => out.destroyedObjects.indexOf(id);
    expect(pos(n.id)).toBeLessThan(pos(g.viommu));
    expect(pos(g.viommu)).toBeLessThan(pos(g.parent));
    expect(pos(g.parent)).toBeLessThan(pos(g.ioas));
    expect(must(await t.req('GET', `/v1/devices/${g.dev}`), 200)).toMatchObject({ contextId: null, attachedTo: null });
  });
});

describe('§2.3 IOMMU_HWPT_ALLOC (POST /v1/hwpts): check order and errno', () => {
  it('§2.3 HWPT_ALLOC step 2: data without a data type, or a data type without data, is EINVAL before the device is looked up', async () => {
    const t = await app();
    const g = await buildViommu(t);
    await expectUnchanged(t, async () => {
      expectProblem(await t.req('POST', '/v1/hwpts', { deviceId: 999999, ptId: g.viommu, data: { type: 'none', ste: ['0x1', '0x0'] } }), 'EINVAL', 400);
      expectProblem(await t.req('POST', '/v1/hwpts', { deviceId: 999999, ptId: g.viommu, data: { type: 'arm_smmuv3' } }), 'EINVAL', 400);
      expectProblem(await t.req('POST', '/v1/hwpts', { deviceId: g.dev, ptId: g.viommu, data: { type: 'none', ste: ['0x1', '0x0'] } }), 'EINVAL', 400);
    });
  });

  it('§2.3 HWPT_ALLOC step 3: a deviceId that is not a bound device is ENOENT, checked before a bad ptId (§6.3 items 12, 37)', async () => {
    const t = await app();
    const g = await buildViommu(t);
    const unbound = (await deviceByName(t, 'nvme0')).id;
    await expectUnchanged(t, async () => {
      // §6.3 item 12: dev_id = the IOAS id.
      expectProblem(await t.req('POST', '/v1/hwpts', { deviceId: g.ioas, ptId: g.ioas }), 'ENOENT', 404);
      // Unknown device and unknown ptId: the device is looked up first.
      expectProblem(await t.req('POST', '/v1/hwpts', { deviceId: 999999, ptId: 999998 }), 'ENOENT', 404);
      // §6.3 item 37 (no_domain): a device that is not bound to any context.
      expectProblem(await t.req('POST', '/v1/hwpts', { deviceId: unbound, ptId: g.ioas }), 'ENOENT', 404);
      expectProblem(await nestedReq(t, unbound, g.viommu, S1), 'ENOENT', 404);
    });
  });

  it("§2.3 HWPT_ALLOC step 4: a ptId that is not an IOAS/paging HWPT/vIOMMU of the device's context is EINVAL, not ENOENT (§6.3 items 12, 20)", async () => {
    const t = await app();
    const g = await buildViommu(t);
    const n = await nested(t, g, ABORT);
    const vdev = must(await t.req('POST', '/v1/vdevices', { viommuId: g.viommu, deviceId: g.dev, virtId: 0x99 }), 201).id;
    const o = await otherContext(t);
    await expectUnchanged(t, async () => {
      for (const ptId of [999999, g.dev, g.ctx, n.id, vdev, o.ioas]) {
        expectProblem(await t.req('POST', '/v1/hwpts', { deviceId: g.dev, ptId }), 'EINVAL', 400);
        // With flags and vSTE data too: the ptId decides before anything looks at them.
        expectProblem(await nestedReq(t, g.dev, ptId, S1, 0n, { flags: ['pasid'] }), 'EINVAL', 400);
      }
      // Another context's vIOMMU is "not found" for this device's context: EINVAL as well.
      expectProblem(await nestedReq(t, o.dev, g.viommu, S1), 'EINVAL', 400);
    });
  });

  it('§2.3 HWPT_ALLOC on an IOAS: a paging HWPT; nest_parent sets nestParent; each holds its IOAS (§6.3 item 14)', async () => {
    const t = await app();
    const g = await buildViommu(t);
    const p = must(await t.req('POST', '/v1/hwpts', { deviceId: g.dev, ptId: g.ioas, flags: ['nest_parent'] }), 201);
    const q = must(await t.req('POST', '/v1/hwpts', { deviceId: g.dev, ptId: g.ioas }), 201);
    expect(p).toMatchObject({ type: 'hwpt_paging', contextId: g.ctx, nestParent: true, ioasId: g.ioas, auto: false });
    expect(q).toMatchObject({ type: 'hwpt_paging', contextId: g.ctx, nestParent: false, ioasId: g.ioas, auto: false });
    expect(p.vste).toBeUndefined();
    expect(must(await t.req('GET', `/v1/hwpts/${p.id}`), 200)).toEqual(p);
    expect(must(await t.req('GET', `/v1/objects/${q.id}`), 200)).toEqual(q);
    const auto = (await t.req('GET', `/v1/devices/${g.dev}`)).body.attachedTo;
    await expectBusy(t, g.ioas, [auto, g.parent, p.id, q.id]);
  });

  it('§2.3 HWPT_ALLOC on an IOAS: driver data is EOPNOTSUPP (a paging domain takes no user data)', async () => {
    const t = await app();
    const g = await buildViommu(t);
    await expectUnchanged(t, async () => {
      expectProblem(await nestedReq(t, g.dev, g.ioas, S1), 'EOPNOTSUPP', 422);
      expectProblem(await nestedReq(t, g.dev, g.ioas, S1, 0n, { flags: ['nest_parent'] }), 'EOPNOTSUPP', 422);
    });
  });

  it('§2.3 HWPT_ALLOC dirty_tracking: EOPNOTSUPP on an SMMU without HTTU dirty-state support, accepted on one with it', async () => {
    const t = await app();
    const g = await buildViommu(t);
    await expectUnchanged(t, async () => {
      expectProblem(await t.req('POST', '/v1/hwpts', { deviceId: g.dev, ptId: g.ioas, flags: ['dirty_tracking'] }), 'EOPNOTSUPP', 422);
    });
    // An SMMU with IDR0.HTTU = 2 (access and dirty flag updates).
    const idr = setIdrField(DEFAULT_IDR, 'HTTU', 2);
    const smmu = must(await t.req('POST', '/v1/smmus', { name: 'smmu-httu', idr }), 201);
    const dev = must(await t.req('POST', '/v1/devices', { name: 'dbm0', smmuId: smmu.id, streamId: 0x10 }), 201).id;
    must(await t.req('POST', `/v1/contexts/${g.ctx}/devices`, { deviceId: dev }), 201);
    const d = must(await t.req('POST', '/v1/hwpts', { deviceId: dev, ptId: g.ioas, flags: ['dirty_tracking'] }), 201);
    expect(d).toMatchObject({ type: 'hwpt_paging', ioasId: g.ioas, nestParent: false, dirtyTracking: true, smmuId: smmu.id });
  });

  it('§2.3 HWPT_ALLOC on a paging HWPT (parent-based nesting): EOPNOTSUPP on ARM SMMUv3, whatever the parent (§6.3 items 15–18)', async () => {
    // The ARM driver has no domain_alloc_nested: iommufd_hwpt_nested_alloc fails with EOPNOTSUPP
    // before it looks at the parent, so the mock's "not a nest parent → EINVAL" (item 18) becomes
    // EOPNOTSUPP here; its nested HWPTs are allocated on a vIOMMU (§6.5).
    const t = await app();
    const g = await buildViommu(t);
    const q = must(await t.req('POST', '/v1/hwpts', { deviceId: g.dev, ptId: g.ioas }), 201).id;
    await expectUnchanged(t, async () => {
      expectProblem(await nestedReq(t, g.dev, g.parent, S1), 'EOPNOTSUPP', 422);
      // item 17: flags nest_parent on a nested allocation.
      expectProblem(await nestedReq(t, g.dev, g.parent, S1, 0n, { flags: ['nest_parent'] }), 'EOPNOTSUPP', 422);
      // item 15/16 analogue: no data (data_len 0).
      expectProblem(await t.req('POST', '/v1/hwpts', { deviceId: g.dev, ptId: g.parent }), 'EOPNOTSUPP', 422);
      // item 18: Q is not a nest parent.
      expectProblem(await nestedReq(t, g.dev, q, S1), 'EOPNOTSUPP', 422);
      // A bad data type or a bad vSTE does not change it either: the driver op is missing.
      expectProblem(await nestedReq(t, g.dev, g.parent, 0xfn), 'EOPNOTSUPP', 422);
    });
  });

  it('§2.3 HWPT_ALLOC on a vIOMMU: a device behind another SMMU is EINVAL, checked before flags and data (iommufd_hwpt_alloc)', async () => {
    const t = await app();
    const g = await buildViommu(t);
    const far = await bindToo(t, g, 'nic1');
    await expectUnchanged(t, async () => {
      expectProblem(await nestedReq(t, far, g.viommu, S1), 'EINVAL', 400);
      expectProblem(await nestedReq(t, far, g.viommu, S1, 0n, { flags: ['pasid'] }), 'EINVAL', 400);
      expectProblem(await t.req('POST', '/v1/hwpts', { deviceId: far, ptId: g.viommu }), 'EINVAL', 400);
    });
    // Another device behind the vIOMMU's SMMU may allocate on it.
    const near = await bindToo(t, g, 'nvme0');
    expect(must(await nestedReq(t, near, g.viommu, ABORT), 201)).toMatchObject({ type: 'hwpt_nested', viommuId: g.viommu, deviceId: near });
  });

  it('§6.10 A2 / §3.2 step 1: any flag on an ARM nested allocation is EOPNOTSUPP (pasid — §6.5 item 51 on ARM — and nest_parent), before the data is read', async () => {
    const t = await app();
    const g = await buildViommu(t);
    await expectUnchanged(t, async () => {
      expectProblem(await nestedReq(t, g.dev, g.viommu, S1, 0n, { flags: ['pasid'] }), 'EOPNOTSUPP', 422);
      expectProblem(await nestedReq(t, g.dev, g.viommu, S1, 0n, { flags: ['nest_parent'] }), 'EOPNOTSUPP', 422);
      expectProblem(await nestedReq(t, g.dev, g.viommu, S1, 0n, { flags: ['dirty_tracking'] }), 'EOPNOTSUPP', 422);
      // Flags win over a forbidden vSTE and over a wrong data type.
      expectProblem(await nestedReq(t, g.dev, g.viommu, 0xfn, 0n, { flags: ['pasid'] }), 'EOPNOTSUPP', 422);
      expectProblem(await t.req('POST', '/v1/hwpts', { deviceId: g.dev, ptId: g.viommu, flags: ['pasid'], data: { type: 'vtd_s1', ste: ['0xb', '0x0'] } }), 'EOPNOTSUPP', 422);
    });
  });

  it('§6.10 A2: no data (data_len 0) is EOPNOTSUPP; data type vtd_s1 is EINVAL; data of 8 or 24 bytes is EINVAL', async () => {
    const t = await app();
    const g = await buildViommu(t);
    await expectUnchanged(t, async () => {
      expectProblem(await t.req('POST', '/v1/hwpts', { deviceId: g.dev, ptId: g.viommu }), 'EOPNOTSUPP', 422);
      expectProblem(await t.req('POST', '/v1/hwpts', { deviceId: g.dev, ptId: g.viommu, data: { type: 'vtd_s1', ste: ['0xb', '0x0'] } }), 'EINVAL', 400);
      for (const ste of [['0xb'], ['0xb', '0x0', '0x0'], []]) {
        const res = await t.req('POST', '/v1/hwpts', { deviceId: g.dev, ptId: g.viommu, data: { type: 'arm_smmuv3', ste } });
        expectProblem(res, 'EINVAL', 400);
        expect(res.body.errors.length).toBeGreaterThan(0);
      }
    });
  });

  it('§6.1 framing analogue: an unknown body field, a non-hex word or a word wider than 64 bits is EINVAL with errors', async () => {
    const t = await app();
    const g = await buildViommu(t);
    await expectUnchanged(t, async () => {
      for (const body of [
        { deviceId: g.dev, ptId: g.viommu, data: { type: 'arm_smmuv3', ste: ['0xb', '0x0'] }, reserved: 1 },
        { deviceId: g.dev, ptId: g.viommu, data: { type: 'arm_smmuv3', ste: ['0xb', '0x0'], len: 16 } },
        { deviceId: g.dev, ptId: g.viommu, data: { type: 'arm_smmuv3', ste: ['11', '0x0'] } },
        { deviceId: g.dev, ptId: g.viommu, data: { type: 'arm_smmuv3', ste: ['0x1' + '0'.repeat(16), '0x0'] } },
        { deviceId: g.dev, ptId: g.ioas, flags: ['fault_id_valid'] },
        { deviceId: 0, ptId: g.ioas },
      ]) {
        const res = await t.req('POST', '/v1/hwpts', body);
        expectProblem(res, 'EINVAL', 400);
        expect(res.body.errors.length).toBeGreaterThan(0);
      }
    });
  });
});

describe('§3.2 vSTE validation (arm_smmu_validate_vste) and the decoded vSTE', () => {
  it('§6.10 A3: a vSTE with V=0 is accepted and stored zeroed, whatever else it holds (config "invalid")', async () => {
    const t = await app();
    const g = await buildViommu(t);
    const cases: Array<[bigint, bigint]> = [
      [0n, 0n],
      [0n, 0xffffffffffffffffn],
      // V=0 with Config 7, bits outside the masks and EATS 3: none of it is looked at.
      [0xfffffffffffffffen, 0xffffffffffffffffn],
    ];
    for (const [w0, w1] of cases) {
      const n = await nested(t, g, w0, w1);
      expect(n).toMatchObject({ type: 'hwpt_nested', contextId: g.ctx, viommuId: g.viommu, nestParent: false });
      expect(n.vste).toMatchObject({ ste: [word(0n), word(0n)], valid: false, config: 'invalid', s1ContextPtr: '0x0', s1Fmt: 0, s1CdMax: 0, s1Dss: 0, eats: 0 });
      expect(n.enableAts).toBe(false);
    }
  });

  it('§6.10 A4: abort {0x1,0}, bypass {0x9,0} and S1 translate {0xb|cd_ptr,0} are accepted and decoded', async () => {
    const t = await app();
    const g = await buildViommu(t);
    const abort = await nested(t, g, ABORT);
    expect(abort.vste).toMatchObject({ ste: [word(ABORT), word(0n)], valid: true, config: 'abort' });
    const bypass = await nested(t, g, BYPASS);
    expect(bypass.vste).toMatchObject({ ste: [word(BYPASS), word(0n)], valid: true, config: 'bypass' });
    const s1 = await nested(t, g, S1);
    expect(s1.vste).toMatchObject({ ste: [word(S1), word(0n)], valid: true, config: 's1_translate', s1ContextPtr: hex(CD_PTR), s1Fmt: 0, s1CdMax: 0, s1Dss: 0, eats: 0 });
    // GET /v1/hwpts/{id} and GET /v1/objects/{id} show the same decoded vSTE.
    expect(must(await t.req('GET', `/v1/hwpts/${s1.id}`), 200)).toEqual(s1);
    expect(must(await t.req('GET', `/v1/objects/${s1.id}`), 200).vste).toEqual(s1.vste);
  });

  it('§6.10 A5: vSTE Config 1, 2, 3, 6 or 7 is EIO (only abort 0, bypass 4, S1 translate 5)', async () => {
    const t = await app();
    const g = await buildViommu(t);
    await expectUnchanged(t, async () => {
      for (const cfg of [1n, 2n, 3n, 6n, 7n]) {
        expectProblem(await nestedReq(t, g.dev, g.viommu, 1n | (cfg << 1n)), 'EIO', 422);
        expectProblem(await nestedReq(t, g.dev, g.viommu, 1n | (cfg << 1n) | CD_PTR), 'EIO', 422);
      }
    });
  });

  it('§6.10 A6: every bit outside STRTAB_STE_0_NESTING_ALLOWED (0xf80fffffffffffff) or STRTAB_STE_1_NESTING_ALLOWED (0x380000ff) is EIO', async () => {
    const t = await app();
    const g = await buildViommu(t);
    const allowed0 = 0xf80fffffffffffffn;
    const allowed1 = 0x380000ffn;
    let rejected = 0;
    await expectUnchanged(t, async () => {
      for (let bit = 0n; bit < 64n; bit++) {
        if ((allowed0 >> bit) & 1n) continue;
        expectProblem(await nestedReq(t, g.dev, g.viommu, S1 | (1n << bit)), 'EIO', 422);
        rejected++;
      }
      for (let bit = 0n; bit < 64n; bit++) {
        if ((allowed1 >> bit) & 1n) continue;
        expectProblem(await nestedReq(t, g.dev, g.viommu, S1, 1n << bit), 'EIO', 422);
        rejected++;
      }
    });
    // 7 forbidden bits in word 0 ([58:52]) and 53 in word 1 ([26:8], [63:30]).
    expect(rejected).toBe(7 + 53);
  });

  it('§3.2 every allowed field at once (V, Config 5, S1Fmt, S1ContextPtr, S1CDMax; S1DSS, S1CIR, S1COR, S1CSH, S1STALLD, EATS=1) is accepted and decoded', async () => {
    const t = await app();
    const g = await buildViommu(t);
    // Word 0 = the whole allowed mask with Config = 5 ([3:1] = 0b101).
    const w0 = 0xf80ffffffffffffbn;
    const w1 = 0x080000ffn | EATS_TRANS;
    const n = await nested(t, g, w0, w1);
    // EATS is stripped from the stored copy, as arm_smmu_validate_vste does; enableAts keeps it.
    expect(n.vste).toEqual({
      ste: [word(w0), word(w1 & ~EATS_TRANS)],
      valid: true,
      config: 's1_translate',
      s1ContextPtr: '0xfffffffffffc0',
      s1Fmt: 3,
      s1CdMax: 31,
      s1Dss: 3,
      eats: 0,
    });
    expect(n.enableAts).toBe(true);
  });

  it('§6.10 A7: EATS 2 or 3 is EIO; EATS 1 is accepted and enables ATS only for an S1-translate vSTE, at attach', async () => {
    const t = await app();
    const g = await buildViommu(t);
    await expectUnchanged(t, async () => {
      expectProblem(await nestedReq(t, g.dev, g.viommu, S1, 0x20000000n), 'EIO', 422);
      expectProblem(await nestedReq(t, g.dev, g.viommu, S1, 0x30000000n), 'EIO', 422);
      expectProblem(await nestedReq(t, g.dev, g.viommu, BYPASS, 0x20000000n), 'EIO', 422);
    });
    const s1 = await nested(t, g, S1, EATS_TRANS);
    expect(s1.vste).toMatchObject({ config: 's1_translate', ste: [word(S1), word(0n)], eats: 0 });
    expect(s1.enableAts).toBe(true);
    // enable_ats = (cfg == S1_TRANS && EATS == TRANS): not for bypass or abort.
    expect((await nested(t, g, BYPASS, EATS_TRANS)).enableAts).toBe(false);
    expect((await nested(t, g, ABORT, EATS_TRANS)).enableAts).toBe(false);
    expect((await nested(t, g, S1)).enableAts).toBe(false);
    // At attach the physical STE of the ATS-capable device gets EATS = TRANS.
    must(await t.req('POST', '/v1/vdevices', { viommuId: g.viommu, deviceId: g.dev, virtId: 0x99 }), 201);
    must(await attach(t, g.dev, s1.id), 200);
    const dev = must(await t.req('GET', `/v1/devices/${g.dev}`), 200);
    const ste = t.service.hardware.model(dev.smmuId).getSte(dev.streamId);
    expect(ste).not.toBeNull();
    expect(Number(steGet(ste!, 'EATS'))).toBe(1);
    expect(Number(steGet(ste!, 'CONFIG'))).toBe(7);
  });
});

describe('§3.3 / §2.9 attach, replace, detach (PUT/DELETE /v1/devices/{id}/attachment)', () => {
  async function physicalSte(t: TestApp, deviceId: number): Promise<{ config: number; eats: number }> {
    const dev = must(await t.req('GET', `/v1/devices/${deviceId}`), 200);
    const ste = t.service.hardware.model(dev.smmuId).getSte(dev.streamId);
    expect(ste).not.toBeNull();
    return { config: Number(steGet(ste!, 'CONFIG')), eats: Number(steGet(ste!, 'EATS')) };
  }

  it('§6.10 A8 / §3.3: attaching to an s1_translate nested HWPT needs a vDEVICE of the device on that vIOMMU, else ENOENT (§6.5 item 49, §6.6 item 52)', async () => {
    const t = await app();
    const g = await buildViommu(t);
    const n = await nested(t, g, S1);
    const before = must(await t.req('GET', `/v1/devices/${g.dev}`), 200).attachedTo;
    await expectUnchanged(t, async () => expectProblem(await attach(t, g.dev, n.id), 'ENOENT', 404));
    // A vDEVICE of the device on another vIOMMU (same SMMU, same parent) does not count.
    const v2 = must(await t.req('POST', '/v1/viommus', { deviceId: g.dev, hwptId: g.parent, type: 'arm_smmuv3' }), 201).id;
    const vd2 = must(await t.req('POST', '/v1/vdevices', { viommuId: v2, deviceId: g.dev, virtId: 0x99 }), 201).id;
    await expectUnchanged(t, async () => expectProblem(await attach(t, g.dev, n.id), 'ENOENT', 404));
    // A vDEVICE of another device on this vIOMMU does not count either.
    const other = await bindToo(t, g, 'nvme0');
    must(await t.req('POST', '/v1/vdevices', { viommuId: g.viommu, deviceId: other, virtId: 0x98 }), 201);
    await expectUnchanged(t, async () => expectProblem(await attach(t, g.dev, n.id), 'ENOENT', 404));
    expect(must(await t.req('GET', `/v1/devices/${g.dev}`), 200).attachedTo).toBe(before);
    // With its vDEVICE on this vIOMMU it attaches: the physical STE becomes NESTED (Config 7).
    must(await destroy(t, vd2), 204);
    must(await t.req('POST', '/v1/vdevices', { viommuId: g.viommu, deviceId: g.dev, virtId: 0x99 }), 201);
    expect(must(await attach(t, g.dev, n.id), 200)).toMatchObject({ id: g.dev, attachedTo: n.id });
    expect(must(await t.req('GET', `/v1/hwpts/${n.id}`), 200).devices).toEqual([g.dev]);
    expect((await physicalSte(t, g.dev)).config).toBe(7);
  });

  it('§6.10 A8 / §3.3: abort, bypass and V=0 nested HWPTs attach without a vDEVICE (abort STE for abort and V=0, the parent S2 STE for bypass)', async () => {
    const t = await app();
    const g = await buildViommu(t);
    const abort = await nested(t, g, ABORT);
    const bypass = await nested(t, g, BYPASS);
    const invalid = await nested(t, g, 0n, 0xffn);
    must(await attach(t, g.dev, abort.id), 200);
    expect((await physicalSte(t, g.dev)).config).toBe(0);
    must(await attach(t, g.dev, bypass.id), 200);
    expect((await physicalSte(t, g.dev)).config).toBe(6);
    must(await attach(t, g.dev, invalid.id), 200);
    expect((await physicalSte(t, g.dev)).config).toBe(0);
    expect(must(await t.req('GET', `/v1/devices/${g.dev}`), 200).attachedTo).toBe(invalid.id);
  });

  it('§2.9 / §3.3: the SMMU of the device and of the HWPT must match (EINVAL), for nested and paging HWPTs; an IOAS gives each SMMU its own auto HWPT', async () => {
    const t = await app();
    const g = await buildViommu(t);
    const far = await bindToo(t, g, 'nic1');
    const abort = await nested(t, g, ABORT);
    const q = must(await t.req('POST', '/v1/hwpts', { deviceId: g.dev, ptId: g.ioas }), 201).id;
    await expectUnchanged(t, async () => {
      expectProblem(await attach(t, far, abort.id), 'EINVAL', 400);
      expectProblem(await attach(t, far, q), 'EINVAL', 400);
      expectProblem(await attach(t, far, g.parent), 'EINVAL', 400);
    });
    const nearAuto = must(await t.req('GET', `/v1/devices/${g.dev}`), 200).attachedTo;
    const farDev = must(await attach(t, far, g.ioas), 200);
    expect(farDev.attachedTo).not.toBe(nearAuto);
    const farAuto = must(await t.req('GET', `/v1/hwpts/${farDev.attachedTo}`), 200);
    expect(farAuto).toMatchObject({ type: 'hwpt_paging', auto: true, ioasId: g.ioas, smmuId: farDev.smmuId, devices: [far] });
    // A second device of the same SMMU shares that auto HWPT.
    const far2 = await bindToo(t, g, 'nvme1');
    expect(must(await attach(t, far2, g.ioas), 200).attachedTo).toBe(farAuto.id);
  });

  it('§2.9 attach: a bound device\'s id as ptId is EINVAL — it is an object of the fd (iommufd_device_change_pt\'s type switch); an unbound device\'s id is ENOENT', async () => {
    const t = await app();
    const g = await buildViommu(t);
    const other = (await deviceByName(t, 'nvme0')).id;
    const unbound = (await deviceByName(t, 'gpu0')).id;
    must(await t.req('POST', `/v1/contexts/${g.ctx}/devices`, { deviceId: other }), 201);
    await expectUnchanged(t, async () => {
      expectProblem(await attach(t, g.dev, other), 'EINVAL', 400);
      expectProblem(await attach(t, g.dev, g.dev), 'EINVAL', 400);
      expectProblem(await attach(t, g.dev, unbound), 'ENOENT', 404);
    });
  });

  it('§2.4 invalidate: a bound device\'s id is EINVAL with entriesProcessed 0 (iommufd_hwpt_invalidate\'s type switch); through /v1/viommus/{id} it is ENOENT', async () => {
    const t = await app();
    const g = await buildViommu(t);
    const body = { dataType: 'arm_smmuv3', entries: [['0x10', '0x0']] };
    await expectUnchanged(t, async () => {
      const viaObjects = await t.req('POST', `/v1/objects/${g.dev}/invalidate`, body);
      expectProblem(viaObjects, 'EINVAL', 400);
      expect(viaObjects.body.entriesProcessed).toBe(0);
      expectProblem(await t.req('POST', `/v1/hwpts/${g.dev}/invalidate`, body), 'EINVAL', 400);
      expectProblem(await t.req('POST', `/v1/viommus/${g.dev}/invalidate`, body), 'ENOENT', 404);
    });
  });

  it('§2.9 attach: an unknown ptId is ENOENT, a ptId that is not an IOAS or HWPT is EINVAL, an unbound device is ENOENT (§6.3 item 37)', async () => {
    const t = await app();
    const g = await buildViommu(t);
    const n = await nested(t, g, ABORT);
    const vdev = must(await t.req('POST', '/v1/vdevices', { viommuId: g.viommu, deviceId: g.dev, virtId: 0x99 }), 201).id;
    const unbound = (await deviceByName(t, 'nvme0')).id;
    await expectUnchanged(t, async () => {
      expectProblem(await attach(t, g.dev, 999999), 'ENOENT', 404);
      expectProblem(await attach(t, g.dev, g.viommu), 'EINVAL', 400);
      expectProblem(await attach(t, g.dev, vdev), 'EINVAL', 400);
      expectProblem(await attach(t, unbound, n.id), 'ENOENT', 404);
      expectProblem(await attach(t, unbound, g.ioas), 'ENOENT', 404);
      expectProblem(await attach(t, 999999, g.ioas), 'ENOENT', 404);
      expectProblem(await t.req('DELETE', `/v1/devices/${unbound}/attachment`), 'ENOENT', 404);
    });
  });

  it('§2.9 replace: the device moves its users reference from the old HWPT to the new one; a failed replace keeps the old attachment', async () => {
    const t = await app();
    const g = await buildViommu(t);
    const auto = must(await t.req('GET', `/v1/devices/${g.dev}`), 200).attachedTo;
    const n0 = await nested(t, g, ABORT);
    const n1 = await nested(t, g, BYPASS);
    const s1 = await nested(t, g, S1);
    must(await attach(t, g.dev, n0.id), 200);
    // Leaving the IOAS released its auto HWPT.
    expectProblem(await t.req('GET', `/v1/objects/${auto}`), 'ENOENT', 404);
    expect(must(await attach(t, g.dev, n1.id), 200).attachedTo).toBe(n1.id);
    expect(must(await t.req('GET', `/v1/hwpts/${n0.id}`), 200).devices).toEqual([]);
    expect(must(await t.req('GET', `/v1/hwpts/${n1.id}`), 200).devices).toEqual([g.dev]);
    await expectBusy(t, n1.id, [g.dev]);
    // A replace that fails (S1 translate without a vDEVICE) leaves everything as it was.
    await expectUnchanged(t, async () => expectProblem(await attach(t, g.dev, s1.id), 'ENOENT', 404));
    expect(must(await t.req('GET', `/v1/devices/${g.dev}`), 200).attachedTo).toBe(n1.id);
    // Replacing onto the HWPT it is already attached to changes nothing.
    await expectUnchanged(t, async () => expect(must(await attach(t, g.dev, n1.id), 200).attachedTo).toBe(n1.id));
    // Back onto the IOAS: a fresh auto HWPT (ids are never reused), and n1 is free.
    const back = must(await attach(t, g.dev, g.ioas), 200);
    expect(back.attachedTo).toBeGreaterThan(s1.id);
    await expectGone(t, n1.id);
    await expectGone(t, n0.id);
  });

  it('§2.9 detach: DELETE attachment drops the reference (auto HWPT released, physical STE abort); detaching an unattached device changes nothing', async () => {
    const t = await app();
    const g = await buildViommu(t);
    const auto = must(await t.req('GET', `/v1/devices/${g.dev}`), 200).attachedTo;
    const out = must(await t.req('DELETE', `/v1/devices/${g.dev}/attachment`), 200);
    expect(out).toMatchObject({ id: g.dev, contextId: g.ctx, attachedTo: null });
    expectProblem(await t.req('GET', `/v1/objects/${auto}`), 'ENOENT', 404);
    expect((await physicalSte(t, g.dev)).config).toBe(0);
    await expectUnchanged(t, async () => expect(must(await t.req('DELETE', `/v1/devices/${g.dev}/attachment`), 200).attachedTo).toBeNull());
    // A manual paging HWPT is not auto: detaching from it keeps it.
    must(await attach(t, g.dev, g.parent), 200);
    must(await t.req('DELETE', `/v1/devices/${g.dev}/attachment`), 200);
    expect(must(await t.req('GET', `/v1/hwpts/${g.parent}`), 200)).toMatchObject({ auto: false, devices: [] });
  });
});

describe('§6.3 HWPT nesting and §6.5 vIOMMU-based nested HWPT, adapted to ARM SMMUv3', () => {
  it('§6.3 items 14, 19–21, 34, 36 (ARM): nested HWPTs on the vIOMMU hold it and it holds P; replace between them; destroy in reverse order', async () => {
    const t = await app();
    const g = await buildViommu(t);
    const q = must(await t.req('POST', '/v1/hwpts', { deviceId: g.dev, ptId: g.ioas }), 201).id;
    // 19: two nested HWPTs N0, N1.
    const n0 = await nested(t, g, ABORT);
    const n1 = await nested(t, g, BYPASS);
    // 21: P is busy (wrapped by V), V is busy (N0, N1 exist).
    await expectBusy(t, g.parent, [g.viommu]);
    await expectBusy(t, g.viommu, [n0.id, n1.id]);
    // 34: replace onto N0 → busy; onto N1 → N1 busy, N0 free.
    must(await attach(t, g.dev, n0.id), 200);
    await expectBusy(t, n0.id, [g.dev]);
    must(await attach(t, g.dev, n1.id), 200);
    await expectBusy(t, n1.id, [g.dev]);
    await expectGone(t, n0.id);
    // 36: replace onto P; N1 destroyable; back onto the IOAS; V, P and Q destroyable.
    must(await attach(t, g.dev, g.parent), 200);
    await expectGone(t, n1.id);
    await expectBusy(t, g.parent, [g.viommu, g.dev]);
    must(await attach(t, g.dev, g.ioas), 200);
    await expectGone(t, g.viommu);
    await expectGone(t, g.parent);
    await expectGone(t, q);
  });

  it('§6.3 item 23 / §6.10 A11: HWPT_INVALIDATE on a paging HWPT is EINVAL and on an ARM nested HWPT EOPNOTSUPP, entriesProcessed 0', async () => {
    const t = await app();
    const g = await buildViommu(t);
    const n = await nested(t, g, S1);
    const body = { dataType: 'arm_smmuv3', entries: [['0x0000000000000010', '0x0']] };
    await expectUnchanged(t, async () => {
      for (const path of ['hwpts', 'objects']) {
        const onParent = await t.req('POST', `/v1/${path}/${g.parent}/invalidate`, body);
        expectProblem(onParent, 'EINVAL', 400);
        expect(onParent.body.entriesProcessed).toBe(0);
        const onNested = await t.req('POST', `/v1/${path}/${n.id}/invalidate`, body);
        expectProblem(onNested, 'EOPNOTSUPP', 422);
        expect(onNested.body.entriesProcessed).toBe(0);
      }
    });
  });

  it('§6.5 items 48–50 (ARM, without the IOPF parts): nested HWPT H on V; replace onto H needs a vDEVICE; H busy while attached; destroyable after replace onto the IOAS', async () => {
    const t = await app();
    const g = await buildViommu(t);
    // 48: H = HWPT_ALLOC(dev, pt = V, arm_smmuv3 vSTE).
    const h = await nested(t, g, S1);
    expect(h).toMatchObject({ type: 'hwpt_nested', contextId: g.ctx, viommuId: g.viommu, nestParent: false, smmuId: (await deviceByName(t, 'nic0')).smmuId });
    // 49: replace onto H before any vDEVICE → ENOENT.
    await expectUnchanged(t, async () => expectProblem(await attach(t, g.dev, h.id), 'ENOENT', 404));
    // 50: VDEVICE_ALLOC(V, dev, 0x99); replace onto H; DESTROY(H) → EBUSY; replace onto IOAS; DESTROY(H).
    const vdev = must(await t.req('POST', '/v1/vdevices', { viommuId: g.viommu, deviceId: g.dev, virtId: 0x99 }), 201).id;
    must(await attach(t, g.dev, h.id), 200);
    await expectBusy(t, h.id, [g.dev]);
    // The vDEVICE is not held by the attachment (nothing holds a users ref on a vDEVICE, §1.2).
    must(await attach(t, g.dev, g.ioas), 200);
    await expectGone(t, h.id);
    await expectGone(t, vdev);
  });

  it('§6.5 item 51 (ARM): HWPT_ALLOC on a vIOMMU with flag pasid is EOPNOTSUPP — arm_vsmmu_alloc_domain_nested rejects every flag', async () => {
    const t = await app();
    const g = await buildViommu(t);
    await expectUnchanged(t, async () => expectProblem(await nestedReq(t, g.dev, g.viommu, S1, 0n, { flags: ['pasid'] }), 'EOPNOTSUPP', 422));
    // Without the flag the same request succeeds.
    expect(must(await nestedReq(t, g.dev, g.viommu, S1), 201).type).toBe('hwpt_nested');
  });

  it('§6.6 item 57 / §3.3: after the vDEVICE is destroyed and re-created with another vSID, attach to the S1 nested HWPT works again', async () => {
    const t = await app();
    const g = await buildViommu(t);
    const n = await nested(t, g, S1);
    const vd1 = must(await t.req('POST', '/v1/vdevices', { viommuId: g.viommu, deviceId: g.dev, virtId: 0x99 }), 201).id;
    must(await attach(t, g.dev, n.id), 200);
    must(await attach(t, g.dev, g.ioas), 200);
    await expectGone(t, vd1);
    await expectUnchanged(t, async () => expectProblem(await attach(t, g.dev, n.id), 'ENOENT', 404));
    must(await t.req('POST', '/v1/vdevices', { viommuId: g.viommu, deviceId: g.dev, virtId: 0x88 }), 201);
    expect(must(await attach(t, g.dev, n.id), 200).attachedTo).toBe(n.id);
  });
});

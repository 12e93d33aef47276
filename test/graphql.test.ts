/** GraphQL: the same objects, rules and errno as REST, and a dashboard query without N+1. */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildViommu, expectUnchanged, must, startApp, type TestApp } from './helper.js';

let t: TestApp;
beforeAll(async () => {
  t = await startApp();
});
afterAll(async () => t.close());

const DASHBOARD = /* GraphQL */ `
  query Dashboard {
    viommus {
      id
      vmid
      viommuType
      smmu { id name features { vmidBits } }
      nestParent { id nestParent ioas { id } }
      vdevices { id virtId physicalStreamId device { id name streamId } }
      nestedHwpts { id vste { config } }
    }
  }
`;

/** One SMMU with `viommus` vIOMMUs of `perViommu` vDEVICEs each, in one context. */
async function buildDashboardGraph(name: string, viommus: number, perViommu: number): Promise<number> {
  const smmu = must(await t.req('POST', '/v1/smmus', { name }), 201).id;
  const ctx = must(await t.req('POST', '/v1/contexts', { name }), 201).id;
  const ioas = must(await t.req('POST', '/v1/ioas', { contextId: ctx }), 201).id;
  const devices: number[] = [];
  for (let i = 0; i < viommus * perViommu; i++) {
    const d = must(await t.req('POST', '/v1/devices', { name: `${name}-dev${i}`, smmuId: smmu, streamId: i + 1 }), 201).id;
    must(await t.req('POST', `/v1/contexts/${ctx}/devices`, { deviceId: d }), 201);
    devices.push(d);
  }
  const parent = must(await t.req('POST', '/v1/hwpts', { deviceId: devices[0], ptId: ioas, flags: ['nest_parent'] }), 201).id;
  for (let v = 0; v < viommus; v++) {
    const viommu = must(await t.req('POST', '/v1/viommus', { deviceId: devices[0], hwptId: parent, type: 'arm_smmuv3' }), 201).id;
    for (let i = 0; i < perViommu; i++) {
      must(await t.req('POST', '/v1/vdevices', { viommuId: viommu, deviceId: devices[v * perViommu + i], virtId: 0x1000 + i }), 201);
    }
    must(await t.req('POST', '/v1/hwpts', { deviceId: devices[0], ptId: viommu, data: { type: 'arm_smmuv3', ste: ['0x9', '0x0'] } }), 201);
  }
  return ctx;
}

/**
 * Database round trips, index lookups and whole-table reads of the in-memory graph a query makes:
 * `cold` the first time, `warm` asked again at once (object views of unchanged records are kept).
 */
async function cost(query: string): Promise<{ roundTrips: number; cold: number; warm: number; scans: number; data: any }> {
  const trips0 = t.repository.roundTrips();
  const lookups = [vi.spyOn(t.service.graph, 'indexed'), vi.spyOn(t.service.graph, 'indexedList')];
  const scans = [vi.spyOn(t.service.graph, 'values'), vi.spyOn(t.service.graph, 'entries')];
  const calls = (spies: Array<{ mock: { calls: unknown[] } }>) => spies.reduce((n, s) => n + s.mock.calls.length, 0);
  try {
    const res = await t.gql(query);
    expect(res.errors).toBeUndefined();
    const cold = calls(lookups);
    expect((await t.gql(query)).data).toEqual(res.data);
    return { roundTrips: t.repository.roundTrips() - trips0, cold, warm: calls(lookups) - cold, scans: calls(scans), data: res.data };
  } finally {
    for (const s of [...lookups, ...scans]) s.mockRestore();
  }
}

describe('graphql', () => {
  it('graphql: a 50-vIOMMU × 8-vDEVICE dashboard costs no database round trip and no more index lookups per vIOMMU than a 2 × 8 one, never a table scan', async () => {
    await buildDashboardGraph('small', 2, 8);
    const small = await cost(DASHBOARD);
    await buildDashboardGraph('large', 50, 8);
    const large = await cost(DASHBOARD);
    expect(large.data.viommus).toHaveLength(52);
    const v = large.data.viommus[large.data.viommus.length - 1];
    expect(v.vdevices).toHaveLength(8);
    expect(v.vdevices[0].device.name).toMatch(/^large-dev/);
    expect(v.nestedHwpts[0].vste.config).toBe('bypass');
    // Reads are served from the in-memory graph: no database round trip at any size...
    expect(small.roundTrips).toBe(0);
    expect(large.roundTrips).toBe(0);
    // ...and each relation is a lookup in the graph's indexes: asked again, exactly as many per
    // vIOMMU on both hosts; the first time, a few more for the views built (their attached devices),
    // never a number that grows with the host; and no read of a whole table.
    const perViommu = (n: number, r: { data: any }) => n / r.data.viommus.length;
    expect(small.warm).toBeGreaterThan(0);
    expect(perViommu(large.warm, large)).toBe(perViommu(small.warm, small));
    expect(perViommu(small.cold, small)).toBeLessThanOrEqual(6);
    expect(perViommu(large.cold, large)).toBeLessThanOrEqual(6);
    expect(small.scans).toBe(0);
    expect(large.scans).toBe(0);
  }, 120_000);

  it('graphql: mutations build a graph and the context relations walk it', async () => {
    const ctx = (await t.gql(`mutation { createContext(name: "gql") { id name } }`)).data.createContext.id;
    const devices = (await t.gql(`{ devices(smmuId: 1) { id name } }`)).data.devices;
    const dev = devices.find((d: { name: string }) => d.name === 'nvme0').id;
    await t.gql(`mutation { bindDevice(contextId: ${ctx}, deviceId: ${dev}) { id contextId } }`);
    const ioas = (await t.gql(`mutation { createIoas(contextId: ${ctx}) { id type } }`)).data.createIoas.id;
    const map = await t.gql(`mutation { mapIoas(ioasId: ${ioas}, iova: "0x100000", length: "0x2000") { iova length hostAddress } }`);
    expect(map.data.mapIoas).toMatchObject({ iova: '0x100000', length: '0x2000' });
    const parent = (await t.gql(`mutation { allocHwpt(deviceId: ${dev}, ptId: ${ioas}, flags: ["nest_parent"]) { id nestParent } }`)).data.allocHwpt;
    expect(parent.nestParent).toBe(true);
    const viommu = (await t.gql(`mutation { allocViommu(deviceId: ${dev}, hwptId: ${parent.id}, type: "arm_smmuv3") { id vmid smmu { name } } }`)).data.allocViommu;
    expect(viommu.smmu.name).toBe('smmu0');
    const vdev = (await t.gql(`mutation { allocVdevice(viommuId: ${viommu.id}, deviceId: ${dev}, virtId: 7) { id virtId device { name } } }`)).data.allocVdevice;
    expect(vdev).toMatchObject({ virtId: 7, device: { name: 'nvme0' } });
    const nested = (
      await t.gql(`mutation { allocHwpt(deviceId: ${dev}, ptId: ${viommu.id}, data: { type: "arm_smmuv3", ste: ["0xb", "0x0"] }) { id type vste { config } } }`)
    ).data.allocHwpt;
    expect(nested).toMatchObject({ type: 'hwpt_nested', vste: { config: 's1_translate' } });
    await t.gql(`mutation { attachDevice(deviceId: ${dev}, ptId: ${nested.id}) { attachedTo } }`);
    const walk = await t.gql(`{ context(id: ${ctx}) { devices { name attachment { id } vdevice { virtId } } ioas { mappings { iova } } hwpts { id type } viommus { id vdevices { id } nestedHwpts { id } } } }`);
    expect(walk.errors).toBeUndefined();
    expect(walk.data.context.devices).toEqual([{ name: 'nvme0', attachment: { id: nested.id }, vdevice: { virtId: 7 } }]);
    expect(walk.data.context.ioas[0].mappings).toEqual([{ iova: '0x100000' }]);
    expect(walk.data.context.viommus[0]).toEqual({ id: viommu.id, vdevices: [{ id: vdev.id }], nestedHwpts: [{ id: nested.id }] });
    const obj = await t.gql(`{ object(id: ${viommu.id}) { id type ... on Viommu { vmid } } }`);
    expect(obj.data.object).toEqual({ id: viommu.id, type: 'viommu', vmid: viommu.vmid });
    const del = await t.gql(`mutation { deleteContext(id: ${ctx}) { destroyedObjects unboundDevices } }`);
    expect(del.data.deleteContext.unboundDevices).toEqual([dev]);
  });

  it('graphql: errors carry the same errno as REST, and a rejected mutation changes nothing', async () => {
    const g = await buildViommu(t, { device: 'gpu0' });
    await expectUnchanged(t, async () => {
      const busy = await t.gql(`mutation { destroy(id: ${g.parent}) }`);
      expect(busy.errors[0].extensions).toMatchObject({ errno: 'EBUSY', status: 409, blockedBy: [g.viommu] });
      const missing = await t.gql(`{ viommu(id: 999999) { id } }`);
      expect(missing.errors[0].extensions.errno).toBe('ENOENT');
      const eio = await t.gql(`mutation { allocHwpt(deviceId: ${g.dev}, ptId: ${g.viommu}, data: { type: "arm_smmuv3", ste: ["0x3", "0x0"] }) { id } }`);
      expect(eio.errors[0].extensions.errno).toBe('EIO');
    });
  });

  it('graphql: a field resolver that fails unexpectedly is EINTERNAL with its details hidden; GraphQL validation is EINVAL', async () => {
    const g = await buildViommu(t, { device: 'accel0' });
    // Fault injection: the stats read throws something that is not an iommufd error.
    const original = t.service.viommuStats.bind(t.service);
    t.service.viommuStats = () => {
      throw new Error('secret detail');
    };
    try {
      const res = await t.gql(`{ viommu(id: ${g.viommu}) { id stats { tlb { entries } } } }`);
      expect(res.errors[0].extensions).toMatchObject({ errno: 'EINTERNAL', status: 500 });
      expect(typeof res.errors[0].extensions.requestId).toBe('string');
      expect(JSON.stringify(res)).not.toContain('secret detail');
    } finally {
      t.service.viommuStats = original;
    }
    const invalid = await t.gql(`{ viommu(id: "x") { id } }`);
    expect(invalid.errors[0].extensions).toMatchObject({ errno: 'EINVAL', status: 400 });
  });
});

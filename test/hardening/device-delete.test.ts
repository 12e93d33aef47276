/**
 * Issue 12, device delete rule: a device that objects still name (a HWPT, vIOMMU or vDEVICE
 * allocated through it: `deviceId`) cannot leave the inventory (EBUSY with `blockedBy`, like an
 * SMMU in use), a bound device neither (blockedBy its context); and a deleted device's STE leaves
 * the SMMU model at once (cleared, CFGI_STE + CMD_SYNC), not at the next restart.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { buildViommu, expectProblem, expectUnchanged, must, startApp, type TestApp } from '../helper.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const OPCODE = { CFGI_STE: 0x03n, CMD_SYNC: 0x46n };

/** The model's state with its last commands decoded: opcode and StreamID (CFGI_STE's SID field). */
async function modelState(t: TestApp, smmuId: number) {
  const state = must(await t.req('GET', `/v1/smmus/${smmuId}/state?commands=8`), 200);
  const recent = (state.recentCommands as [string, string][]).map(([w0]) => ({ opcode: BigInt(w0) & 0xffn, sid: Number(BigInt(w0) >> 32n) }));
  return { entries: state.streamTable.entries as number, cfgiSte: (state.commands.byOpcode.CFGI_STE ?? 0) as number, executed: state.commands.executed as number, recent };
}

/** The objects that name `deviceId` (GET /v1/objects), ascending. */
async function namingObjects(t: TestApp, deviceId: number): Promise<number[]> {
  const items = must(await t.req('GET', '/v1/objects?limit=500'), 200).items as Array<{ id: number; deviceId?: number }>;
  return items.filter((o) => o.deviceId === deviceId).map((o) => o.id);
}

describe('DELETE /v1/devices/{id}: a device in use is EBUSY', () => {
  it('device delete: bound → EBUSY blockedBy its context; unbound but named by a vIOMMU and HWPTs → EBUSY blockedBy them; each rejection changes nothing', async () => {
    t = await startApp();
    const g = await buildViommu(t);
    // A nested HWPT and a vDEVICE allocated through the device as well.
    const nested = must(await t.req('POST', '/v1/hwpts', { deviceId: g.dev, ptId: g.viommu, data: { type: 'arm_smmuv3', ste: ['0x0', '0x0'] } }), 201).id;
    const vdev = must(await t.req('POST', '/v1/vdevices', { viommuId: g.viommu, deviceId: g.dev, virtId: 0x21 }), 201).id;

    await expectUnchanged(t, async () => {
      const bound = await t!.req('DELETE', `/v1/devices/${g.dev}`);
      expectProblem(bound, 'EBUSY', 409);
      expect(bound.body.blockedBy).toEqual([g.ctx]);
    });

    // Unbind (VFIO): the device is detached and its vDEVICE destroyed (v6.17); the nest parent,
    // the vIOMMU and the nested HWPT stay and still name it.
    const unbound = must(await t.req('DELETE', `/v1/contexts/${g.ctx}/devices/${g.dev}`), 200);
    expect(unbound.destroyedVdevice).toBe(vdev);
    const naming = await namingObjects(t, g.dev);
    expect(naming).toEqual([g.parent, g.viommu, nested].sort((a, b) => a - b));

    await expectUnchanged(t, async () => {
      const busy = await t!.req('DELETE', `/v1/devices/${g.dev}`);
      expectProblem(busy, 'EBUSY', 409);
      expect(busy.body.blockedBy).toEqual(naming);
      expect(busy.body.detail).toMatch(/still named by objects/);
      // GraphQL's deleteDevice is the same rule.
      const res = await t!.gql(`mutation { deleteDevice(id: ${g.dev}) }`);
      expect(res.errors[0].extensions).toMatchObject({ errno: 'EBUSY', blockedBy: naming });
    });
    expect(must(await t.req('GET', `/v1/viommus/${g.viommu}`), 200).deviceId).toBe(g.dev);

    // Destroyed leaf-first, the last one frees the device.
    for (const id of [nested, g.viommu, g.parent]) must(await t.req('DELETE', `/v1/objects/${id}`), 204);
    expect(await namingObjects(t, g.dev)).toEqual([]);
    must(await t.req('DELETE', `/v1/devices/${g.dev}`), 204);
    expectProblem(await t.req('GET', `/v1/devices/${g.dev}`), 'ENOENT', 404);
  });

  it('device delete: a device of another context\'s objects (unbound, rebound elsewhere) is blocked by its binding first, then by those objects', async () => {
    t = await startApp();
    const g = await buildViommu(t);
    must(await t.req('DELETE', `/v1/contexts/${g.ctx}/devices/${g.dev}`), 200);
    const other = must(await t.req('POST', '/v1/contexts', { name: 'vm2' }), 201).id;
    must(await t.req('POST', `/v1/contexts/${other}/devices`, { deviceId: g.dev }), 201);
    expect((await t.req('DELETE', `/v1/devices/${g.dev}`)).body.blockedBy).toEqual([other]);
    must(await t.req('DELETE', `/v1/contexts/${other}/devices/${g.dev}`), 200);
    expect((await t.req('DELETE', `/v1/devices/${g.dev}`)).body.blockedBy).toEqual(await namingObjects(t, g.dev));
    // Closing the first context destroys what named it.
    must(await t.req('DELETE', `/v1/contexts/${g.ctx}`), 200);
    must(await t.req('DELETE', `/v1/devices/${g.dev}`), 204);
  });
});

describe('a deleted device leaves the SMMU model at once', () => {
  it('device delete: the stream table loses the device\'s STE, cleared with CFGI_STE (its SID, leaf) + CMD_SYNC; a restart agrees', async () => {
    t = await startApp();
    const g = await buildViommu(t);
    const device = must(await t.req('GET', `/v1/devices/${g.dev}`), 200);
    must(await t.req('DELETE', `/v1/contexts/${g.ctx}`), 200);
    const before = await modelState(t, device.smmuId);
    expect(before.entries).toBeGreaterThan(0);

    must(await t.req('DELETE', `/v1/devices/${g.dev}`), 204);
    const after = await modelState(t, device.smmuId);
    expect(after.entries).toBe(before.entries - 1);
    expect(after.cfgiSte).toBe(before.cfgiSte + 1);
    expect(after.executed).toBe(before.executed + 2);
    expect(after.recent.slice(-2)).toEqual([
      { opcode: OPCODE.CFGI_STE, sid: device.streamId },
      { opcode: OPCODE.CMD_SYNC, sid: expect.any(Number) },
    ]);

    // The model rebuilt from the database after a restart has the same stream table.
    t = await t.restart();
    expect((await modelState(t, device.smmuId)).entries).toBe(after.entries);
  });

  it('device delete: a device added again on the freed StreamID gets its STE back (abort while unbound)', async () => {
    t = await startApp();
    const smmuId = must(await t.req('GET', '/v1/smmus'), 200).items[0].id as number;
    const d = must(await t.req('POST', '/v1/devices', { name: 'hotplug', smmuId, streamId: 0x777 }), 201);
    const before = await modelState(t, smmuId);
    must(await t.req('DELETE', `/v1/devices/${d.id}`), 204);
    expect((await modelState(t, smmuId)).entries).toBe(before.entries - 1);
    must(await t.req('POST', '/v1/devices', { name: 'hotplug2', smmuId, streamId: 0x777 }), 201);
    const again = await modelState(t, smmuId);
    expect(again.entries).toBe(before.entries);
    expect(again.recent.slice(-2)[0]).toEqual({ opcode: OPCODE.CFGI_STE, sid: 0x777 });
  });
});

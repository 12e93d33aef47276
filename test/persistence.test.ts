/**
 * Durability and consistency: a restart finds every object, reference, VMID and vSID as before;
 * concurrent writes leave the in-memory graph and the database in agreement; a commit that fails
 * half-way changes neither.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { buildViommu, deviceByName, expectConsistent, expectProblem, must, startApp, type TestApp } from './helper.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe('restart', () => {
  it('restart: every object, reference (EBUSY), VMID and vSID survives a stop and start on the same database', async () => {
    t = await startApp();
    const g = await buildViommu(t);
    must(await t.req('POST', `/v1/ioas/${g.ioas}/mappings`, { iova: '0x100000', length: '0x4000' }), 201);
    const vdev = must(await t.req('POST', '/v1/vdevices', { viommuId: g.viommu, deviceId: g.dev, virtId: 0x99 }), 201);
    const nested = must(await t.req('POST', '/v1/hwpts', { deviceId: g.dev, ptId: g.viommu, data: { type: 'arm_smmuv3', ste: ['0x0000000000000001', '0x0000000000000000'] } }), 201);
    must(await t.req('PUT', `/v1/devices/${g.dev}/attachment`, { ptId: nested.id }), 200);
    const ids = [g.ioas, g.parent, g.viommu, vdev.id, nested.id];
    const before = await Promise.all(ids.map((id) => t!.req('GET', `/v1/objects/${id}`)));
    const viommuBefore = before[2].body;
    const snapshotBefore = await t.snapshot();

    t = await t.restart();

    const after = await Promise.all(ids.map((id) => t!.req('GET', `/v1/objects/${id}`)));
    expect(after.map((r) => r.body)).toEqual(before.map((r) => r.body));
    expect(after[2].body.vmid).toBe(viommuBefore.vmid);
    expect(after[3].body.virtId).toBe(0x99);
    expect((await t.snapshot()).db).toBe(snapshotBefore.db);
    expect((await t.req('GET', `/v1/ioas/${g.ioas}/mappings`)).body.items).toHaveLength(1);
    expect((await t.req('GET', `/v1/devices/${g.dev}`)).body).toMatchObject({ contextId: g.ctx, attachedTo: nested.id });
    // References hold across the restart: the vIOMMU is still busy, the nested HWPT still attached.
    const busy = await t.req('DELETE', `/v1/objects/${g.viommu}`);
    expectProblem(busy, 'EBUSY', 409);
    expect(busy.body.blockedBy).toEqual([vdev.id, nested.id].sort((a, b) => a - b));
    // The vSID is still taken and the VMID still owned: a second vIOMMU gets another VMID.
    expectProblem(await t.req('POST', '/v1/vdevices', { viommuId: g.viommu, deviceId: g.dev, virtId: 0x99 }), 'EEXIST', 409);
    const v2 = must(await t.req('POST', '/v1/viommus', { deviceId: g.dev, hwptId: g.parent, type: 'arm_smmuv3' }), 201);
    expect(v2.vmid).not.toBe(viommuBefore.vmid);
    // Ids continue after the highest ever allocated: never reused.
    expect(v2.id).toBeGreaterThan(Math.max(...ids));
  });

  it('restart: the hardware model is rebuilt from the database with its STEs and empty caches, as after a reset', async () => {
    t = await startApp();
    const g = await buildViommu(t);
    must(await t.req('POST', '/v1/vdevices', { viommuId: g.viommu, deviceId: g.dev, virtId: 0x99 }), 201);
    const nested = must(await t.req('POST', '/v1/hwpts', { deviceId: g.dev, ptId: g.viommu, data: { type: 'arm_smmuv3', ste: ['0x000000008000000b', '0x0'] } }), 201);
    must(await t.req('PUT', `/v1/devices/${g.dev}/attachment`, { ptId: nested.id }), 200);
    const streamId = (await t.req('GET', `/v1/devices/${g.dev}`)).body.streamId;
    const model = t.service.hardware.model(1);
    const steBefore = model.getSte(streamId);
    model.iotlbInsert({ asid: 1, vmid: 5, iova: 0x1000n, tg: 1, level: 3, translatedAddr: 0x2000n, addrMask: 0xfffn, perm: 3 });
    expect(model.stats().iotlb.entries).toBe(1);

    t = await t.restart();

    const rebuilt = t.service.hardware.model(1);
    expect(rebuilt).not.toBe(model);
    expect(rebuilt.getSte(streamId)).toEqual(steBefore);
    // Config STE nested (7) with the vIOMMU's VMID, derived again from the graph.
    expect((steBefore as bigint[])[0] & 0xen).toBe(0xen);
    const state = (await t.req('GET', '/v1/smmus/1/state')).body;
    expect(state.tlb.entries).toBe(0);
    expect(state.atc.entries).toBe(0);
    // After the reset the driver installed every device's STE again: CFGI_STE + CMD_SYNC each.
    const devices = (await t.req('GET', '/v1/devices?smmuId=1&limit=500')).body.items.length;
    expect(state.commands.byOpcode).toEqual({ CFGI_STE: devices, CMD_SYNC: devices });
    expect(state.commands.executed).toBe(2 * devices);
    expect(state.cmdq).toMatchObject({ prod: 2 * devices, cons: 2 * devices, err: 0, stopped: false });
  });

  it('restart: the built-in topology is loaded only into an empty inventory', async () => {
    t = await startApp();
    expect(t.topologyLoaded).toBe(true);
    const smmus = (await t.req('GET', '/v1/smmus')).body.items;
    expect(smmus.map((s: { name: string }) => s.name)).toEqual(['smmu0', 'smmu1']);
    must(await t.req('DELETE', `/v1/devices/${(await deviceByName(t, 'nvme0')).id}`), 204);
    t = await t.restart();
    expect(t.topologyLoaded).toBe(false);
    await expect(deviceByName(t, 'nvme0')).rejects.toThrow('no device nvme0');
  });
});

describe('serialised writes', () => {
  it('writes: concurrent writes leave the in-memory graph and the database in agreement', async () => {
    t = await startApp();
    const g = await buildViommu(t);
    const requests: Array<Promise<unknown>> = [];
    for (let i = 0; i < 40; i++) {
      requests.push(t.req('POST', '/v1/ioas', { contextId: g.ctx }));
      requests.push(t.req('POST', `/v1/ioas/${g.ioas}/mappings`, { iova: `0x${((i + 1) * 0x10000).toString(16)}`, length: '0x1000' }));
      // Half of these collide (same iova) and must fail without leaving anything behind.
      requests.push(t.req('POST', `/v1/ioas/${g.ioas}/mappings`, { iova: `0x${((i + 1) * 0x10000).toString(16)}`, length: '0x2000' }));
      requests.push(t.req('POST', '/v1/viommus', { deviceId: g.dev, hwptId: g.parent, type: 'arm_smmuv3' }));
      requests.push(t.req('GET', `/v1/objects/${g.viommu}`));
    }
    const results = (await Promise.all(requests)) as Array<{ status: number }>;
    expect(results.filter((r) => r.status >= 500)).toEqual([]);
    await expectConsistent(t);
    const mappings = (await t.req('GET', `/v1/ioas/${g.ioas}/mappings`)).body.items;
    expect(mappings).toHaveLength(40);
    const viommus = (await t.req('GET', `/v1/viommus?contextId=${g.ctx}&limit=500`)).body.items;
    expect(viommus).toHaveLength(41);
    expect(new Set(viommus.map((v: { vmid: number }) => v.vmid)).size).toBe(41);
  });

  it('writes: a commit that fails in the database changes neither the database nor the graph, and the next write works', async () => {
    t = await startApp();
    const ctx = must(await t.req('POST', '/v1/contexts', { name: 'vm' }), 201).id;
    const before = await t.snapshot();
    // Make the next commit fail inside SQLite: a trigger aborts any insert into the object table.
    await (await t.database.prisma()).$executeRawUnsafe(`CREATE TRIGGER fail_insert BEFORE INSERT ON "IommufdObject" BEGIN SELECT RAISE(ABORT, 'injected'); END`);
    const res = await t.req('POST', '/v1/ioas', { contextId: ctx });
    expect(res.status).toBe(500);
    expect(res.body.errno).toBe('EINTERNAL');
    expect(res.body.detail).not.toContain('injected');
    const after = await t.snapshot();
    expect(after.db).toBe(before.db);
    expect(after.graph).toBe(before.graph);
    await (await t.database.prisma()).$executeRawUnsafe('DROP TRIGGER fail_insert');
    const ok = must(await t.req('POST', '/v1/ioas', { contextId: ctx }), 201);
    expect((await t.req('GET', `/v1/objects/${ok.id}`)).status).toBe(200);
    await expectConsistent(t);
  });

  it('writes: group commit — concurrent writes share one commit, each sees the ones before it, and one that breaks a rule is rejected alone', async () => {
    t = await startApp();
    const ctx = must(await t.req('POST', '/v1/contexts', { name: 'vm' }), 201).id;
    const commitsBefore = t.repository.commits();
    // Issued in one turn of the event loop: they queue behind each other and commit together.
    const [a, bad, b, dup] = await Promise.all([
      t.req('POST', '/v1/ioas', { contextId: ctx }),
      t.req('POST', '/v1/ioas', { contextId: 999999 }),
      t.req('POST', '/v1/ioas', { contextId: ctx }),
      t.req('POST', '/v1/contexts', { name: 'vm2' }),
    ]);
    expect([a.status, bad.status, b.status, dup.status]).toEqual([201, 404, 201, 201]);
    // Ids in arrival order, none consumed by the rejected write.
    expect(b.body.id).toBe(a.body.id + 1);
    expect(dup.body.id).toBe(b.body.id + 1);
    // Three writes committed (the rejected one stages nothing) in fewer database transactions.
    expect(t.repository.commits() - commitsBefore).toBeLessThan(3);
    await expectConsistent(t);
    // A later write depends on an earlier one of the same group: the mapping's IOAS is created in it.
    const [ioas, mapping] = await Promise.all([
      t.req('POST', '/v1/ioas', { contextId: ctx }),
      t.req('POST', `/v1/ioas/${dup.body.id + 1}/mappings`, { iova: '0x0', length: '0x1000' }),
    ]);
    expect(ioas.status).toBe(201);
    expect(mapping.status).toBe(201);
    await expectConsistent(t);
  });

  it('writes: group commit — when the group\'s commit fails in the database, every write of the group fails and nothing changes', async () => {
    t = await startApp();
    const ctx = must(await t.req('POST', '/v1/contexts', { name: 'vm' }), 201).id;
    const before = await t.snapshot();
    await (await t.database.prisma()).$executeRawUnsafe(`CREATE TRIGGER fail_insert BEFORE INSERT ON "IommufdObject" BEGIN SELECT RAISE(ABORT, 'injected'); END`);
    const results = await Promise.all([t.req('POST', '/v1/contexts', { name: 'other' }), t.req('POST', '/v1/ioas', { contextId: ctx })]);
    expect(results.map((r) => r.status)).toEqual([500, 500]);
    const after = await t.snapshot();
    expect(after.db).toBe(before.db);
    expect(after.graph).toBe(before.graph);
    await (await t.database.prisma()).$executeRawUnsafe('DROP TRIGGER fail_insert');
    must(await t.req('POST', '/v1/ioas', { contextId: ctx }), 201);
    await expectConsistent(t);
  });

  it('writes: SQLite runs in WAL mode, checked at start', async () => {
    t = await startApp();
    expect(t.database.journalMode).toBe('wal');
    const rows = await (await t.database.prisma()).$queryRawUnsafe<Array<{ journal_mode: string }>>('PRAGMA journal_mode');
    expect(rows[0].journal_mode).toBe('wal');
    const ready = await t.req('GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.migrations).toBeGreaterThan(0);
  });
});

/**
 * The generic object table (src/domain/object-table.ts), through the public API: what a destroy
 * takes with it, which HWPTs a detach releases, the order of a context's teardown, the order of
 * a HWPT's devices, and a bound device's id in another context; and the views kept beside records
 * (`objectView`, KEPT_VIEWS): a list keeps a view while there is room or when it asks again, a
 * GET keeps its view by pushing the oldest out.
 */
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { KEPT_VIEWS, objectView } from '../../src/domain/object-table.js';
import { buildViommu, deviceByName, expectProblem, must, startApp, type TestApp } from '../helper.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

function count(file: string, sql: string, ...args: unknown[]): number {
  const db = new Database(file, { readonly: true });
  try {
    return Number((db.prepare(sql).get(...args) as { n: number | bigint }).n);
  } finally {
    db.close();
  }
}

describe('object table', () => {
  it('object table: destroying a vEVENTQ removes its queued records; destroying an IOAS removes its mappings (raw SQL)', async () => {
    t = await startApp();
    const g = await buildViommu(t);
    const q = must(await t.req('POST', '/v1/eventqs', { viommuId: g.viommu, type: 'arm_smmuv3', depth: 8 }), 201);
    for (let i = 0; i < 3; i++) must(await t.req('POST', `/v1/viommus/${g.viommu}/events`, { type: 'arm_smmuv3', record: ['0x10', '0x0', '0x0', '0x0'] }), 201);
    expect(count(t.dbFile, 'SELECT COUNT(*) AS n FROM "EventRecord" WHERE "eventqId" = ?', q.id)).toBe(3);
    must(await t.req('DELETE', `/v1/objects/${q.id}`), 204);
    expect(count(t.dbFile, 'SELECT COUNT(*) AS n FROM "EventRecord" WHERE "eventqId" = ?', q.id)).toBe(0);

    const ctx = must(await t.req('POST', '/v1/contexts', { name: 'maps' }), 201).id;
    const ioas = must(await t.req('POST', '/v1/ioas', { contextId: ctx }), 201).id;
    must(await t.req('POST', `/v1/ioas/${ioas}/mappings`, { iova: '0x100000', length: '0x2000' }), 201);
    must(await t.req('POST', `/v1/ioas/${ioas}/mappings`, { iova: '0x200000', length: '0x1000' }), 201);
    expect(count(t.dbFile, 'SELECT COUNT(*) AS n FROM "IoasMapping" WHERE "ioasId" = ?', ioas)).toBe(2);
    must(await t.req('DELETE', `/v1/objects/${ioas}`), 204);
    expect(count(t.dbFile, 'SELECT COUNT(*) AS n FROM "IoasMapping" WHERE "ioasId" = ?', ioas)).toBe(0);
  });

  it('object table: a detach releases the auto HWPT of an IOAS attach, never a HWPT the VMM allocated', async () => {
    t = await startApp();
    const g = await buildViommu(t);
    const dev = await deviceByName(t, 'nic0');
    const auto = must(await t.req('GET', `/v1/devices/${dev.id}`), 200).attachedTo;
    expect(must(await t.req('GET', `/v1/hwpts/${auto}`), 200).auto).toBe(true);
    // Replace onto the VMM's nest parent: the auto HWPT goes with its last device.
    must(await t.req('PUT', `/v1/devices/${dev.id}/attachment`, { ptId: g.parent }), 200);
    expect((await t.req('GET', `/v1/hwpts/${auto}`)).status).toBe(404);
    // Detach from the VMM's HWPT: it stays.
    must(await t.req('DELETE', `/v1/devices/${dev.id}/attachment`), 200);
    expect(must(await t.req('GET', `/v1/hwpts/${g.parent}`), 200).devices).toEqual([]);
    // A plain paging HWPT the VMM allocated, with nothing else holding it, stays too.
    const plain = must(await t.req('POST', '/v1/hwpts', { deviceId: dev.id, ptId: g.ioas }), 201).id;
    must(await t.req('PUT', `/v1/devices/${dev.id}/attachment`, { ptId: plain }), 200);
    must(await t.req('DELETE', `/v1/devices/${dev.id}/attachment`), 200);
    expect(must(await t.req('GET', `/v1/hwpts/${plain}`), 200)).toMatchObject({ auto: false, devices: [] });
    // A nested HWPT the VMM allocated stays after a detach too.
    const nested = must(await t.req('POST', '/v1/hwpts', { deviceId: dev.id, ptId: g.viommu, data: { type: 'arm_smmuv3', ste: ['0x1', '0x0'] } }), 201).id;
    must(await t.req('PUT', `/v1/devices/${dev.id}/attachment`, { ptId: nested }), 200);
    must(await t.req('DELETE', `/v1/devices/${dev.id}/attachment`), 200);
    expect(must(await t.req('GET', `/v1/hwpts/${nested}`), 200).devices).toEqual([]);
  });

  it('object table: a HWPT lists its devices in id order; closing a context destroys leaf-first, newest first among leaves', async () => {
    t = await startApp();
    const ctx = must(await t.req('POST', '/v1/contexts', { name: 'order' }), 201).id;
    const a = await deviceByName(t, 'nic0');
    const b = await deviceByName(t, 'nvme0');
    for (const d of [b, a]) must(await t.req('POST', `/v1/contexts/${ctx}/devices`, { deviceId: d.id }), 201);
    const ioas = must(await t.req('POST', '/v1/ioas', { contextId: ctx }), 201).id;
    const parent = must(await t.req('POST', '/v1/hwpts', { deviceId: a.id, ptId: ioas, flags: ['nest_parent'] }), 201).id;
    // Attached in descending id order: the view lists them ascending.
    for (const d of [b, a].sort((x, y) => y.id - x.id)) must(await t.req('PUT', `/v1/devices/${d.id}/attachment`, { ptId: parent }), 200);
    expect(must(await t.req('GET', `/v1/hwpts/${parent}`), 200).devices).toEqual([a.id, b.id].sort((x, y) => x - y));
    const viommu = must(await t.req('POST', '/v1/viommus', { deviceId: a.id, hwptId: parent, type: 'arm_smmuv3' }), 201).id;
    const vdevA = must(await t.req('POST', '/v1/vdevices', { viommuId: viommu, deviceId: a.id, virtId: 1 }), 201).id;
    const vdevB = must(await t.req('POST', '/v1/vdevices', { viommuId: viommu, deviceId: b.id, virtId: 2 }), 201).id;
    const other = must(await t.req('POST', '/v1/ioas', { contextId: ctx }), 201).id;
    const closed = must(await t.req('DELETE', `/v1/contexts/${ctx}`), 200);
    // Round 1: every leaf (no users) newest first; then what they held, and so on.
    expect(closed.destroyedObjects).toEqual([other, vdevB, vdevA, viommu, parent, ioas]);
  });

  it('object table: a device bound to another context is not an object of this one — as a ptId it is ENOENT, not EINVAL', async () => {
    t = await startApp();
    const g = await buildViommu(t);
    const ctx2 = must(await t.req('POST', '/v1/contexts', { name: 'other' }), 201).id;
    const elsewhere = await deviceByName(t, 'nvme0');
    must(await t.req('POST', `/v1/contexts/${ctx2}/devices`, { deviceId: elsewhere.id }), 201);
    expectProblem(await t.req('PUT', `/v1/devices/${g.dev}/attachment`, { ptId: elsewhere.id }), 'ENOENT', 404);
  });

  it('kept views: a walk of every list page past KEPT_VIEWS pushes no kept view out; a list asking again keeps it, a GET always', async () => {
    t = await startApp();
    const ctx = must(await t.req('POST', '/v1/contexts', { name: 'views' }), 201).id;
    const service = t.service;
    const made: number[] = [];
    for (let i = 0; i < KEPT_VIEWS + 300; i += 200) {
      made.push(...(await Promise.all(Array.from({ length: Math.min(200, KEPT_VIEWS + 300 - i) }, () => t!.req('POST', '/v1/ioas', { contextId: ctx })))).map((r) => must(r, 201).id as number));
    }
    const rec = (id: number) => service.graph.get('objects', id)!;
    // A GET keeps the view: asked again, the same frozen object.
    const first = made[0];
    const v = objectView(service.graph, rec(first));
    expect(objectView(service.graph, rec(first))).toBe(v);
    // Walk every page over HTTP (100 a page): more objects than views can be kept.
    let cursor: string | null = null;
    let seen = 0;
    do {
      const page: { items: Array<{ id: number; type: string }>; nextCursor: string | null } = must(await t.req('GET', `/v1/ioas?contextId=${ctx}${cursor ? `&cursor=${cursor}` : ''}`), 200);
      seen += page.items.length;
      cursor = page.nextCursor;
    } while (cursor !== null);
    expect(seen).toBe(made.length);
    // The GET's view was not pushed out by the walk.
    expect(objectView(service.graph, rec(first))).toBe(v);
    // The walk asked once for made[1..300] (pushed out by the creates after them and the GET): not kept then,
    // so they pushed nothing out; a list asking again keeps the view, pushing the oldest out.
    const scan = (id: number) => objectView(service.graph, rec(id), 'scan');
    const again = scan(made[1]);
    expect(scan(made[1])).toBe(again);
    // The oldest kept view was made[301]'s (the creates kept made[300..], the GET of made[0]
    // pushed made[300] out): pushed out by made[1]'s now, and never missed by a list before — a
    // first list ask builds a view it does not keep, the second keeps it.
    const x = scan(made[301]);
    const y = scan(made[301]);
    expect(y).not.toBe(x);
    expect(y).toEqual(x);
    expect(scan(made[301])).toBe(y);
    // A GET keeps its view whatever lists asked.
    const g = objectView(service.graph, rec(made[2]));
    expect(scan(made[2])).toBe(g);
  }, 120_000);
});

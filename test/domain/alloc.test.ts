/**
 * The allocators of src/domain/vmid.ts (VMID, ASID, VINTF, SID slot) over the graph's used-id
 * sets (src/domain/indexes.ts USED_ID_SPECS, UsedIds; issue 13): the kernel's IDA semantics —
 * the lowest free id of the range, the same errno when none is free — answered from a bitmap
 * kept as commits apply, never from a look at every object. What must hold: exactly the id a
 * scan of the live objects would give, after any commits, inside a transaction that has staged
 * its own objects, after a destroy, after a restart, and after a write that failed (its rules or
 * its commit), which must hold nothing.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { ObjectGraph, WriteTx } from '../../src/domain/graph.js';
import { UsedIds } from '../../src/domain/indexes.js';
import type { ObjectRec } from '../../src/domain/types.js';
import { runInWriteScope, systemScope } from '../../src/domain/write-scope.js';
import { buildViommu, deviceByName, expectConsistent, expectProblem, must, startApp, type TestApp } from '../helper.js';

/** The lowest id of [from, to] not in `held` (what the allocators did before: a scan). */
function lowestFree(held: Iterable<number>, from: number, to: number): number | null {
  const set = new Set(held);
  for (let v = from; v <= to; v++) if (!set.has(v)) return v;
  return null;
}

const base = { contextId: 1, createdAt: 0 };
const viommuRec = (id: number, smmuId: number, vmid: number, vintf: number | null = null): ObjectRec => ({
  ...base,
  id,
  type: 'viommu',
  viommuType: vintf === null ? 'arm_smmuv3' : 'tegra241_cmdqv',
  hwptId: 1000,
  deviceId: 2000,
  smmuId,
  vmid,
  vintf,
});
const pagingRec = (id: number, smmuId: number, stage: 1 | 2, value: number): ObjectRec => ({
  ...base,
  id,
  type: 'hwpt_paging',
  ioasId: 3000,
  deviceId: 2000,
  smmuId,
  stage,
  vmid: stage === 2 ? value : 0,
  asid: stage === 1 ? value : 0,
  nestParent: stage === 2,
  dirtyTracking: false,
  pasidCompat: false,
  auto: false,
});
const vdeviceRec = (id: number, viommuId: number, sidSlot: number | null): ObjectRec => ({
  ...base,
  id,
  type: 'vdevice',
  viommuId,
  deviceId: 2000 + id,
  smmuId: 1,
  virtId: id,
  sidSlot,
});

/** What a scan of `objects` says each allocator holds, per space (the definition USED_ID_SPECS indexes). */
function scanHeld(objects: Iterable<ObjectRec>, set: 'vmid' | 'asid' | 'vintf' | 'sidSlot', space: string): number[] {
  const out: number[] = [];
  for (const o of objects) {
    if (set === 'vmid' && (o.type === 'viommu' || (o.type === 'hwpt_paging' && o.stage === 2)) && String(o.smmuId) === space) out.push(o.vmid);
    if (set === 'asid' && o.type === 'hwpt_paging' && o.stage === 1 && space === '') out.push(o.asid);
    if (set === 'vintf' && o.type === 'viommu' && o.vintf !== null && String(o.smmuId) === space) out.push(o.vintf);
    if (set === 'sidSlot' && o.type === 'vdevice' && o.sidSlot !== null && String(o.viommuId) === space) out.push(o.sidSlot);
  }
  return out;
}

describe('used-id sets (UsedIds, an IDA)', () => {
  it('UsedIds: nextFree is the lowest id of the range that no holder has, after any adds and deletes, across word and summary boundaries', () => {
    // Ids the allocators use (≥ 0), near word (32) and summary (1,024) boundaries, at the top of a
    // 16-bit space, and a few a bitmap does not hold (negative, ≥ 2^24).
    const probe = fc.oneof(fc.integer({ min: 0, max: 80 }), fc.integer({ min: 1000, max: 1100 }), fc.integer({ min: 65_500, max: 65_600 }), fc.constantFrom(31, 32, 1023, 1024, 1025, 2 ** 24 - 1, 2 ** 24));
    const id = fc.oneof(probe, fc.constantFrom(-1, 2 ** 24 + 1));
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), id), { maxLength: 300 }), fc.array(fc.tuple(probe, fc.integer({ min: 0, max: 200 })), { maxLength: 20 }), (ops, probes) => {
        const u = new UsedIds();
        const model = new Map<number, number>();
        for (const [add, v] of ops) {
          if (add) {
            u.add(v);
            model.set(v, (model.get(v) ?? 0) + 1);
          } else if ((model.get(v) ?? 0) > 0) {
            u.delete(v);
            model.set(v, model.get(v)! - 1);
          }
        }
        const held = [...model].filter(([, n]) => n > 0).map(([v]) => v);
        expect(u.size).toBe(held.length);
        for (const [from, span] of probes) {
          expect(u.nextFree(from, from + span)).toBe(lowestFree(held, from, from + span));
          expect(u.count(from)).toBe(model.get(from) ?? 0);
        }
        expect(u.nextFree(1, 65_535)).toBe(lowestFree(held, 1, 65_535));
      }),
      { numRuns: 200 },
    );
  });

  it('UsedIds: a full 16-bit space has no free id; freeing one anywhere makes it the answer; an empty range has none', () => {
    const u = new UsedIds();
    for (let v = 1; v <= 0xffff; v++) u.add(v);
    expect(u.nextFree(1, 0xffff)).toBeNull();
    expect(u.nextFree(1, 0x10000)).toBe(0x10000);
    for (const v of [0xfffe, 0x8001, 33, 1]) {
      u.delete(v);
      expect(u.nextFree(1, 0xffff)).toBe(v);
      u.add(v);
    }
    expect(u.nextFree(5, 4)).toBeNull();
  });

  it('UsedIds: an id with two holders (a database written by another allocator) stays held until its last holder goes', () => {
    const u = new UsedIds();
    u.add(1);
    u.add(1);
    u.delete(1);
    expect(u.nextFree(1, 10)).toBe(2);
    u.delete(1);
    expect(u.nextFree(1, 10)).toBe(1);
  });

  it('graph: after any sequence of loads and commits, each used-id set answers the lowest free id a scan of the objects answers', () => {
    const op = fc.record({
      id: fc.integer({ min: 1, max: 60 }),
      del: fc.boolean(),
      kind: fc.constantFrom('viommu', 's1', 's2', 'vdevice', 'tegra'),
      space: fc.integer({ min: 1, max: 3 }),
      value: fc.integer({ min: 0, max: 40 }),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 150 }), fc.integer({ min: 0, max: 10 }), (ops, loaded) => {
        const g = new ObjectGraph();
        const rec = (o: (typeof ops)[number]): ObjectRec =>
          o.kind === 'viommu'
            ? viommuRec(o.id, o.space, o.value)
            : o.kind === 'tegra'
              ? viommuRec(o.id, o.space, o.value, o.value % 7)
              : o.kind === 'vdevice'
                ? vdeviceRec(o.id, o.space, o.value % 9)
                : pagingRec(o.id, o.space, o.kind === 's1' ? 1 : 2, o.value);
        // The first ones loaded as at start, the rest committed.
        for (const o of ops.slice(0, loaded)) if (!o.del) g.load('objects', rec(o));
        for (const o of ops.slice(loaded)) {
          const tx = new WriteTx(g);
          if (o.del) tx.delete('objects', o.id);
          else tx.put('objects', rec(o));
          g.apply(tx.changes());
        }
        const objects = [...g.values('objects')];
        for (const space of ['1', '2', '3']) {
          expect(g.nextFreeId('objects', 'vmid', space, 1, 0xffff)).toBe(lowestFree(scanHeld(objects, 'vmid', space), 1, 0xffff));
          expect(g.nextFreeId('objects', 'vintf', space, 1, 7)).toBe(lowestFree(scanHeld(objects, 'vintf', space), 1, 7));
          expect(g.nextFreeId('objects', 'sidSlot', space, 0, 8)).toBe(lowestFree(scanHeld(objects, 'sidSlot', space), 0, 8));
        }
        expect(g.nextFreeId('objects', 'asid', '', 1, 0xffff)).toBe(lowestFree(scanHeld(objects, 'asid', ''), 1, 0xffff));
      }),
      { numRuns: 150 },
    );
  });

  it('WriteTx: its staged objects take their ids, the ones it changes or deletes free theirs (unless another holds them); a nested transaction sees its group\'s', () => {
    const g = new ObjectGraph();
    for (const o of [viommuRec(1, 1, 1), viommuRec(2, 1, 2), pagingRec(3, 1, 2, 3), viommuRec(4, 2, 1)]) g.load('objects', o);
    const group = new WriteTx(g);
    expect(group.nextFreeId('objects', 'vmid', 1, 1, 255)).toBe(4);
    group.put('objects', viommuRec(10, 1, 4));
    expect(group.nextFreeId('objects', 'vmid', 1, 1, 255)).toBe(5);
    const tx = new WriteTx(group);
    tx.delete('objects', 2); // frees VMID 2 on SMMU 1
    expect(tx.nextFreeId('objects', 'vmid', 1, 1, 255)).toBe(2);
    expect(tx.nextFreeId('objects', 'vmid', 1, 3, 255)).toBe(5);
    tx.put('objects', viommuRec(11, 1, 2)); // and takes it again
    expect(tx.nextFreeId('objects', 'vmid', 1, 1, 255)).toBe(5);
    tx.put('objects', { ...(g.get('objects', 1) as ObjectRec & { type: 'viommu' }), vmid: 9 }); // VMID 1 → 9
    expect(tx.nextFreeId('objects', 'vmid', 1, 1, 255)).toBe(1);
    expect(tx.usedIdCount('objects', 'vmid', '1', 9)).toBe(1);
    // A VMID held twice, one holder deleted: still held.
    tx.put('objects', viommuRec(12, 1, 3));
    tx.delete('objects', 3);
    expect(tx.nextFreeId('objects', 'vmid', 1, 3, 255)).toBe(5);
    // Other SMMUs' spaces are untouched; the committed graph too until the group applies.
    expect(tx.nextFreeId('objects', 'vmid', 2, 1, 255)).toBe(2);
    expect(g.nextFreeId('objects', 'vmid', 1, 1, 255)).toBe(4);
    expect(group.nextFreeId('objects', 'vmid', 1, 1, 255)).toBe(5);
    tx.mergeInto(group);
    g.apply(group.changes());
    expect(g.nextFreeId('objects', 'vmid', 1, 1, 255)).toBe(1);
    expect(g.nextFreeId('objects', 'vmid', 1, 2, 255)).toBe(5);
  });
});

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const viommu = (deviceId: number, hwptId: number, type = 'arm_smmuv3') => t!.req('POST', '/v1/viommus', { deviceId, hwptId, type });

/** Every VMID held on `smmuId` (vIOMMUs and stage-2 HWPTs), read over the API. */
async function vmidsOn(smmuId: number): Promise<number[]> {
  const items = must(await t!.req('GET', '/v1/objects?limit=500'), 200).items as Array<{ smmuId?: number; vmid?: number | null }>;
  return items.filter((o) => o.smmuId === smmuId && o.vmid != null).map((o) => o.vmid as number);
}

describe('allocation over the API', () => {
  it('VMID: a destroyed vIOMMU\'s VMID is the next one handed out when it is the lowest free; then allocation goes on above the highest', async () => {
    t = await startApp();
    const g = await buildViommu(t, { device: 'nic0' });
    const smmuId = (await deviceByName(t, 'nic0')).smmuId;
    const made = [];
    for (let i = 0; i < 4; i++) made.push(must(await viommu(g.dev, g.parent), 201));
    const held = await vmidsOn(smmuId);
    expect(new Set(held).size).toBe(held.length);
    // Free two in the middle: the lower is reused first, then the higher, then the one above all.
    for (const v of [made[2], made[1]]) must(await t.req('DELETE', `/v1/objects/${v.id}`), 204);
    const a = must(await viommu(g.dev, g.parent), 201);
    const b = must(await viommu(g.dev, g.parent), 201);
    const c = must(await viommu(g.dev, g.parent), 201);
    expect([a.vmid, b.vmid]).toEqual([made[1].vmid, made[2].vmid]);
    expect(c.vmid).toBe(Math.max(...held) + 1);
    // A destroy and a create queued in one turn share one group commit: the create, in its own
    // transaction on the group's, sees the destroy staged before it (its VMID is free).
    const commits = t.repository.commits();
    const service = t.service;
    const [, next] = await runInWriteScope(systemScope('alloc-test'), () =>
      Promise.all([service.destroy(a.id), service.allocViommu({ deviceId: g.dev, hwptId: g.parent, type: 'arm_smmuv3' })]),
    );
    expect(t.repository.commits() - commits).toBe(1);
    expect(next.vmid).toBe(a.vmid);
    await expectConsistent(t);
  });

  it('VMID, ASID, VINTF, SID slot: after a restart the lowest free id is the one a destroy freed before it, and the held ones stay held', async () => {
    t = await startApp();
    const g = await buildViommu(t, { device: 'nic1', type: 'tegra241_cmdqv' });
    const nic1 = await deviceByName(t, 'nic1');
    const nvme1 = await deviceByName(t, 'nvme1');
    const gpu1 = await deviceByName(t, 'gpu1');
    for (const d of [nvme1, gpu1]) must(await t.req('POST', `/v1/contexts/${g.ctx}/devices`, { deviceId: d.id }), 201);
    const v2 = must(await viommu(g.dev, g.parent, 'tegra241_cmdqv'), 201);
    const v3 = must(await viommu(g.dev, g.parent, 'tegra241_cmdqv'), 201);
    const vd = [];
    for (const [i, d] of [nic1, nvme1, gpu1].entries()) vd.push(must(await t.req('POST', '/v1/vdevices', { viommuId: g.viommu, deviceId: d.id, virtId: 0x10 + i }), 201));
    // Stage-1 HWPTs (ASIDs, one space for the host): nic1's auto HWPT holds one; two more.
    const s1 = [];
    for (let i = 0; i < 2; i++) s1.push(must(await t.req('POST', '/v1/hwpts', { deviceId: nvme1.id, ptId: g.ioas }), 201));
    must(await t.req('DELETE', `/v1/objects/${v2.id}`), 204);
    must(await t.req('DELETE', `/v1/objects/${vd[1].id}`), 204);
    must(await t.req('DELETE', `/v1/objects/${s1[0].id}`), 204);
    t = await t.restart();
    const again = must(await viommu(g.dev, g.parent, 'tegra241_cmdqv'), 201);
    expect({ vmid: again.vmid, vintf: again.vintf }).toEqual({ vmid: v2.vmid, vintf: v2.vintf });
    const slot = must(await t.req('POST', '/v1/vdevices', { viommuId: g.viommu, deviceId: nvme1.id, virtId: 0x20 }), 201);
    expect(slot.sidSlot).toBe(vd[1].sidSlot);
    const asid = must(await t.req('POST', '/v1/hwpts', { deviceId: nvme1.id, ptId: g.ioas }), 201);
    expect(asid.asid).toBe(s1[0].asid);
    // Every user VINTF is held again (3 of the built-in CMDQV's 4): ENOSPC, as before the restart.
    expectProblem(await viommu(g.dev, g.parent, 'tegra241_cmdqv'), 'ENOSPC', 409);
    expect(must(await t.req('GET', `/v1/viommus/${v3.id}`), 200).vintf).toBe(v3.vintf);
    await expectConsistent(t);
  });

  it('rollback: a vIOMMU whose commit fails in the database holds no VMID — the next vIOMMU gets exactly the one it would have had', async () => {
    t = await startApp();
    const g = await buildViommu(t, { device: 'nic0' });
    const made = [];
    for (let i = 0; i < 3; i++) made.push(must(await viommu(g.dev, g.parent), 201));
    must(await t.req('DELETE', `/v1/objects/${made[0].id}`), 204);
    t.database.sqlite.exec(`CREATE TRIGGER no_objects BEFORE INSERT ON "IommufdObject" BEGIN SELECT RAISE(ABORT, 'injected'); END`);
    try {
      // Alone, and in a group commit with a second one: both fail, neither holds a VMID.
      expect((await viommu(g.dev, g.parent)).status).toBe(500);
      const both = await Promise.all([viommu(g.dev, g.parent), viommu(g.dev, g.parent)]);
      expect(both.map((r) => r.status)).toEqual([500, 500]);
    } finally {
      t.database.sqlite.exec('DROP TRIGGER no_objects');
    }
    const next = must(await viommu(g.dev, g.parent), 201);
    expect(next.vmid).toBe(made[0].vmid);
    const after = must(await viommu(g.dev, g.parent), 201);
    expect(after.vmid).toBe(Math.max(...(await vmidsOn(next.smmuId)).filter((v) => v !== after.vmid)) + 1);
    await expectConsistent(t);
  });

  it('rollback: a write that fails a later rule (no free VINTF, ENOSPC) after taking a VMID holds none', async () => {
    t = await startApp();
    const g = await buildViommu(t, { device: 'nic1', type: 'tegra241_cmdqv' });
    for (let i = 0; i < 2; i++) must(await viommu(g.dev, g.parent, 'tegra241_cmdqv'), 201);
    const held = await vmidsOn(must(await t.req('GET', `/v1/viommus/${g.viommu}`), 200).smmuId);
    expectProblem(await viommu(g.dev, g.parent, 'tegra241_cmdqv'), 'ENOSPC', 409);
    const arm = must(await viommu(g.dev, g.parent), 201);
    expect(arm.vmid).toBe(lowestFree(held, 1, 0xffff));
  });

  it('ASID: one space for every SMMU of the host (arm_smmu_asid_xa): a stage-1 HWPT on another SMMU takes the next one; a freed one is reused on any SMMU', async () => {
    t = await startApp();
    const a = await buildViommu(t, { device: 'nvme0' });
    const b = await buildViommu(t, { device: 'nvme1' });
    const s1a = must(await t.req('POST', '/v1/hwpts', { deviceId: a.dev, ptId: a.ioas }), 201);
    const s1b = must(await t.req('POST', '/v1/hwpts', { deviceId: b.dev, ptId: b.ioas }), 201);
    expect(s1a.smmuId).not.toBe(s1b.smmuId);
    expect(s1b.asid).toBe(s1a.asid + 1);
    must(await t.req('DELETE', `/v1/objects/${s1a.id}`), 204);
    const s1c = must(await t.req('POST', '/v1/hwpts', { deviceId: b.dev, ptId: b.ioas }), 201);
    expect(s1c.asid).toBe(s1a.asid);
  });
});

/**
 * Races (issue 12, "Retries and races"): 50 concurrent conflicting requests find exactly one
 * winner, the losers get the rule's errno, and the graph is the same through REST, GraphQL and
 * after a restart (expectConsistent + a restart comparing the public state).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { buildViommu, deviceByName, expectConsistent, must, readPublicState, startApp, type TestApp } from '../helper.js';

const N = 50;
let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

/** Fires `n` requests at once; returns their statuses and bodies. */
async function burst(n: number, make: (i: number) => { method: 'POST' | 'PUT' | 'DELETE'; url: string; body?: unknown }) {
  return Promise.all(Array.from({ length: n }, (_, i) => make(i)).map((r) => t!.req(r.method, r.url, r.body)));
}

/** Exactly one 2xx; every other answer one of `loserErrnos`. */
function oneWinner(res: Array<{ status: number; body: any }>, loserErrnos: string[]) {
  const winners = res.filter((r) => r.status < 300);
  expect(winners).toHaveLength(1);
  for (const r of res.filter((x) => x.status >= 300)) expect(loserErrnos).toContain(r.body.errno);
  return winners[0].body;
}

/** The durable public state: every list and view, without the SMMU models (caches reset on a restart). */
async function durableState(): Promise<Record<string, unknown>> {
  const { views } = await readPublicState(t!);
  return Object.fromEntries(Object.entries(views).filter(([url]) => !/^\/v1\/smmus\/\d+\/state/.test(url)));
}

async function sameAfterRestart(): Promise<void> {
  await expectConsistent(t!);
  const before = await durableState();
  t = await t!.restart();
  expect(await durableState()).toEqual(before);
}

describe('races: one winner, one graph', () => {
  it('the same vSID on one vIOMMU from 50 clients (distinct devices and the same one): one vDEVICE, the rest EEXIST', async () => {
    t = await startApp();
    const g = await buildViommu(t);
    const res = await burst(N, () => ({ method: 'POST', url: '/v1/vdevices', body: { viommuId: g.viommu, deviceId: g.dev, virtId: 0x42 } }));
    oneWinner(res, ['EEXIST']);
    await sameAfterRestart();
  });

  it('the same device bound to two contexts at once: one binding, the rest EBUSY', async () => {
    t = await startApp();
    const a = must(await t.req('POST', '/v1/contexts', { name: 'a' }), 201).id;
    const b = must(await t.req('POST', '/v1/contexts', { name: 'b' }), 201).id;
    const dev = (await deviceByName(t, 'nvme0')).id;
    const res = await burst(N, (i) => ({ method: 'POST', url: `/v1/contexts/${i % 2 ? a : b}/devices`, body: { deviceId: dev } }));
    oneWinner(res, ['EBUSY']);
    await sameAfterRestart();
  });

  it('the same HW-queue index from 50 clients: one queue, the rest EEXIST', async () => {
    t = await startApp();
    const g = await buildViommu(t, { device: 'nic1', type: 'tegra241_cmdqv' });
    must(await t.req('POST', `/v1/ioas/${g.ioas}/mappings`, { iova: '0x40000000', length: '0x10000' }), 201);
    const res = await burst(N, () => ({
      method: 'POST',
      url: '/v1/hw-queues',
      body: { viommuId: g.viommu, type: 'tegra241_cmdqv', index: 0, nestingParentIova: '0x40000000', length: '0x100' },
    }));
    oneWinner(res, ['EEXIST']);
    await sameAfterRestart();
  });

  it('a destroy racing creates of children: the parent goes only if no child was created first (EBUSY otherwise), never a child without its parent', async () => {
    t = await startApp();
    const g = await buildViommu(t);
    const res = await burst(N, (i) =>
      i === N / 2 ? { method: 'DELETE', url: `/v1/objects/${g.viommu}` } : { method: 'POST', url: '/v1/eventqs', body: { viommuId: g.viommu, type: 'arm_smmuv3', depth: 8 } },
    );
    const destroy = res[N / 2];
    const creates = res.filter((_, i) => i !== N / 2);
    const created = creates.filter((r) => r.status === 201);
    // At most one vEVENTQ of a type per vIOMMU: one create wins unless the destroy came first.
    expect(created.length).toBeLessThanOrEqual(1);
    if (destroy.status === 204) expect(created).toHaveLength(0);
    else expect(destroy.body.errno).toBe('EBUSY');
    for (const r of creates.filter((x) => x.status !== 201)) expect(['EEXIST', 'ENOENT']).toContain(r.body.errno);
    await sameAfterRestart();
  });

  it('a context delete racing creates inside it: every create either lands before the delete (and goes with it) or is ENOENT', async () => {
    t = await startApp();
    const ctx = must(await t.req('POST', '/v1/contexts', { name: 'doomed' }), 201).id;
    const res = await burst(N, (i) => (i === 10 ? { method: 'DELETE', url: `/v1/contexts/${ctx}` } : { method: 'POST', url: '/v1/ioas', body: { contextId: ctx } }));
    expect(res[10].status).toBe(200);
    for (const r of res.filter((_, i) => i !== 10)) expect(r.status === 201 || r.body.errno === 'ENOENT').toBe(true);
    expect((await t.req('GET', '/v1/ioas?limit=500')).body.items.filter((o: { contextId: number }) => o.contextId === ctx)).toEqual([]);
    await sameAfterRestart();
  });

  it('detach racing attach: the device ends attached or not as the last serialised request says, with no dangling auto HWPT', async () => {
    t = await startApp();
    const g = await buildViommu(t);
    const res = await burst(N, (i) =>
      i % 2 ? { method: 'DELETE', url: `/v1/devices/${g.dev}/attachment` } : { method: 'PUT', url: `/v1/devices/${g.dev}/attachment`, body: { ptId: g.ioas } },
    );
    for (const r of res) expect(r.status).toBe(200);
    const dev = must(await t.req('GET', `/v1/devices/${g.dev}`), 200);
    const autos = (await t.req('GET', '/v1/hwpts?limit=500')).body.items.filter((h: { auto?: boolean }) => h.auto);
    // An auto HWPT exists exactly when the device sits on it.
    expect(autos.map((h: { id: number }) => h.id)).toEqual(dev.attachedTo === null ? [] : [dev.attachedTo]);
    await sameAfterRestart();
  });
});

/**
 * A GraphQL query asked again is answered by a compiled query (Mercurius `jit: 1`: graphql-jit
 * from the second time on, routes/graphql/index.ts) and by object views kept beside their records
 * (domain/object-table.ts objectView): what a dashboard repeats must cost less, never answer
 * differently. The same data, the same errors (errno, status, path), the same scope for a token
 * limited to contexts, and a changed graph is seen at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { must, startApp, type Graph, type TestApp } from '../helper.js';

const ADMIN = 'repeat-admin-token';
const SCOPED = 'repeat-scoped-token';
// A fresh database: the built-in topology takes ids 1-10, so the first context is 11.
const TOKENS = `${ADMIN}:admin,${SCOPED}:viewer:11`;

const DASHBOARD = '{ viommus { id vmid smmu { name } nestParent { id devices { name } } vdevices { virtId physicalStreamId device { name } } nestedHwpts { id devices { id } } stats { invalidations { entries } } } }';

let t: TestApp;
let mine: Graph;
let other: Graph;
beforeAll(async () => {
  t = await startApp({ env: { API_TOKENS: TOKENS } });
  const auth = { authorization: `Bearer ${ADMIN}` };
  const req = (method: 'POST' | 'PUT', url: string, body: unknown) => t.req(method, url, body, auth);
  // helper.ts buildViommu sends no token: built here with the admin token.
  const build = async (name: string, device: string): Promise<Graph> => {
    const ctx = must(await req('POST', '/v1/contexts', { name }), 201).id;
    const dev = must(await t.req('GET', '/v1/devices?limit=500', undefined, auth), 200).items.find((d: { name: string }) => d.name === device).id;
    must(await req('POST', `/v1/contexts/${ctx}/devices`, { deviceId: dev }), 201);
    const ioas = must(await req('POST', '/v1/ioas', { contextId: ctx }), 201).id;
    const parent = must(await req('POST', '/v1/hwpts', { deviceId: dev, ptId: ioas, flags: ['nest_parent'] }), 201).id;
    const viommu = must(await req('POST', '/v1/viommus', { deviceId: dev, hwptId: parent, type: 'arm_smmuv3' }), 201).id;
    must(await req('POST', '/v1/vdevices', { viommuId: viommu, deviceId: dev, virtId: 8 }), 201);
    return { ctx, dev, ioas, parent, viommu };
  };
  mine = await build('vm-mine', 'nic0');
  other = await build('vm-other', 'nvme0');
  expect(mine.ctx).toBe(11);
}, 120_000);
afterAll(async () => t.close());

async function gql(query: string, token = ADMIN): Promise<{ status: number; body: any }> {
  const res = await t.req('POST', '/graphql', { query }, { authorization: `Bearer ${token}` });
  return { status: res.status, body: res.body };
}

/** The query asked three times: every answer (status and body, request ids aside) equal to the first. */
async function sameEachTime(query: string, token = ADMIN): Promise<{ status: number; body: any }> {
  const strip = (b: any) => JSON.parse(JSON.stringify(b, (k, v) => (k === 'requestId' ? undefined : v)));
  const first = await gql(query, token);
  for (let i = 0; i < 2; i++) {
    const again = await gql(query, token);
    expect(again.status).toBe(first.status);
    expect(strip(again.body)).toEqual(strip(first.body));
  }
  return first;
}

describe('graphql: a query asked again', () => {
  it('graphql repeat: the dashboard answers the same data each time, and a write in between is seen by the next answer', async () => {
    const first = await sameEachTime(DASHBOARD);
    expect(first.body.data.viommus.map((v: { id: string }) => Number(v.id))).toEqual([mine.viommu, other.viommu]);
    // Attach the device to the nested HWPT: kept views that read the devices are built again.
    const nested = must(
      await t.req('POST', '/v1/hwpts', { deviceId: mine.dev, ptId: mine.viommu, data: { type: 'arm_smmuv3', ste: ['0x9', '0x0'] } }, { authorization: `Bearer ${ADMIN}` }),
      201,
    ).id;
    // Its view is kept (no device attached yet); the attach changes a device, not the HWPT's record.
    expect((await sameEachTime(DASHBOARD)).body.data.viommus[0].nestedHwpts).toEqual([{ id: String(nested), devices: [] }]);
    must(await t.req('PUT', `/v1/devices/${mine.dev}/attachment`, { ptId: nested }, { authorization: `Bearer ${ADMIN}` }), 200);
    const after = await sameEachTime(DASHBOARD);
    const v = after.body.data.viommus[0];
    expect(v.nestedHwpts).toEqual([{ id: String(nested), devices: [{ id: String(mine.dev) }] }]);
    expect(v.nestParent.devices).toEqual([]);
    const rest = must(await t.req('GET', `/v1/hwpts/${nested}`, undefined, { authorization: `Bearer ${ADMIN}` }), 200);
    expect(rest.devices).toEqual([mine.dev]);
  });

  it('graphql repeat: a vEVENTQ\'s pending count follows its queue (a kept view that read the events is built again)', async () => {
    const auth = { authorization: `Bearer ${ADMIN}` };
    const q = must(await t.req('POST', '/v1/eventqs', { viommuId: mine.viommu, type: 'arm_smmuv3', depth: 8 }, auth), 201);
    const pending = async () => (await sameEachTime(`{ eventq(id: ${q.id}) { pending } }`)).body.data.eventq.pending;
    expect(await pending()).toBe(0);
    must(await t.req('POST', `/v1/viommus/${mine.viommu}/events`, { type: 'arm_smmuv3', record: ['0x10', '0x0', '0x0', '0x0'] }, auth), 201);
    expect(await pending()).toBe(1);
    expect(must(await t.req('GET', `/v1/eventqs/${q.id}`, undefined, auth), 200).pending).toBe(1);
  });

  it('graphql repeat: an error is the same each time — ENOENT at its path, EINTERNAL with its detail hidden', async () => {
    const missing = await sameEachTime('{ viommu(id: 999999) { id } }');
    expect(missing.body.errors[0]).toMatchObject({ path: ['viommu'], extensions: { errno: 'ENOENT', status: 404 } });
    const original = t.service.viommuStats.bind(t.service);
    t.service.viommuStats = () => {
      throw new Error('secret detail');
    };
    try {
      const hidden = await sameEachTime(`{ viommu(id: ${mine.viommu}) { id stats { tlb { entries } } } }`);
      expect(hidden.body.errors[0]).toMatchObject({ path: ['viommu', 'stats'], extensions: { errno: 'EINTERNAL', status: 500 } });
      expect(JSON.stringify(hidden.body)).not.toContain('secret detail');
    } finally {
      t.service.viommuStats = original;
    }
  });

  it('graphql repeat: a token limited to a context sees only its own every time, through relations too', async () => {
    const q = `{ viommus { id vdevices { id device { name } } } contexts { id } smmu(id: 1) { viommus { id } devices { name contextId } } }`;
    const scoped = await sameEachTime(q, SCOPED);
    expect(scoped.body.data.viommus.map((v: { id: string }) => Number(v.id))).toEqual([mine.viommu]);
    expect(scoped.body.data.contexts.map((c: { id: string }) => Number(c.id))).toEqual([mine.ctx]);
    expect(scoped.body.data.smmu.viommus.map((v: { id: string }) => Number(v.id))).toEqual([mine.viommu]);
    expect(scoped.body.data.smmu.devices.every((d: { contextId: string | null }) => d.contextId === null || Number(d.contextId) === mine.ctx)).toBe(true);
    // The admin's answer to the same query, asked between, is not the scoped one (no shared answer).
    const admin = await gql(q);
    expect(admin.body.data.viommus).toHaveLength(2);
    expect((await gql(q, SCOPED)).body).toEqual(scoped.body);
  });
});

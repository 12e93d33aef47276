/**
 * Issue 12: a token limited to contexts (`token:role:ctx|ctx`) sees nothing of other contexts —
 * objects, devices bound there, the contexts themselves are ENOENT to it, as if they did not
 * exist, over REST and GraphQL, for reads and writes; its lists show its contexts only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { buildViommu, deviceByName, expectProblem, expectUnchanged, must, startApp, type Graph, type TestApp } from '../helper.js';
import { listen } from './support.js';

const as = (token: string) => ({ authorization: `Bearer ${token}` });
const SCOPED = as('scoped-token-1');
const ADMIN = as('admin-token-1');
const SCOPED_ADMIN = as('scoped-admin-1');

let t: TestApp;
let mine: Graph;
let other: Graph;
let free: number;

beforeAll(async () => {
  // Two VMs built on an open app, then the same database under tokens naming the first one.
  const open = await startApp();
  mine = await buildViommu(open, { device: 'nic0' });
  other = await buildViommu(open, { device: 'nic1' });
  free = (await deviceByName(open, 'nvme0')).id;
  const dir = open.dir;
  await open.app.close();
  t = await startApp({ dir, env: { API_TOKENS: `admin-token-1:admin,scoped-token-1:operator:${mine.ctx},scoped-viewer-1:viewer:${mine.ctx}|999,scoped-admin-1:admin:${mine.ctx}` } });
});
afterAll(async () => t?.close());

const gql = async (query: string, headers: Record<string, string>, variables?: Record<string, unknown>) =>
  JSON.parse((await t.app.inject({ method: 'POST', url: '/graphql', payload: { query, variables }, headers })).body);

describe('scope: REST', () => {
  it('scope: objects, devices and contexts of another context are ENOENT to a limited token, as ids that do not exist', async () => {
    const foreign = [
      `/v1/contexts/${other.ctx}`,
      `/v1/contexts/${other.ctx}/devices`,
      `/v1/objects/${other.viommu}`,
      `/v1/viommus/${other.viommu}`,
      `/v1/viommus/${other.viommu}/stats`,
      `/v1/ioas/${other.ioas}`,
      `/v1/ioas/${other.ioas}/mappings`,
      `/v1/hwpts/${other.parent}`,
      `/v1/devices/${other.dev}`,
      `/v1/devices/${other.dev}/hw-info`,
      `/v1/objects?contextId=${other.ctx}`,
      `/v1/devices?contextId=${other.ctx}`,
    ];
    for (const url of foreign) {
      expect((await t.req('GET', url, undefined, ADMIN)).status, `admin ${url}`).toBe(200);
      expectProblem(await t.req('GET', url, undefined, SCOPED), 'ENOENT', 404);
    }
    // The same answer as an id nobody has.
    const missing = await t.req('GET', '/v1/viommus/999999', undefined, SCOPED);
    const hidden = await t.req('GET', `/v1/viommus/${other.viommu}`, undefined, SCOPED);
    expect([hidden.status, hidden.body.errno]).toEqual([missing.status, missing.body.errno]);
    // Its own context, objects, devices, and the unbound devices, it sees.
    for (const url of [`/v1/contexts/${mine.ctx}`, `/v1/viommus/${mine.viommu}`, `/v1/devices/${mine.dev}`, `/v1/devices/${free}`, `/v1/ioas/${mine.ioas}/mappings`]) {
      expect((await t.req('GET', url, undefined, SCOPED)).status, url).toBe(200);
    }
  });

  it('scope: lists show its contexts, their objects and devices, the unbound devices and the SMMUs', async () => {
    const ids = async (url: string, headers: Record<string, string>) => (await t.req('GET', url, undefined, headers)).body.items.map((x: { id: number }) => x.id);
    expect(await ids('/v1/contexts', SCOPED)).toEqual([mine.ctx]);
    expect(await ids('/v1/contexts', ADMIN)).toEqual([mine.ctx, other.ctx]);
    const objects = (await t.req('GET', '/v1/objects?limit=500', undefined, SCOPED)).body.items;
    expect(objects.length).toBeGreaterThan(0);
    for (const o of objects) expect(o.contextId).toBe(mine.ctx);
    expect(await ids('/v1/viommus', SCOPED)).toEqual([mine.viommu]);
    const hwpts = await ids('/v1/hwpts', SCOPED);
    expect(hwpts).toContain(mine.parent);
    expect(hwpts).not.toContain(other.parent);
    const devices = await ids('/v1/devices?limit=500', SCOPED);
    expect(devices).toContain(mine.dev);
    expect(devices).toContain(free);
    expect(devices).not.toContain(other.dev);
    expect(await ids('/v1/smmus', SCOPED)).toEqual(await ids('/v1/smmus', ADMIN));
  });

  it('scope: host-wide views (SMMU model state, audit log, /metrics) are EPERM to a limited token, even an admin one; an unlimited token reads them', async () => {
    const smmu = (await t.req('GET', '/v1/smmus', undefined, ADMIN)).body.items[0].id;
    for (const url of [`/v1/smmus/${smmu}/state`, '/v1/audit', '/metrics']) {
      expect((await t.req('GET', url, undefined, ADMIN)).status, `admin ${url}`).toBe(200);
      for (const limited of [SCOPED_ADMIN, SCOPED]) {
        const res = await t.req('GET', url, undefined, limited);
        expectProblem(res, 'EPERM', 403);
        // What it would have shown: nothing of the other context leaks in the refusal.
        expect(res.raw).not.toContain('streamTable');
      }
    }
    // The SMMU itself (name, features) stays visible.
    expect((await t.req('GET', `/v1/smmus/${smmu}`, undefined, SCOPED)).status).toBe(200);
  });

  it('scope: writes naming another context change nothing (ENOENT); it may not create contexts (EPERM); its own writes work', async () => {
    await expectUnchanged(t, async () => {
      expectProblem(await t.req('POST', '/v1/ioas', { contextId: other.ctx }, SCOPED), 'ENOENT', 404);
      expectProblem(await t.req('DELETE', `/v1/objects/${other.viommu}`, undefined, SCOPED), 'ENOENT', 404);
      expectProblem(await t.req('DELETE', `/v1/contexts/${other.ctx}`, undefined, SCOPED), 'ENOENT', 404);
      expectProblem(await t.req('DELETE', `/v1/contexts/${other.ctx}/devices/${other.dev}`, undefined, SCOPED), 'ENOENT', 404);
      // Not EBUSY "bound to context N": the other binding does not exist for it either.
      expectProblem(await t.req('POST', `/v1/contexts/${mine.ctx}/devices`, { deviceId: other.dev }, SCOPED), 'ENOENT', 404);
      expectProblem(await t.req('PUT', `/v1/devices/${other.dev}/attachment`, { ptId: mine.ioas }, SCOPED), 'ENOENT', 404);
      expectProblem(await t.req('POST', '/v1/hwpts', { deviceId: mine.dev, ptId: other.ioas }, SCOPED), 'ENOENT', 404);
      expectProblem(await t.req('POST', `/v1/ioas/${other.ioas}/mappings`, { iova: '0x100000', length: '0x1000' }, SCOPED), 'ENOENT', 404);
      const inv = await t.req('POST', `/v1/viommus/${other.viommu}/invalidate`, { entries: [['0x12', '0x0']] }, SCOPED);
      expectProblem(inv, 'ENOENT', 404);
      expect(inv.body.entriesProcessed).toBe(0);
      expectProblem(await t.req('POST', '/v1/contexts', { name: 'mine-too' }, SCOPED), 'EPERM', 403);
    });
    must(await t.req('POST', '/v1/ioas', { contextId: mine.ctx }, SCOPED), 201);
    must(await t.req('POST', `/v1/contexts/${mine.ctx}/devices`, { deviceId: free }, SCOPED), 201);
    must(await t.req('DELETE', `/v1/contexts/${mine.ctx}/devices/${free}`, undefined, SCOPED), 200);
  });
});

describe('scope: GraphQL', () => {
  it('scope: queries naming another context are ENOENT; lists and relations show its own only', async () => {
    for (const q of [
      `{ context(id: ${other.ctx}) { id } }`,
      `{ viommu(id: ${other.viommu}) { id } }`,
      `{ object(id: ${other.ioas}) { id } }`,
      `{ hwpt(id: ${other.parent}) { id } }`,
      `{ device(id: ${other.dev}) { id } }`,
      `{ hwInfo(deviceId: ${other.dev}) { type } }`,
      `{ devices(contextId: ${other.ctx}) { id } }`,
      `{ viommus(contextId: ${other.ctx}) { id } }`,
    ]) {
      expect((await gql(q, ADMIN)).errors, `admin ${q}`).toBeUndefined();
      const res = await gql(q, SCOPED);
      expect(res.errors?.[0]?.extensions?.errno, q).toBe('ENOENT');
    }
    const byVariable = await gql('query ($id: ID!) { viommu(id: $id) { id } }', SCOPED, { id: other.viommu });
    expect(byVariable.errors[0].extensions.errno).toBe('ENOENT');

    // GraphQL ids are IDs (strings): read back as numbers.
    const lists = (await gql('{ contexts { id } devices { id } viommus { id } smmus { devices { id } viommus { id } } }', SCOPED)).data;
    expect(lists.contexts.map((c: { id: string }) => Number(c.id))).toEqual([mine.ctx]);
    expect(lists.viommus.map((v: { id: string }) => Number(v.id))).toEqual([mine.viommu]);
    const deviceIds = lists.devices.map((d: { id: string }) => Number(d.id));
    expect(deviceIds).toContain(free);
    expect(deviceIds).not.toContain(other.dev);
    const viaSmmus = lists.smmus.flatMap((s: { devices: Array<{ id: string }>; viommus: Array<{ id: string }> }) => [...s.devices, ...s.viommus].map((x) => Number(x.id)));
    expect(viaSmmus).toContain(mine.viommu);
    expect(viaSmmus).not.toContain(other.viommu);
    expect(viaSmmus).not.toContain(other.dev);

    const own = await gql(`{ viommu(id: ${mine.viommu}) { id context { id } nestParent { id } } }`, SCOPED);
    expect(own.data.viommu).toEqual({ id: String(mine.viommu), context: { id: String(mine.ctx) }, nestParent: { id: String(mine.parent) } });
    expect((await gql('{ contexts { id } }', ADMIN)).data.contexts.map((c: { id: string }) => Number(c.id))).toEqual([mine.ctx, other.ctx]);
  });

  it('scope: Smmu.state and audit are EPERM to a limited token; the SMMU\'s other fields answer', async () => {
    for (const q of ['{ smmus { id state { streamTableEntries tlb { entries } } } }', '{ audit { items { seq } } }']) {
      expect((await gql(q, ADMIN)).errors, `admin ${q}`).toBeUndefined();
      const res = await gql(q, SCOPED_ADMIN);
      expect(res.errors?.[0]?.extensions?.errno, q).toBe('EPERM');
      expect(JSON.stringify(res.data ?? null)).not.toMatch(/streamTableEntries|"seq"/);
    }
    const names = await gql('{ smmus { id name } }', SCOPED_ADMIN);
    expect(names.errors).toBeUndefined();
    expect(names.data.smmus.length).toBeGreaterThan(0);
  });

  it('scope: mutations naming another context change nothing (ENOENT); createContext is EPERM', async () => {
    await expectUnchanged(t, async () => {
      for (const m of [
        `mutation { createIoas(contextId: ${other.ctx}) { id } }`,
        `mutation { destroy(id: ${other.viommu}) }`,
        `mutation { deleteContext(id: ${other.ctx}) { destroyedObjects } }`,
        `mutation { unbindDevice(contextId: ${other.ctx}, deviceId: ${other.dev}) { id } }`,
        `mutation { attachDevice(deviceId: ${mine.dev}, ptId: ${other.ioas}) { id } }`,
        `mutation { bindDevice(contextId: ${mine.ctx}, deviceId: ${other.dev}) { id } }`,
      ]) {
        const res = await gql(m, SCOPED);
        expect(res.errors?.[0]?.extensions?.errno, m).toBe('ENOENT');
      }
      const denied = await gql('mutation { createContext(name: "mine-too") { id } }', SCOPED);
      expect(denied.errors[0].extensions.errno).toBe('EPERM');
    });
  });

  it('scope: a subscription to another context is refused (ENOENT) over the WebSocket', async () => {
    const port = await listen(t.app);
    const ws = new WebSocket(`ws://127.0.0.1:${port}/graphql`, 'graphql-transport-ws', { headers: SCOPED });
    const messages: any[] = [];
    const next = () =>
      new Promise<any>((resolve, reject) => {
        if (messages.length > 0) return resolve(messages.shift());
        ws.once('message', () => resolve(messages.shift()));
        ws.once('close', (code) => reject(new Error(`closed ${code}`)));
      });
    ws.on('message', (d) => messages.push(JSON.parse(String(d))));
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    try {
      ws.send(JSON.stringify({ type: 'connection_init' }));
      expect((await next()).type).toBe('connection_ack');
      ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: `subscription { objectChanged(contextId: ${other.ctx}) { id } }` } }));
      const refused = await next();
      expect(refused.type).toBe('error');
      expect(JSON.stringify(refused.payload)).toContain('ENOENT');
    } finally {
      ws.close();
    }
  });
});

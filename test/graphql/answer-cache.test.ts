/**
 * Kept answers of repeated GraphQL queries (src/routes/graphql/answer-cache.ts): a query asked
 * again while nothing it shows has changed is answered from the cache, and the answer right after
 * any change — a write through REST or GraphQL, an invalidation that commits nothing but counts
 * in `stats` — is the one a fresh execution gives. Answers that read the SMMU model, carry errors,
 * come from mutations or go to a token limited to contexts are never kept.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphqlAnswersOf } from '../../src/routes/graphql/index.js';
import { buildViommu, deviceByName, must, startApp, type Graph, type TestApp } from '../helper.js';

const ADMIN = 'answers-admin-token';
const SCOPED = 'answers-scoped-token';
// A fresh database: the built-in topology takes ids 1-10, so the first context is 11.
const TOKENS = `${ADMIN}:admin,${SCOPED}:viewer:11`;
const auth = { authorization: `Bearer ${ADMIN}` };

const DASHBOARD = '{ viommus { id vmid smmu { name } nestParent { id } vdevices { virtId device { name } } nestedHwpts { id } stats { invalidations { entries } } } }';
/** TLBI_NH_ALL (opcode 0x10): accepted by every vIOMMU, counted in its invalidation stats. */
const TLBI_NH_ALL = { dataType: 'arm_smmuv3', entries: [['0x0000000000000010', '0x0000000000000000']] };

let t: TestApp;
let g: Graph;
beforeAll(async () => {
  t = await startApp({ env: { API_TOKENS: TOKENS } });
  // helper.ts sends no token: every request of this file carries the admin's unless told.
  const req = t.req.bind(t);
  t.req = (method, url, body, headers) => req(method, url, body, headers ?? auth);
  g = await buildViommu(t);
  expect(g.ctx).toBe(11);
  must(await t.req('POST', '/v1/vdevices', { viommuId: g.viommu, deviceId: g.dev, virtId: 8 }), 201);
}, 120_000);
afterAll(async () => t.close());

const cache = () => graphqlAnswersOf(t.service)!;
async function gql(query: string, token = ADMIN, variables?: Record<string, unknown>): Promise<{ status: number; body: any; raw: string; headers: Record<string, unknown> }> {
  const res = await t.req('POST', '/graphql', variables === undefined ? { query } : { query, variables }, { authorization: `Bearer ${token}` });
  return { status: res.status, body: res.body, raw: res.raw, headers: res.headers };
}
/** The same query executed afresh: a text the cache has never seen (a trailing comment per call). */
let fresh = 0;
const executed = async (query: string) => {
  const before = cache().stats.hits;
  const res = await gql(`${query} # ${++fresh}`);
  expect(cache().stats.hits).toBe(before);
  return res;
};

describe('graphql answers: kept while nothing they show changed', () => {
  it('graphql answers: a repeated dashboard is answered from the cache, byte for byte and header for header the executed answer', async () => {
    const first = await gql(DASHBOARD);
    expect(first.status).toBe(200);
    // Kept at its second execution at the same graph version (a query asked once is not kept).
    const stored = cache().stats.stored;
    expect((await gql(DASHBOARD)).raw).toBe(first.raw);
    expect(cache().stats.stored).toBe(stored + 1);
    const hits = cache().stats.hits;
    const again = await gql(DASHBOARD);
    expect(cache().stats.hits).toBe(hits + 1);
    expect(again.raw).toBe(first.raw);
    expect(again.headers['content-type']).toBe(first.headers['content-type']);
    expect(again.headers['content-length']).toBe(first.headers['content-length']);
    expect(again.raw).toBe((await executed(DASHBOARD)).raw);
  });

  it('graphql answers: right after a write (REST or GraphQL) the answer is the fresh one', async () => {
    await gql(DASHBOARD);
    const before = await gql(DASHBOARD);
    // A new vDEVICE (REST): the vIOMMU's list grows.
    const other = await deviceByName(t, 'nvme0');
    must(await t.req('POST', `/v1/contexts/${g.ctx}/devices`, { deviceId: other.id }), 201);
    must(await t.req('POST', '/v1/vdevices', { viommuId: g.viommu, deviceId: other.id, virtId: 9 }), 201);
    const after = await gql(DASHBOARD);
    expect(after.raw).not.toBe(before.raw);
    expect(after.body.data.viommus[0].vdevices.map((v: { virtId: number }) => v.virtId)).toEqual([8, 9]);
    expect(after.raw).toBe((await executed(DASHBOARD)).raw);
    // A GraphQL mutation: a nested HWPT appears.
    const nested = await gql(`mutation { allocHwpt(deviceId: ${g.dev}, ptId: ${g.viommu}, data: { type: "arm_smmuv3", ste: ["0x000000008000000b", "0x0"] }) { id } }`);
    expect(nested.status).toBe(200);
    const withNested = await gql(DASHBOARD);
    expect(withNested.body.data.viommus[0].nestedHwpts).toEqual([{ id: nested.body.data.allocHwpt.id }]);
    expect(withNested.raw).toBe((await executed(DASHBOARD)).raw);
    // A destroy: gone from the next answer.
    must(await t.req('DELETE', `/v1/objects/${nested.body.data.allocHwpt.id}`), 204);
    const destroyed = await gql(DASHBOARD);
    expect(destroyed.body.data.viommus[0].nestedHwpts).toEqual([]);
    expect(destroyed.raw).toBe((await executed(DASHBOARD)).raw);
  });

  it('graphql answers: an invalidation commits nothing, and the next answer still shows its count', async () => {
    await gql(DASHBOARD);
    const before = (await gql(DASHBOARD)).body.data.viommus[0].stats.invalidations.entries;
    must(await t.req('POST', `/v1/viommus/${g.viommu}/invalidate`, TLBI_NH_ALL), 200);
    const after = await gql(DASHBOARD);
    expect(after.body.data.viommus[0].stats.invalidations.entries).toBe(before + 1);
    expect(after.raw).toBe((await executed(DASHBOARD)).raw);
    // Through GraphQL, and a failing one (its error counted, entries unchanged): still current.
    expect((await gql(`mutation { invalidateViommu(id: ${g.viommu}, dataType: "arm_smmuv3", entries: [["0x0000000000000010", "0x0"]]) { entriesProcessed } }`)).status).toBe(200);
    const afterGql = await gql(DASHBOARD);
    expect(afterGql.body.data.viommus[0].stats.invalidations.entries).toBe(before + 2);
    const q = `{ viommus { id stats { invalidations { requests errors entries } } } }`;
    await gql(q);
    const kept = await gql(q);
    // PREFETCH_CONFIG (0x01) is no command a guest may send: EIO, counted as an error.
    expect((await t.req('POST', `/v1/viommus/${g.viommu}/invalidate`, { dataType: 'arm_smmuv3', entries: [['0x0000000000000001', '0x0']] })).status).toBe(422);
    const afterError = await gql(q);
    expect(afterError.raw).not.toBe(kept.raw);
    expect(afterError.raw).toBe((await executed(q)).raw);
  });

  it('graphql answers: GET /graphql is kept apart from POST, and sees a write at once too', async () => {
    const q = '{ contexts { name } }';
    const get = () => t.req('GET', `/graphql?query=${encodeURIComponent(q)}`);
    const first = await get();
    expect(first.status).toBe(200);
    const stored = cache().stats.stored;
    expect((await get()).raw).toBe(first.raw);
    expect(cache().stats.stored).toBe(stored + 1);
    const hits = cache().stats.hits;
    expect((await get()).raw).toBe(first.raw);
    expect(cache().stats.hits).toBe(hits + 1);
    expect((await gql(q)).raw).toBe(first.raw);
    expect(cache().stats.hits).toBe(hits + 1);
    must(await t.req('POST', '/v1/contexts', { name: 'answers-get' }), 201);
    expect((await get()).body.data.contexts.map((c: { name: string }) => c.name)).toContain('answers-get');
  });

  it('graphql answers: what reads the SMMU model, an error or a mutation is never kept', async () => {
    const stored = () => cache().stats.stored;
    for (const query of [
      `{ viommus { stats { tlb { entries } } } }`,
      `{ smmus { state { commands { executed } } } }`,
      `{ device(id: ${g.dev}) { host { ste } } }`,
      '{ viommu(id: 999999) { id } }',
      '{ nothing }',
    ]) {
      const n = stored();
      const a = await gql(query);
      const b = await gql(query);
      expect(stored(), query).toBe(n);
      if (a.body.errors?.[0].extensions.requestId !== undefined) expect(b.body.errors[0].extensions.requestId).not.toBe(a.body.errors[0].extensions.requestId);
    }
    const n = stored();
    await gql(`mutation { createContext(name: "answers-m") { id } }`);
    expect(stored()).toBe(n);
  });

  it('graphql answers: a token limited to a context never gets the unlimited answer, nor fills the cache', async () => {
    const vm2 = await buildViommu(t, { device: 'nic1' });
    expect(vm2.ctx).not.toBe(g.ctx);
    const q = '{ viommus { id context { id } } }';
    const admin = await gql(q);
    await gql(q);
    expect(admin.body.data.viommus).toHaveLength(2);
    const stored = cache().stats.stored;
    const scoped = await gql(q, SCOPED);
    expect(scoped.body.data.viommus).toEqual([{ id: String(g.viommu), context: { id: String(g.ctx) } }]);
    expect((await gql(q, SCOPED)).raw).toBe(scoped.raw);
    expect(cache().stats.stored).toBe(stored);
    // Variables are part of the key.
    const byCtx = 'query($c: ID) { viommus(contextId: $c) { id } }';
    expect((await gql(byCtx, ADMIN, { c: String(g.ctx) })).body.data.viommus).toEqual([{ id: String(g.viommu) }]);
    expect((await gql(byCtx, ADMIN, { c: String(vm2.ctx) })).body.data.viommus).toEqual([{ id: String(vm2.viommu) }]);
    expect((await gql(byCtx, ADMIN, { c: String(g.ctx) })).body.data.viommus).toEqual([{ id: String(g.viommu) }]);
  });
});

/**
 * Issue 14: unknown query parameters are EINVAL outside /v1 too — the probes, /metrics,
 * /openapi.json and /graphql (which takes GraphQL-over-HTTP's query, variables, operationName and
 * extensions) — as under /v1 (test/api covers those). src/routes/plugins/query-params.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectProblem, startApp, type TestApp } from '../helper.js';

let t: TestApp;
beforeAll(async () => {
  t = await startApp();
});
afterAll(async () => {
  await t.close();
});

describe('unknown query parameters outside /v1', () => {
  for (const url of ['/healthz', '/readyz', '/metrics', '/openapi.json']) {
    it(`query parameters: GET ${url} takes none — ?verbose=1 is 400 EINVAL naming it; without it the route answers`, async () => {
      const refused = await t.req('GET', `${url}?verbose=1`);
      expectProblem(refused, 'EINVAL', 400);
      expect(refused.body.detail).toBe(`unknown query parameter "verbose": ${url} takes none`);
      expect((await t.req('GET', url)).status).toBe(200);
    });
  }

  it('query parameters: GET /graphql takes query, variables, operationName and extensions, and nothing else', async () => {
    const query = encodeURIComponent('query Q($id: ID!) { smmu(id: $id) { name } smmus { name } }');
    const ok = await t.req('GET', `/graphql?query=${query}&operationName=Q&variables=${encodeURIComponent('{"id":"1"}')}&extensions=${encodeURIComponent('{}')}`);
    expect(ok.status).toBe(200);
    expect(ok.body.data.smmus.map((s: { name: string }) => s.name)).toEqual(['smmu0', 'smmu1']);
    const refused = await t.req('GET', `/graphql?query=${query}&operationname=Q&debug=1`);
    expectProblem(refused, 'EINVAL', 400);
    expect(refused.body.detail).toBe('unknown query parameters "operationname", "debug": /graphql takes query, variables, operationName, extensions');
  });

  it('query parameters: POST /graphql with an unknown query parameter is 400 EINVAL and runs nothing', async () => {
    const before = (await t.req('GET', '/v1/contexts')).body.items.length;
    const refused = await t.req('POST', '/graphql?dryRun=1', { query: 'mutation { createContext(name: "qp-vm") { id } }' });
    expectProblem(refused, 'EINVAL', 400);
    expect((await t.req('GET', '/v1/contexts')).body.items.length).toBe(before);
  });

  it('query parameters: the interactive pages are left alone (browsers add their own to static files)', async () => {
    expect((await t.req('GET', '/docs/json?v=2')).status).toBe(200);
  });
});

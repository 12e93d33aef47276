/** Bearer tokens and roles (api.md "Operations"): viewer reads, operator writes, admin inventory and injection. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { expectProblem, expectUnchanged, must, startApp, type TestApp } from './helper.js';

const TOKENS = 'viewer-token-1:viewer,operator-token-1:operator,admin-token-1:admin';
const as = (token: string) => ({ authorization: `Bearer ${token}` });
let t: TestApp;
beforeAll(async () => {
  t = await startApp({ env: { API_TOKENS: TOKENS } });
});
afterAll(async () => t.close());

describe('auth', () => {
  it('auth: without a token every API call is EUNAUTHENTICATED (401); health, readiness and OpenAPI stay open', async () => {
    await expectUnchanged(t, async () => {
      expectProblem(await t.req('GET', '/v1/smmus'), 'EUNAUTHENTICATED', 401);
      expectProblem(await t.req('POST', '/v1/contexts', { name: 'x' }), 'EUNAUTHENTICATED', 401);
      expectProblem(await t.req('GET', '/v1/smmus', undefined, as('wrong-token-1')), 'EUNAUTHENTICATED', 401);
    });
    expect((await t.req('GET', '/healthz')).status).toBe(200);
    expect((await t.req('GET', '/readyz')).status).toBe(200);
    expect((await t.req('GET', '/openapi.json')).status).toBe(200);
  });

  it('auth: the scheme name is case-insensitive (RFC 9110: bearer, BEARER); a 401 carries WWW-Authenticate: Bearer, with invalid_token for a wrong token (RFC 6750)', async () => {
    for (const header of ['bearer viewer-token-1', 'BEARER viewer-token-1', 'Bearer   viewer-token-1']) {
      expect((await t.req('GET', '/v1/smmus', undefined, { authorization: header })).status, header).toBe(200);
    }
    const none = await t.req('GET', '/v1/smmus');
    expectProblem(none, 'EUNAUTHENTICATED', 401);
    expect(none.headers['www-authenticate']).toBe('Bearer realm="vsmmu-control"');
    const wrong = await t.req('GET', '/v1/smmus', undefined, as('wrong-token-1'));
    expect(wrong.headers['www-authenticate']).toBe('Bearer realm="vsmmu-control", error="invalid_token"');
    // Another scheme is no token at all.
    expectProblem(await t.req('GET', '/v1/smmus', undefined, { authorization: 'Basic dmlld2VyLXRva2VuLTE=' }), 'EUNAUTHENTICATED', 401);
    const gql = await t.app.inject({ method: 'POST', url: '/graphql', payload: { query: '{ smmus { id } }' } });
    expect(gql.statusCode).toBe(401);
    expect(gql.headers['www-authenticate']).toBe('Bearer realm="vsmmu-control"');
    expect(gql.json().errors[0].extensions.errno).toBe('EUNAUTHENTICATED');
  });

  it('auth: a GraphQL subscription sent over HTTP is EINVAL naming the WebSocket, not an internal error', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/graphql', payload: { query: 'subscription { objectChanged(contextId: 1) { id } }' }, headers: as('viewer-token-1') });
    const body = res.json();
    expect(body.errors[0].extensions).toMatchObject({ errno: 'EINVAL', status: 400 });
    expect(body.errors[0].message).toMatch(/WebSocket/);
  });

  it('auth: a viewer reads but may not write (EPERM, 403)', async () => {
    expect((await t.req('GET', '/v1/smmus', undefined, as('viewer-token-1'))).status).toBe(200);
    await expectUnchanged(t, async () => {
      expectProblem(await t.req('POST', '/v1/contexts', { name: 'x' }, as('viewer-token-1')), 'EPERM', 403);
    });
  });

  it('auth: an operator builds graphs but may not change the inventory or inject events', async () => {
    must(await t.req('POST', '/v1/contexts', { name: 'op' }, as('operator-token-1')), 201);
    await expectUnchanged(t, async () => {
      expectProblem(await t.req('POST', '/v1/smmus', { name: 'new' }, as('operator-token-1')), 'EPERM', 403);
      expectProblem(await t.req('DELETE', '/v1/devices/2', undefined, as('operator-token-1')), 'EPERM', 403);
      expectProblem(await t.req('POST', '/v1/viommus/1/events', { type: 'arm_smmuv3', record: ['0x1', '0x0', '0x0', '0x0'] }, as('operator-token-1')), 'EPERM', 403);
    });
    must(await t.req('POST', '/v1/smmus', { name: 'by-admin' }, as('admin-token-1')), 201);
  });

  it('auth: GraphQL queries need a viewer, mutations an operator, inventory mutations an admin', async () => {
    const gql = async (query: string, token: string) =>
      JSON.parse((await t.app.inject({ method: 'POST', url: '/graphql', payload: { query }, headers: as(token) })).body);
    expect((await gql('{ smmus { id } }', 'viewer-token-1')).data.smmus.length).toBeGreaterThan(0);
    const denied = await gql('mutation { createContext(name: "v") { id } }', 'viewer-token-1');
    expect(denied.errors[0].extensions.errno).toBe('EPERM');
    expect(Number((await gql('mutation { createContext(name: "o") { id } }', 'operator-token-1')).data.createContext.id)).toBeGreaterThan(0);
    const inv = await gql('mutation { createSmmu(name: "gql-op") { id } }', 'operator-token-1');
    expect(inv.errors[0].extensions.errno).toBe('EPERM');
  });

  it('auth: a malformed API_TOKENS stops the start naming the variable', () => {
    expect(() => loadConfig({ API_TOKENS: 'short:admin' })).toThrow(ConfigError);
    expect(() => loadConfig({ API_TOKENS: 'long-enough-token:root' })).toThrow(/^API_TOKENS: /);
  });
});

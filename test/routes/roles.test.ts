/**
 * Roles are declared on each route (src/routes/plugins/auth.ts `roleConfig`): walked over every
 * operation of /openapi.json, a viewer may read and nothing else, an operator may write except
 * the admin's routes (the inventory and fault injection), and the probes are open.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type TestApp } from '../helper.js';

const TOKENS = 'viewer-token-1:viewer,operator-token-1:operator,admin-token-1:admin';
const as = (token: string) => ({ authorization: `Bearer ${token}` });
/** The routes only an admin may call (api.md "Operations"; the audit trail, issue 12). */
const ADMIN = new Set(['POST /v1/smmus', 'DELETE /v1/smmus/{id}', 'POST /v1/devices', 'DELETE /v1/devices/{id}', 'POST /v1/viommus/{id}/events', 'GET /v1/audit']);

let t: TestApp;
let operations: Array<{ method: string; path: string }>;
beforeAll(async () => {
  t = await startApp({ env: { API_TOKENS: TOKENS } });
  const doc = (await t.req('GET', '/openapi.json')).body as { paths: Record<string, Record<string, unknown>> };
  // The REST API (/v1); the probes, /metrics and GraphQL are checked in the last test (and their
  // documented security against the enforced one in test/reliability/openapi.test.ts).
  operations = Object.entries(doc.paths)
    .filter(([path]) => path.startsWith('/v1/'))
    .flatMap(([path, ops]) => Object.keys(ops).map((m) => ({ method: m.toUpperCase(), path })));
});
afterAll(async () => t?.close());

/** The path with every parameter filled by an id nothing has (the role check comes first). */
const concrete = (path: string) => path.replace(/\{[^}]+\}/g, '999999');

describe('roles per route', () => {
  it('roles: the walk covers the whole REST API', () => {
    expect(operations.length).toBeGreaterThan(40);
    for (const op of ADMIN) expect(operations.map((o) => `${o.method} ${o.path}`)).toContain(op);
  });

  it('roles: a viewer may call every GET but the admin routes, and no write (EPERM)', async () => {
    for (const { method, path } of operations) {
      const res = await t.req(method as 'GET', concrete(path), method === 'GET' ? undefined : {}, as('viewer-token-1'));
      if (method === 'GET' && !ADMIN.has(`${method} ${path}`)) expect([401, 403], `${method} ${path}`).not.toContain(res.status);
      else expect(res.body.errno, `${method} ${path}`).toBe('EPERM');
    }
  });

  it('roles: an operator may call every write but the admin routes', async () => {
    for (const { method, path } of operations) {
      if (method === 'GET' && !ADMIN.has(`${method} ${path}`)) continue;
      const res = await t.req(method as 'POST', concrete(path), method === 'GET' ? undefined : {}, as('operator-token-1'));
      if (ADMIN.has(`${method} ${path}`)) expect(res.body.errno, `${method} ${path}`).toBe('EPERM');
      else expect([401, 403], `${method} ${path}: ${res.raw}`).not.toContain(res.status);
    }
  });

  it('roles: an admin passes every role check', async () => {
    for (const { method, path } of operations) {
      const res = await t.req(method as 'POST', concrete(path), method === 'GET' ? undefined : {}, as('admin-token-1'));
      expect([401, 403], `${method} ${path}`).not.toContain(res.status);
    }
  });

  it('roles: health, readiness and the OpenAPI document are open; /metrics and GraphQL need a viewer (GraphQL without a token: 401 EUNAUTHENTICATED)', async () => {
    for (const url of ['/healthz', '/readyz', '/openapi.json']) expect((await t.req('GET', url)).status, url).toBe(200);
    expect((await t.req('GET', '/metrics')).status).toBe(401);
    const anonymous = await t.req('POST', '/graphql', { query: '{ smmus { id } }' });
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.errors[0].extensions.errno).toBe('EUNAUTHENTICATED');
    expect((await t.req('POST', '/graphql', { query: '{ smmus { id } }' }, as('viewer-token-1'))).status).toBe(200);
    // A mutation above the token's role is refused before execution: 403 EPERM, as on REST.
    const denied = await t.req('POST', '/graphql', { query: 'mutation { createContext(name: "v") { id } }' }, as('viewer-token-1'));
    expect(denied.status).toBe(403);
    expect(denied.body.errors[0].extensions.errno).toBe('EPERM');
    expect(denied.body.data ?? null).toBeNull();
  });
});

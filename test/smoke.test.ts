import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildViommu, expectProblem, startApp, type TestApp } from './helper.js';

let t: TestApp;
beforeAll(async () => {
  t = await startApp();
});
afterAll(async () => t.close());

describe('smoke: a VM graph end to end', () => {
  it('builds context, IOAS, nest parent and vIOMMU and reads them back', async () => {
    const g = await buildViommu(t);
    const v = await t.req('GET', `/v1/viommus/${g.viommu}`);
    expect(v.status).toBe(200);
    expect(v.body).toMatchObject({ id: g.viommu, type: 'viommu', viommuType: 'arm_smmuv3', contextId: g.ctx, hwptId: g.parent });
    expect(v.body.vmid).toBeGreaterThan(0);
    expect(v.headers['x-request-id']).toBeTruthy();
  });

  it('an unknown route is a problem+json ENOENT', async () => {
    expectProblem(await t.req('GET', '/v1/nothing'), 'ENOENT', 404);
  });
});

describe('operations', () => {
  it('openapi: /openapi.json is OpenAPI 3.1 generated from the zod schemas that validate', async () => {
    const res = await t.req('GET', '/openapi.json');
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe('3.1.0');
    const hwpt = res.body.paths['/v1/hwpts'].post.requestBody.content['application/json'].schema;
    expect(hwpt.properties.flags.items.enum).toEqual(['nest_parent', 'dirty_tracking', 'pasid']);
    expect(res.body.paths['/v1/viommus/{id}']).toBeDefined();
  });

  it('healthz: the process answers', async () => {
    const res = await t.req('GET', '/healthz');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
  });
});

describe('over a real socket', () => {
  it('http: the service answers over TCP with the same problem+json and request id (supertest)', async () => {
    const { default: request } = await import('supertest');
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const server = t.app.server;
    const created = await request(server).post('/v1/contexts').send({ name: 'tcp' }).expect(201);
    expect(created.body).toMatchObject({ name: 'tcp' });
    const res = await request(server).post('/v1/contexts').set('content-type', 'application/json').set('x-request-id', 'vmm-42').send('{"name":').expect(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.headers['x-request-id']).toBe('vmm-42');
    expect(res.body).toMatchObject({ errno: 'EINVAL', requestId: 'vmm-42' });
  });
});

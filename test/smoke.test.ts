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

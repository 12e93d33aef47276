/**
 * Issue 14: a lookup's message says what is wrong — the id names nothing ("does not exist"), or
 * an object of another type ("object 20 is a vIOMMU, not an IOAS") — not "IOAS 20 is not a IOAS".
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildViommu, expectProblem, startApp, type Graph, type TestApp } from '../helper.js';

let t: TestApp;
let g: Graph;
beforeAll(async () => {
  t = await startApp();
  g = await buildViommu(t);
});
afterAll(async () => t?.close());

describe('lookup messages', () => {
  it('messages: a missing id "does not exist"; an object of another type names both types with their articles', async () => {
    const missing = await t.req('GET', '/v1/viommus/999999');
    expectProblem(missing, 'ENOENT', 404);
    expect(missing.body.detail).toBe('vIOMMU 999999 does not exist');
    const wrongType = await t.req('GET', `/v1/ioas/${g.viommu}`);
    expectProblem(wrongType, 'ENOENT', 404);
    expect(wrongType.body.detail).toBe(`object ${g.viommu} is a vIOMMU, not an IOAS`);
    const asViommu = await t.req('GET', `/v1/viommus/${g.ioas}`);
    expect(asViommu.body.detail).toBe(`object ${g.ioas} is an IOAS, not a vIOMMU`);
  });
});

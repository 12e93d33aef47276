/**
 * IOMMU_IOAS_UNMAP as iommufd_ioas_unmap: iova 0 with length U64_MAX is "unmap all"
 * (iopt_unmap_all), which succeeds on an empty IOAS (the kernel selftest asserts it); any other
 * range with a U64_MAX iova or length is EOVERFLOW.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectProblem, expectUnchanged, must, startApp, type TestApp } from '../helper.js';

const U64_MAX = '0xffffffffffffffff';
let t: TestApp;
let ctx: number;
beforeAll(async () => {
  t = await startApp();
  ctx = must(await t.req('POST', '/v1/contexts', { name: 'unmap' }), 201).id;
});
afterAll(async () => t?.close());

describe('IOAS_UNMAP', () => {
  it('ioas: unmap all (iova 0, length U64_MAX) on an empty IOAS succeeds with nothing unmapped (iopt_unmap_all)', async () => {
    const ioas = must(await t.req('POST', '/v1/ioas', { contextId: ctx }), 201).id;
    expect(must(await t.req('DELETE', `/v1/ioas/${ioas}/mappings?iova=0x0&length=${U64_MAX}`), 200)).toEqual({ unmapped: '0x0' });
  });

  it('ioas: unmap all removes every mapping and reports the bytes unmapped', async () => {
    const ioas = must(await t.req('POST', '/v1/ioas', { contextId: ctx }), 201).id;
    must(await t.req('POST', `/v1/ioas/${ioas}/mappings`, { iova: '0x100000', length: '0x2000' }), 201);
    must(await t.req('POST', `/v1/ioas/${ioas}/mappings`, { iova: '0xfffff000', length: '0x1000', write: false }), 201);
    expect(must(await t.req('DELETE', `/v1/ioas/${ioas}/mappings?iova=0x0&length=${U64_MAX}`), 200)).toEqual({ unmapped: '0x3000' });
    expect(must(await t.req('GET', `/v1/ioas/${ioas}/mappings`), 200).items).toEqual([]);
  });

  it('ioas: another range with a U64_MAX iova or length is EOVERFLOW and unmaps nothing; an empty range elsewhere is ENOENT', async () => {
    const ioas = must(await t.req('POST', '/v1/ioas', { contextId: ctx }), 201).id;
    must(await t.req('POST', `/v1/ioas/${ioas}/mappings`, { iova: '0x100000', length: '0x1000' }), 201);
    await expectUnchanged(t, async () => {
      expectProblem(await t.req('DELETE', `/v1/ioas/${ioas}/mappings?iova=0x1000&length=${U64_MAX}`), 'EOVERFLOW', 400);
      expectProblem(await t.req('DELETE', `/v1/ioas/${ioas}/mappings?iova=${U64_MAX}&length=0x1000`), 'EOVERFLOW', 400);
      expectProblem(await t.req('DELETE', `/v1/ioas/${ioas}/mappings?iova=0x200000&length=0x1000`), 'ENOENT', 404);
    });
  });
});

/**
 * One IOAS on a built vIOMMU for the tests of IOMMU_IOAS_MAP / UNMAP through the API
 * (test/api/ioas-mappings.test.ts, test/api/ioas-arguments.test.ts): an app for the file, and the
 * map, unmap and list calls on that IOAS.
 */
import { afterAll, beforeAll } from 'vitest';
import { buildViommu, must, startApp, type TestApp } from '../helper.js';

export const hex = (n: number | bigint) => `0x${n.toString(16)}`;

export function ioasWorld() {
  let t: TestApp;
  let ioas: number;
  beforeAll(async () => {
    t = await startApp();
    ioas = (await buildViommu(t)).ioas;
  }, 60_000);
  afterAll(async () => t.close());
  return {
    app: () => t,
    map: (iova: number | bigint, length: number | bigint, perms: { read?: boolean; write?: boolean } = {}) =>
      t.req('POST', `/v1/ioas/${ioas}/mappings`, { iova: hex(iova), length: hex(length), ...perms }),
    unmap: (iova: number | bigint, length: number | bigint) => t.req('DELETE', `/v1/ioas/${ioas}/mappings?iova=${hex(iova)}&length=${hex(length)}`),
    /** The IOAS's mappings as [iova, length], in IOVA order. */
    async mapped(): Promise<Array<[bigint, bigint]>> {
      const page = must(await t.req('GET', `/v1/ioas/${ioas}/mappings?limit=500`), 200);
      return page.items.map((m: { iova: string; length: string }) => [BigInt(m.iova), BigInt(m.length)]);
    },
  };
}

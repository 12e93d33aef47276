/**
 * IOMMU_IOAS_MAP / IOMMU_IOAS_UNMAP's argument checks through the API (src/domain/ioas.ts mapIoas,
 * unmapIoas; iommufd.md "IOAS"): the errno of each, the edge where each starts to apply (a range
 * ending at the last IOVA, 0xffff_ffff_ffff_ffff, is valid), and that a refused call changes
 * nothing. test/bad-input/ has these as request-validation rows; here each boundary is a test of
 * its own, in the suite the mutation run uses (vitest.mutate.config.ts).
 */
import { describe, expect, it } from 'vitest';
import { expectProblem, expectUnchanged, must, type TestApp } from '../helper.js';
import { ioasWorld } from './ioas-world.js';

const U64_MAX = (1n << 64n) - 1n;
const world = ioasWorld();
const { map, unmap, mapped } = world;

/** expectProblem, then the problem's body. */
function problem(res: Awaited<ReturnType<TestApp['req']>>, errno: string, status?: number): { detail: string } {
  expectProblem(res, errno, status);
  return res.body;
}

describe('ioas map and unmap arguments', () => {
  it('map: neither readable nor writable is EINVAL; read-only and write-only are mapped', async () => {
    await expectUnchanged(world.app(), async () => {
      const p = problem(await map(0x10000n, 0x1000n, { read: false, write: false }), 'EINVAL', 400);
      expect(p.detail).toMatch(/readable, writable or both/);
    });
    const ro = must(await map(0x10000n, 0x1000n, { read: true, write: false }), 201);
    expect([ro.read, ro.write]).toEqual([true, false]);
    const wo = must(await map(0x11000n, 0x1000n, { read: false, write: true }), 201);
    expect([wo.read, wo.write]).toEqual([false, true]);
    must(await unmap(0x10000n, 0x2000n), 200);
  });

  it('map: length 0 is EINVAL; an IOVA or a length off a 4 KiB page, either alone, is EINVAL', async () => {
    await expectUnchanged(world.app(), async () => {
      expect(problem(await map(0x20000n, 0n), 'EINVAL', 400).detail).toMatch(/length must not be 0/);
      expect(problem(await map(0x20800n, 0x1000n), 'EINVAL', 400).detail).toMatch(/4 KiB aligned/);
      expect(problem(await map(0x20000n, 0x1800n), 'EINVAL', 400).detail).toMatch(/4 KiB aligned/);
    });
    expect(await mapped()).toEqual([]);
  });

  it('map: a range ending at the last IOVA is mapped; one page further is EOVERFLOW', async () => {
    const top = U64_MAX + 1n - 0x2000n;
    await expectUnchanged(world.app(), async () => {
      expect(problem(await map(top + 0x1000n, 0x2000n), 'EOVERFLOW').detail).toMatch(/overflows 64 bits/);
      expectProblem(await map(top, 0x3000n), 'EOVERFLOW');
    });
    must(await map(top, 0x2000n), 201);
    expect(await mapped()).toEqual([[top, 0x2000n]]);
    must(await unmap(top, 0x2000n), 200);
    expect(await mapped()).toEqual([]);
  });

  it('map: mappings list in IOVA order whatever the order they were made in', async () => {
    for (const iova of [0x33000n, 0x31000n, 0x35000n, 0x30000n]) must(await map(iova, 0x1000n), 201);
    expect((await mapped()).map(([iova]) => iova)).toEqual([0x30000n, 0x31000n, 0x33000n, 0x35000n]);
    must(await unmap(0x30000n, 0x6000n), 200);
  });

  it('unmap: iova or length U64_MAX (but the whole-space pair) is EOVERFLOW, length 0 is EINVAL, a range past the last IOVA is EOVERFLOW; nothing is unmapped', async () => {
    must(await map(0x40000n, 0x1000n), 201);
    await expectUnchanged(world.app(), async () => {
      expect(problem(await unmap(U64_MAX, 0x1000n), 'EOVERFLOW').detail).toMatch(/U64_MAX/);
      expect(problem(await unmap(0x1000n, U64_MAX), 'EOVERFLOW').detail).toMatch(/U64_MAX/);
      expect(problem(await unmap(0x40000n, 0n), 'EINVAL', 400).detail).toMatch(/length must not be 0/);
      expect(problem(await unmap(U64_MAX - 0xfffn, 0x2000n), 'EOVERFLOW').detail).toMatch(/overflows 64 bits/);
    });
    expect(await mapped()).toEqual([[0x40000n, 0x1000n]]);
  });

  it('unmap: a range ending at the last IOVA is valid; iova 0 with length U64_MAX unmaps everything', async () => {
    const top = U64_MAX + 1n - 0x1000n;
    must(await map(top, 0x1000n), 201);
    must(await map(0x41000n, 0x1000n), 201);
    const r = must(await unmap(top, 0x1000n), 200);
    expect(r).toEqual({ unmapped: '0x1000' });
    expect(await mapped()).toEqual([
      [0x40000n, 0x1000n],
      [0x41000n, 0x1000n],
    ]);
    must(await unmap(0n, U64_MAX), 200);
    expect(await mapped()).toEqual([]);
  });

  it('unmap: a range covering part of the space leaves the mappings outside it', async () => {
    must(await map(0x50000n, 0x1000n), 201);
    must(await map(0x52000n, 0x1000n), 201);
    must(await unmap(0x52000n, 0x1000n), 200);
    expect(await mapped()).toEqual([[0x50000n, 0x1000n]]);
    must(await unmap(0x50000n, 0x1000n), 200);
  });
});

/**
 * IOMMU_IOAS_MAP with a fixed IOVA and IOMMU_IOAS_UNMAP through the API (src/domain/ioas.ts
 * mapIoas / unmapIoas; iommufd.md): a range that overlaps a mapping by one page or more is
 * EEXIST, a touching one is not; an unmap range that cuts a mapping is ENOENT and unmaps nothing,
 * one that covers whole mappings unmaps exactly those; and a mapping's host address is aligned
 * to the largest power of two not above its length (at most 1 GiB), as huge-page-backed RAM.
 * Observed through the API only (the mappings list, `hostAddress`).
 */
import { describe, expect, it } from 'vitest';
import { expectProblem, expectUnchanged, must } from '../helper.js';
import { hex, ioasWorld } from './ioas-world.js';

const world = ioasWorld();
const { map, unmap } = world;
/** The IOAS's mappings as [iova, length] numbers, in IOVA order. */
const mapped = async (): Promise<Array<[number, number]>> => (await world.mapped()).map(([iova, length]) => [Number(iova), Number(length)]);

describe('ioas mappings', () => {
  it('map: a range overlapping a mapping by any page is EEXIST and maps nothing; ranges touching it are mapped', async () => {
    must(await map(0x100000, 0x4000), 201); // [0x100000, 0x104000)
    await expectUnchanged(world.app(), async () => {
      for (const [iova, length] of [
        [0x100000, 0x4000], // the same
        [0x0ff000, 0x2000], // its first page
        [0x103000, 0x2000], // its last page
        [0x0f0000, 0x20000], // all of it
        [0x101000, 0x1000], // inside it
      ]) {
        expectProblem(await map(iova, length), 'EEXIST', 409);
      }
    });
    must(await map(0x0ff000, 0x1000), 201); // ends where it starts
    must(await map(0x104000, 0x1000), 201); // starts where it ends
    expect(await mapped()).toEqual([
      [0x0ff000, 0x1000],
      [0x100000, 0x4000],
      [0x104000, 0x1000],
    ]);
    must(await unmap(0x0ff000, 0x6000), 200);
  });

  it('unmap: a range that cuts a mapping at either end is ENOENT and unmaps nothing; whole mappings in a range with holes are unmapped, exactly those', async () => {
    must(await map(0x200000, 0x2000), 201);
    must(await map(0x204000, 0x2000), 201);
    must(await map(0x208000, 0x2000), 201);
    await expectUnchanged(world.app(), async () => {
      expectProblem(await unmap(0x201000, 0x1000), 'ENOENT', 404); // the second page of the first
      expectProblem(await unmap(0x200000, 0x1000), 'ENOENT', 404); // its first page
      expectProblem(await unmap(0x1ff000, 0x2000), 'ENOENT', 404); // across its start
      expectProblem(await unmap(0x200000, 0x5000), 'ENOENT', 404); // the first whole, the second cut
      expectProblem(await unmap(0x202000, 0x2000), 'ENOENT', 404); // the hole between them
    });
    const res = must(await unmap(0x1f0000, 0x16000), 200); // [0x1f0000, 0x206000): the first two, whole
    expect(BigInt(res.unmapped)).toBe(0x4000n);
    expect((await mapped()).filter(([iova]) => iova >= 0x200000 && iova < 0x300000)).toEqual([[0x208000, 0x2000]]);
    must(await unmap(0x208000, 0x2000), 200);
  });

  it('map: a mapping\'s host address is aligned to the largest power of two not above its length', async () => {
    const host = async (iova: number, length: number) => BigInt(must(await map(iova, length), 201).hostAddress);
    const a = await host(0x400000, 0x1000);
    const b = await host(0x500000, 0x4000);
    const c = await host(0x600000, 0x3000);
    const d = await host(0x800000, 0x100000);
    for (const [h, align] of [[a, 0x1000n], [b, 0x4000n], [c, 0x2000n], [d, 0x100000n]] as const) expect(h % align, `${hex(h)} aligned to ${hex(align)}`).toBe(0n);
    // Handed out in ascending order, never twice.
    expect(b).toBeGreaterThan(a);
    expect(c).toBeGreaterThanOrEqual(b + 0x4000n);
    expect(d).toBeGreaterThanOrEqual(c + 0x3000n);
    // The alignment is the largest power of two not above the length: a 0x3000 mapping right
    // after a 0x1000 one at a 0x4000 boundary starts 0x2000 further, not 0x4000.
    const e = await host(0xa00000, 0x1000);
    const f = await host(0xb00000, 0x3000);
    expect(f - e).toBe(e % 0x2000n === 0n ? 0x2000n : 0x1000n);
  });
});

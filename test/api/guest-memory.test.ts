/**
 * Guest memory through an IOAS (api.md: `PUT/GET /v1/ioas/{id}/memory?iova=&length=`; the
 * simulated host memory of src/domain/memory.ts): observed through the API only — what reads
 * back, and what GUEST_MEMORY_LIMIT still admits (the number of 4 KiB pages allocated).
 *
 * - Bytes read back exactly across a page boundary and across two mappings whose host ranges are
 *   not adjacent; unwritten bytes read as zero; a write into a written page keeps its other bytes.
 * - A write that runs off its mappings is ENOENT and writes nothing, not even the mapped part.
 * - The limit counts pages, not writes: rewriting an allocated page costs nothing, a new page one;
 *   a write that would pass it is ENOMEM and changes nothing.
 * - An unmap frees exactly its range's pages — whether the range is small beside many written
 *   pages (looked up page by page) or large beside few (every written page scanned) — and never
 *   the first page of the host range right after it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { buildViommu, expectProblem, expectUnchanged, must, startApp, type TestApp } from '../helper.js';

const PAGE = 4096;
const hex = (n: number | bigint) => `0x${n.toString(16)}`;
const OCTETS = { 'content-type': 'application/octet-stream' };

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

async function world(env: Record<string, string> = {}): Promise<{ t: TestApp; ioas: number }> {
  t = await startApp({ env });
  const g = await buildViommu(t);
  return { t, ioas: g.ioas };
}

async function map(t: TestApp, ioas: number, iova: number, length: number): Promise<bigint> {
  const m = must(await t.req('POST', `/v1/ioas/${ioas}/mappings`, { iova: hex(iova), length: hex(length) }), 201);
  return BigInt(m.hostAddress);
}

const write = (t: TestApp, ioas: number, iova: number, data: Buffer) => t.req('PUT', `/v1/ioas/${ioas}/memory?iova=${hex(iova)}&length=${data.length}`, data, OCTETS);

async function read(t: TestApp, ioas: number, iova: number, length: number): Promise<Buffer> {
  const res = await t.app.inject({ method: 'GET', url: `/v1/ioas/${ioas}/memory?iova=${hex(iova)}&length=${length}` });
  expect(res.statusCode, res.body).toBe(200);
  return res.rawPayload;
}

/** Bytes 1, 2, 3, … (mod 251): no two neighbours equal, so a shifted copy shows. */
const pattern = (n: number, seed = 1) => Buffer.from(Array.from({ length: n }, (_, i) => ((i + seed) % 251) + 1));

describe('guest memory', () => {
  it('guest memory: bytes read back exactly across a page boundary and across two mappings whose host ranges are apart; unwritten bytes read as zero', async () => {
    const { t, ioas } = await world();
    const a = await map(t, ioas, 0x100000, 0x2000);
    await map(t, ioas, 0x800000, 0x1000); // between the two in host memory
    const b = await map(t, ioas, 0x102000, 0x2000);
    expect(b - a).toBeGreaterThan(0x2000n); // the IOVAs are adjacent, the host ranges are not

    const across = pattern(0x30);
    must(await write(t, ioas, 0x101fe8, across), 200); // the last 0x18 bytes of A, the first 0x18 of B
    expect(await read(t, ioas, 0x101fe8, 0x30)).toEqual(across);
    expect(await read(t, ioas, 0x101fe0, 8)).toEqual(Buffer.alloc(8));
    expect(await read(t, ioas, 0x102018, 8)).toEqual(Buffer.alloc(8));

    const page = pattern(0x20, 7);
    must(await write(t, ioas, 0x100ff0, page), 200); // across A's first page boundary
    const back = await read(t, ioas, 0x100fe0, 0x40);
    expect(back.subarray(0, 0x10)).toEqual(Buffer.alloc(0x10));
    expect(back.subarray(0x10, 0x30)).toEqual(page);
    expect(back.subarray(0x30)).toEqual(Buffer.alloc(0x10));
    // A read of the whole range sees both writes where they were made, zero elsewhere.
    const whole = await read(t, ioas, 0x100000, 0x4000);
    const expected = Buffer.alloc(0x4000);
    page.copy(expected, 0xff0);
    across.copy(expected, 0x1fe8);
    expect(whole).toEqual(expected);
  });

  it('guest memory: a write into a written page changes only its own bytes; the rest of the page keeps what was there', async () => {
    const { t, ioas } = await world();
    await map(t, ioas, 0x100000, 0x2000);
    const full = pattern(PAGE);
    must(await write(t, ioas, 0x100000, full), 200);
    must(await write(t, ioas, 0x100800, Buffer.from([0xde, 0xad, 0xbe, 0xef])), 200);
    const expected = Buffer.from(full);
    Buffer.from([0xde, 0xad, 0xbe, 0xef]).copy(expected, 0x800);
    expect(await read(t, ioas, 0x100000, PAGE)).toEqual(expected);
  });

  it('guest memory: a write that runs past its mappings is ENOENT and writes nothing, not even its mapped part; a read across a hole is ENOENT', async () => {
    const { t, ioas } = await world();
    await map(t, ioas, 0x100000, 0x1000);
    await map(t, ioas, 0x102000, 0x1000); // a hole at 0x101000
    await expectUnchanged(t, async () => {
      expectProblem(await write(t, ioas, 0x100ff0, pattern(0x20)), 'ENOENT', 404);
      expectProblem(await write(t, ioas, 0x100000, pattern(0x3000)), 'ENOENT', 404);
      expectProblem(await t.req('GET', `/v1/ioas/${ioas}/memory?iova=0x100ff8&length=16`), 'ENOENT', 404);
    });
    expect(await read(t, ioas, 0x100000, 0x1000)).toEqual(Buffer.alloc(0x1000));
    expect(await read(t, ioas, 0x102000, 0x1000)).toEqual(Buffer.alloc(0x1000));
  });

  it('guest memory: GUEST_MEMORY_LIMIT counts pages: rewriting allocated pages is free, each new page costs one, and a write past the limit is ENOMEM and changes nothing', async () => {
    const { t, ioas } = await world({ GUEST_MEMORY_LIMIT: String(3 * PAGE) });
    await map(t, ioas, 0x100000, 0x8000);
    must(await write(t, ioas, 0x100ff0, pattern(0x20)), 200); // two pages
    for (let i = 0; i < 4; i++) must(await write(t, ioas, 0x100000, pattern(0x2000, i)), 200); // the same two pages
    await expectUnchanged(t, async () => {
      // The third page fits, the fourth does not: nothing of the write lands.
      expectProblem(await write(t, ioas, 0x101000, pattern(0x3000, 9)), 'ENOMEM', 507);
    });
    expect(await read(t, ioas, 0x100000, 0x2000)).toEqual(pattern(0x2000, 3));
    // An allocated page and the third, new one in one write: only the new one counts.
    must(await write(t, ioas, 0x101000, pattern(0x2000, 5)), 200);
    await expectUnchanged(t, async () => {
      expectProblem(await write(t, ioas, 0x103000, Buffer.from([1])), 'ENOMEM', 507);
      // Allocated pages and a new one in one write: refused as a whole.
      expectProblem(await write(t, ioas, 0x102ff0, pattern(0x20, 11)), 'ENOMEM', 507);
    });
    expect(await read(t, ioas, 0x101000, 0x2000)).toEqual(pattern(0x2000, 5));
    must(await write(t, ioas, 0x100000, pattern(0x3000, 13)), 200); // all three allocated: free
  });

  it('guest memory: unmapping a small range beside many written pages frees exactly its pages, not the first page of the next host range', async () => {
    const { t, ioas } = await world({ GUEST_MEMORY_LIMIT: String(6 * PAGE) });
    const a = await map(t, ioas, 0x100000, 0x1000);
    const b = await map(t, ioas, 0x200000, 0x1000);
    expect(b).toBe(a + 0x1000n); // B's host range starts where A's ends
    await map(t, ioas, 0x400000, 0x4000);
    must(await write(t, ioas, 0x100000, pattern(PAGE)), 200);
    must(await write(t, ioas, 0x200000, pattern(PAGE, 2)), 200);
    must(await write(t, ioas, 0x400000, pattern(0x3000, 3)), 200); // 5 pages of 6
    must(await t.req('DELETE', `/v1/ioas/${ioas}/mappings?iova=0x100000&length=0x1000`), 200);
    expect(await read(t, ioas, 0x200000, PAGE)).toEqual(pattern(PAGE, 2));
    expect(await read(t, ioas, 0x400000, 0x3000)).toEqual(pattern(0x3000, 3));
    // A's page is free again: two new pages fit, a third does not.
    await map(t, ioas, 0x300000, 0x3000);
    must(await write(t, ioas, 0x300000, pattern(0x2000, 4)), 200);
    expectProblem(await write(t, ioas, 0x302000, Buffer.from([1])), 'ENOMEM', 507);
  });

  it('guest memory: unmapping a large range beside few written pages frees exactly its written pages, not the first page of the next host range', async () => {
    const { t, ioas } = await world({ GUEST_MEMORY_LIMIT: String(4 * PAGE) });
    const a = await map(t, ioas, 0x1000000, 0x100000); // 256 pages, 2 of them written
    const b = await map(t, ioas, 0x2000000, 0x1000);
    expect(b).toBe(a + 0x100000n);
    must(await write(t, ioas, 0x1000000, pattern(8)), 200);
    must(await write(t, ioas, 0x10ff000, pattern(PAGE, 3)), 200); // A's last page
    must(await write(t, ioas, 0x2000000, pattern(PAGE, 6)), 200); // B's only page
    must(await t.req('DELETE', `/v1/ioas/${ioas}/mappings?iova=0x1000000&length=0x100000`), 200);
    expect(await read(t, ioas, 0x2000000, PAGE)).toEqual(pattern(PAGE, 6));
    await map(t, ioas, 0x3000000, 0x4000);
    must(await write(t, ioas, 0x3000000, pattern(0x3000, 8)), 200); // A's two pages freed: three fit
    expectProblem(await write(t, ioas, 0x3003000, Buffer.from([1])), 'ENOMEM', 507);
  });
});

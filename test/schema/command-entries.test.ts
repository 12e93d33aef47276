/**
 * src/schema/hardware.ts fastCommandEntries: the allocation-free reading of a JSON invalidation or
 * queue body accepts exactly what `invalidateBody` / `queueCommandsBody` accept, with the same
 * bytes, and hands everything else back (null) so that zod gives the error.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fastCommandEntries, invalidateBody, queueCommandsBody } from '../../src/schema/hardware.js';

/** What the zod schema makes of a body, in the same shape (bytes as the route lays them out). */
function viaZod(body: unknown, withDataType: boolean): { dataType: string; bytes: number[] } | null {
  const parsed = (withDataType ? invalidateBody : queueCommandsBody).safeParse(body);
  if (!parsed.success) return null;
  const entries = parsed.data.entries;
  const buf = new Uint8Array(entries.length * 16);
  const view = new DataView(buf.buffer);
  entries.forEach(([w0, w1], i) => {
    view.setBigUint64(i * 16, w0, true);
    view.setBigUint64(i * 16 + 8, w1, true);
  });
  return { dataType: 'dataType' in parsed.data ? String(parsed.data.dataType) : 'arm_smmuv3', bytes: [...buf] };
}

function viaFast(body: unknown, withDataType: boolean): { dataType: string; bytes: number[] } | null {
  const r = fastCommandEntries(body, withDataType);
  if (!r) return null;
  expect(r.count * 16).toBe(r.buf.length);
  return { dataType: r.dataType, bytes: [...r.buf] };
}

const hexDigit = fc.constantFrom(...'0123456789abcdefABCDEF'.split(''));
const validWord = fc.array(hexDigit, { minLength: 1, maxLength: 16 }).map((d) => `0x${d.join('')}`);
/** Words near the rule's edges: wrong prefix, too long, empty, non-hex, whitespace, full-width digits, newline. */
const hostileWord = fc.oneof(
  validWord,
  fc.constantFrom('0x', '0X1', 'x1', '0x1 ', ' 0x1', '0x1\n', '0x00000000000000000', '0xg', '0x１', '0x-1', '0x+1', '0x1_0', '', '0xffffffffffffffff', '0x0'),
  fc.string({ maxLength: 20 }).map((s) => `0x${s}`),
  fc.string({ maxLength: 20 }),
  fc.integer(),
  fc.constant(null),
);
const entry = (word: fc.Arbitrary<unknown>) => fc.oneof({ weight: 8, arbitrary: fc.tuple(word, word) }, { weight: 1, arbitrary: fc.array(word, { maxLength: 3 }) }, { weight: 1, arbitrary: fc.anything() });

describe('JSON command entries without zod on the hot path', () => {
  it('valid bodies: the same data type and bytes as the zod schema, never handed back', () => {
    fc.assert(
      fc.property(fc.constantFrom('arm_smmuv3', 'vtd_s1'), fc.array(fc.tuple(validWord, validWord), { maxLength: 40 }), (dataType, entries) => {
        const inv = { dataType, entries };
        expect(viaFast(inv, true)).toEqual(viaZod(inv, true));
        expect(viaFast(inv, true)).not.toBeNull();
        const q = { entries };
        expect(viaFast(q, false)).toEqual(viaZod(q, false));
        expect(viaFast(q, false)).not.toBeNull();
      }),
      { numRuns: 300 },
    );
  });

  it('hostile bodies: whatever it accepts, zod accepts with the same bytes; what zod rejects, it hands back', () => {
    const body = fc.oneof(
      fc.record({ dataType: fc.oneof(fc.constantFrom('arm_smmuv3', 'vtd_s1', 'intel_vtd', ''), fc.anything()), entries: fc.array(entry(hostileWord), { maxLength: 6 }) }, { requiredKeys: [] }),
      fc.record({ entries: fc.array(entry(hostileWord), { maxLength: 6 }), extra: fc.anything() }, { requiredKeys: ['entries'] }),
      fc.anything(),
    );
    fc.assert(
      fc.property(body, fc.boolean(), (b, withDataType) => {
        const fast = viaFast(b, withDataType);
        if (fast !== null) expect(fast).toEqual(viaZod(b, withDataType));
        if (viaZod(b, withDataType) === null) expect(fast).toBeNull();
      }),
      { numRuns: 2000 },
    );
  });

  it('the edges: word length 1 and 16, 17 digits, the batch limit, strict keys and plain objects only', () => {
    const max = '0xffffffffffffffff';
    expect(viaFast({ dataType: 'arm_smmuv3', entries: [['0x1', max]] }, true)?.bytes).toEqual([1, 0, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255, 255, 255, 255, 255]);
    expect(viaFast({ dataType: 'arm_smmuv3', entries: [['0x1', '0x10000000000000000']] }, true)).toBeNull();
    expect(viaFast({ dataType: 'arm_smmuv3', entries: [['0x123456789ABCDEF0', '0x0']] }, true)?.bytes.slice(0, 8)).toEqual([0xf0, 0xde, 0xbc, 0x9a, 0x78, 0x56, 0x34, 0x12]);
    const words: [string, string] = ['0x1', '0x2'];
    expect(viaFast({ entries: Array.from({ length: 65536 }, () => words) }, false)?.bytes.length).toBe(65536 * 16);
    expect(viaFast({ entries: Array.from({ length: 65537 }, () => words) }, false)).toBeNull();
    expect(viaZod({ entries: Array.from({ length: 65537 }, () => words) }, false)).toBeNull();
    // queue bodies take no dataType; invalidation bodies need one
    expect(viaFast({ dataType: 'arm_smmuv3', entries: [] }, false)).toBeNull();
    expect(viaFast({ entries: [] }, true)).toBeNull();
    // an inherited key, a null-prototype object and an array are left to zod
    expect(viaFast(Object.assign(Object.create({ extra: 1 }) as object, { entries: [] }), false)).toBeNull();
    expect(viaFast(Object.assign(Object.create(null) as object, { entries: [] }), false)).toBeNull();
    expect(viaFast([], false)).toBeNull();
  });
});

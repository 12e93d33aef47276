/**
 * The graph's secondary indexes (src/domain/indexes.ts, issue 13): whatever sequence of commits
 * applies, an index answers exactly what a scan of its table would, in ascending id order; and a
 * write transaction's view of an index includes its own staged records and excludes the ones it
 * changed or deleted.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ObjectGraph, WriteTx } from '../../src/domain/graph.js';
import { mergeAscending, SortedIds } from '../../src/domain/indexes.js';
import type { DeviceRec } from '../../src/domain/types.js';

const device = (id: number, contextId: number | null, smmuId: number, attachedTo: number | null = null): DeviceRec => ({
  id,
  name: `d${id}`,
  smmuId,
  streamId: id,
  ats: false,
  pasidBits: 0,
  contextId,
  attachedTo,
  pasids: [],
  createdAt: new Date(0),
});

const ids = (it: Iterable<{ id: number }>) => [...it].map((r) => r.id);

describe('indexes', () => {
  it('SortedIds keeps ids ascending and unique; firstAfter is the first id greater than its argument', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 1, max: 60 })), { maxLength: 200 }), fc.integer({ min: 0, max: 61 }), (ops, probe) => {
        const s = new SortedIds();
        const model = new Set<number>();
        for (const [add, id] of ops) {
          if (add) {
            s.add(id);
            model.add(id);
          } else {
            s.delete(id);
            model.delete(id);
          }
        }
        const expected = [...model].sort((a, b) => a - b);
        expect(s.ids).toEqual(expected);
        expect(s.ids[s.firstAfter(probe)]).toBe(expected.find((v) => v > probe));
      }),
    );
  });

  it('SortedIds: ids appended far out of order (a database loaded in another order) read back ascending and unique; add keeps order in place', () => {
    fc.assert(
      fc.property(fc.shuffledSubarray([...Array(600).keys()].map((i) => i + 1), { minLength: 200 }), fc.array(fc.integer({ min: 1, max: 600 }), { maxLength: 50 }), (order, removed) => {
        const s = new SortedIds();
        for (const id of order) s.append(id);
        for (const id of order.slice(0, 20)) s.append(id); // duplicates
        for (const id of removed) s.delete(id);
        const expected = [...new Set(order)].filter((id) => !removed.includes(id)).sort((a, b) => a - b);
        expect(s.ids).toEqual(expected);
        expect(s.size).toBe(expected.length);
        // An update (remove, add back) in the middle keeps the order without a re-sort.
        const mid = expected[Math.floor(expected.length / 2)];
        if (mid !== undefined) {
          s.delete(mid);
          s.add(mid);
          expect(s.ids).toEqual(expected);
        }
      }),
      { numRuns: 50 },
    );
  });

  it('mergeAscending walks the union of sorted lists after a cursor, each id once', () => {
    const a = new SortedIds();
    const b = new SortedIds();
    for (const v of [1, 4, 9, 12]) a.add(v);
    for (const v of [2, 4, 10]) b.add(v);
    expect([...mergeAscending([a, b], 0)]).toEqual([1, 2, 4, 9, 10, 12]);
    expect([...mergeAscending([a, b], 4)]).toEqual([9, 10, 12]);
    expect([...mergeAscending([], 0)]).toEqual([]);
  });

  it('after any sequence of loads and commits, each device index answers what a scan answers, ids ascending', () => {
    const op = fc.record({
      id: fc.integer({ min: 1, max: 40 }),
      del: fc.boolean(),
      ctx: fc.option(fc.integer({ min: 1, max: 4 }), { nil: null }),
      smmu: fc.integer({ min: 1, max: 3 }),
      att: fc.option(fc.integer({ min: 100, max: 102 }), { nil: null }),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 120 }), (ops) => {
        const g = new ObjectGraph();
        for (const o of ops) {
          const tx = new WriteTx(g);
          if (o.del) tx.delete('devices', o.id);
          else tx.put('devices', device(o.id, o.ctx, o.smmu, o.att));
          g.apply(tx.changes());
        }
        const all = [...g.values('devices')].sort((x, y) => x.id - y.id);
        expect(ids(g.indexed('devices', 'all', ''))).toEqual(ids(all));
        for (let c = 1; c <= 4; c++) expect(ids(g.indexed('devices', 'context', c))).toEqual(ids(all.filter((d) => d.contextId === c)));
        expect(ids(g.indexed('devices', 'context', '-'))).toEqual(ids(all.filter((d) => d.contextId === null)));
        for (let s = 1; s <= 3; s++) expect(ids(g.indexed('devices', 'smmu', s))).toEqual(ids(all.filter((d) => d.smmuId === s)));
        for (let h = 100; h <= 102; h++) expect(ids(g.indexed('devices', 'attachedTo', h))).toEqual(ids(all.filter((d) => d.attachedTo === h)));
      }),
    );
  });

  it('a write transaction sees its own staged records in an index, not the ones it moved or deleted; nested transactions too', () => {
    const g = new ObjectGraph();
    for (const d of [device(1, 7, 1), device(2, 7, 1), device(3, 8, 1)]) g.load('devices', d);
    const group = new WriteTx(g);
    const tx = new WriteTx(group);
    tx.put('devices', device(4, 7, 1)); // new, in context 7
    tx.put('devices', device(2, 8, 1)); // moved from 7 to 8
    tx.delete('devices', 1); // gone
    expect(ids(tx.indexed('devices', 'context', 7)).sort()).toEqual([4]);
    expect(ids(tx.indexed('devices', 'context', 8)).sort()).toEqual([2, 3]);
    // The committed graph is unchanged until the group applies.
    expect(ids(g.indexed('devices', 'context', 7))).toEqual([1, 2]);
    tx.mergeInto(group);
    const inner = new WriteTx(group);
    inner.put('devices', device(5, 7, 2));
    expect(ids(inner.indexed('devices', 'context', 7)).sort()).toEqual([4, 5]);
    inner.mergeInto(group);
    g.apply(group.changes());
    expect(ids(g.indexed('devices', 'context', 7))).toEqual([4, 5]);
    expect(ids(g.indexed('devices', 'context', 8))).toEqual([2, 3]);
    expect(ids(g.indexed('devices', 'smmu', 2))).toEqual([5]);
  });

  it('clear empties tables and indexes alike (a reload starts from nothing); tableVersion moves only with commits to that table', () => {
    const g = new ObjectGraph();
    g.load('devices', device(1, 7, 1));
    g.clear();
    expect(ids(g.indexed('devices', 'context', 7))).toEqual([]);
    expect(g.size('devices')).toBe(0);
    const before = g.tableVersion('devices');
    const tx = new WriteTx(g);
    tx.put('contexts', { id: 9, name: 'c', createdAt: new Date(0) });
    g.apply(tx.changes());
    expect(g.tableVersion('devices')).toBe(before);
    expect(g.tableVersion('contexts')).toBe(g.version);
  });
});

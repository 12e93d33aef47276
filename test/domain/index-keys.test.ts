/**
 * The compact forms of the graph (issue 13, rss_100k_mb): id tables kept by number only, indexes
 * keyed by number (an id, or an id and an object type), a key with one record holding the bare id.
 * Whatever the form, a lookup answers what a string-keyed map of the graph keys answered: only the
 * canonical key string names a record ("12", not "012" or "12.0"), and a sequence of commits
 * leaves every index equal to a scan of its table.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ObjectGraph, WriteTx } from '../../src/domain/graph.js';
import { OBJECT_TYPES, type ObjectRec, type ObjectType } from '../../src/domain/types.js';

/** A record of any type with the fields the object indexes read. */
function object(id: number, contextId: number, type: ObjectType, viommuId: number | null, smmuId: number | null): ObjectRec {
  return { id, contextId, type, viommuId, smmuId, createdAt: new Date(0) } as unknown as ObjectRec;
}

const ids = (it: Iterable<{ id: number }>) => [...it].map((r) => r.id);

describe('graph: numeric keys', () => {
  it('an id table answers its canonical key strings and numbers alike, nothing else', () => {
    const g = new ObjectGraph();
    g.load('contexts', { id: 12, name: 'c', createdAt: new Date(0) });
    expect(g.get('contexts', 12)?.name).toBe('c');
    expect(g.get('contexts', '12')?.name).toBe('c');
    for (const k of ['012', '12.0', ' 12', '+12', '0x0c', '']) {
      expect(g.get('contexts', k), k).toBeUndefined();
      expect(g.has('contexts', k), k).toBe(false);
    }
    expect(g.has('contexts', '12')).toBe(true);
    expect([...g.entries('contexts')]).toEqual([['12', g.get('contexts', 12)]]);
    expect(g.tables.contexts.size).toBe(1);
    const tx = new WriteTx(g);
    tx.delete('contexts', 12);
    g.apply(tx.changes());
    expect(g.size('contexts')).toBe(0);
  });

  it('indexes keyed by id, and by id and type, answer canonical keys only', () => {
    const g = new ObjectGraph();
    g.load('objects', object(5, 12, 'viommu', null, 1));
    g.load('objects', object(6, 12, 'vdevice', 5, 1));
    g.load('objects', object(7, 12, 'vdevice', 5, 1));
    expect(ids(g.indexed('objects', 'context', 12))).toEqual([5, 6, 7]);
    expect(ids(g.indexed('objects', 'context', '12'))).toEqual([5, 6, 7]);
    expect(ids(g.indexed('objects', 'context', '012'))).toEqual([]);
    expect(ids(g.indexed('objects', 'contextType', '12:vdevice'))).toEqual([6, 7]);
    expect(ids(g.indexed('objects', 'contextType', '12:viommu'))).toEqual([5]);
    expect(g.indexedList('objects', 'contextType', '12:viommu').map((o) => o.id)).toEqual([5]);
    expect(g.sortedIds('objects', 'contextType', '12:viommu')?.ids).toEqual([5]);
    for (const k of ['012:vdevice', '12:VDEVICE', '12:', ':vdevice', '12', '12:vdevice:x', '12:no_such_type']) {
      expect(ids(g.indexed('objects', 'contextType', k)), k).toEqual([]);
      expect(g.sortedIds('objects', 'contextType', k), k).toBeUndefined();
    }
    expect(ids(g.indexed('objects', 'viommuType', '5:vdevice'))).toEqual([6, 7]);
    expect(ids(g.indexed('objects', 'smmuType', '1:viommu'))).toEqual([5]);
    expect([...g.indexKeys('objects', 'viommu', '5')]).toEqual(['6', '7']);
  });

  it('after any sequence of loads and commits, the object indexes answer what a scan answers (one id or many under a key)', () => {
    const op = fc.record({
      id: fc.integer({ min: 1, max: 30 }),
      del: fc.boolean(),
      ctx: fc.integer({ min: 1, max: 3 }),
      type: fc.constantFrom(...OBJECT_TYPES),
      viommu: fc.option(fc.integer({ min: 100, max: 102 }), { nil: null }),
      smmu: fc.option(fc.integer({ min: 1, max: 2 }), { nil: null }),
      load: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 100 }), (ops) => {
        const g = new ObjectGraph();
        let loading = true;
        for (const o of ops) {
          // A load (records in any order, bulk) first, then commits.
          if (loading && o.load && !o.del && !g.has('objects', String(o.id))) {
            g.load('objects', object(o.id, o.ctx, o.type, o.viommu, o.smmu));
            continue;
          }
          loading = false;
          const tx = new WriteTx(g);
          if (o.del) tx.delete('objects', o.id);
          else tx.put('objects', object(o.id, o.ctx, o.type, o.viommu, o.smmu));
          g.apply(tx.changes());
        }
        const all = [...g.values('objects')].sort((a, b) => a.id - b.id);
        const field = (o: ObjectRec, f: 'viommuId' | 'smmuId') => (o as unknown as Record<string, number | null>)[f];
        expect(ids(g.indexed('objects', 'all', ''))).toEqual(ids(all));
        for (let c = 1; c <= 3; c++) {
          expect(ids(g.indexed('objects', 'context', c))).toEqual(ids(all.filter((o) => o.contextId === c)));
          for (const t of OBJECT_TYPES) expect(ids(g.indexed('objects', 'contextType', `${c}:${t}`))).toEqual(ids(all.filter((o) => o.contextId === c && o.type === t)));
        }
        for (let v = 100; v <= 102; v++) {
          expect(ids(g.indexed('objects', 'viommu', v))).toEqual(ids(all.filter((o) => field(o, 'viommuId') === v)));
          for (const t of OBJECT_TYPES) expect(ids(g.indexed('objects', 'viommuType', `${v}:${t}`))).toEqual(ids(all.filter((o) => field(o, 'viommuId') === v && o.type === t)));
        }
        for (let s = 1; s <= 2; s++) expect(g.sortedIds('objects', 'smmu', s)?.ids ?? []).toEqual(ids(all.filter((o) => field(o, 'smmuId') === s)));
        for (const t of OBJECT_TYPES) expect(g.sortedIds('objects', 'type', t)?.size ?? 0).toBe(all.filter((o) => o.type === t).length);
      }),
      { numRuns: 200 },
    );
  });
});

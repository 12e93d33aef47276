/**
 * The host memory model's ranges (src/domain/memory.ts HostMemory) are kept by the graph as
 * mappings load and commits apply (ObjectGraph.observe; issue 13: a map or an unmap moves one
 * range, never a sort of every mapping of the host): whatever the sequence, `backed(pa)` answers
 * what a look at every mapping answers.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ObjectGraph, WriteTx } from '../../src/domain/graph.js';
import { HostMemory } from '../../src/domain/memory.js';
import type { MappingRec } from '../../src/domain/types.js';

const PAGE = 0x1000n;
const mapping = (ioasId: number, slot: number, pages: number): MappingRec => ({
  ioasId,
  iova: BigInt(slot) * 0x100000n,
  length: BigInt(pages) * PAGE,
  // Host ranges as the bump allocator hands them out: ascending with the slot, never overlapping.
  hostAddress: 0x1_0000_0000n + BigInt(slot) * 0x100000n,
  readable: true,
  writable: true,
});

const scan = (g: ObjectGraph, pa: bigint) => [...g.values('mappings')].some((m) => m.hostAddress <= pa && pa < m.hostAddress + m.length);

describe('host memory', () => {
  it('host memory: after any loads (in any order), maps and unmaps, backed(pa) is what a scan of the mappings answers', () => {
    const op = fc.record({ slot: fc.integer({ min: 0, max: 40 }), del: fc.boolean(), pages: fc.integer({ min: 1, max: 4 }) });
    fc.assert(
      fc.property(fc.shuffledSubarray([...Array(30).keys()]), fc.array(op, { maxLength: 80 }), fc.array(fc.tuple(fc.integer({ min: 0, max: 41 }), fc.integer({ min: 0, max: 5 })), { maxLength: 30 }), (loaded, ops, probes) => {
        const g = new ObjectGraph();
        for (const slot of loaded) g.load('mappings', mapping(1, slot, 2));
        const memory = new HostMemory(g);
        for (const o of ops) {
          const tx = new WriteTx(g);
          const m = mapping(1, o.slot, o.pages);
          if (o.del) tx.delete('mappings', `${m.ioasId}:${m.iova}`);
          else tx.put('mappings', m);
          g.apply(tx.changes());
        }
        for (const [slot, page] of probes) {
          const pa = 0x1_0000_0000n + BigInt(slot) * 0x100000n + BigInt(page) * PAGE - (page === 5 ? 1n : 0n);
          expect(memory.backed(pa)).toBe(scan(g, pa));
        }
      }),
      { numRuns: 150 },
    );
  });

  it('host memory: a reload (clear, then load) starts from the loaded mappings only', () => {
    const g = new ObjectGraph();
    g.load('mappings', mapping(1, 3, 1));
    const memory = new HostMemory(g);
    expect(memory.backed(0x1_0030_0000n)).toBe(true);
    g.clear();
    g.load('mappings', mapping(1, 5, 1));
    expect(memory.backed(0x1_0030_0000n)).toBe(false);
    expect(memory.backed(0x1_0050_0000n)).toBe(true);
  });
});

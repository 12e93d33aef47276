/**
 * What a VCMDQ PROD write commits (issue 13, vcmdq_vs_invalidate): the queue's registers and each
 * page of queue memory whose bytes the guest's commands change — and that this is enough: guest
 * memory and the registers read back the same after a restart, across a ring wrap and a page
 * boundary, and one queue's commands never show through in another's run (the consumer's ring
 * copy is reused between runs).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { StagedChange } from '../../src/domain/graph.js';
import { buildViommu, must, startApp, type TestApp } from '../helper.js';
import { A, commands, hex } from './commands.js';

const OCTET = { 'content-type': 'application/octet-stream' };

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

async function setup() {
  t = await startApp();
  const g = await buildViommu(t, { device: 'nic1', type: 'tegra241_cmdqv' });
  must(await t.req('POST', `/v1/ioas/${g.ioas}/mappings`, { iova: hex(A), length: '0x10000' }), 201);
  return { t, g };
}

/** The staged changes of every commit while `fn` runs. */
async function commitsOf(app: TestApp, fn: () => Promise<unknown>): Promise<StagedChange[][]> {
  const repo = app.repository;
  const commit = repo.commit.bind(repo);
  const seen: StagedChange[][] = [];
  repo.commit = async (changes) => {
    seen.push([...changes]);
    return commit(changes);
  };
  try {
    await fn();
  } finally {
    repo.commit = commit;
  }
  return seen;
}

async function memory(app: TestApp, ioas: number, iova: number, length: number): Promise<Buffer> {
  const res = await app.app.inject({ method: 'GET', url: `/v1/ioas/${ioas}/memory?iova=${hex(iova)}&length=${length}` });
  expect(res.statusCode).toBe(200);
  return res.rawPayload;
}

describe('VCMDQ PROD write: what is committed', () => {
  it('a PROD write commits the queue record and the queue pages its commands change; refilling the ring with the bytes it holds commits no page', async () => {
    const { t, g } = await setup();
    const q = must(await t.req('POST', '/v1/hw-queues', { viommuId: g.viommu, type: 'tegra241_cmdqv', index: 0, nestingParentIova: hex(A), length: '0x1000' }), 201);
    must(await t.req('PATCH', `/v1/hw-queues/${q.id}`, { enabled: true }), 200);
    const batch = commands(256, 1);
    const first = await commitsOf(t, async () => expect(must(await t.req('POST', `/v1/hw-queues/${q.id}/commands`, batch, OCTET), 200)).toEqual({ consumed: 256, prod: 256, cons: 256, error: null }));
    const tables = (commits: StagedChange[][]) => commits.flat().map((c) => `${c.table}:${c.key}`).sort();
    expect(tables(first)).toContain(`objects:${q.id}`);
    expect(tables(first).filter((k) => k.startsWith('pages:'))).toHaveLength(1);
    // The same 256 commands again: the ring's one page already holds them, so only the registers change.
    const again = await commitsOf(t, async () => expect(must(await t.req('POST', `/v1/hw-queues/${q.id}/commands`, batch, OCTET), 200)).toEqual({ consumed: 256, prod: 0, cons: 0, error: null }));
    expect(tables(again).filter((k) => k.startsWith('pages:'))).toEqual([]);
    expect(tables(again)).toContain(`objects:${q.id}`);
    // Different commands: the page is committed again, with them.
    const other = commands(256, 1, 7);
    const third = await commitsOf(t, async () => must(await t.req('POST', `/v1/hw-queues/${q.id}/commands`, other, OCTET), 200));
    expect(tables(third).filter((k) => k.startsWith('pages:'))).toHaveLength(1);
    expect(await memory(t, g.ioas, A, 4096)).toEqual(other);
  });

  it('guest memory and registers survive a restart after writes that wrap the ring and cross a page boundary', async () => {
    const { g } = await setup();
    let app = t!;
    // 512 entries = 8 KiB: two pages; enabled, so each write is consumed at once.
    const q = must(await app.req('POST', '/v1/hw-queues', { viommuId: g.viommu, type: 'tegra241_cmdqv', index: 0, nestingParentIova: hex(A), length: '0x2000' }), 201);
    must(await app.req('PATCH', `/v1/hw-queues/${q.id}`, { enabled: true }), 200);
    const expected = Buffer.alloc(0x2000);
    let prod = 0;
    // 200, 200 (crosses the page boundary at slot 256), 200 (wraps at slot 512), 100.
    for (const [n, salt] of [[200, 0], [200, 1000], [200, 2000], [100, 3000]] as const) {
      const batch = commands(n, 2, salt);
      const out = must(await app.req('POST', `/v1/hw-queues/${q.id}/commands`, batch, OCTET), 200);
      for (let i = 0; i < n; i++) batch.copy(expected, ((prod + i) % 512) * 16, i * 16, i * 16 + 16);
      prod = (prod + n) % 1024;
      expect(out).toEqual({ consumed: n, prod, cons: prod, error: null });
    }
    expect(await memory(app, g.ioas, A, 0x2000)).toEqual(expected);
    app = await app.restart();
    t = app;
    expect(must(await app.req('GET', `/v1/hw-queues/${q.id}`), 200)).toMatchObject({ prod, cons: prod, enabled: true });
    expect(await memory(app, g.ioas, A, 0x2000)).toEqual(expected);
  });

  it("one queue's commands never show through in another queue's run of the same length", async () => {
    const { t, g } = await setup();
    const q0 = must(await t.req('POST', '/v1/hw-queues', { viommuId: g.viommu, type: 'tegra241_cmdqv', index: 0, nestingParentIova: hex(A), length: '0x100' }), 201);
    const q1 = must(await t.req('POST', '/v1/hw-queues', { viommuId: g.viommu, type: 'tegra241_cmdqv', index: 1, nestingParentIova: hex(A + 0x1000), length: '0x100' }), 201);
    must(await t.req('PATCH', `/v1/hw-queues/${q0.id}`, { enabled: true }), 200);
    // q0: 16 entries, a full ring of TLBI_NH_VA (ASID 3) ending in a CMD_SYNC.
    must(await t.req('POST', `/v1/hw-queues/${q0.id}/commands`, commands(16, 3), OCTET), 200);
    // q1: two CMD_SYNCs written while disabled, then enabled: its run reads its own memory only
    // (slots 2..15 never written: zero), and consumes exactly its two commands.
    const syncs = Buffer.alloc(32);
    syncs.writeUInt32LE(0x46, 0);
    syncs.writeUInt32LE(0x46, 16);
    must(await t.req('POST', `/v1/hw-queues/${q1.id}/commands`, syncs, OCTET), 200);
    const run = must(await t.req('PATCH', `/v1/hw-queues/${q1.id}`, { enabled: true }), 200);
    expect(run.run).toEqual({ consumed: 2, prod: 2, cons: 2, error: null });
    const state = must(await t.req('GET', '/v1/smmus/6/state?commands=2'), 200);
    expect(state.recentCommands).toEqual([
      ['0x0000000000000046', '0x0000000000000000'],
      ['0x0000000000000046', '0x0000000000000000'],
    ]);
    expect(await memory(t, g.ioas, A + 0x1000, 0x100)).toEqual(Buffer.concat([syncs, Buffer.alloc(0x100 - 32)]));
  });
});

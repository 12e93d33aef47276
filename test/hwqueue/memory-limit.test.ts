/**
 * GUEST_MEMORY_LIMIT on the VCMDQ path (src/domain/hwqueue.ts writeCommands → memory.ts
 * writeHost): the guest's commands land in its queue memory, a page allocated on first write; a
 * PROD write that needs a page past the limit is ENOMEM (507) and changes nothing — not the
 * registers, not guest memory — while rewriting a page already allocated costs nothing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { buildViommu, expectProblem, expectUnchanged, must, startApp, type TestApp } from '../helper.js';
import { A, commands, hex } from './commands.js';

const OCTET = { 'content-type': 'application/octet-stream' };
let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe('VCMDQ PROD write and GUEST_MEMORY_LIMIT', () => {
  it('vcmdq memory limit: the one allowed page takes a ring of commands and takes them again; another queue\'s ring needing a second page is ENOMEM and changes nothing', async () => {
    t = await startApp({ env: { GUEST_MEMORY_LIMIT: String(4096) } });
    const app = t;
    const g = await buildViommu(app, { device: 'nic1', type: 'tegra241_cmdqv' });
    must(await app.req('POST', `/v1/ioas/${g.ioas}/mappings`, { iova: hex(A), length: '0x10000' }), 201);
    const memory = async (iova: number, length: number) => (await app.app.inject({ method: 'GET', url: `/v1/ioas/${g.ioas}/memory?iova=${hex(iova)}&length=${length}` })).rawPayload;
    // Queue 0: 256 entries = one page of queue memory, the whole limit.
    const q0 = must(await app.req('POST', '/v1/hw-queues', { viommuId: g.viommu, type: 'tegra241_cmdqv', index: 0, nestingParentIova: hex(A), length: '0x1000' }), 201);
    must(await app.req('PATCH', `/v1/hw-queues/${q0.id}`, { enabled: true }), 200);
    expect(must(await app.req('POST', `/v1/hw-queues/${q0.id}/commands`, commands(256, 1), OCTET), 200)).toMatchObject({ consumed: 256, error: null });
    // The same slots again with other commands: the page exists, so nothing more is allocated.
    const again = commands(256, 1, 9);
    expect(must(await app.req('POST', `/v1/hw-queues/${q0.id}/commands`, again, OCTET), 200)).toMatchObject({ consumed: 256, error: null });
    expect(await memory(A, 4096)).toEqual(again);
    // Queue 1's ring is the next page: its first command needs a page past the limit.
    const q1 = must(await app.req('POST', '/v1/hw-queues', { viommuId: g.viommu, type: 'tegra241_cmdqv', index: 1, nestingParentIova: hex(A + 0x1000), length: '0x1000' }), 201);
    await expectUnchanged(app, async () => {
      const res = await app.req('POST', `/v1/hw-queues/${q1.id}/commands`, commands(2, 1, 3), OCTET);
      expectProblem(res, 'ENOMEM', 507);
      expect(res.body.detail).toMatch(/limited to 4096 bytes/);
    });
    expect(await memory(A + 0x1000, 32)).toEqual(Buffer.alloc(32));
  });
});

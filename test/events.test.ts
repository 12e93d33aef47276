/**
 * vEVENTQ (iommufd.md §2.7, scenarios 53–60 adapted to ARM SMMUv3), its SSE stream and GraphQL
 * subscription, durability across a restart, and guest memory through the IOAS.
 */
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { buildViommu, expectProblem, expectUnchanged, must, startApp, type TestApp } from './helper.js';
import { systemScope } from '../src/domain/write-scope.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const record = (vsid: number, addr: number) => [`0x${vsid.toString(16).padStart(8, '0')}00000010`, '0x0', `0x${addr.toString(16)}`, '0x0'];

async function setup() {
  t = await startApp();
  const g = await buildViommu(t);
  return { t, g };
}

describe('vEVENTQ allocation (§2.7)', () => {
  it('veventq: type default is EOPNOTSUPP, depth 0 is EINVAL, a missing vIOMMU is ENOENT — in that order', async () => {
    const { t, g } = await setup();
    await expectUnchanged(t, async () => {
      expectProblem(await t.req('POST', '/v1/eventqs', { viommuId: 999999, type: 'default', depth: 0 }), 'EOPNOTSUPP', 422);
      expectProblem(await t.req('POST', '/v1/eventqs', { viommuId: 999999, type: 'arm_smmuv3', depth: 0 }), 'EINVAL', 400);
      expectProblem(await t.req('POST', '/v1/eventqs', { viommuId: 999999, type: 'arm_smmuv3', depth: 2 }), 'ENOENT', 404);
      expectProblem(await t.req('POST', '/v1/eventqs', { viommuId: g.ioas, type: 'arm_smmuv3', depth: 2 }), 'ENOENT', 404);
    });
  });

  it('veventq: a second vEVENTQ of the same type on one vIOMMU is EEXIST (scenario 53); another type is fine', async () => {
    const { t, g } = await setup();
    const q = must(await t.req('POST', '/v1/eventqs', { viommuId: g.viommu, type: 'arm_smmuv3', depth: 2 }), 201);
    expect(q).toMatchObject({ type: 'veventq', viommuId: g.viommu, eventqType: 'arm_smmuv3', depth: 2, pending: 0, nextSequence: 0 });
    await expectUnchanged(t, async () => {
      expectProblem(await t.req('POST', '/v1/eventqs', { viommuId: g.viommu, type: 'arm_smmuv3', depth: 8 }), 'EEXIST', 409);
    });
    must(await t.req('POST', '/v1/eventqs', { viommuId: g.viommu, type: 'tegra241_cmdqv', depth: 1 }), 201);
  });

  it('veventq: the vIOMMU is EBUSY while a vEVENTQ exists; destroying the vEVENTQ first works (scenario 60)', async () => {
    const { t, g } = await setup();
    const q = must(await t.req('POST', '/v1/eventqs', { viommuId: g.viommu, type: 'arm_smmuv3', depth: 2 }), 201);
    const busy = await t.req('DELETE', `/v1/objects/${g.viommu}`);
    expectProblem(busy, 'EBUSY', 409);
    expect(busy.body.blockedBy).toEqual([q.id]);
    must(await t.req('DELETE', `/v1/objects/${q.id}`), 204);
    must(await t.req('DELETE', `/v1/objects/${g.viommu}`), 204);
  });
});

describe('vEVENTQ delivery (§2.7 sequence rules)', () => {
  it('veventq: sequence numbers start at 0; overflow at depth 2 keeps two records and one trailing LOST_EVENTS marker (scenarios 55, 58)', async () => {
    const { t, g } = await setup();
    const q = must(await t.req('POST', '/v1/eventqs', { viommuId: g.viommu, type: 'arm_smmuv3', depth: 2 }), 201);
    must(await t.req('POST', `/v1/viommus/${g.viommu}/events`, { type: 'arm_smmuv3', record: record(0x99, 0x1000) }), 201);
    const first = must(await t.req('POST', `/v1/eventqs/${q.id}/read`, {}), 200).records;
    expect(first).toHaveLength(1);
    expect(first[0]).toMatchObject({ sequence: 0, flags: 0, lostEvents: false });
    expect(first[0].decoded).toMatchObject({ name: 'F_TRANSLATION', fields: { SID: 0x99 } });
    for (let i = 0; i < 3; i++) must(await t.req('POST', `/v1/viommus/${g.viommu}/events`, { type: 'arm_smmuv3', record: record(0x88, 0x2000 + i) }), 201);
    expect((await t.req('GET', `/v1/eventqs/${q.id}`)).body).toMatchObject({ pending: 3, nextSequence: 4 });
    const overflow = must(await t.req('POST', `/v1/eventqs/${q.id}/read`, { max: 10 }), 200).records;
    expect(overflow.map((r: { sequence: number; flags: number }) => [r.sequence, r.flags])).toEqual([
      [1, 0],
      [2, 0],
      [3, 1],
    ]);
    expect(overflow[2]).toMatchObject({ lostEvents: true, record: [] });
    // Scenario 59: the next event follows the marker with delta 1, the marker is gone.
    must(await t.req('POST', `/v1/viommus/${g.viommu}/events`, { type: 'arm_smmuv3', record: record(0x88, 0x3000) }), 201);
    const next = must(await t.req('POST', `/v1/eventqs/${q.id}/read`, {}), 200).records;
    expect(next.map((r: { sequence: number; flags: number }) => [r.sequence, r.flags])).toEqual([[4, 0]]);
  });

  it('veventq: consecutive drops renumber the single marker, which stays last', async () => {
    const { t, g } = await setup();
    const q = must(await t.req('POST', '/v1/eventqs', { viommuId: g.viommu, type: 'arm_smmuv3', depth: 1 }), 201);
    for (let i = 0; i < 4; i++) must(await t.req('POST', `/v1/viommus/${g.viommu}/events`, { type: 'arm_smmuv3', record: record(1, i) }), 201);
    const items = must(await t.req('POST', `/v1/eventqs/${q.id}/read`, { max: 10 }), 200).records;
    expect(items.map((r: { sequence: number; flags: number }) => [r.sequence, r.flags])).toEqual([
      [0, 0],
      [3, 1],
    ]);
  });

  it('veventq: after a partial read a new event removes the trailing LOST_EVENTS marker first (iommufd_vevent_handler): the marker never sits in the middle', async () => {
    const { t, g } = await setup();
    const q = must(await t.req('POST', '/v1/eventqs', { viommuId: g.viommu, type: 'arm_smmuv3', depth: 2 }), 201);
    for (let i = 0; i < 3; i++) must(await t.req('POST', `/v1/viommus/${g.viommu}/events`, { type: 'arm_smmuv3', record: record(1, i) }), 201);
    // [e0, e1, marker(2)]: read e0 only, then a new event fits (one real event pending).
    expect(must(await t.req('POST', `/v1/eventqs/${q.id}/read`, { max: 1 }), 200).records.map((r: { sequence: number }) => r.sequence)).toEqual([0]);
    must(await t.req('POST', `/v1/viommus/${g.viommu}/events`, { type: 'arm_smmuv3', record: record(1, 9) }), 201);
    const rest = must(await t.req('POST', `/v1/eventqs/${q.id}/read`, { max: 10 }), 200).records;
    // The marker is gone; the gap from 1 to 3 says one event was lost.
    expect(rest.map((r: { sequence: number; flags: number }) => [r.sequence, r.flags])).toEqual([
      [1, 0],
      [3, 0],
    ]);
  });

  it('veventq: the depth is any non-zero u32, as iommufd_veventq_alloc takes it (QEMU asks for 1 << 19); it survives a restart', async () => {
    const { t, g } = await setup();
    const q = must(await t.req('POST', '/v1/eventqs', { viommuId: g.viommu, type: 'arm_smmuv3', depth: 1 << 19 }), 201);
    expect(q.depth).toBe(524288);
    const big = must(await t.req('POST', '/v1/eventqs', { viommuId: g.viommu, type: 'tegra241_cmdqv', depth: 0xffffffff }), 201);
    expect(big.depth).toBe(0xffffffff);
    const t2 = await t.restart();
    try {
      expect(must(await t2.req('GET', `/v1/eventqs/${big.id}`), 200).depth).toBe(0xffffffff);
      expect(must(await t2.req('GET', `/v1/eventqs/${q.id}`), 200).depth).toBe(524288);
      await expectUnchanged(t2, async () => {
        expectProblem(await t2.req('POST', '/v1/eventqs', { viommuId: g.viommu, type: 'arm_smmuv3', depth: 2 ** 32 }), 'EINVAL', 400);
      });
    } finally {
      await t2.close();
    }
  });

  it('veventq: read takes at most max records, in order, and leaves the rest queued', async () => {
    const { t, g } = await setup();
    const q = must(await t.req('POST', '/v1/eventqs', { viommuId: g.viommu, type: 'arm_smmuv3', depth: 8 }), 201);
    for (let i = 0; i < 5; i++) must(await t.req('POST', `/v1/viommus/${g.viommu}/events`, { type: 'arm_smmuv3', record: record(1, i) }), 201);
    expect(must(await t.req('POST', `/v1/eventqs/${q.id}/read`, { max: 2 }), 200).records.map((r: { sequence: number }) => r.sequence)).toEqual([0, 1]);
    expect(must(await t.req('POST', `/v1/eventqs/${q.id}/read`, { max: 10 }), 200).records.map((r: { sequence: number }) => r.sequence)).toEqual([2, 3, 4]);
  });

  it('veventq: sequence numbers wrap from INT_MAX to 0', async () => {
    const { t, g } = await setup();
    const q = must(await t.req('POST', '/v1/eventqs', { viommuId: g.viommu, type: 'arm_smmuv3', depth: 8 }), 201);
    // Put the counter just below the wrap (through the same write path a restart would load).
    await t.service.store.write((tx) => {
      tx.put('objects', { ...tx.get('objects', q.id)!, nextSequence: 0x7ffffffe });
    }, systemScope('test: counter near the wrap'));
    for (let i = 0; i < 3; i++) must(await t.req('POST', `/v1/viommus/${g.viommu}/events`, { type: 'arm_smmuv3', record: record(1, i) }), 201);
    const items = must(await t.req('POST', `/v1/eventqs/${q.id}/read`, { max: 10 }), 200).records;
    expect(items.map((r: { sequence: number }) => r.sequence)).toEqual([0x7ffffffe, 0x7fffffff, 0]);
  });

  it('veventq: injection without a vEVENTQ of that type is EOPNOTSUPP (the kernel drops the event) and a wrong record size is EINVAL', async () => {
    const { t, g } = await setup();
    await expectUnchanged(t, async () => {
      expectProblem(await t.req('POST', `/v1/viommus/${g.viommu}/events`, { type: 'arm_smmuv3', record: record(1, 0) }), 'EOPNOTSUPP', 422);
      must(await t.req('GET', `/v1/viommus/${g.viommu}`), 200);
    });
    must(await t.req('POST', '/v1/eventqs', { viommuId: g.viommu, type: 'arm_smmuv3', depth: 8 }), 201);
    await expectUnchanged(t, async () => {
      expectProblem(await t.req('POST', `/v1/viommus/${g.viommu}/events`, { type: 'arm_smmuv3', record: ['0x1', '0x2'] }), 'EINVAL', 400);
    });
  });

  it('veventq: acknowledged events and the sequence counter survive a restart', async () => {
    const { g } = await setup();
    const q = must(await t!.req('POST', '/v1/eventqs', { viommuId: g.viommu, type: 'arm_smmuv3', depth: 2 }), 201);
    for (let i = 0; i < 3; i++) must(await t!.req('POST', `/v1/viommus/${g.viommu}/events`, { type: 'arm_smmuv3', record: record(7, i) }), 201);
    t = await t!.restart();
    const items = must(await t.req('POST', `/v1/eventqs/${q.id}/read`, { max: 10 }), 200).records;
    expect(items.map((r: { sequence: number; flags: number }) => [r.sequence, r.flags])).toEqual([
      [0, 0],
      [1, 0],
      [2, 1],
    ]);
    expect(items[0].record).toEqual(['0x0000000700000010', '0x0000000000000000', '0x0000000000000000', '0x0000000000000000']);
    must(await t.req('POST', `/v1/viommus/${g.viommu}/events`, { type: 'arm_smmuv3', record: record(7, 9) }), 201);
    expect(must(await t.req('POST', `/v1/eventqs/${q.id}/read`, {}), 200).records[0].sequence).toBe(3);
  });
});

describe('vEVENTQ streaming', () => {
  it('stream: Server-Sent Events replay the queued records after Last-Event-ID, then deliver new ones', async () => {
    const { t, g } = await setup();
    const q = must(await t.req('POST', '/v1/eventqs', { viommuId: g.viommu, type: 'arm_smmuv3', depth: 8 }), 201);
    for (let i = 0; i < 3; i++) must(await t.req('POST', `/v1/viommus/${g.viommu}/events`, { type: 'arm_smmuv3', record: record(5, i) }), 201);
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const port = (t.app.server.address() as { port: number }).port;
    const controller = new AbortController();
    const res = await fetch(`http://127.0.0.1:${port}/v1/eventqs/${q.id}/stream`, { headers: { 'last-event-id': '1' }, signal: controller.signal });
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const reader = res.body!.getReader();
    let text = '';
    const until = async (pred: () => boolean) => {
      while (!pred()) text += new TextDecoder().decode((await reader.read()).value);
    };
    await until(() => (text.match(/^id: /gm) ?? []).length >= 2);
    must(await t.req('POST', `/v1/viommus/${g.viommu}/events`, { type: 'arm_smmuv3', record: record(5, 9) }), 201);
    await until(() => (text.match(/^id: /gm) ?? []).length >= 3);
    controller.abort();
    const ids = [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    expect(ids).toEqual([2, 3, 4]);
    const datas = [...text.matchAll(/^data: (.*)$/gm)].map((m) => JSON.parse(m[1]));
    expect(datas.map((d) => d.sequence)).toEqual([1, 2, 3]);
  });

  /** Opens the SSE stream of `eventqId` on a listening app; `text()` is what arrived so far, `ended` resolves when the server ends it. */
  async function openStream(app: TestApp, eventqId: number) {
    await app.app.listen({ port: 0, host: '127.0.0.1' });
    const port = (app.app.server.address() as { port: number }).port;
    const controller = new AbortController();
    const res = await fetch(`http://127.0.0.1:${port}/v1/eventqs/${eventqId}/stream`, { signal: controller.signal });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let text = '';
    const ended = (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return text;
        text += new TextDecoder().decode(value);
      }
    })().catch(() => text);
    const until = async (pred: () => boolean) => {
      for (let i = 0; i < 500 && !pred(); i++) await new Promise((r) => setTimeout(r, 10));
      expect(pred(), text).toBe(true);
    };
    return { text: () => text, ended, until, abort: () => controller.abort() };
  }

  it('stream: destroying the vEVENTQ ends its stream with a last `event: destroyed`', async () => {
    const { t, g } = await setup();
    const q = must(await t.req('POST', '/v1/eventqs', { viommuId: g.viommu, type: 'arm_smmuv3', depth: 8 }), 201);
    const s = await openStream(t, q.id);
    must(await t.req('POST', `/v1/viommus/${g.viommu}/events`, { type: 'arm_smmuv3', record: record(5, 1) }), 201);
    await s.until(() => /^event: vevent$/m.test(s.text()));
    must(await t.req('DELETE', `/v1/objects/${q.id}`), 204);
    const all = await Promise.race([s.ended, new Promise<string>((_, reject) => setTimeout(() => reject(new Error('the stream did not end')), 5000))]);
    expect(all).toMatch(new RegExp(`event: destroyed\ndata: \\{"eventqId":${q.id}\\}\n\n$`));
    expect(all.indexOf('event: vevent')).toBeLessThan(all.indexOf('event: destroyed'));
  });

  it('stream: closing the context that holds the vEVENTQ also ends its stream with `event: destroyed`', async () => {
    const { t, g } = await setup();
    const q = must(await t.req('POST', '/v1/eventqs', { viommuId: g.viommu, type: 'arm_smmuv3', depth: 8 }), 201);
    const s = await openStream(t, q.id);
    await s.until(() => s.text().length > 0);
    must(await t.req('DELETE', `/v1/contexts/${g.ctx}`), 200);
    const all = await Promise.race([s.ended, new Promise<string>((_, reject) => setTimeout(() => reject(new Error('the stream did not end')), 5000))]);
    expect(all).toMatch(/event: destroyed\n/);
  });

  it('stream: an idle stream carries a heartbeat comment every SSE_HEARTBEAT_MS', async () => {
    t = await startApp({ env: { SSE_HEARTBEAT_MS: '50' } });
    const g = await buildViommu(t);
    const q = must(await t.req('POST', '/v1/eventqs', { viommuId: g.viommu, type: 'arm_smmuv3', depth: 8 }), 201);
    const s = await openStream(t, q.id);
    await s.until(() => (s.text().match(/^: heartbeat$/gm) ?? []).length >= 3);
    expect(s.text()).not.toMatch(/^event:/m);
    s.abort();
  });

  it('subscription: GraphQL vevents(eventqId) delivers the same records over WebSocket', async () => {
    const { t, g } = await setup();
    const q = must(await t.req('POST', '/v1/eventqs', { viommuId: g.viommu, type: 'arm_smmuv3', depth: 8 }), 201);
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const port = (t.app.server.address() as { port: number }).port;
    const ws = new WebSocket(`ws://127.0.0.1:${port}/graphql`, 'graphql-transport-ws');
    const messages: any[] = [];
    ws.on('message', (m) => messages.push(JSON.parse(String(m))));
    await new Promise((resolve) => ws.on('open', resolve));
    ws.send(JSON.stringify({ type: 'connection_init' }));
    const waitFor = async (pred: () => boolean) => {
      for (let i = 0; i < 200 && !pred(); i++) await new Promise((r) => setTimeout(r, 10));
      expect(pred()).toBe(true);
    };
    await waitFor(() => messages.some((m) => m.type === 'connection_ack'));
    ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: `subscription { vevents(eventqId: ${q.id}) { eventqId sequence flags lostEvents record } }` } }));
    await new Promise((r) => setTimeout(r, 100));
    must(await t.req('POST', `/v1/viommus/${g.viommu}/events`, { type: 'arm_smmuv3', record: record(0x42, 0x5000) }), 201);
    await waitFor(() => messages.some((m) => m.type === 'next'));
    const next = messages.find((m) => m.type === 'next');
    expect(next.payload.data.vevents).toEqual({
      eventqId: String(q.id),
      sequence: 0,
      flags: 0,
      lostEvents: false,
      record: ['0x0000004200000010', '0x0000000000000000', '0x0000000000005000', '0x0000000000000000'],
    });
    ws.close();
  });
});

describe('guest memory through the IOAS', () => {
  it('memory: writes land in simulated host memory and read back; unwritten bytes read as zero', async () => {
    const { t, g } = await setup();
    must(await t.req('POST', `/v1/ioas/${g.ioas}/mappings`, { iova: '0x100000', length: '0x2000' }), 201);
    must(await t.req('POST', `/v1/ioas/${g.ioas}/mappings`, { iova: '0x102000', length: '0x1000' }), 201);
    const data = Buffer.from(Array.from({ length: 64 }, (_, i) => i + 1));
    // Across a page boundary and across two adjacent mappings.
    must(await t.req('PUT', `/v1/ioas/${g.ioas}/memory?iova=0x101fe0&length=64`, data, { 'content-type': 'application/octet-stream' }), 200);
    const back = await t.app.inject({ method: 'GET', url: `/v1/ioas/${g.ioas}/memory?iova=0x101fd0&length=96` });
    expect(back.headers['content-type']).toBe('application/octet-stream');
    expect(back.rawPayload.subarray(0, 16)).toEqual(Buffer.alloc(16));
    expect(back.rawPayload.subarray(16, 80)).toEqual(data);
    expect(back.rawPayload.subarray(80)).toEqual(Buffer.alloc(16));
  });

  it('memory: an unmapped or partly mapped range is ENOENT and writes nothing; a size mismatch is EINVAL', async () => {
    const { t, g } = await setup();
    must(await t.req('POST', `/v1/ioas/${g.ioas}/mappings`, { iova: '0x100000', length: '0x1000' }), 201);
    await expectUnchanged(t, async () => {
      expectProblem(await t.req('PUT', `/v1/ioas/${g.ioas}/memory?iova=0x100ff0&length=32`, Buffer.alloc(32, 1), { 'content-type': 'application/octet-stream' }), 'ENOENT', 404);
      expectProblem(await t.req('GET', `/v1/ioas/${g.ioas}/memory?iova=0x200000&length=16`), 'ENOENT', 404);
      expectProblem(await t.req('PUT', `/v1/ioas/${g.ioas}/memory?iova=0x100000&length=32`, Buffer.alloc(16, 1), { 'content-type': 'application/octet-stream' }), 'EINVAL', 400);
      expectProblem(await t.req('PUT', `/v1/ioas/${g.viommu}/memory?iova=0x100000&length=16`, Buffer.alloc(16, 1), { 'content-type': 'application/octet-stream' }), 'ENOENT', 404);
    });
    const back = await t.app.inject({ method: 'GET', url: `/v1/ioas/${g.ioas}/memory?iova=0x100ff0&length=16` });
    expect(back.rawPayload).toEqual(Buffer.alloc(16));
  });

  it('memory: allocation beyond GUEST_MEMORY_LIMIT is ENOMEM and allocates nothing; memory survives a restart; unmapping frees it', async () => {
    t = await startApp({ env: { GUEST_MEMORY_LIMIT: String(2 * 4096) } });
    const g = await buildViommu(t);
    must(await t.req('POST', `/v1/ioas/${g.ioas}/mappings`, { iova: '0x100000', length: '0x4000' }), 201);
    must(await t.req('PUT', `/v1/ioas/${g.ioas}/memory?iova=0x100000&length=8`, Buffer.from('01234567'), { 'content-type': 'application/octet-stream' }), 200);
    await expectUnchanged(t!, async () => {
      const res = await t!.req('PUT', `/v1/ioas/${g.ioas}/memory?iova=0x101000&length=8192`, Buffer.alloc(8192, 2), { 'content-type': 'application/octet-stream' });
      expectProblem(res, 'ENOMEM', 507); // README "Where the service differs": ENOMEM status
    });
    t = await t.restart();
    const back = await t.app.inject({ method: 'GET', url: `/v1/ioas/${g.ioas}/memory?iova=0x100000&length=8` });
    expect(back.rawPayload.toString()).toBe('01234567');
    expect(t.service.graph.tables.pages.size).toBe(1);
    must(await t.req('DELETE', `/v1/ioas/${g.ioas}/mappings?iova=0x100000&length=0x4000`), 200);
    expect(t.service.graph.tables.pages.size).toBe(0);
  });
});

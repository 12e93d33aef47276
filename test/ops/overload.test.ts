/**
 * Issue 12, overload: the rate limit per token (per address without tokens), the in-flight cap,
 * admission per event-loop turn, shedding under pressure (heap, event-loop delay), and the
 * GraphQL cost limit. Every refusal is problem+json (GraphQL: an errno in the error's
 * extensions) with Retry-After where it is worth retrying; the probes are never refused.
 * Behaviour only: no assertion here depends on how fast the machine is.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { buildViommu, expectProblem, must, startApp, type TestApp } from '../helper.js';
import { connect, listen, parseResponses, until } from './support.js';

const as = (token: string) => ({ authorization: `Bearer ${token}` });
let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

async function probesAnswer(app: TestApp): Promise<void> {
  for (const url of ['/healthz', '/readyz']) expect((await app.req('GET', url)).status, url).toBe(200);
}

describe('overload: rate limit', () => {
  it('rate limit: per token, 429 EAGAIN with Retry-After once a token spent its window; other tokens and the probes go on', async () => {
    t = await startApp({ env: { API_TOKENS: 'token-a-0001:operator,token-b-0001:operator', RATE_LIMIT_MAX: '3', RATE_LIMIT_WINDOW: '60000' } });
    for (let i = 0; i < 3; i++) expect((await t.req('GET', '/v1/smmus', undefined, as('token-a-0001'))).status).toBe(200);
    const limited = await t.req('GET', '/v1/smmus', undefined, as('token-a-0001'));
    expectProblem(limited, 'EAGAIN', 429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited.headers['x-ratelimit-limit']).toBe('3');
    expect(limited.body).toMatchObject({ limit: 3, windowSeconds: 60 });
    // Writes count the same, and are refused before they run.
    expectProblem(await t.req('POST', '/v1/contexts', { name: 'late' }, as('token-a-0001')), 'EAGAIN', 429);
    expect((await t.req('GET', '/v1/contexts', undefined, as('token-b-0001'))).body.items).toEqual([]);
    // GraphQL: the same refusal, its errno in the error's extensions.
    const gql = await t.app.inject({ method: 'POST', url: '/graphql', payload: { query: '{ smmus { id } }' }, headers: as('token-a-0001') });
    expect(gql.statusCode).toBe(429);
    expect(JSON.parse(gql.body).errors[0].extensions).toMatchObject({ errno: 'EAGAIN', status: 429 });
    for (let i = 0; i < 10; i++) await probesAnswer(t);
  });

  it('rate limit: without tokens, per client address', async () => {
    t = await startApp({ env: { RATE_LIMIT_MAX: '2' } });
    const from = async (remoteAddress: string) => (await t!.app.inject({ method: 'GET', url: '/v1/smmus', remoteAddress })).statusCode;
    expect([await from('127.0.0.2'), await from('127.0.0.2'), await from('127.0.0.2')]).toEqual([200, 200, 429]);
    expect(await from('127.0.0.3')).toBe(200);
  });
});

describe('overload: admission', () => {
  it('in-flight cap: a write beyond MAX_IN_FLIGHT is shed at once (503 EOVERLOAD, Retry-After); reads and probes are not; the held ones finish', async () => {
    t = await startApp({ env: { MAX_IN_FLIGHT: '2' } });
    const port = await listen(t.app);
    // Two writes whose bodies have not arrived: in flight.
    // Context names are unique (EEXIST): one name each, of the same length.
    const bodies = [JSON.stringify({ name: 'held-1' }), JSON.stringify({ name: 'held-2' })];
    const held = await Promise.all([connect(port), connect(port)]);
    held.forEach((c, i) => c.write(`POST /v1/contexts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${bodies[i].length}\r\n\r\n${bodies[i].slice(0, 5)}`));
    await until(() => t!.app.inFlight() === 2, 'two writes in flight');
    const shed = await t.req('POST', '/v1/contexts', { name: 'shed' });
    expectProblem(shed, 'EOVERLOAD', 503);
    expect(shed.headers['retry-after']).toBe('1');
    expect(shed.body.reason).toBe('inFlight');
    expect((await t.req('GET', '/v1/smmus')).status).toBe(200);
    await probesAnswer(t);
    held.forEach((c, i) => c.write(bodies[i].slice(5)));
    await until(() => held.every((c) => c.received().includes('\r\n\r\n')), 'the held writes answered');
    for (const c of held) expect(parseResponses(c.received())[0].status).toBe(201);
    must(await t.req('POST', '/v1/contexts', { name: 'after' }), 201);
    for (const c of held) c.socket.destroy();
  });

  it('turn admission: bodies beyond MAX_TURN_BYTES in one event-loop turn wait for the next turn instead of being refused', async () => {
    t = await startApp({ env: { MAX_TURN_BYTES: '1024' } });
    const g = await buildViommu(t);
    // 64 entries × 16 bytes: each request alone fills a turn's budget.
    const entries = Buffer.alloc(64 * 16);
    for (let i = 0; i < 64; i++) entries.writeBigUInt64LE(0x0001000000000012n, i * 16);
    let maxQueued = 0;
    let sampling = true;
    const app = t.app;
    const sample = () => {
      maxQueued = Math.max(maxQueued, app.admissionQueue());
      if (sampling) setImmediate(sample);
    };
    sample();
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => t!.req('POST', `/v1/viommus/${g.viommu}/invalidate`, entries, { 'content-type': 'application/octet-stream' })),
    );
    sampling = false;
    for (const a of answers) expect([a.status, a.body.entriesProcessed]).toEqual([200, 64]);
    expect(maxQueued).toBeGreaterThan(0);
    expect(t.app.admissionQueue()).toBe(0);
  });
});

describe('overload: admission at shutdown', () => {
  it('turn admission: at shutdown the requests still waiting are refused (503 ESHUTDOWN), the admitted ones finish', async () => {
    const app = await startApp({ env: { MAX_TURN_BYTES: '1024' } });
    try {
      const g = await buildViommu(app);
      const entries = Buffer.alloc(64 * 16);
      for (let i = 0; i < 64; i++) entries.writeBigUInt64LE(0x0001000000000012n, i * 16);
      const answers = Array.from({ length: 12 }, () =>
        app.app.inject({ method: 'POST', url: `/v1/viommus/${g.viommu}/invalidate`, headers: { 'content-type': 'application/octet-stream' }, payload: entries }),
      );
      await until(() => app.app.admissionQueue() > 0, 'requests waiting for a turn', 1000, 0);
      await app.app.close();
      const results = await Promise.all(answers);
      const statuses = results.map((r) => r.statusCode);
      expect(statuses.every((s) => s === 200 || s === 503), String(statuses)).toBe(true);
      expect(statuses).toContain(200);
      const refused = results.filter((r) => r.statusCode === 503);
      expect(refused.length).toBeGreaterThan(0);
      for (const r of refused) {
        expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(JSON.parse(r.body).errno).toBe('ESHUTDOWN');
      }
    } finally {
      await app.close();
    }
  });
});

describe('overload: shedding under pressure', () => {
  it('heap: above MAX_HEAP_USED every request but the probes is shed (503 EOVERLOAD, Retry-After)', async () => {
    t = await startApp({ env: { MAX_HEAP_USED: String(16 * 1024 * 1024), PRESSURE_SAMPLE_INTERVAL: '10' } });
    let shed: Awaited<ReturnType<TestApp['req']>> | undefined;
    await until(async () => {
      const res = await t!.req('GET', '/v1/smmus');
      if (res.status === 503) shed = res;
      return shed !== undefined;
    }, 'a request shed for the heap');
    expectProblem(shed!, 'EOVERLOAD', 503);
    expect(shed!.body.reason).toBe('heapUsedBytes');
    expect(shed!.headers['retry-after']).toBe('1');
    expectProblem(await t.req('POST', '/v1/contexts', { name: 'x' }), 'EOVERLOAD', 503);
    await probesAnswer(t);
  });

  it('event-loop delay: above MAX_EVENT_LOOP_DELAY requests are shed, the probes answer', async () => {
    t = await startApp({ env: { MAX_EVENT_LOOP_DELAY: '10', PRESSURE_SAMPLE_INTERVAL: '50', MAX_HEAP_USED: '0' } });
    let shed: Awaited<ReturnType<TestApp['req']>> | undefined;
    await until(async () => {
      // Keep the loop busy in long turns, then ask.
      for (let i = 0; i < 3; i++) {
        const end = performance.now() + 40;
        while (performance.now() < end);
        await new Promise((r) => setImmediate(r));
      }
      const res = await t!.req('GET', '/v1/smmus');
      if (res.status === 503) shed = res;
      const probe = await t!.req('GET', '/healthz');
      expect(probe.status).toBe(200);
      return shed !== undefined;
    }, 'a request shed for the event-loop delay', 300, 0);
    expectProblem(shed!, 'EOVERLOAD', 503);
    expect(shed!.body.reason).toBe('eventLoopDelay');
  });
});

describe('overload: GraphQL cost', () => {
  it('graphql cost: an operation over GRAPHQL_MAX_COST is refused before execution (400 E2BIG with its cost); introspection costs nothing', async () => {
    t = await startApp({ env: { GRAPHQL_MAX_COST: '50' } });
    const gql = async (query: string) => {
      const res = await t!.app.inject({ method: 'POST', url: '/graphql', payload: { query } });
      return { status: res.statusCode, body: JSON.parse(res.body) };
    };
    // smmus 1 + 10 × (id, name, devices 1 + 10 × (id, name, context 1 + 1)) = 431.
    const heavy = await gql('{ smmus { id name devices { id name context { id } } } }');
    expect(heavy.status).toBe(400);
    expect(heavy.body.data ?? null).toBeNull();
    expect(heavy.body.errors[0].extensions).toMatchObject({ errno: 'E2BIG', cost: 431, limit: 50 });
    // Fragments count where they are spread, aliases count as the fields they are.
    const spread = await gql('fragment D on Device { id name smmuId streamId } { a: devices { ...D } b: devices { ...D } }');
    expect(spread.body.errors[0].extensions).toMatchObject({ errno: 'E2BIG', cost: 82 });
    expect((await gql('{ smmus { id name } }')).body).toEqual({ data: { smmus: expect.any(Array) } });
    // Introspection is bounded by the schema: it costs nothing (this one would cost 111).
    const introspection = await gql('{ __schema { types { name fields { name } } } }');
    expect(introspection.status).toBe(200);
    expect(introspection.body.data.__schema.types.length).toBeGreaterThan(10);
    // A fragment cycle is a validation error, not a hang.
    const cycle = await gql('fragment A on Device { id ...B } fragment B on Device { name ...A } { devices { ...A } }');
    expect(cycle.status).toBe(400);
  });

  it('graphql cost: the default limit passes a dashboard query and refuses a nested fan-out', async () => {
    t = await startApp();
    const g = await buildViommu(t);
    const dashboard = `{ viommu(id: ${g.viommu}) { id smmu { id name } nestParent { id } vdevices { id device { id name } } nestedHwpts { id } hwQueues { id } eventqs { id } stats { atc { entries } } } contexts { id name devices { id name attachment { id } } } }`;
    const ok = JSON.parse((await t.app.inject({ method: 'POST', url: '/graphql', payload: { query: dashboard } })).body);
    expect(ok.errors).toBeUndefined();
    // Four nested lists (×10 each) under twelve leaf fields: over the default 100 000.
    const fanOut = '{ smmus { devices { smmu { devices { smmu { devices { a: id b: id c: id d: id e: id f: id g: id h: id i: id j: id k: id l: id } } } } } } }';
    const refused = JSON.parse((await t.app.inject({ method: 'POST', url: '/graphql', payload: { query: fanOut } })).body);
    expect(refused.errors[0].extensions.errno).toBe('E2BIG');
  });
});

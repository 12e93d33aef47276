/**
 * Issue 12: every error is problem+json with an errno — including what Fastify or Node answered
 * on their own: unknown routes and methods, malformed requests, an over-long URL or header block
 * (Node's parser), a bad URL or an over-long path parameter (Fastify's router), a request that
 * does not arrive in time, a route that does not answer in time, and requests arriving while the
 * service shuts down. Real sockets where `inject` would not see the answer. (429 and 503 shed
 * answers: test/ops/overload.test.ts.)
 */
import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildViommu, expectProblem, startApp, type TestApp } from '../helper.js';
import { connect, expectRawProblem, listen, parseResponses, rawExchange, until } from './support.js';

const get = (target: string, extra = '') => `GET ${target} HTTP/1.1\r\nHost: x\r\n${extra}Connection: close\r\n\r\n`;

describe('errors: routing and parsing', () => {
  let t: TestApp;
  let port: number;
  beforeAll(async () => {
    t = await startApp();
    port = await listen(t.app);
  });
  afterAll(async () => t?.close());

  it('errors: unknown routes are 404 ENOENT; another method on an existing /v1 path is 405 EMETHOD with Allow (issue 14)', async () => {
    expectProblem(await t.req('GET', '/v1/nothing'), 'ENOENT', 404);
    expectProblem(await t.req('DELETE', '/healthz'), 'ENOENT', 404);
    const patch = await t.req('PATCH', '/v1/smmus');
    expectProblem(patch, 'EMETHOD', 405);
    expect(String(patch.headers.allow)).toMatch(/GET/);
    for (const method of ['PROPFIND', 'TRACE', 'OPTIONS']) {
      const [res] = await rawExchange(port, `${method} /v1/smmus HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expectRawProblem(res, 'EMETHOD', 405);
    }
    for (const method of ['PROPFIND', 'TRACE', 'OPTIONS']) {
      const [res] = await rawExchange(port, `${method} /v1/nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expectRawProblem(res, 'ENOENT', 404);
    }
    // CONNECT never reaches a route (Node's 'connect' event).
    expectRawProblem((await rawExchange(port, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n'))[0], 'ENOENT', 404);
  });

  it('errors: what Node parser refuses is problem+json: an unknown method or garbage 400 EINVAL, an over-long URL or header block 431 E2BIG', async () => {
    expectRawProblem((await rawExchange(port, 'BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n'))[0], 'EINVAL', 400);
    expectRawProblem((await rawExchange(port, 'hello there\r\n\r\n'))[0], 'EINVAL', 400);
    const longUrl = (await rawExchange(port, get(`/v1/devices?x=${'a'.repeat(20_000)}`)))[0];
    expectRawProblem(longUrl, 'E2BIG', 431);
    expect(longUrl.json.detail).toMatch(/16384 bytes/);
    expect(longUrl.headers['x-request-id']).toBe(longUrl.json.requestId);
    expectRawProblem((await rawExchange(port, get('/v1/smmus', `X-Big: ${'b'.repeat(20_000)}\r\n`)))[0], 'E2BIG', 431);
  });

  it('errors: a URL that does not decode, or a path parameter over 100 characters, is 400 EINVAL (not Fastify plain 400 or 414)', async () => {
    expectRawProblem((await rawExchange(port, get('/v1/devices/%zz')))[0], 'EINVAL', 400);
    expectRawProblem((await rawExchange(port, get(`/v1/devices/${'9'.repeat(120)}`)))[0], 'EINVAL', 400);
  });
});

describe('errors: time limits', () => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('errors: a request that does not arrive within REQUEST_TIMEOUT is 408 ETIMEDOUT', async () => {
    t = await startApp({ env: { REQUEST_TIMEOUT: '1000' } });
    const port = await listen(t.app);
    const c = await connect(port);
    c.write('POST /v1/contexts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{"na');
    const [res] = parseResponses(await c.closed);
    expectRawProblem(res, 'ETIMEDOUT', 408);
    expect((await t.req('GET', '/v1/contexts')).body.items).toEqual([]);
  });

  it('errors: a route that has not answered within HANDLER_TIMEOUT is 503 ETIME', async () => {
    t = await startApp({ env: { HANDLER_TIMEOUT: '200' } });
    const port = await listen(t.app);
    const c = await connect(port);
    // The handler waits for a body that never comes.
    c.write('POST /v1/contexts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{"na');
    await until(() => c.received().includes('\r\n\r\n'), 'an answer');
    const [res] = parseResponses(c.received());
    expectRawProblem(res, 'ETIME', 503);
    c.socket.destroy();
  });
});

describe('errors: shutdown', () => {
  it('shutdown: an open SSE stream does not hold the close — it is ended and the app closes', async () => {
    const t = await startApp();
    try {
      const g = await buildViommu(t);
      const q = (await t.req('POST', '/v1/eventqs', { viommuId: g.viommu, type: 'arm_smmuv3', depth: 4 })).body;
      const port = await listen(t.app);
      const stream = await connect(port);
      stream.write(`GET /v1/eventqs/${q.id}/stream HTTP/1.1\r\nHost: x\r\n\r\n`);
      await until(() => stream.received().includes('vEVENTQ stream'), 'the stream open');
      await t.app.close();
      const sent = await stream.closed;
      expect(sent.startsWith('HTTP/1.1 200')).toBe(true);
    } finally {
      await t.close();
    }
  });

  it('errors: a request arriving while the service closes is 503 ESHUTDOWN (Connection: close); the one in flight finishes; new connections are refused', async () => {
    const t = await startApp();
    try {
      const port = await listen(t.app);
      // In flight: a write whose body is still coming.
      const body = JSON.stringify({ name: 'in-flight' });
      const writer = await connect(port);
      writer.write(`POST /v1/contexts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 4)}`);
      // A connection in the middle of its request line: not idle, so the close keeps it.
      const late = await connect(port);
      late.write('GET /v1/sm');
      await until(() => t.app.inFlight() === 1, 'the write in flight');
      const closed = t.app.close();
      await until(() => t.app.lifecycle.closing, 'closing');
      // The listener is closed: no new connection.
      const refused = await new Promise<string>((resolve) => {
        const s = net.connect(port, '127.0.0.1');
        s.once('connect', () => {
          s.destroy();
          resolve('connected');
        });
        s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      });
      expect(refused).toBe('ECONNREFUSED');
      late.write('us HTTP/1.1\r\nHost: x\r\n\r\n');
      const [shut] = parseResponses(await late.closed);
      expectRawProblem(shut, 'ESHUTDOWN', 503);
      expect(shut.headers.connection).toBe('close');
      expect(shut.headers['retry-after']).toBe('1');
      writer.write(body.slice(4));
      const [done] = parseResponses(await writer.closed);
      expect(done.status).toBe(201);
      expect(done.headers.connection).toBe('close');
      await closed;
    } finally {
      await t.close();
    }
  });
});

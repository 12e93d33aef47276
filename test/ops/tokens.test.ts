/**
 * Issue 12: bearer tokens are compared whole (SHA-256 digests, `timingSafeEqual` against every
 * stored token: nothing about a near miss changes the answer) and never logged — the logger
 * redacts the Authorization header, and the real service at LOG_LEVEL=trace writes no token.
 */
import { Writable } from 'node:stream';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTokens, tokenMatcher } from '../../src/routes/plugins/auth.js';
import { loggerOptions } from '../../src/routes/plugins/server-options.js';
import { expectProblem, startApp, type TestApp } from '../helper.js';
import { spawnService } from './support.js';

const TOKEN = 'operator-token-with-some-length-1';
const as = (token: string) => ({ authorization: `Bearer ${token}` });

describe('tokens: comparison', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp({ env: { API_TOKENS: `${TOKEN}:operator,viewer-token-1:viewer` } });
  });
  afterAll(async () => t?.close());

  it('tokens: only the whole token is accepted — a prefix, a longer string, one changed character, another case, are EUNAUTHENTICATED', async () => {
    expect((await t.req('GET', '/v1/smmus', undefined, as(TOKEN))).status).toBe(200);
    const near = [TOKEN.slice(0, -1), `${TOKEN}x`, `${TOKEN.slice(0, -1)}2`, TOKEN.toUpperCase(), '', ' ', TOKEN.slice(0, 8)];
    for (const token of near) expectProblem(await t.req('GET', '/v1/smmus', undefined, as(token)), 'EUNAUTHENTICATED', 401);
    expectProblem(await t.req('GET', '/v1/smmus', undefined, { authorization: TOKEN }), 'EUNAUTHENTICATED', 401);
    expectProblem(await t.req('GET', '/v1/smmus', undefined, { authorization: `Basic ${TOKEN}` }), 'EUNAUTHENTICATED', 401);
  });

  it('tokens: the matcher finds a grant for the exact token only, whatever the lengths', () => {
    const tokens = parseTokens(`${TOKEN}:operator,viewer-token-1:viewer:5`);
    const match = tokenMatcher(tokens);
    expect(match(TOKEN)?.role).toBe('operator');
    expect(match('viewer-token-1')).toMatchObject({ role: 'viewer', contexts: new Set([5]) });
    for (const other of ['', 'v', 'viewer-token-', 'viewer-token-12', 'x'.repeat(10_000)]) expect(match(other), other).toBeUndefined();
  });
});

describe('tokens: never logged', () => {
  it('tokens: the logger redacts the Authorization header wherever it is logged', async () => {
    let out = '';
    const stream = new Writable({
      write(chunk, _enc, done) {
        out += String(chunk);
        done();
      },
    });
    const options = loggerOptions('trace');
    if (!options || typeof options !== 'object') throw new Error('a logger is configured');
    const app = Fastify({ logger: { ...options, stream } });
    app.get('/x', async (request) => {
      request.log.info({ headers: request.headers }, 'headers');
      request.log.info({ req: { headers: request.headers } }, 'req');
      request.log.info({ request: { headers: request.headers } }, 'request');
      return 'ok';
    });
    await app.inject({ method: 'GET', url: '/x', headers: as(TOKEN) });
    await app.close();
    expect(out).toContain('[redacted]');
    expect(out).not.toContain(TOKEN);
  });

  it('tokens: the service at LOG_LEVEL=trace writes no token, valid or not', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vsmmu-ops-'));
    const wrong = 'wrong-token-never-to-be-logged';
    const svc = await spawnService({ DATABASE_URL: `file:${path.join(dir, 'vsmmu.db')}`, API_TOKENS: `${TOKEN}:operator`, LOG_LEVEL: 'trace', SHUTDOWN_DELAY: '0' });
    try {
      const call = (method: string, url: string, token: string, body?: object) =>
        fetch(`${svc.base}${url}`, { method, headers: { ...as(token), ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined }).then((r) => r.status);
      expect(await call('GET', '/v1/smmus', TOKEN)).toBe(200);
      expect(await call('POST', '/v1/contexts', TOKEN, { name: 'logged' })).toBe(201);
      expect(await call('POST', '/v1/contexts', TOKEN, { name: '' })).toBe(400);
      expect(await call('GET', '/v1/nothing', TOKEN)).toBe(404);
      expect(await call('GET', '/v1/smmus', wrong)).toBe(401);
      expect(await call('POST', '/graphql', TOKEN, { query: '{ smmus { id } }' })).toBe(200);
      svc.child.kill('SIGTERM');
      expect((await svc.exited).code).toBe(0);
      const logs = svc.stdout() + svc.stderr();
      expect(logs).toMatch(/incoming request/);
      expect(logs).not.toContain(TOKEN);
      expect(logs).not.toContain(wrong);
    } finally {
      if (svc.child.exitCode === null) svc.child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * The access log (src/routes/plugins/server-options.ts AccessLog): the real service at the
 * default LOG_LEVEL writes one line per request — "request completed" with the request's method,
 * URL, host and remote address, its status, its response time and its id (the `x-request-id` it
 * answered) — and Fastify's "incoming request" line only from LOG_LEVEL=debug on.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import Fastify from 'fastify';
import { AccessLine, LineBatch, REDACTED_PATHS, requestLogFactory } from '../../src/routes/plugins/server-options.js';
import { spawnService } from './support.js';

interface Line {
  level: number;
  msg: string;
  reqId?: string;
  req?: { method: string; url: string; host: string; remoteAddress: string };
  res?: { statusCode: number };
  responseTime?: number;
}

async function logsOf(level: string | undefined, requests: Array<{ method: string; url: string; body?: object }>): Promise<{ lines: Line[]; ids: string[] }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vsmmu-access-'));
  const svc = await spawnService({ DATABASE_URL: `file:${path.join(dir, 'vsmmu.db')}`, SHUTDOWN_DELAY: '0', ...(level ? { LOG_LEVEL: level } : { LOG_LEVEL: 'info' }) });
  const ids: string[] = [];
  try {
    for (const r of requests) {
      const res = await fetch(`${svc.base}${r.url}`, { method: r.method, headers: r.body ? { 'content-type': 'application/json' } : {}, body: r.body ? JSON.stringify(r.body) : undefined });
      await res.arrayBuffer();
      ids.push(res.headers.get('x-request-id')!);
    }
    svc.child.kill('SIGTERM');
    expect((await svc.exited).code).toBe(0);
    const lines = svc.stdout().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line);
    return { lines, ids };
  } finally {
    if (svc.child.exitCode === null) svc.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

const REQUESTS = [
  { method: 'GET', url: '/v1/smmus?limit=1' },
  { method: 'POST', url: '/v1/contexts', body: { name: 'vm-log' } },
  { method: 'POST', url: '/v1/contexts', body: { name: 7 } },
  { method: 'GET', url: '/v1/nothing-here' },
];

describe('access log', () => {
  it('access log: at info, one "request completed" line per request with method, URL, status, response time and the answered request id; no "incoming request"', async () => {
    const { lines, ids } = await logsOf('info', REQUESTS);
    expect(lines.some((l) => l.msg === 'incoming request')).toBe(false);
    for (const [i, r] of REQUESTS.entries()) {
      const mine = lines.filter((l) => l.reqId === ids[i]);
      expect(mine.map((l) => l.msg)).toEqual(['request completed']);
      expect(mine[0]).toMatchObject({ level: 30, req: { method: r.method, url: r.url, remoteAddress: '127.0.0.1' }, res: { statusCode: [200, 201, 400, 404][i] } });
      expect(mine[0].responseTime).toBeGreaterThan(0);
    }
  }, 60_000);

  it('access log: at debug, each request also has its "incoming request" line, before its completion', async () => {
    const { lines, ids } = await logsOf('debug', REQUESTS.slice(0, 2));
    for (const id of ids) {
      const mine = lines.filter((l) => l.reqId === id).map((l) => l.msg);
      expect(mine.indexOf('incoming request')).toBeGreaterThanOrEqual(0);
      expect(mine.indexOf('incoming request')).toBeLessThan(mine.indexOf('request completed'));
    }
  }, 60_000);

  it('access log: a line is written while the service runs (within the batch interval), not only at exit', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vsmmu-access-'));
    const svc = await spawnService({ DATABASE_URL: `file:${path.join(dir, 'vsmmu.db')}`, SHUTDOWN_DELAY: '0', LOG_LEVEL: 'info' });
    try {
      const res = await fetch(`${svc.base}/v1/smmus?limit=1`);
      await res.arrayBuffer();
      const id = res.headers.get('x-request-id')!;
      const deadline = Date.now() + 5_000;
      while (!svc.stdout().includes(`"reqId":"${id}"`) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(svc.stdout()).toContain(`"reqId":"${id}"`);
      expect(svc.child.exitCode).toBeNull();
    } finally {
      svc.child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('LineBatch (the log stream: lines gathered into few writes)', () => {
  function recorder() {
    const writes: string[] = [];
    let syncs = 0;
    return { writes, syncs: () => syncs, destination: { write: (s: string) => writes.push(s), flushSync: () => void syncs++ } };
  }

  it('LineBatch: lines under the size threshold wait; the line that reaches it writes them all, in order, as one write', () => {
    const r = recorder();
    const batch = new LineBatch(r.destination, 30, 60_000);
    batch.write('one-------\n');
    batch.write('two-------\n');
    expect(r.writes).toEqual([]);
    batch.write('three-----\n');
    expect(r.writes).toEqual(['one-------\ntwo-------\nthree-----\n']);
    batch.write('four\n');
    expect(r.writes).toHaveLength(1);
    batch.flush();
    expect(r.writes).toEqual(['one-------\ntwo-------\nthree-----\n', 'four\n']);
  });

  it('LineBatch: at rest a pending line is written after the interval, once', async () => {
    const r = recorder();
    const batch = new LineBatch(r.destination, 1 << 20, 20);
    batch.write('a\n');
    batch.write('b\n');
    expect(r.writes).toEqual([]);
    await new Promise((res) => setTimeout(res, 80));
    expect(r.writes).toEqual(['a\nb\n']);
    await new Promise((res) => setTimeout(res, 40));
    expect(r.writes).toEqual(['a\nb\n']);
  });

  it('LineBatch: flushSync writes what is pending and flushes the destination; nothing pending writes nothing', () => {
    const r = recorder();
    const batch = new LineBatch(r.destination, 1 << 20, 60_000);
    batch.flushSync();
    expect(r.writes).toEqual([]);
    expect(r.syncs()).toBe(1);
    batch.write('x\n');
    batch.flushSync();
    expect(r.writes).toEqual(['x\n']);
    expect(r.syncs()).toBe(2);
  });
});

describe('AccessLine and RequestLog (the access line without pino, the request logger made when used)', () => {
  function sink() {
    const lines: string[] = [];
    return { lines, stream: { write: (s: string) => void lines.push(s) } };
  }

  it('AccessLine: the line is the text pino writes for the same fields (keys, order, values), a hostile URL included', async () => {
    const mine = sink();
    const theirs = sink();
    const access = new AccessLine(mine.stream);
    const reference = pino({ level: 'info' }, theirs.stream);
    const app = Fastify();
    app.get('/*', async () => 'ok');
    app.addHook('onResponse', async (request, reply) => {
      access.write(request, reply);
      const req = { method: request.method, url: request.url, version: request.headers['accept-version'], host: request.host, remoteAddress: request.ip, remotePort: request.socket?.remotePort };
      reference.info({ reqId: request.id, req, res: { statusCode: reply.statusCode }, responseTime: reply.elapsedTime }, 'request completed');
    });
    await app.inject({ method: 'GET', url: '/a"b\\c/\u2028?x=<y>', headers: { 'accept-version': '1.x' } });
    await app.inject({ method: 'GET', url: '/plain' });
    await app.close();
    expect(mine.lines).toHaveLength(2);
    for (const [i, line] of mine.lines.entries()) {
      expect(line.endsWith('\n')).toBe(true);
      const a = JSON.parse(line);
      const b = JSON.parse(theirs.lines[i]);
      // The time is read separately by each; everything else is the same text.
      expect(Math.abs(a.time - b.time)).toBeLessThan(1000);
      a.time = b.time = 0;
      expect(Object.keys(a)).toEqual(Object.keys(b));
      expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    }
    expect(JSON.parse(mine.lines[0]).req.version).toBe('1.x');
    expect(JSON.parse(mine.lines[1]).req).not.toHaveProperty('version');
  });

  it('RequestLog: no child logger is made for a line below the level; a line at an enabled level has the request id and the redaction', () => {
    const out = sink();
    const parent = pino({ level: 'info', redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, out.stream);
    let made = 0;
    const child = parent.child.bind(parent);
    (parent as unknown as { child: typeof parent.child }).child = ((b: pino.Bindings, o?: pino.ChildLoggerOptions) => {
      made++;
      return child(b, o);
    }) as unknown as typeof parent.child;
    const log = requestLogFactory(parent, { reqId: 'req-7' }, {});
    log.debug({ x: 1 }, 'not written');
    log.trace('not written either');
    expect(made).toBe(0);
    expect(out.lines).toEqual([]);
    expect(log.level).toBe('info');
    log.error({ headers: { authorization: 'Bearer secret' } }, 'failed');
    log.warn('again');
    expect(made).toBe(1);
    expect(out.lines).toHaveLength(2);
    const first = JSON.parse(out.lines[0]);
    expect(first).toMatchObject({ level: 50, reqId: 'req-7', msg: 'failed', headers: { authorization: '[redacted]' } });
    expect(JSON.parse(out.lines[1])).toMatchObject({ level: 40, reqId: 'req-7', msg: 'again' });
  });

  it('RequestLog: a route with its own level gets pino\'s child at once', () => {
    const out = sink();
    const parent = pino({ level: 'info' }, out.stream);
    const log = requestLogFactory(parent, { reqId: 'req-8' }, { level: 'debug' });
    log.debug('written at the route\'s level');
    expect(JSON.parse(out.lines[0])).toMatchObject({ level: 20, reqId: 'req-8' });
  });
});

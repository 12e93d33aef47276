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
});

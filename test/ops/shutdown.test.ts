/**
 * Issue 12, graceful shutdown of the real service (a child process, `src/server.ts`): on SIGTERM
 * /readyz turns 503 first, then the listener closes (new connections are refused), the requests
 * in flight are answered, the database closes and the process exits 0 — and every write it
 * acknowledged is in the database afterwards. A second signal exits at once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { startApp } from '../helper.js';
import { connect, parseResponses, spawnService, until, type Child } from './support.js';

const dirs: string[] = [];
const children: Child[] = [];
afterAll(() => {
  for (const c of children) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'vsmmu-ops-'));
  dirs.push(d);
  return d;
}

/** One request on `agent`: status and parsed body, or the connection error's code. */
function request(port: number, agent: http.Agent, method: string, url: string, body?: object): Promise<{ status: number; body: any } | { error: string }> {
  return new Promise((resolve) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = http.request({ host: '127.0.0.1', port, method, path: url, agent, headers: payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {} }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = text;
        }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? String(e) }));
    req.end(payload);
  });
}

const refusesConnections = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });

describe('shutdown', () => {
  it('shutdown: SIGTERM mid-stream — /readyz 503 first, then no new connections, the write in flight finishes, exit 0, and every acknowledged write is in the database', async () => {
    const dir = tempDir();
    const dbFile = path.join(dir, 'vsmmu.db');
    const svc = await spawnService({ DATABASE_URL: `file:${dbFile}`, SHUTDOWN_DELAY: '700', LOG_LEVEL: 'info' });
    children.push(svc);
    const acked = new Map<number, string>();
    const others: string[] = [];

    // The probe's keep-alive connection, open before the signal (as a load balancer's).
    const probeAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    expect(await request(svc.port, probeAgent, 'GET', '/readyz')).toMatchObject({ status: 200 });

    // A write in flight across the whole shutdown: its body comes last.
    const slowBody = JSON.stringify({ name: 'slow-write' });
    const slow = await connect(svc.port);
    slow.write(`POST /v1/contexts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${slowBody.length}\r\n\r\n${slowBody.slice(0, 3)}`);

    // A stream of writes on 6 keep-alive connections, until the service is gone.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 6 });
    let stop = false;
    const writers = Array.from({ length: 6 }, async (_, w) => {
      for (let k = 0; !stop; k++) {
        const name = `w${w}-${k}`;
        const res = await request(svc.port, agent, 'POST', '/v1/contexts', { name });
        if ('error' in res) {
          others.push(res.error);
          if (res.error === 'ECONNREFUSED') return;
          continue;
        }
        if (res.status === 201) acked.set(res.body.id, name);
        else others.push(`${res.status} ${res.body?.errno}`);
      }
    });
    await until(() => acked.size >= 40, '40 acknowledged writes before the signal');
    svc.child.kill('SIGTERM');

    // Readiness turns 503 at once, on the connection the probe already had.
    let notReady: any;
    await until(async () => {
      const res = await request(svc.port, probeAgent, 'GET', '/readyz');
      if ('status' in res && res.status === 503) notReady = res.body;
      return notReady !== undefined;
    }, '/readyz 503');
    expect(notReady).toMatchObject({ errno: 'ESHUTDOWN', status: 503 });

    // Then the listener closes while the slow write is still in flight.
    await until(() => refusesConnections(svc.port), 'new connections refused', 2000, 10);
    slow.write(slowBody.slice(3));
    const [slowRes] = parseResponses(await slow.closed);
    expect(slowRes.status).toBe(201);
    expect(slowRes.headers.connection).toBe('close');
    acked.set(slowRes.json.id, 'slow-write');

    const exit = await svc.exited;
    stop = true;
    await Promise.all(writers);
    probeAgent.destroy();
    agent.destroy();
    expect(exit).toEqual({ code: 0, signal: null });
    expect(svc.stdout()).toMatch(/shut down: requests answered, writes committed, database closed/);
    // Refused or shed writes were never acknowledged; nothing else went wrong.
    for (const o of others) expect(o).toMatch(/^(ECONNREFUSED|ECONNRESET|EPIPE|503 ESHUTDOWN)$/);

    // Every acknowledged write is in the database file…
    const db = new Database(dbFile, { readonly: true, fileMustExist: true });
    try {
      const rows = db.prepare('SELECT id, name FROM Context').all() as Array<{ id: number; name: string }>;
      const stored = new Map(rows.map((r) => [r.id, r.name]));
      for (const [id, name] of acked) expect(stored.get(id), `context ${id}`).toBe(name);
    } finally {
      db.close();
    }
    // …and the service started again on it answers them.
    const again = await startApp({ dir });
    try {
      const listed = new Map<number, string>();
      let cursor: string | null = null;
      do {
        const page: { items: Array<{ id: number; name: string }>; nextCursor: string | null } = (await again.req('GET', `/v1/contexts?limit=500${cursor ? `&cursor=${cursor}` : ''}`)).body;
        for (const c of page.items) listed.set(c.id, c.name);
        cursor = page.nextCursor;
      } while (cursor !== null);
      for (const [id, name] of acked) expect(listed.get(id), `context ${id}`).toBe(name);
    } finally {
      await again.app.close();
    }
  });

  it('shutdown: a second signal exits at once (code 1), without waiting for the first shutdown', async () => {
    const dir = tempDir();
    const svc = await spawnService({ DATABASE_URL: `file:${path.join(dir, 'vsmmu.db')}`, SHUTDOWN_DELAY: '6000', SHUTDOWN_TIMEOUT: '9000' });
    children.push(svc);
    svc.child.kill('SIGTERM');
    // The first shutdown is under way: readiness is 503 (and would be for SHUTDOWN_DELAY).
    await until(async () => (await fetch(`${svc.base}/readyz`)).status === 503, '/readyz 503');
    svc.child.kill('SIGTERM');
    expect(await svc.exited).toEqual({ code: 1, signal: null });
    expect(svc.stdout()).toMatch(/second signal: exiting at once/);
  });

  it('shutdown: SIGINT shuts down the same way (exit 0)', async () => {
    const dir = tempDir();
    const svc = await spawnService({ DATABASE_URL: `file:${path.join(dir, 'vsmmu.db')}`, SHUTDOWN_DELAY: '0' });
    children.push(svc);
    svc.child.kill('SIGINT');
    expect(await svc.exited).toEqual({ code: 0, signal: null });
  });
});

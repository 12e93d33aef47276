/**
 * One storage path (src/storage): every write — creates, updates and deletes, as prepared
 * statements (statements.ts) — commits on the one SQLite connection, Prisma's own, before it is
 * acknowledged; the durable state is the database file and its WAL, nothing else; `npm run
 * backup` takes a consistent copy while the service runs, and the copy starts as a service of its
 * own.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { buildViommu, must, startApp, type TestApp } from './helper.js';

const dirs: string[] = [];
const apps: TestApp[] = [];
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tempDir = () => {
  const d = mkdtempSync(path.join(os.tmpdir(), 'vsmmu-storage-'));
  dirs.push(d);
  return d;
};

const A = 0x40000000;
const hex = (n: number) => `0x${n.toString(16)}`;

/** A tegra241 vIOMMU with a 16-entry VCMDQ, a vEVENTQ, and guest RAM at A. */
async function setup() {
  const dir = tempDir();
  const t = await startApp({ dir });
  apps.push(t);
  const g = await buildViommu(t, { device: 'nic1', type: 'tegra241_cmdqv' });
  must(await t.req('POST', `/v1/ioas/${g.ioas}/mappings`, { iova: hex(A), length: '0x10000' }), 201);
  const q = must(await t.req('POST', '/v1/hw-queues', { viommuId: g.viommu, type: 'tegra241_cmdqv', index: 0, nestingParentIova: hex(A), length: '0x100' }), 201);
  const eq = must(await t.req('POST', '/v1/eventqs', { viommuId: g.viommu, type: 'arm_smmuv3', depth: 8 }), 201);
  return { t, g, q, eq, dir };
}

/** The guest's in-place writes: commands at PROD, a word of guest memory, an event queued. */
async function guestWrites(t: TestApp, g: { ioas: number; viommu: number }, q: { id: number }, round: number) {
  must(await t.req('POST', `/v1/hw-queues/${q.id}/commands`, { entries: [[hex(0x46 + round * 0x100), '0x0'], ['0x46', '0x0']] }), 200);
  const word = Buffer.alloc(8);
  word.writeBigUInt64LE(0x1122334455667700n + BigInt(round));
  must(await t.req('PUT', `/v1/ioas/${g.ioas}/memory?iova=${hex(A + 0x2000)}&length=8`, word, { 'content-type': 'application/octet-stream' }), 200);
  must(await t.req('POST', `/v1/viommus/${g.viommu}/events`, { type: 'arm_smmuv3', record: [hex(round + 1), '0x0', '0x0', '0x0'] }), 201);
}

/** What a caller can see of the guest's writes. */
async function observed(t: TestApp, g: { ioas: number }, q: { id: number }, eq: { id: number }) {
  const queue = must(await t.req('GET', `/v1/hw-queues/${q.id}`), 200);
  const mem = await t.app.inject({ method: 'GET', url: `/v1/ioas/${g.ioas}/memory?iova=${hex(A)}&length=${0x3000}` });
  const eventq = must(await t.req('GET', `/v1/eventqs/${eq.id}`), 200);
  const objects = must(await t.req('GET', '/v1/objects?limit=500'), 200);
  return { queue, memory: mem.rawPayload.toString('hex'), eventq, objects };
}

/** A raw SQL read of the database file, on a connection of its own. */
function sql<T>(file: string, query: string, ...args: unknown[]): T {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare(query).get(...args) as T;
  } finally {
    db.close();
  }
}

/** The files a kill -9 leaves behind, copied while the service runs. */
function crashCopy(dir: string): string {
  const to = tempDir();
  for (const f of ['vsmmu.db', 'vsmmu.db-wal']) {
    if (existsSync(path.join(dir, f))) copyFileSync(path.join(dir, f), path.join(to, f));
  }
  return to;
}

function runBackup(dbFile: string, dest: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/backup.ts', dest], {
      env: { ...process.env, DATABASE_URL: `file:${dbFile}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('storage: one path, one connection, the WAL as the only journal', () => {
  it('storage: an in-place write (PROD, guest page, event) is in the SQLite file when it is acknowledged', async () => {
    const { t, g, q, eq } = await setup();
    await guestWrites(t, g, q, 0);
    expect(sql<{ qProd: number }>(t.dbFile, 'SELECT "qProd" FROM "IommufdObject" WHERE "id" = ?', q.id).qProd).toBe(2);
    expect(sql<{ n: number }>(t.dbFile, 'SELECT COUNT(*) AS n FROM "EventRecord" WHERE "eventqId" = ?', eq.id).n).toBe(1);
    // Guest pages are keyed by host address: the written word is in one of them.
    const word = Buffer.alloc(8);
    word.writeBigUInt64LE(0x1122334455667700n);
    const pages = sql<{ n: number }>(t.dbFile, 'SELECT COUNT(*) AS n FROM "GuestPage" WHERE instr("data", ?) > 0', word).n;
    expect(pages).toBe(1);
    // Only the database and SQLite's own files: no second journal beside them.
    expect(readdirSync(t.dir).filter((f) => f.startsWith('vsmmu.db')).sort()).toEqual(['vsmmu.db', 'vsmmu.db-shm', 'vsmmu.db-wal']);
  });

  it('storage: the service\'s statements and Prisma\'s queries (/readyz) share one connection (Prisma\'s own)', async () => {
    const { t } = await setup();
    // A temp table is visible only on the connection that created it.
    t.database.sqlite.exec('CREATE TEMP TABLE probe (x)');
    const rows = await (await t.database.prisma()).$queryRawUnsafe<Array<{ name: string }>>("SELECT name FROM temp.sqlite_master WHERE name = 'probe'");
    expect(rows.map((r) => r.name)).toEqual(['probe']);
    t.database.sqlite.exec('DROP TABLE temp.probe');
  });

  it('storage: a process crash loses no acknowledged write (database and WAL copied while running)', async () => {
    const { t, g, q, eq, dir } = await setup();
    for (let r = 0; r < 3; r++) await guestWrites(t, g, q, r);
    const before = await observed(t, g, q, eq);
    expect(before.queue.prod).toBe(6);
    const copy = crashCopy(dir);
    const t2 = await startApp({ dir: copy });
    apps.push(t2);
    expect(await observed(t2, g, q, eq)).toEqual(before);
  });

  it('storage: a commit SQLite refuses fails its request and changes neither the database nor the graph', async () => {
    const { t, g, q, eq } = await setup();
    await guestWrites(t, g, q, 0);
    const before = await observed(t, g, q, eq);
    // A trigger makes the next in-place UPDATE fail inside SQLite (a real failing commit).
    t.database.sqlite.exec(`CREATE TRIGGER fail_prod BEFORE UPDATE OF "qProd" ON "IommufdObject" BEGIN SELECT RAISE(ABORT, 'disk says no'); END`);
    const res = await t.req('POST', `/v1/hw-queues/${q.id}/commands`, { entries: [['0x46', '0x0']] });
    expect(res.status).toBe(500);
    expect(res.body.errno).toBe('EINTERNAL');
    expect(await observed(t, g, q, eq)).toEqual(before);
    t.database.sqlite.exec('DROP TRIGGER fail_prod');
    must(await t.req('POST', `/v1/hw-queues/${q.id}/commands`, { entries: [['0x46', '0x0']] }), 200);
    expect((await t.req('GET', `/v1/hw-queues/${q.id}`)).body.prod).toBe(3);
  });

  it('storage: npm run backup takes a consistent copy while the service runs, and the copy restores', async () => {
    const { t, g, q, eq } = await setup();
    for (let r = 0; r < 2; r++) await guestWrites(t, g, q, r);
    const before = await observed(t, g, q, eq);
    const dest = path.join(tempDir(), 'backup.db');
    // The service keeps taking writes while the backup runs; the copy has a state it acknowledged.
    const [result] = await Promise.all([runBackup(t.dbFile, dest), guestWrites(t, g, q, 2)]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^backed up .* to .*backup\.db \(\d+ pages\)\n$/);
    expect(existsSync(`${dest}.partial`)).toBe(false);
    const restoredDir = path.dirname(dest);
    const r = await startApp({ dir: restoredDir, env: { DATABASE_URL: `file:${dest}` } });
    apps.push(r);
    const after = await observed(r, g, q, eq);
    const latest = await observed(t, g, q, eq);
    // Either before or after the concurrent round: never in between.
    expect([2 * 2, 3 * 2]).toContain(after.queue.prod);
    expect(after).toEqual(after.queue.prod === 4 ? before : latest);
  });

  it('storage: a journal left by an earlier version (<db>-fastlog) refuses the start instead of being lost silently', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'vsmmu.db-fastlog'), Buffer.alloc(64));
    await expect(startApp({ dir })).rejects.toThrow(/vsmmu\.db-fastlog is the journal of an earlier version.*start the earlier version once/);
  });

  it('storage: npm run backup without a file, or of a missing database, fails with one line', async () => {
    const none = await runBackup(path.join(tempDir(), 'missing.db'), path.join(tempDir(), 'x.db'));
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^vsmmu-control backup: no database at .*missing\.db\n$/);
  });
});

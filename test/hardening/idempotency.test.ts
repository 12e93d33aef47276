/**
 * Issue 12, retries: Idempotency-Key on every REST write (IETF draft-ietf-httpapi-idempotency-key-
 * header). A retry with the same key and request gets the original status and body and changes
 * nothing; the same key with another request is 422 EIDEMPOTENCY_MISMATCH; a retry while the first
 * is in flight is 409 EIDEMPOTENCY_BUSY; keys are per caller and expire after IDEMPOTENCY_TTL; the
 * answer is committed in the same SQLite transaction as the write it answers (proved by restart
 * and by commits SQLite refuses).
 */
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeCd } from '../../src/hw/index.js';
import { REPLIES, idempotencyStats } from '../../src/routes/plugins/idempotency.js';
import { buildViommu, expectProblem, expectUnchanged, must, readDatabase, startApp, type Res, type TestApp } from '../helper.js';

let apps: TestApp[] = [];
let dirs: string[] = [];
afterEach(async () => {
  for (const a of apps) await a.close();
  apps = [];
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
});
async function start(env?: Record<string, string>): Promise<TestApp> {
  const t = await startApp({ env });
  apps.push(t);
  return t;
}
/** The app after a restart on the same database (replaces `t` in the cleanup list). */
async function restart(t: TestApp): Promise<TestApp> {
  const next = await t.restart();
  apps = apps.map((a) => (a === t ? next : a));
  return next;
}

const key = (k: string, more: Record<string, string> = {}) => ({ 'idempotency-key': k, ...more });
const hex = (v: bigint | number): string => '0x' + v.toString(16);

/** Rows of one table by raw SQL. */
const rows = (t: TestApp, table: string) => readDatabase(t.dbFile).tables[table] ?? [];
/** Every table but the idempotency answers: the service's state (and its audit trail). */
function stateTables(t: TestApp): string {
  const { tables } = readDatabase(t.dbFile);
  delete tables.IdempotencyKey;
  return JSON.stringify(tables);
}

/** The same request twice: the second is a replay with the first's status and exact body. */
async function expectReplayed(t: TestApp, first: Res, again: () => Promise<Res>): Promise<Res> {
  let second!: Res;
  await expectUnchanged(t, async () => {
    second = await again();
  });
  expect(second.status).toBe(first.status);
  expect(second.raw).toBe(first.raw);
  expect(second.headers['idempotent-replayed']).toBe('true');
  expect(first.headers['idempotent-replayed']).toBeUndefined();
  return second;
}

describe('Idempotency-Key: a retry gets the original answer and changes nothing', () => {
  it('idempotency: POST /v1/contexts twice with one key → one context, the same 201 body; the stored answer is in the SQLite file', async () => {
    const t = await start();
    const first = await t.req('POST', '/v1/contexts', { name: 'vm' }, key('ctx-1'));
    expect(first.status).toBe(201);
    await expectReplayed(t, first, () => t.req('POST', '/v1/contexts', { name: 'vm' }, key('ctx-1')));
    expect(must(await t.req('GET', '/v1/contexts'), 200).items.map((c: { id: number }) => c.id)).toEqual([first.body.id]);
    // A body in another key order is the same request.
    const reordered = await t.req('POST', '/v1/contexts', '{ "name" : "vm" }', key('ctx-1', { 'content-type': 'application/json' }));
    expect(reordered.raw).toBe(first.raw);
    const stored = rows(t, 'IdempotencyKey');
    expect(stored).toEqual([expect.objectContaining({ caller: 'anonymous', key: 'ctx-1', method: 'POST', path: '/v1/contexts', status: '201n', body: first.raw })]);
  });

  it('idempotency: a retried POST /v1/viommus gets the same vIOMMU and VMID; no second VMID is taken', async () => {
    const t = await start();
    const g = await buildViommu(t);
    const parent2 = must(await t.req('POST', '/v1/hwpts', { deviceId: g.dev, ptId: g.ioas, flags: ['nest_parent'] }), 201).id;
    const body = { deviceId: g.dev, hwptId: parent2, type: 'arm_smmuv3' };
    const first = await t.req('POST', '/v1/viommus', body, key('viommu-1'));
    expect(first.status).toBe(201);
    await expectReplayed(t, first, () => t.req('POST', '/v1/viommus', body, key('viommu-1')));
    const viommus = must(await t.req('GET', '/v1/viommus'), 200).items;
    expect(viommus.map((v: { id: number }) => v.id)).toEqual([g.viommu, first.body.id]);
    expect(new Set(viommus.map((v: { vmid: number }) => v.vmid)).size).toBe(2);
    // Without a key, the same body is a new request: a third vIOMMU with a third VMID.
    const third = must(await t.req('POST', '/v1/viommus', body), 201);
    expect(third.vmid).not.toBe(first.body.vmid);
  });

  it('idempotency: a retried hw-queue push is not pushed again (PROD, guest memory and the model unchanged)', async () => {
    const t = await start();
    const g = await buildViommu(t, { device: 'nic1', type: 'tegra241_cmdqv' });
    must(await t.req('POST', `/v1/ioas/${g.ioas}/mappings`, { iova: '0x40000000', length: '0x10000' }), 201);
    const q = must(await t.req('POST', '/v1/hw-queues', { viommuId: g.viommu, type: 'tegra241_cmdqv', index: 0, nestingParentIova: '0x40000000', length: '0x100' }), 201);
    must(await t.req('PATCH', `/v1/hw-queues/${q.id}`, { enabled: true }), 200);
    const push = { entries: [['0x46', '0x0']] };
    const first = must(await t.req('POST', `/v1/hw-queues/${q.id}/commands`, push, key('push-1')), 200);
    expect(first).toMatchObject({ consumed: 1, prod: 1, cons: 1 });
    const res = await t.req('POST', `/v1/hw-queues/${q.id}/commands`, push, key('push-1'));
    expect(res.body).toEqual(first);
    expect(must(await t.req('GET', `/v1/hw-queues/${q.id}`), 200).prod).toBe(1);
    // The same push with a new key is a new push.
    expect(must(await t.req('POST', `/v1/hw-queues/${q.id}/commands`, push, key('push-2')), 200)).toMatchObject({ prod: 2, cons: 2 });
  });

  it('idempotency: the key is a structured-field string or a bare token; a malformed one is EINVAL and nothing runs', async () => {
    const t = await start();
    const first = must(await t.req('POST', '/v1/contexts', { name: 'a' }, key('"quoted \\"k\\""')), 201);
    // The bare form of the same key is the same key.
    expect((await t.req('POST', '/v1/contexts', { name: 'a' }, key('"quoted \\"k\\""'))).body).toEqual(first);
    await expectUnchanged(t, async () => {
      for (const bad of ['"unterminated', 'with space', '""', 'x'.repeat(256)]) {
        const res = await t.req('POST', '/v1/contexts', { name: 'b' }, key(bad));
        expectProblem(res, 'EINVAL', 400);
        expect(res.body.errors[0].path).toBe('headers/idempotency-key');
      }
    });
  });
});

describe('Idempotency-Key: misuse', () => {
  it('idempotency: the same key with another body, method or path → 422 EIDEMPOTENCY_MISMATCH, nothing changes', async () => {
    const t = await start();
    const first = must(await t.req('POST', '/v1/contexts', { name: 'vm' }, key('k')), 201);
    await expectUnchanged(t, async () => {
      const other = await t.req('POST', '/v1/contexts', { name: 'vm2' }, key('k'));
      expectProblem(other, 'EIDEMPOTENCY_MISMATCH', 422);
      expect(other.body.title).toBe('Idempotency key reused');
      expect(other.body.detail).toMatch(/with another body/);
      expectProblem(await t.req('POST', '/v1/ioas', { contextId: first.id }, key('k')), 'EIDEMPOTENCY_MISMATCH', 422);
      expectProblem(await t.req('DELETE', `/v1/contexts/${first.id}`, undefined, key('k')), 'EIDEMPOTENCY_MISMATCH', 422);
    });
  });

  it('idempotency: 100 concurrent requests with one key → exactly one executes; the others get its answer or 409 EIDEMPOTENCY_BUSY (Retry-After), never a second object', async () => {
    const t = await start();
    const g = await buildViommu(t);
    const before = must(await t.req('GET', '/v1/vdevices'), 200).items.length;
    const body = { viommuId: g.viommu, deviceId: g.dev, virtId: 0x42 };
    const answers = await Promise.all(Array.from({ length: 100 }, () => t.req('POST', '/v1/vdevices', body, key('race'))));
    const created = answers.filter((a) => a.status === 201);
    const busy = answers.filter((a) => a.status === 409);
    expect(created.length + busy.length).toBe(100);
    expect(created.length).toBeGreaterThanOrEqual(1);
    expect(busy.length).toBeGreaterThan(0);
    expect(new Set(created.map((a) => a.raw)).size).toBe(1);
    for (const b of busy) {
      expectProblem(b, 'EIDEMPOTENCY_BUSY', 409);
      expect(b.headers['retry-after']).toBe('1');
    }
    const vdevices = must(await t.req('GET', '/v1/vdevices'), 200).items;
    expect(vdevices.length).toBe(before + 1);
    // Once the first has answered, a retry gets its answer.
    expect((await t.req('POST', '/v1/vdevices', body, key('race'))).raw).toBe(created[0].raw);
    // Different keys race as usual: the vSID is taken, each other request is EEXIST.
    const racing = await Promise.all(Array.from({ length: 50 }, (_, i) => t.req('POST', '/v1/vdevices', { ...body, virtId: 0x43 }, key(`r${i}`))));
    expect(racing.filter((a) => a.status === 201)).toHaveLength(0);
    expect(racing.every((a) => a.body.errno === 'EEXIST')).toBe(true);
  });

  it('idempotency: keys are per caller — two tokens may use the same key for their own requests', async () => {
    const t = await start({ API_TOKENS: 'operator-token-a:operator,operator-token-b:operator,admin-token-1:admin' });
    const as = (token: string, k: string) => ({ authorization: `Bearer ${token}`, 'idempotency-key': k });
    const a = must(await t.req('POST', '/v1/contexts', { name: 'vm' }, as('operator-token-a', 'same')), 201);
    // (Context names are unique: b's own request names another context.)
    const b = must(await t.req('POST', '/v1/contexts', { name: 'vm-b' }, as('operator-token-b', 'same')), 201);
    expect(b.id).not.toBe(a.id);
    expect((await t.req('POST', '/v1/contexts', { name: 'vm' }, as('operator-token-a', 'same'))).body).toEqual(a);
    expect((await t.req('POST', '/v1/contexts', { name: 'vm-b' }, as('operator-token-b', 'same'))).body).toEqual(b);
    // The caller is the token's name, never the token.
    const callers = rows(t, 'IdempotencyKey').map((r) => r.caller as string);
    expect(callers).toHaveLength(2);
    for (const c of callers) expect(c).not.toMatch(/operator-token/);
  });
});

describe('Idempotency-Key: errors and requests that write nothing', () => {
  it('idempotency: a 4xx answer is stored too (the draft\'s "success or an error"): the retry gets the same problem, the state is untouched', async () => {
    const t = await start();
    const g = await buildViommu(t);
    const before = stateTables(t);
    const first = await t.req('DELETE', `/v1/objects/${g.parent}`, undefined, key('del-parent'));
    expectProblem(first, 'EBUSY', 409);
    expect(stateTables(t)).toBe(before);
    // The retry is the stored problem (with the first request's id), even once the blocker is gone.
    must(await t.req('DELETE', `/v1/objects/${g.viommu}`), 204);
    const again = await t.req('DELETE', `/v1/objects/${g.parent}`, undefined, key('del-parent'));
    expect(again.raw).toBe(first.raw);
    expect(again.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(again.headers['idempotent-replayed']).toBe('true');
    // A request with a new key runs.
    must(await t.req('DELETE', `/v1/objects/${g.parent}`, undefined, key('del-parent-2')), 204);
  });

  it('idempotency: an invalidation (no write) is answered once; the retry does not invalidate again (the vIOMMU counters stay)', async () => {
    const t = await start();
    const g = await buildViommu(t);
    const body = { dataType: 'arm_smmuv3', entries: [['0x0000000000000012', '0x0']] };
    const first = must(await t.req('POST', `/v1/viommus/${g.viommu}/invalidate`, body, key('inv')), 200);
    const stats = must(await t.req('GET', `/v1/viommus/${g.viommu}/stats`), 200).invalidations;
    const again = await t.req('POST', `/v1/viommus/${g.viommu}/invalidate`, body, key('inv'));
    expect(again.body).toEqual(first);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(must(await t.req('GET', `/v1/viommus/${g.viommu}/stats`), 200).invalidations).toEqual(stats);
  });
});

describe('Idempotency-Key: the answer is committed with its write', () => {
  it('idempotency: an answered POST, then a restart: the retry returns the same body and creates nothing', async () => {
    let t = await start();
    const g = await buildViommu(t);
    const first = await t.req('POST', '/v1/hwpts', { deviceId: g.dev, ptId: g.ioas, flags: ['nest_parent'] }, key('hwpt-restart'));
    expect(first.status).toBe(201);
    t = await restart(t);
    const again = await t.req('POST', '/v1/hwpts', { deviceId: g.dev, ptId: g.ioas, flags: ['nest_parent'] }, key('hwpt-restart'));
    expect(again.status).toBe(201);
    expect(again.raw).toBe(first.raw);
    expect(must(await t.req('GET', '/v1/hwpts'), 200).items.filter((h: { id: number }) => h.id > g.viommu)).toHaveLength(1);
  });

  it('idempotency: after a crash (database and WAL as a kill -9 leaves them), the retry of an answered write returns the same body and creates nothing', async () => {
    const t = await start();
    const g = await buildViommu(t);
    const body = { viommuId: g.viommu, deviceId: g.dev, virtId: 0x77 };
    const first = await t.req('POST', '/v1/vdevices', body, key('crash-1'));
    expect(first.status).toBe(201);
    // The files copied while the service runs: what SIGKILL would leave (no close, no checkpoint).
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vsmmu-crash-'));
    dirs.push(dir);
    for (const f of ['vsmmu.db', 'vsmmu.db-wal']) if (existsSync(path.join(t.dir, f))) copyFileSync(path.join(t.dir, f), path.join(dir, f));
    const after = await startApp({ dir });
    apps.push(after);
    const again = await after.req('POST', '/v1/vdevices', body, key('crash-1'));
    expect(again.status).toBe(201);
    expect(again.raw).toBe(first.raw);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(must(await after.req('GET', '/v1/vdevices'), 200).items.map((v: { id: number }) => v.id)).toEqual([first.body.id]);
  });

  it('idempotency: when SQLite refuses the write, no answer is stored either (500 not kept): the retry runs and succeeds', async () => {
    const t = await start();
    const ctx = must(await t.req('POST', '/v1/contexts', { name: 'vm' }), 201).id;
    t.database.sqlite.exec(`CREATE TRIGGER no_objects BEFORE INSERT ON "IommufdObject" BEGIN SELECT RAISE(ABORT, 'disk says no'); END`);
    const before = readDatabase(t.dbFile);
    const failed = await t.req('POST', '/v1/ioas', { contextId: ctx }, key('ioas-1'));
    expectProblem(failed, 'EINTERNAL', 500);
    expect(readDatabase(t.dbFile)).toEqual(before);
    t.database.sqlite.exec('DROP TRIGGER no_objects');
    const ok = must(await t.req('POST', '/v1/ioas', { contextId: ctx }, key('ioas-1')), 201);
    expect(rows(t, 'IdempotencyKey').map((r) => r.body)).toEqual([JSON.stringify(ok)]);
  });

  it('idempotency: when SQLite refuses the stored answer, the write is not committed either (one transaction)', async () => {
    const t = await start();
    const ctx = must(await t.req('POST', '/v1/contexts', { name: 'vm' }), 201).id;
    t.database.sqlite.exec(`CREATE TRIGGER no_answers BEFORE INSERT ON "IdempotencyKey" BEGIN SELECT RAISE(ABORT, 'disk says no'); END`);
    await expectUnchanged(t, async () => {
      expectProblem(await t.req('POST', '/v1/ioas', { contextId: ctx }, key('ioas-2')), 'EINTERNAL', 500);
    });
    t.database.sqlite.exec('DROP TRIGGER no_answers');
    // The same write without a key commits (the trigger was the only obstacle).
    must(await t.req('POST', '/v1/ioas', { contextId: ctx }), 201);
  });

  it('idempotency: a key expires after IDEMPOTENCY_TTL: the same request then runs again; expired answers are purged', async () => {
    const t = await start({ IDEMPOTENCY_TTL: '1000' });
    const first = must(await t.req('POST', '/v1/contexts', { name: 'vm' }, key('short')), 201);
    expect((await t.req('POST', '/v1/contexts', { name: 'vm' }, key('short'))).body).toEqual(first);
    const row = rows(t, 'IdempotencyKey')[0];
    expect(Date.parse(row.expiresAt as string) - Date.parse(row.createdAt as string)).toBe(1000);
    await new Promise((r) => setTimeout(r, 1100));
    // Context names are unique: the first context goes, so the same request can create it again.
    must(await t.req('DELETE', `/v1/contexts/${first.id}`), 200);
    const second = must(await t.req('POST', '/v1/contexts', { name: 'vm' }, key('short')), 201);
    expect(second.id).not.toBe(first.id);
    expect(rows(t, 'IdempotencyKey')).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 1100));
    expect(await t.service.purgeExpiredAnswers()).toBe(1);
    expect(rows(t, 'IdempotencyKey')).toHaveLength(0);
  });
});

describe('Idempotency-Key on every REST write route', () => {
  it('idempotency: every write route of /openapi.json has its reply shaped inside the write\'s transaction (or writes nothing: the invalidations)', async () => {
    const t = await start();
    const doc = must(await t.req('GET', '/openapi.json'), 200) as { paths: Record<string, Record<string, unknown>> };
    // REST writes (/v1): GraphQL mutations take no Idempotency-Key.
    const writes = Object.entries(doc.paths).filter(([p]) => p.startsWith('/v1/')).flatMap(([p, ops]) =>
      Object.keys(ops)
        .map((m) => m.toUpperCase())
        .filter((m) => m !== 'GET')
        .map((m) => `${m} ${p.replace(/\{([^}]+)\}/g, ':$1')}`),
    );
    expect(writes.length).toBeGreaterThan(25);
    const missing = writes.filter((w) => !(w in REPLIES) && !/\/invalidate$/.test(w));
    expect(missing).toEqual([]);
    expect(Object.keys(REPLIES).filter((r) => !writes.includes(r))).toEqual([]);
  });

  it('idempotency: each write route, retried with its key, returns exactly its first answer; each first answer is the route\'s own reply', async () => {
    const t = await start();
    const stats = idempotencyStats(t.service);
    let n = 0;
    /** Sends the request with a fresh key, then again; returns the first answer's body. */
    const twice = async (method: 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, body?: unknown, status = method === 'POST' ? 201 : 200, headers: Record<string, string> = {}) => {
      const k = key(`tour-${n++}`, headers);
      const first = await t.req(method, url, body, k);
      expect(first.status, `${method} ${url}: ${first.raw}`).toBe(status);
      await expectReplayed(t, first, () => t.req(method, url, body, k));
      return first.body;
    };
    const smmu = await twice('POST', '/v1/smmus', { name: 'extra', cmdqv: { vintfs: 2, vcmdqsPerVintf: 2, sidsPerVintf: 16 } });
    const dev = await twice('POST', '/v1/devices', { name: 'extra-dev', smmuId: smmu.id, streamId: 0x10 });
    const spare = await twice('POST', '/v1/devices', { name: 'spare-dev', smmuId: smmu.id, streamId: 0x11 });
    await twice('DELETE', `/v1/devices/${spare.id}`, undefined, 204);
    const ctx = await twice('POST', '/v1/contexts', { name: 'tour' });
    await twice('POST', `/v1/contexts/${ctx.id}/devices`, { deviceId: dev.id });
    const ioas = await twice('POST', '/v1/ioas', { contextId: ctx.id });
    await twice('POST', `/v1/ioas/${ioas.id}/mappings`, { iova: '0x0', length: '0x1000000' });
    await twice('POST', `/v1/ioas/${ioas.id}/mappings`, { iova: '0x40000000', length: '0x2000' });
    await twice('DELETE', `/v1/ioas/${ioas.id}/mappings?iova=0x40000000&length=0x2000`, undefined, 200);
    await twice('PUT', `/v1/devices/${dev.id}/attachment`, { ptId: ioas.id });
    const parent = await twice('POST', '/v1/hwpts', { deviceId: dev.id, ptId: ioas.id, flags: ['nest_parent'] });
    await twice('DELETE', `/v1/devices/${dev.id}/attachment`, undefined, 200);
    const viommu = await twice('POST', '/v1/viommus', { deviceId: dev.id, hwptId: parent.id, type: 'tegra241_cmdqv' });
    await twice('POST', '/v1/vdevices', { viommuId: viommu.id, deviceId: dev.id, virtId: 0x10 });
    // Guest memory: the vSTE's CD at IPA 0x10000 (valid, stage 1 with no tables: a translation faults).
    const cd = Buffer.alloc(64);
    encodeCd({ T0SZ: 25, TG0: 0, EPD1: 1, V: 1, IPS: 4, AA64: 1, A: 1, R: 1, ASID: 1, TTB0: 0x20000n }).forEach((w, i) => cd.writeBigUInt64LE(w, i * 8));
    await twice('PUT', `/v1/ioas/${ioas.id}/memory?iova=0x10000&length=64`, cd, 200, { 'content-type': 'application/octet-stream' });
    const nested = await twice('POST', '/v1/hwpts', { deviceId: dev.id, ptId: viommu.id, data: { type: 'arm_smmuv3', ste: [hex(0x10000n | 0xbn), '0x0'] } });
    await twice('PUT', `/v1/devices/${dev.id}/attachment`, { ptId: nested.id });
    const eq = await twice('POST', '/v1/eventqs', { viommuId: viommu.id, type: 'arm_smmuv3', depth: 8 });
    const fault = await twice('POST', `/v1/devices/${dev.id}/translate`, { iova: '0x40201000', access: 'read' }, 200);
    expect(fault.forwarded).toMatchObject({ eventqId: eq.id });
    await twice('POST', `/v1/viommus/${viommu.id}/events`, { type: 'arm_smmuv3', record: ['0x0000001000000010', '0x0', '0x1000', '0x0'] });
    const read = await twice('POST', `/v1/eventqs/${eq.id}/read`, { max: 8 }, 200);
    expect(read.records).toHaveLength(2);
    await twice('POST', `/v1/viommus/${viommu.id}/invalidate`, { dataType: 'arm_smmuv3', entries: [['0x12', '0x0']] }, 200);
    const q = await twice('POST', '/v1/hw-queues', { viommuId: viommu.id, type: 'tegra241_cmdqv', index: 0, nestingParentIova: '0x800000', length: '0x1000' });
    await twice('PATCH', `/v1/hw-queues/${q.id}`, { enabled: true }, 200);
    await twice('POST', `/v1/hw-queues/${q.id}/commands`, { entries: [['0x30', '0x0']] }, 200);
    await twice('POST', `/v1/hw-queues/${q.id}/error/ack`, { replaceWithSync: true }, 200);
    // PASIDs, on a device that has them (gpu0: 20 PASID bits).
    const gpu = must(await t.req('GET', '/v1/devices?limit=500'), 200).items.find((d: { name: string }) => d.name === 'gpu0');
    await twice('POST', `/v1/contexts/${ctx.id}/devices`, { deviceId: gpu.id });
    const s1 = await twice('POST', '/v1/hwpts', { deviceId: gpu.id, ptId: ioas.id, flags: ['pasid'] });
    await twice('PUT', `/v1/devices/${gpu.id}/pasids/1/attachment`, { ptId: s1.id }, 200);
    await twice('DELETE', `/v1/devices/${gpu.id}/pasids/1/attachment`, undefined, 200);
    await twice('DELETE', `/v1/objects/${q.id}`, undefined, 204);
    await twice('DELETE', `/v1/contexts/${ctx.id}/devices/${dev.id}`, undefined, 200);
    await twice('DELETE', `/v1/contexts/${ctx.id}`, undefined, 200);
    await twice('DELETE', `/v1/devices/${dev.id}`, undefined, 204);
    await twice('DELETE', `/v1/smmus/${smmu.id}`, undefined, 204);
    expect(stats.divergent).toBe(0);
    expect(stats.storedWithWrite).toBeGreaterThan(25);
    expect(stats.replayed).toBe(n);
  });
});

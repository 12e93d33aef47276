/**
 * Issue 12, audit: every accepted write is recorded — who (the token's name, "anonymous" without
 * API_TOKENS), what (method, route pattern, the ids created, changed and destroyed), when, and the
 * request id — in the same transaction as the write. GET /v1/audit (admin) and GraphQL `audit`,
 * cursor paging and filters by context, object and token; AUDIT_RETENTION keeps the newest.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { buildViommu, expectProblem, expectUnchanged, listAll, must, readDatabase, startApp, type TestApp } from '../helper.js';

let apps: TestApp[] = [];
afterEach(async () => {
  for (const a of apps) await a.close();
  apps = [];
});
async function start(env?: Record<string, string>): Promise<TestApp> {
  const t = await startApp({ env });
  apps.push(t);
  return t;
}

const TOKENS = 'viewer-token-1:viewer,operator-token-1:operator,admin-token-1:admin';
const as = (token: string) => ({ authorization: `Bearer ${token}` });

/** Every audit entry (all pages). */
const audit = (t: TestApp, query = '', headers: Record<string, string> = {}) => listAll(t, `/v1/audit${query}`, headers);
const auditRows = (t: TestApp) => readDatabase(t.dbFile).tables.AuditEntry ?? [];

describe('audit: what is recorded', () => {
  it('audit: each accepted write has one entry — anonymous, method, route pattern, path, ids created/changed/destroyed, contexts, request id', async () => {
    const t = await start();
    const startup = await audit(t);
    // The built-in topology, loaded at the first start, is the service's own write.
    expect(startup).toEqual([expect.objectContaining({ actor: 'system', route: 'service', operation: 'loadTopology', method: null })]);
    expect(startup[0].created.length).toBeGreaterThan(2);

    const created = await t.req('POST', '/v1/contexts', { name: 'vm' });
    const ctx = created.body.id;
    const ioas = must(await t.req('POST', '/v1/ioas', { contextId: ctx }), 201).id;
    must(await t.req('POST', `/v1/ioas/${ioas}/mappings`, { iova: '0x0', length: '0x1000' }), 201);
    must(await t.req('DELETE', `/v1/contexts/${ctx}`), 200);
    const entries = (await audit(t)).slice(1);
    expect(entries).toEqual([
      expect.objectContaining({ actor: 'anonymous', method: 'POST', route: '/v1/contexts', path: '/v1/contexts', operation: null, created: [ctx], changed: [], destroyed: [], contextIds: [ctx] }),
      expect.objectContaining({ method: 'POST', route: '/v1/ioas', created: [ioas], changed: [], destroyed: [], contextIds: [ctx] }),
      expect.objectContaining({ method: 'POST', route: '/v1/ioas/:id/mappings', path: `/v1/ioas/${ioas}/mappings`, created: [], changed: [ioas], destroyed: [], contextIds: [ctx] }),
      expect.objectContaining({ method: 'DELETE', route: '/v1/contexts/:id', created: [], changed: [], destroyed: [ctx, ioas], contextIds: [ctx] }),
    ]);
    expect(entries[0].requestId).toBe(created.headers['x-request-id']);
    expect(entries.map((e) => e.seq)).toEqual([...entries.map((e) => e.seq)].sort((a, b) => a - b));
    for (const e of entries) expect(Date.parse(e.at)).toBeGreaterThan(Date.now() - 60_000);
    // The same entries are rows of the SQLite file.
    expect(auditRows(t)).toHaveLength(entries.length + 1);
  });

  it('audit: a rejected write, a read, a replayed idempotent write and a write that changes nothing add no entry', async () => {
    const t = await start();
    const g = await buildViommu(t);
    const ctxRes = must(await t.req('POST', '/v1/contexts', { name: 'k' }, { 'idempotency-key': 'a1' }), 201);
    await expectUnchanged(t, async () => {
      expectProblem(await t.req('DELETE', `/v1/objects/${g.parent}`), 'EBUSY', 409);
      must(await t.req('GET', `/v1/viommus/${g.viommu}`), 200);
      expect((await t.req('POST', '/v1/contexts', { name: 'k' }, { 'idempotency-key': 'a1' })).body).toEqual(ctxRes);
    });
    const eq = must(await t.req('POST', '/v1/eventqs', { viommuId: g.viommu, type: 'arm_smmuv3', depth: 4 }), 201);
    const n = (await audit(t)).length;
    must(await t.req('POST', `/v1/eventqs/${eq.id}/read`, {}), 200);
    expect(await audit(t)).toHaveLength(n);
  });

  it('audit: the entry is committed with its write — none when SQLite refuses the write, and the write is refused when its entry is', async () => {
    let t = await start();
    const ctx = must(await t.req('POST', '/v1/contexts', { name: 'vm' }), 201).id;
    t.database.sqlite.exec(`CREATE TRIGGER no_audit BEFORE INSERT ON "AuditEntry" BEGIN SELECT RAISE(ABORT, 'disk says no'); END`);
    await expectUnchanged(t, async () => {
      expectProblem(await t.req('POST', '/v1/ioas', { contextId: ctx }), 'EINTERNAL', 500);
    });
    t.database.sqlite.exec('DROP TRIGGER no_audit');
    const ioas = must(await t.req('POST', '/v1/ioas', { contextId: ctx }), 201).id;
    const before = await audit(t);
    expect(before.at(-1)).toMatchObject({ created: [ioas] });
    // Durable: the same trail after a restart.
    t = await t.restart();
    apps = [t];
    expect(await audit(t)).toEqual(before);
  });

  it('audit: GraphQL mutations are recorded (route /graphql, the mutation\'s field as operation); the GraphQL query answers the same entries', async () => {
    const t = await start();
    const res = await t.gql('mutation { createContext(name: "gql") { id } }');
    const ctx = Number(res.data.createContext.id);
    await t.gql(`mutation { createIoas(contextId: ${ctx}) { id } }`);
    const rest = await audit(t, `?contextId=${ctx}`);
    expect(rest).toEqual([
      expect.objectContaining({ actor: 'anonymous', method: 'POST', route: '/graphql', path: '/graphql', operation: 'createContext', created: [ctx] }),
      expect.objectContaining({ route: '/graphql', operation: 'createIoas', contextIds: [ctx] }),
    ]);
    const q = await t.gql(`{ audit(contextId: ${ctx}, limit: 1) { items { seq at requestId actor method route path operation contextIds created changed destroyed } nextCursor } }`);
    expect(q.errors).toBeUndefined();
    // GraphQL ids are IDs (strings).
    const ids = (xs: number[]) => xs.map(String);
    expect(q.data.audit.items).toEqual([{ ...rest[0], contextIds: ids(rest[0].contextIds), created: ids(rest[0].created), changed: ids(rest[0].changed), destroyed: ids(rest[0].destroyed) }]);
    const next = await t.gql(`{ audit(contextId: ${ctx}, limit: 1, cursor: "${q.data.audit.nextCursor}") { items { seq } nextCursor } }`);
    expect(next.data.audit).toEqual({ items: [{ seq: rest[1].seq }], nextCursor: null });
  });
});

describe('audit: a guest\'s doorbells', () => {
  it('audit: a vCMDQ PROD write is durable but not an audit entry (the guest\'s MMIO store, not an ioctl); one that stops the queue with a new error is; CONFIG.EN, GERRORN, create and destroy are', async () => {
    let t = await start();
    const g = await buildViommu(t, { device: 'nic1', type: 'tegra241_cmdqv' });
    must(await t.req('POST', `/v1/ioas/${g.ioas}/mappings`, { iova: '0x40000000', length: '0x10000' }), 201);
    const q = must(await t.req('POST', '/v1/hw-queues', { viommuId: g.viommu, type: 'tegra241_cmdqv', index: 0, nestingParentIova: '0x40000000', length: '0x1000' }), 201);
    must(await t.req('PATCH', `/v1/hw-queues/${q.id}`, { enabled: true }), 200);
    const before = await audit(t);
    expect(before.at(-1)).toMatchObject({ method: 'PATCH', route: '/v1/hw-queues/:id', changed: [q.id] });
    const rows = auditRows(t).length;
    // Two doorbells the SMMU consumes (a CMD_SYNC each): the queue moves, the audit does not.
    for (let i = 0; i < 2; i++) expect(must(await t.req('POST', `/v1/hw-queues/${q.id}/commands`, { entries: [['0x46', '0x0']] }), 200)).toMatchObject({ consumed: 1, error: null });
    expect(await audit(t)).toEqual(before);
    expect(auditRows(t)).toHaveLength(rows);
    // Durable all the same: the registers and the queue memory read back after a restart.
    t = await t.restart();
    apps.push(t);
    expect(must(await t.req('GET', `/v1/hw-queues/${q.id}`), 200)).toMatchObject({ prod: 2, cons: 2 });
    // An illegal command stops the queue: that doorbell is recorded (the VMM's view of an error).
    const stop = must(await t.req('POST', `/v1/hw-queues/${q.id}/commands`, { entries: [['0x30', '0x0']] }), 200);
    expect(stop.error).toMatchObject({ code: 'CERROR_ILL' });
    const after = await audit(t);
    expect(after).toHaveLength(before.length + 1);
    expect(after.at(-1)).toMatchObject({ method: 'POST', route: '/v1/hw-queues/:id/commands', changed: [q.id] });
    // While stopped, a doorbell adds commands but no error: not recorded.
    must(await t.req('POST', `/v1/hw-queues/${q.id}/commands`, { entries: [['0x46', '0x0']] }), 200);
    expect(await audit(t)).toHaveLength(before.length + 1);
    // GERRORN and destroy are iommufd-side operations: recorded.
    must(await t.req('POST', `/v1/hw-queues/${q.id}/error/ack`), 200);
    must(await t.req('DELETE', `/v1/objects/${q.id}`), 204);
    const last = await audit(t);
    expect(last).toHaveLength(before.length + 3);
    expect(last.at(-1)).toMatchObject({ method: 'DELETE', destroyed: [q.id] });
  });
});

describe('audit: who, and who may read it', () => {
  it('audit: with API_TOKENS the actor is the token\'s name (never the token); only an admin reads the trail (REST and GraphQL); filter by token', async () => {
    const t = await start({ API_TOKENS: TOKENS });
    const ctx = must(await t.req('POST', '/v1/contexts', { name: 'vm' }, as('operator-token-1')), 201).id;
    must(await t.req('POST', '/v1/ioas', { contextId: ctx }, as('admin-token-1')), 201);
    expectProblem(await t.req('GET', '/v1/audit', undefined, as('operator-token-1')), 'EPERM', 403);
    expectProblem(await t.req('GET', '/v1/audit', undefined, as('viewer-token-1')), 'EPERM', 403);
    expectProblem(await t.req('GET', '/v1/audit'), 'EUNAUTHENTICATED', 401);
    const entries = await audit(t, `?contextId=${ctx}`, as('admin-token-1'));
    expect(entries).toHaveLength(2);
    const [operator, admin] = entries.map((e) => e.actor as string);
    expect(operator).not.toBe(admin);
    for (const name of [operator, admin]) expect(name).not.toMatch(/token-1/);
    expect(operator).toMatch(/^operator-/);
    expect(await audit(t, `?token=${operator}`, as('admin-token-1'))).toEqual([entries[0]]);
    expect(JSON.stringify(readDatabase(t.dbFile).tables.AuditEntry)).not.toMatch(/token-1/);
    const gql = await t.req('POST', '/graphql', { query: '{ audit { items { seq } } }' }, as('operator-token-1'));
    expect(gql.body.errors[0].extensions.errno).toBe('EPERM');
  });
});

describe('audit: listing', () => {
  it('audit: cursor paging (limit 1..500, default 100) walks every entry once; filters by context and object', async () => {
    const t = await start();
    const g = await buildViommu(t);
    const other = must(await t.req('POST', '/v1/contexts', { name: 'other' }), 201).id;
    for (let i = 0; i < 5; i++) must(await t.req('POST', '/v1/ioas', { contextId: other }), 201);
    const all = await audit(t);
    const paged: unknown[] = [];
    let cursor: string | null = null;
    do {
      const page = must(await t.req('GET', `/v1/audit?limit=3${cursor ? `&cursor=${cursor}` : ''}`), 200);
      expect(page.items.length).toBeLessThanOrEqual(3);
      paged.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor !== null);
    expect(paged).toEqual(all);
    expect(must(await t.req('GET', '/v1/audit'), 200).items).toHaveLength(Math.min(100, all.length));
    // By context, and by object: every entry that created, changed or destroyed it.
    expect((await audit(t, `?contextId=${other}`)).length).toBe(6);
    const viommu = await audit(t, `?objectId=${g.viommu}`);
    expect(viommu).toEqual([expect.objectContaining({ route: '/v1/viommus', created: [g.viommu] })]);
    const device = await audit(t, `?objectId=${g.dev}`);
    expect(device.map((e) => e.route)).toEqual(['service', '/v1/contexts/:id/devices', '/v1/devices/:id/attachment']);
    for (const bad of ['limit=0', 'limit=501', 'cursor=x', 'contextId=0', 'objectId=abc']) expectProblem(await t.req('GET', `/v1/audit?${bad}`), 'EINVAL', 400);
  });

  it('audit: AUDIT_RETENTION keeps the newest entries; the oldest leave the database in the same commits', async () => {
    const t = await start({ AUDIT_RETENTION: '100' });
    const ctx = must(await t.req('POST', '/v1/contexts', { name: 'vm' }), 201).id;
    const ids: number[] = [];
    for (let i = 0; i < 110; i++) ids.push(must(await t.req('POST', '/v1/ioas', { contextId: ctx }), 201).id);
    const entries = await audit(t);
    expect(entries).toHaveLength(100);
    expect(entries.map((e) => e.created[0])).toEqual(ids.slice(10));
    expect(auditRows(t)).toHaveLength(100);
    // Concurrent writes (one group commit) trim as well.
    await Promise.all(Array.from({ length: 20 }, () => t.req('POST', '/v1/ioas', { contextId: ctx })));
    expect(await audit(t)).toHaveLength(100);
    expect(auditRows(t)).toHaveLength(100);
  });
});

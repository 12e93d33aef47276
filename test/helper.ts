/**
 * Test harness: the real app on a real SQLite file in a fresh temporary directory, driven through
 * fastify.inject (real HTTP semantics without a socket). `snapshot()` observes the service only
 * from the outside, so it survives any restructuring of src/: `db` is every table of the SQLite
 * file read with raw SQL over a separate read-only connection, `graph` is the public state (every
 * list endpoint fully paged, every IOAS's mappings, every context's devices, every SMMU's model
 * state with its command log). A test can so prove that a rejected request changed neither.
 */
import { appendFileSync, copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { afterAll, expect } from 'vitest';
import { buildApp, type App } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { applyPendingMigrations } from '../src/storage/migrate.js';
import type { OpenApiResponseChecker, ResponseMismatch } from './reliability/openapi-responses.js';

export interface TestApp extends App {
  dir: string;
  dbFile: string;
  close(): Promise<void>;
  /** Stops the app and starts a new one on the same database file. */
  restart(): Promise<TestApp>;
  req(method: InjectOptions['method'], url: string, body?: unknown, headers?: Record<string, string>): Promise<Res>;
  gql(query: string, variables?: Record<string, unknown>): Promise<any>;
  /** `db`: every table by raw SQL; `graph`: the public state over the API (see the file comment). */
  snapshot(): Promise<{ db: string; graph: string }>;
}

export interface Res {
  status: number;
  body: any;
  headers: Record<string, unknown>;
  raw: string;
}

/** JSON with sorted keys and bigints as "123n", so two reads of the same rows compare equal. */
function stableJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) => {
    if (typeof v === 'bigint') return `${v}n`;
    if (v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date)) {
      return Object.fromEntries(Object.keys(v).sort().map((k) => [k, (v as Record<string, unknown>)[k]]));
    }
    return v;
  });
}

/** Tables that are not the service's state: Prisma's migration log and SQLite's own. */
const SKIPPED_TABLES = /^(_prisma_migrations$|sqlite_)/;
const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/** One SQL value as comparable JSON: integers exactly (bigint), BLOBs as hex. */
function sqlCell(v: unknown): unknown {
  if (Buffer.isBuffer(v)) return `blob:${v.toString('hex')}`;
  if (typeof v === 'bigint') return `${v}n`;
  return v;
}

export interface DatabaseRows {
  /** Table name → rows (column name → value), ordered by every column. */
  tables: Record<string, Array<Record<string, unknown>>>;
}

/**
 * Every table of the service's SQLite file, read with raw SQL through a separate read-only
 * better-sqlite3 connection (it sees what is committed; WAL readers never block the service).
 */
export function readDatabase(dbFile: string): DatabaseRows {
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    db.defaultSafeIntegers(true);
    const names = (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).pluck().all() as string[]).filter((n) => !SKIPPED_TABLES.test(n));
    const tables: DatabaseRows['tables'] = {};
    for (const name of names) {
      const columns = db.prepare('SELECT name FROM pragma_table_info(?) ORDER BY cid').pluck().all(name) as string[];
      const rows = db.prepare(`SELECT * FROM ${quoteIdent(name)} ORDER BY ${columns.map(quoteIdent).join(', ')}`).all() as Array<Record<string, unknown>>;
      tables[name] = rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, sqlCell(v)])));
    }
    return { tables };
  } finally {
    db.close();
  }
}

/** The `id` of every row of every table that has one: the entities the database holds. */
function databaseIds(rows: DatabaseRows): number[] {
  const ids: number[] = [];
  for (const table of Object.values(rows.tables)) {
    for (const r of table) {
      if (typeof r.id === 'string' && /^\d+n$/.test(r.id)) ids.push(Number(r.id.slice(0, -1)));
    }
  }
  return ids.sort((a, b) => a - b);
}

/** Every collection of api.md's "Lists" that takes no path parameter. */
export const LIST_ENDPOINTS = [
  '/v1/smmus',
  '/v1/devices',
  '/v1/contexts',
  '/v1/objects',
  '/v1/ioas',
  '/v1/hwpts',
  '/v1/viommus',
  '/v1/vdevices',
  '/v1/eventqs',
  '/v1/hw-queues',
] as const;

export interface PublicState {
  /** Path → the body of every GET the state was read from. */
  views: Record<string, unknown>;
  /** Ids of every SMMU, device, context and object the API lists. */
  ids: number[];
}

/** GETs `url` (with `limit=500`) page by page until `nextCursor` is null; returns every item. */
export async function listAll(t: Pick<TestApp, 'req'>, url: string, headers: Record<string, string> = {}): Promise<any[]> {
  const items: any[] = [];
  const seen = new Set<string>();
  let cursor: string | null = null;
  for (;;) {
    const sep = url.includes('?') ? '&' : '?';
    const res = await t.req('GET', `${url}${sep}limit=500${cursor === null ? '' : `&cursor=${cursor}`}`, undefined, headers);
    if (res.status !== 200 || !Array.isArray(res.body?.items)) throw new Error(`GET ${url}: ${res.status} ${res.raw}`);
    items.push(...res.body.items);
    cursor = res.body.nextCursor ?? null;
    if (cursor === null) return items;
    if (seen.has(cursor)) throw new Error(`GET ${url}: cursor ${cursor} returned twice`);
    seen.add(cursor);
  }
}

/**
 * The public state: every list endpoint fully paged, each context's devices, each IOAS's
 * mappings, and each SMMU's model state (counters, caches, queue pointers, the last 1024
 * commands). Nothing is dropped: a rejected request must change none of it.
 */
export async function readPublicState(t: Pick<TestApp, 'req'>, headers: Record<string, string> = {}): Promise<PublicState> {
  const views: Record<string, unknown> = {};
  const get = async (url: string) => {
    const res = await t.req('GET', url, undefined, headers);
    if (res.status !== 200) throw new Error(`GET ${url}: ${res.status} ${res.raw}`);
    views[url] = res.body;
    return res.body;
  };
  const lists: Record<string, any[]> = {};
  for (const url of LIST_ENDPOINTS) views[url] = lists[url] = await listAll(t, url, headers);
  for (const c of lists['/v1/contexts']) {
    const url = `/v1/contexts/${c.id}/devices`;
    views[url] = await listAll(t, url, headers);
  }
  for (const o of lists['/v1/ioas']) await get(`/v1/ioas/${o.id}/mappings`);
  for (const s of lists['/v1/smmus']) await get(`/v1/smmus/${s.id}/state?commands=1024`);
  const ids = ['/v1/smmus', '/v1/devices', '/v1/contexts', '/v1/objects'].flatMap((u) => lists[u].map((x: { id: number }) => x.id));
  return { views, ids: ids.sort((a, b) => a - b) };
}

/** A token that may read, when the app runs with API_TOKENS (every role reads). */
function readerHeaders(env: Record<string, string> | undefined): Record<string, string> {
  const tokens = env?.API_TOKENS;
  if (!tokens) return {};
  const first = tokens.split(',').map((p) => p.trim()).find(Boolean) ?? '';
  return { authorization: `Bearer ${first.slice(0, first.lastIndexOf(':'))}` };
}
/** The headers snapshots read the public state with, and the environment, per app. */
const readHeaders = new WeakMap<TestApp, Record<string, string>>();
const appEnv = new WeakMap<TestApp, Record<string, string> | undefined>();

/**
 * Every answer is checked against /openapi.json, strict by default (issue: "every response in the
 * HTTP tests matches its documented schema and status"): every answer `t.req` and `t.gql` receive
 * is checked against the documented responses of its route — the status documented (exactly, as
 * `4XX`, or `default`), the content type one of its media types, and the body valid against its
 * schema; a body the document gives no schema for fails too (test/reliability/openapi-responses.ts,
 * FAILING_KINDS). In `strict` mode a mismatch throws from `t.req`; in `record` mode it is only kept
 * in `responseMismatches` (and appended as a JSON line to the file VSMMU_RESPONSE_LOG names, if
 * set), in both modes. VSMMU_CHECK_RESPONSES=record|off changes the default for a test run (to
 * list every mismatch of a folder at once); startApp's `checkResponses` for one app.
 */
export type ResponseCheckMode = 'off' | 'record' | 'strict';
export const responseMismatches: Array<ResponseMismatch & { test?: string }> = [];
/** One checker per document (every app of a run serves the same one): ajv compiles each schema once. */
const responseCheckers = new Map<string, Promise<OpenApiResponseChecker>>();
const checkerOfApp = new WeakMap<FastifyInstance, Promise<OpenApiResponseChecker>>();

function envResponseCheckMode(): ResponseCheckMode {
  const v = process.env.VSMMU_CHECK_RESPONSES;
  return v === 'record' || v === 'off' ? v : 'strict';
}

function checkerOf(app: FastifyInstance): Promise<OpenApiResponseChecker> {
  let checker = checkerOfApp.get(app);
  if (!checker) {
    const doc = app.swagger() as Record<string, any>;
    const key = JSON.stringify(doc);
    checker = responseCheckers.get(key);
    if (!checker) {
      checker = import('./reliability/openapi-responses.js').then((m) => new m.OpenApiResponseChecker(doc));
      responseCheckers.set(key, checker);
    }
    checkerOfApp.set(app, checker);
  }
  return checker;
}

async function checkResponse(app: FastifyInstance, method: string, url: string, res: Res, mode: ResponseCheckMode): Promise<void> {
  const found = (await checkerOf(app)).check(method, url, res);
  if (found.length === 0) return;
  const test = expect.getState().testPath;
  responseMismatches.push(...found.map((m) => ({ ...m, test })));
  const log = process.env.VSMMU_RESPONSE_LOG;
  if (log) appendFileSync(log, found.map((m) => `${JSON.stringify({ ...m, test })}\n`).join(''));
  if (mode === 'strict') {
    const { FAILING_KINDS } = await import('./reliability/openapi-responses.js');
    const failing = found.filter((m) => FAILING_KINDS.has(m.kind));
    if (failing.length) throw new Error(`response does not match /openapi.json: ${failing.map((m) => `${m.method} ${m.url} → ${m.status}: ${m.detail}`).join('; ')}`);
  }
}

let template: Promise<string> | undefined;

/**
 * A database file with every migration applied, made once per test process: a new database
 * costs the migration engine's 5 MB of WebAssembly compiled again (0.3–0.8 s here), which was
 * most of a test's start. A copy is what a first start leaves — the migrations recorded as
 * `prisma migrate deploy` records them, nothing else — and the service's own start checks it
 * (storage/migrate.ts migrationsUpToDate) as it checks any database. The first start of an empty
 * database is tested where it matters (test/storage, test/ops: the real service in a process).
 */
function migratedTemplate(): Promise<string> {
  template ??= (async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vsmmu-template-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'vsmmu.db');
    await applyPendingMigrations(file);
    return file;
  })();
  return template;
}

export async function startApp(opts: { dir?: string; env?: Record<string, string>; checkResponses?: ResponseCheckMode } = {}): Promise<TestApp> {
  const dir = opts.dir ?? mkdtempSync(path.join(os.tmpdir(), 'vsmmu-test-'));
  const dbFile = path.join(dir, 'vsmmu.db');
  if (!existsSync(dbFile)) copyFileSync(await migratedTemplate(), dbFile);
  const config = loadConfig({ DATABASE_URL: `file:${dbFile}`, LOG_LEVEL: 'silent', ...opts.env });
  const built = await buildApp(config);
  await built.app.ready();
  const app: FastifyInstance = built.app;
  const t: TestApp = {
    ...built,
    dir,
    dbFile,
    async close() {
      await app.close();
      if (!opts.dir) rmSync(dir, { recursive: true, force: true });
    },
    async restart() {
      await app.close();
      return startApp({ dir, env: opts.env, ...(opts.checkResponses === undefined ? {} : { checkResponses: opts.checkResponses }) });
    },
    async req(method, url, body, headers = {}) {
      const res = await app.inject({
        method,
        url,
        ...(body === undefined ? {} : typeof body === 'string' || Buffer.isBuffer(body) ? { payload: body } : { payload: body as object }),
        headers: { ...(body !== undefined && typeof body !== 'string' && !Buffer.isBuffer(body) ? { 'content-type': 'application/json' } : {}), ...headers },
      });
      let parsed: unknown = undefined;
      try {
        parsed = res.body ? JSON.parse(res.body) : undefined;
      } catch {
        parsed = res.body;
      }
      const out: Res = { status: res.statusCode, body: parsed, headers: res.headers, raw: res.body };
      const mode = opts.checkResponses ?? envResponseCheckMode();
      // Checked against the operation of the URL the app received: inject resolves dot segments
      // as an HTTP client does (`/v1/contexts/../devices/2` is DELETE /v1/devices/2).
      const received = (res.raw as unknown as { req?: { url?: string } }).req?.url ?? url;
      if (mode !== 'off') await checkResponse(app, String(method ?? 'GET'), received, out, mode);
      return out;
    },
    async gql(query, variables) {
      const res = await app.inject({ method: 'POST', url: '/graphql', payload: { query, variables } });
      const body = JSON.parse(res.body);
      const mode = opts.checkResponses ?? envResponseCheckMode();
      if (mode !== 'off') await checkResponse(app, 'POST', '/graphql', { status: res.statusCode, body, headers: res.headers, raw: res.body }, mode);
      return body;
    },
    async snapshot() {
      const { db, graph } = await capture(t);
      return { db, graph };
    },
  };
  readHeaders.set(t, readerHeaders(opts.env));
  appEnv.set(t, opts.env);
  return t;
}

/** Asserts a problem+json response with this errno (and the status api.md gives it). */
export function expectProblem(res: Res, errno: string, status?: number): void {
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body.errno, JSON.stringify(res.body)).toBe(errno);
  if (status !== undefined) expect(res.status).toBe(status);
  expect(typeof res.body.requestId).toBe('string');
  expect(res.body.status).toBe(res.status);
  // api.md: `detail` explains this occurrence — never empty, never just the title.
  expect(res.body.detail, JSON.stringify(res.body)).toMatch(/\S/);
  expect(res.body.detail).not.toBe(res.body.title);
}

const isModelState = (url: string): boolean => /^\/v1\/smmus\/\d+\/state/.test(url);

/**
 * Both views at once: `graph` is the whole public state, `objects` the same without the SMMU
 * models' state; and the entity ids each side holds, for the consistency check.
 */
async function capture(t: TestApp): Promise<{ db: string; graph: string; objects: string; dbIds: number[]; apiIds: number[] }> {
  const rows = readDatabase(t.dbFile);
  const state = await readPublicState(t, readHeaders.get(t) ?? {});
  const objects = Object.fromEntries(Object.entries(state.views).filter(([url]) => !isModelState(url)));
  return { db: stableJson(rows.tables), graph: stableJson(state.views), objects: stableJson(objects), dbIds: databaseIds(rows), apiIds: state.ids };
}

/**
 * The database holds exactly what the API shows: the ids of every SMMU, device, context and
 * object the API lists are the ids of the database's rows, and an app started on a consistent
 * copy of the database file (SQLite's backup API) answers the same public state as the live one —
 * every list, mapping and context's devices (the SMMU models' state is volatile: it restarts
 * empty, as after a reset).
 */
export async function expectConsistent(t: TestApp): Promise<void> {
  const live = await capture(t);
  expect(live.apiIds, 'ids listed by the API vs ids of database rows').toEqual(live.dbIds);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vsmmu-copy-'));
  try {
    const source = new Database(t.dbFile, { readonly: true, fileMustExist: true });
    try {
      await source.backup(path.join(dir, 'vsmmu.db'));
    } finally {
      source.close();
    }
    const copy = await startApp({ dir, env: appEnv.get(t) });
    try {
      expect((await capture(copy)).objects, 'the public state of an app loaded from the database file').toBe(live.objects);
    } finally {
      await copy.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Runs `fn`, noting every answer to `t.req` that reports partial progress (api.md: a failed
 * request changes nothing "except where the kernel itself reports partial progress … and then
 * the response says exactly how far it got": a problem with `entriesProcessed` > 0).
 */
async function withProgressWatch(t: TestApp, fn: () => Promise<unknown>): Promise<Res[]> {
  const progress: Res[] = [];
  const req = t.req;
  t.req = async (...args) => {
    const res = await req(...args);
    if (res.status >= 400 && typeof res.body?.entriesProcessed === 'number' && res.body.entriesProcessed > 0) progress.push(res);
    return res;
  };
  try {
    await fn();
  } finally {
    t.req = req;
  }
  return progress;
}

/**
 * Runs `fn` and asserts the database (raw SQL, every table) and the public state (every list,
 * every mapping, every SMMU model's counters, caches, queue pointers and command log) are both
 * unchanged, and that the database and the API held the same entities beforehand. The one
 * exception api.md makes: when an answer reported partial progress (`entriesProcessed` > 0), the
 * commands it reports ran on the SMMU, so only the SMMU models' state may differ.
 */
export async function expectUnchanged(t: TestApp, fn: () => Promise<unknown>): Promise<void> {
  const before = await capture(t);
  expect(before.apiIds, 'ids listed by the API vs ids of database rows').toEqual(before.dbIds);
  const progress = await withProgressWatch(t, fn);
  const after = await capture(t);
  expect(after.db).toBe(before.db);
  if (progress.length === 0) expect(after.graph).toBe(before.graph);
  else expect(after.objects).toBe(before.objects);
}

/** Devices of the built-in topology, by name. */
export async function deviceByName(t: TestApp, name: string): Promise<{ id: number; smmuId: number; streamId: number }> {
  const res = await t.req('GET', '/v1/devices?limit=500');
  const d = res.body.items.find((x: { name: string }) => x.name === name);
  if (!d) throw new Error(`no device ${name}`);
  return d;
}

export interface Graph {
  ctx: number;
  dev: number;
  ioas: number;
  parent: number;
  viommu: number;
}

/** F-VIOMMU adapted to ARM SMMUv3: context, bound device attached to an IOAS, nest parent, vIOMMU. */
export async function buildViommu(t: TestApp, opts: { device?: string; type?: string } = {}): Promise<Graph> {
  // Context names are unique (EEXIST): a second graph in the same app gets "vm-2", …
  let created = await t.req('POST', '/v1/contexts', { name: 'vm' });
  for (let i = 2; created.status === 409; i++) created = await t.req('POST', '/v1/contexts', { name: `vm-${i}` });
  const ctx = must(created, 201).id;
  const dev = (await deviceByName(t, opts.device ?? 'nic0')).id;
  must(await t.req('POST', `/v1/contexts/${ctx}/devices`, { deviceId: dev }), 201);
  const ioas = must(await t.req('POST', '/v1/ioas', { contextId: ctx }), 201).id;
  must(await t.req('PUT', `/v1/devices/${dev}/attachment`, { ptId: ioas }), 200);
  const parent = must(await t.req('POST', '/v1/hwpts', { deviceId: dev, ptId: ioas, flags: ['nest_parent'] }), 201).id;
  const viommu = must(await t.req('POST', '/v1/viommus', { deviceId: dev, hwptId: parent, type: opts.type ?? 'arm_smmuv3' }), 201).id;
  return { ctx, dev, ioas, parent, viommu };
}

export function must(res: Res, status: number): any {
  if (res.status !== status) throw new Error(`expected ${status}, got ${res.status}: ${res.raw}`);
  return res.body;
}

/** Scratch directories for one test file: each call makes one under `prefix`; all are removed after the file's tests. */
export function scratchDirs(prefix: string): () => string {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  return () => {
    const d = mkdtempSync(path.join(os.tmpdir(), prefix));
    dirs.push(d);
    return d;
  };
}

/**
 * Test harness: the real app on a real SQLite file in a fresh temporary directory, driven through
 * fastify.inject (real HTTP semantics without a socket). `snapshot()` reads both the database
 * (through the repository, i.e. real SQL) and the in-memory graph, so a test can prove that a
 * rejected request changed neither, and that the two agree.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { expect } from 'vitest';
import { buildApp, type App } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { TABLE_ORDER } from '../src/domain/types.js';

export interface TestApp extends App {
  dir: string;
  dbFile: string;
  close(): Promise<void>;
  /** Stops the app and starts a new one on the same database file. */
  restart(): Promise<TestApp>;
  req(method: InjectOptions['method'], url: string, body?: unknown, headers?: Record<string, string>): Promise<Res>;
  gql(query: string, variables?: Record<string, unknown>): Promise<any>;
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

const normalise = (tables: Record<string, unknown[]>): string =>
  JSON.stringify(
    Object.fromEntries(
      TABLE_ORDER.map((t) => [
        t,
        [...(tables[t] ?? [])]
          .map((r) => stableJson(r))
          .sort(),
      ]),
    ),
  );

export async function startApp(opts: { dir?: string; env?: Record<string, string> } = {}): Promise<TestApp> {
  const dir = opts.dir ?? mkdtempSync(path.join(os.tmpdir(), 'vsmmu-test-'));
  const dbFile = path.join(dir, 'vsmmu.db');
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
      return startApp({ dir, env: opts.env });
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
      return { status: res.statusCode, body: parsed, headers: res.headers, raw: res.body };
    },
    async gql(query, variables) {
      const res = await app.inject({ method: 'POST', url: '/graphql', payload: { query, variables } });
      return JSON.parse(res.body);
    },
    async snapshot() {
      const db = normalise((await built.repository.loadAll()) as unknown as Record<string, unknown[]>);
      const graph = normalise(Object.fromEntries(TABLE_ORDER.map((t) => [t, [...built.service.graph.tables[t].values()]])));
      return { db, graph };
    },
  };
  return t;
}

/** Asserts a problem+json response with this errno (and the status api.md gives it). */
export function expectProblem(res: Res, errno: string, status?: number): void {
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body.errno, JSON.stringify(res.body)).toBe(errno);
  if (status !== undefined) expect(res.status).toBe(status);
  expect(typeof res.body.requestId).toBe('string');
  expect(res.body.status).toBe(res.status);
}

/** Runs `fn` and asserts the database and the in-memory graph are both unchanged, and agree. */
export async function expectUnchanged(t: TestApp, fn: () => Promise<unknown>): Promise<void> {
  const before = await t.snapshot();
  expect(before.db).toBe(before.graph);
  await fn();
  const after = await t.snapshot();
  expect(after.db).toBe(before.db);
  expect(after.graph).toBe(before.graph);
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
  const ctx = (await t.req('POST', '/v1/contexts', { name: 'vm' })).body.id;
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

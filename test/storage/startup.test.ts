/**
 * The start-up path of storage (issue 13, startup_100k_s and rss_100k_mb):
 * - openDatabase opens the one connection itself and leaves Prisma's client unloaded and
 *   unconnected (`prisma()` loads it; its first query connects it, on that same connection, and
 *   only then loads its query compiler); the service never asks for it, writes and reads included;
 *   the readiness count runs as a prepared statement; close() closes the connection either way.
 * - The object table is loaded per type straight into records (statements.ts readObjects, rows.ts
 *   objectReader): the same records, in id order, as the row path (`SELECT *`, Prisma's decoding,
 *   `objects.fromRow`), also for values only SQL writes; a type no descriptor knows fails the load.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startApp } from '../helper.js';
import type { ObjectRec } from '../../src/domain/types.js';
import { openDatabase, type OpenedDatabase } from '../../src/storage/database.js';
import { MIGRATIONS_DIR } from '../../src/storage/migrate.js';
import { COLUMN_MAPS } from '../../src/storage/rows.js';
import { readObjects, readRows, readTable } from '../../src/storage/statements.js';

/** The row path: `SELECT *` rows as Prisma's client decodes them, then the column map. */
const fromRow = COLUMN_MAPS.objects.fromRow as (row: Record<string, unknown>) => ObjectRec;

const dirs: string[] = [];
async function freshDatabase(): Promise<OpenedDatabase> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vsmmu-startup-'));
  dirs.push(dir);
  return openDatabase(`file:${path.join(dir, 'vsmmu.db')}`);
}

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const migrationCount = () => readdirSync(MIGRATIONS_DIR, { withFileTypes: true }).filter((e) => e.isDirectory()).length;

describe('storage start-up', () => {
  it('open: Prisma stays unconnected; the readiness count is a prepared statement; Prisma\'s first query runs on the same connection', async () => {
    const db = await freshDatabase();
    try {
      expect(db.prismaConnected()).toBe(false);
      expect(db.prismaLoaded()).toBe(false);
      expect(db.finishedMigrations()).toBe(migrationCount());
      expect(db.prismaConnected()).toBe(false);
      expect(db.prismaLoaded()).toBe(false);
      // A TEMP table exists on its own connection only: Prisma sees it, so Prisma got this one.
      db.sqlite.exec('CREATE TEMP TABLE "probe" ("x" INTEGER)');
      db.sqlite.prepare('INSERT INTO temp."probe" ("x") VALUES (?)').run(42);
      const rows = await (await db.prisma()).$queryRawUnsafe<Array<{ x: bigint | number }>>('SELECT "x" FROM temp."probe"');
      expect(rows.map((r) => Number(r.x))).toEqual([42]);
      expect(db.prismaConnected()).toBe(true);
      // And its writes are the connection's: seen by the prepared statements at once.
      await (await db.prisma()).$executeRawUnsafe('INSERT INTO temp."probe" ("x") VALUES (7)');
      expect(db.sqlite.prepare('SELECT COUNT(*) FROM temp."probe"').pluck().get()).toBe(2n);
    } finally {
      await db.close();
    }
    expect(db.sqlite.open).toBe(false);
    expect(() => db.finishedMigrations()).toThrow();
  });

  it('the service never loads Prisma\'s client: creates, reads, a list page and /readyz run without it', async () => {
    const t = await startApp();
    try {
      const ctx = await t.req('POST', '/v1/contexts', { name: 'vm-lazy' });
      expect(ctx.status).toBe(201);
      expect((await t.req('POST', '/v1/ioas', { contextId: ctx.body.id })).status).toBe(201);
      expect((await t.req('GET', '/v1/objects?limit=10')).status).toBe(200);
      expect((await t.req('GET', '/readyz')).status).toBe(200);
      expect(t.database.prismaLoaded()).toBe(false);
      expect(t.database.prismaConnected()).toBe(false);
    } finally {
      await t.close();
    }
  });

  it('close: the connection closes also when Prisma never connected', async () => {
    const db = await freshDatabase();
    expect(db.sqlite.open).toBe(true);
    await db.close();
    expect(db.prismaConnected()).toBe(false);
    expect(db.prismaLoaded()).toBe(false);
    expect(db.sqlite.open).toBe(false);
  });

  it('readObjects: the records of the row path, in id order, for values only SQL writes too; creation times as milliseconds since the epoch', async () => {
    const db = await freshDatabase();
    try {
      const sqlite = db.sqlite;
      sqlite.pragma('foreign_keys = OFF');
      sqlite.prepare('INSERT INTO "Context" ("id", "name") VALUES (1, \'c\')').run();
      const insert = (cols: Record<string, unknown>) => {
        const names = Object.keys(cols);
        sqlite.prepare(`INSERT INTO "IommufdObject" (${names.map((n) => `"${n}"`).join(', ')}) VALUES (${names.map(() => '?').join(', ')})`).run(...Object.values(cols));
      };
      const at = '2026-11-27T13:48:56.714+00:00';
      // Types interleaved by id, so the per-type lists must be merged.
      insert({ id: 9, contextId: 1, type: 'ioas', createdAt: at });
      insert({ id: 3, contextId: 1, type: 'vdevice', viommuId: 5, deviceId: 2, smmuId: 1, virtId: 2n ** 60n + 1n, sidSlot: null, createdAt: at });
      insert({ id: 5, contextId: 1, type: 'viommu', viommuType: 'arm_smmuv3', hwptId: 4, deviceId: 2, smmuId: 1, vmid: 7, createdAt: 1_700_000_000_123 });
      insert({ id: 4, contextId: 1, type: 'hwpt_paging', ioasId: 9, deviceId: 2, smmuId: 1, nestParent: 1, stage: 2, vmid: 3, createdAt: '2026-11-27 10:00:00' });
      insert({ id: 6, contextId: 1, type: 'hwpt_nested', viommuId: 5, deviceId: 2, vste0: '0x000000008000000b', vste1: '0x0000000000000000', enableAts: 1, createdAt: at });
      insert({ id: 7, contextId: 1, type: 'veventq', viommuId: 5, eventqType: 'arm_smmuv3', depth: -1, nextSequence: 2, nextOrd: 2n ** 53n + 1n, createdAt: at });
      const loaded = readTable(sqlite, 'objects', '"id"');
      const rowPath = readRows(sqlite, COLUMN_MAPS.objects.table, '"id"', fromRow);
      expect(loaded.map((o) => o.id)).toEqual([3, 4, 5, 6, 7, 9]);
      expect(loaded).toStrictEqual(rowPath);
      const byId = new Map<number, ObjectRec>(loaded.map((o) => [o.id, o]));
      expect(byId.get(3)).toMatchObject({ type: 'vdevice', virtId: Number(2n ** 60n + 1n) });
      expect(byId.get(7)).toMatchObject({ type: 'veventq', depth: 0xffffffff, nextOrd: Number(2n ** 53n + 1n) });
      // An object record keeps its creation time as a number (objects/descriptor.ts ObjectBase), whatever form SQL stored.
      expect(byId.get(5)?.createdAt).toBe(1_700_000_000_123);
      expect(byId.get(4)?.createdAt).toBe(Date.parse('2026-11-27T10:00:00Z'));
      expect(byId.get(9)?.createdAt).toBe(Date.parse(at));
      // A type no descriptor knows fails the load, as the row path does.
      insert({ id: 11, contextId: 1, type: 'iommu_fault_queue', createdAt: at });
      expect(() => readObjects(sqlite)).toThrow('object 11 has an unknown type iommu_fault_queue');
      expect(() => readRows(sqlite, COLUMN_MAPS.objects.table, '"id"', fromRow)).toThrow('object 11 has an unknown type iommu_fault_queue');
    } finally {
      await db.close();
    }
  });
});

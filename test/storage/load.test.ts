/**
 * The start-up load (src/storage/statements.ts readTable, prepared better-sqlite3 statements)
 * returns exactly what the earlier load through Prisma's findMany returned: the same records in
 * the same order, every table, every column — the Prisma path is kept here, in the test only, as
 * the reference. The database is built through the real app with every column away from its
 * default somewhere (test/storage/world.ts), and a second one holds values only SQL can write
 * (SQLite's CURRENT_TIMESTAMP default, integers beyond 2^53, a DateTime as epoch milliseconds).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TableName, TableRecords } from '../../src/domain/types.js';
import { LOAD_ORDER } from '../../src/storage/prisma-repository.js';
import { COLUMN_MAPS, dateFromText } from '../../src/storage/rows.js';
import { readRows } from '../../src/storage/statements.js';
import { startApp, type TestApp } from '../helper.js';
import { buildWorld, defaultColumns } from './world.js';

type Records = { [T in TableName]: TableRecords[T][] };

/** The load as it was (Prisma's findMany, then the column maps): the reference. */
async function prismaRows(t: TestApp) {
  const db = await t.database.prisma();
  const [meta, smmus, contexts, devices, objects, mappings, pages, events, idempotency, audit] = await Promise.all([
    db.meta.findMany(),
    db.smmu.findMany({ orderBy: { id: 'asc' } }),
    db.context.findMany({ orderBy: { id: 'asc' } }),
    db.device.findMany({ orderBy: { id: 'asc' } }),
    db.iommufdObject.findMany({ orderBy: { id: 'asc' } }),
    db.ioasMapping.findMany(),
    db.guestPage.findMany(),
    db.eventRecord.findMany({ orderBy: [{ eventqId: 'asc' }, { ord: 'asc' }] }),
    db.idempotencyKey.findMany(),
    db.auditEntry.findMany({ orderBy: { seq: 'asc' } }),
  ]);
  return { meta, smmus, contexts, devices, objects, mappings, pages, events, idempotency, audit };
}

async function prismaLoad(t: TestApp): Promise<Records> {
  const r = await prismaRows(t);
  const m = COLUMN_MAPS;
  return {
    meta: r.meta,
    smmus: r.smmus.map(m.smmus.fromRow),
    contexts: r.contexts.map(m.contexts.fromRow),
    devices: r.devices.map(m.devices.fromRow),
    objects: r.objects.map(m.objects.fromRow),
    mappings: r.mappings.map(m.mappings.fromRow),
    pages: r.pages.map(m.pages.fromRow),
    events: r.events.map(m.events.fromRow),
    idempotency: r.idempotency.map(m.idempotency.fromRow),
    audit: r.audit.map(m.audit.fromRow),
  };
}

/** Bytes as Prisma hands them out (a plain Uint8Array; better-sqlite3 gives a Buffer). */
const plainBytes = (row: Record<string, unknown>) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, Buffer.isBuffer(v) ? new Uint8Array(v) : v]));

async function expectSameLoad(t: TestApp): Promise<Records> {
  const reference = await prismaLoad(t);
  const loaded = await t.repository.loadAll();
  expect(Object.keys(loaded).sort()).toEqual(Object.keys(reference).sort());
  for (const table of Object.keys(reference) as TableName[]) {
    // Same records, same order, same classes (Date, Uint8Array), no extra or missing properties.
    expect(loaded[table], table).toStrictEqual(reference[table]);
  }
  // And the rows under the records, column by column, as Prisma's client types them.
  const rows = await prismaRows(t);
  for (const table of Object.keys(rows) as TableName[]) {
    const sqlRows = readRows(t.database.sqlite, COLUMN_MAPS[table].table, LOAD_ORDER[table], plainBytes);
    expect(sqlRows, `${table} rows`).toStrictEqual((rows[table] as Array<Record<string, unknown>>).map(plainBytes));
  }
  return loaded;
}

let t: TestApp;
beforeAll(async () => {
  t = await startApp();
  await buildWorld(t);
}, 120_000);
afterAll(async () => {
  await t?.close();
});

describe('storage load: prepared statements read what Prisma read', () => {
  it('load: the world built through the app has every column of every table away from its default', () => {
    expect(defaultColumns(t.dbFile)).toEqual([]);
  });

  it('load: every table, every record and every row equal the Prisma findMany load (order included)', async () => {
    const loaded = await expectSameLoad(t);
    for (const table of Object.keys(loaded) as TableName[]) expect(loaded[table].length, table).toBeGreaterThan(0);
  });

  it('load: after a restart the app serves the world it loaded the same way (the graph equals the load)', async () => {
    // The SMMU models restart empty (their command logs are not state): compared without them.
    const served = (graph: string) => Object.fromEntries(Object.entries(JSON.parse(graph) as Record<string, unknown>).filter(([url]) => !/^\/v1\/smmus\/\d+\/state/.test(url)));
    const before = await t.snapshot();
    t = await t.restart();
    const after = await t.snapshot();
    expect(after.db).toBe(before.db);
    expect(served(after.graph)).toEqual(served(before.graph));
    await expectSameLoad(t);
  });

  it('load: values only SQL writes — the CURRENT_TIMESTAMP default, epoch milliseconds, dates without a zone, integers beyond 2^53 — read as Prisma reads them', async () => {
    const sqlite = t.database.sqlite;
    const ctx = 900001;
    // SQLite's own default: "YYYY-MM-DD HH:MM:SS" (UTC, no zone, a space).
    sqlite.prepare('INSERT INTO "Context" ("id", "name") VALUES (?, ?)').run(ctx, 'sql-default');
    sqlite.prepare('INSERT INTO "Context" ("id", "name", "createdAt") VALUES (?, ?, ?)').run(ctx + 1, 'sql-epoch-ms', 1_700_000_000_123);
    sqlite.prepare('INSERT INTO "Context" ("id", "name", "createdAt") VALUES (?, ?, ?)').run(ctx + 2, 'sql-zone-hours', '2026-01-02T03:04:05.678+02');
    sqlite.prepare('INSERT INTO "Context" ("id", "name", "createdAt") VALUES (?, ?, ?)').run(ctx + 3, 'sql-date-only', '2026-01-02');
    sqlite.prepare('INSERT INTO "AuditEntry" ("seq", "at", "actor", "route") VALUES (?, ?, ?, ?)').run(2n ** 60n + 1n, '2026-01-02T03:04:05.678Z', 'sql', 'sql');
    try {
      const loaded = await expectSameLoad(t);
      const byName = new Map(loaded.contexts.map((c) => [c.name, c.createdAt]));
      expect(byName.get('sql-epoch-ms')).toEqual(new Date(1_700_000_000_123));
      expect(byName.get('sql-zone-hours')).toEqual(new Date('2026-01-02T01:04:05.678Z'));
      expect(byName.get('sql-date-only')).toEqual(new Date('2026-01-02T00:00:00Z'));
      const stamp = sqlite.prepare('SELECT "createdAt" FROM "Context" WHERE "id" = ?').pluck().get(ctx) as string;
      expect(stamp).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
      expect(byName.get('sql-default')).toEqual(new Date(stamp.replace(' ', 'T') + 'Z'));
    } finally {
      sqlite.prepare('DELETE FROM "Context" WHERE "id" >= ?').run(ctx);
      sqlite.prepare('DELETE FROM "AuditEntry" WHERE "actor" = ?').run('sql');
    }
  });

  it('load: DateTime text is read as Prisma\'s client reads it', () => {
    expect(dateFromText('2026-11-27T13:48:56.714+00:00')).toEqual(new Date('2026-11-27T13:48:56.714Z'));
    expect(dateFromText('2026-11-27 13:48:56')).toEqual(new Date('2026-11-27T13:48:56Z'));
    expect(dateFromText('2026-11-27T13:48:56-0130')).toEqual(new Date('2026-11-27T15:18:56Z'));
    expect(dateFromText('13:48:56')).toEqual(new Date('1970-01-01T13:48:56Z'));
  });
});

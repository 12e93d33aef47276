/**
 * The one write path (src/storage/statements.ts SqlWriter): every staged change of every table as
 * prepared statements in one SQLite transaction. What it stores is byte for byte what Prisma's
 * create stored (the same records written both ways into two empty databases); a statement SQLite
 * refuses rolls the whole group back and throws SQLite's own error; an update writes only the
 * columns that changed; an update or delete that finds no row fails the group; the statement
 * cache stays bounded.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StagedChange } from '../../src/domain/graph.js';
import { recordKey, TABLE_ORDER, type ContextRec, type TableName, type TableRecords } from '../../src/domain/types.js';
import { openDatabase, type OpenedDatabase } from '../../src/storage/database.js';
import { COLUMN_MAPS, toRow } from '../../src/storage/rows.js';
import { RowMissingError, SqlWriter } from '../../src/storage/statements.js';
import { readDatabase, startApp, type TestApp } from '../helper.js';
import { buildWorld } from './world.js';

type Records = { [T in TableName]: TableRecords[T][] };

const dirs: string[] = [];
const opened: OpenedDatabase[] = [];
async function emptyDatabase(): Promise<OpenedDatabase> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vsmmu-writer-'));
  dirs.push(dir);
  const db = await openDatabase(`file:${path.join(dir, 'vsmmu.db')}`);
  opened.push(db);
  return db;
}

const created = <T extends TableName>(table: T, record: TableRecords[T]): StagedChange => ({ table, key: recordKey(table, record), record, created: true });

/** The earlier structural write path: Prisma's create of the column map's row (as prisma-repository.ts did). */
async function prismaCreate(db: Awaited<ReturnType<OpenedDatabase['prisma']>>, table: TableName, record: TableRecords[TableName]): Promise<void> {
  const row = toRow(table, record as never) as never;
  switch (table) {
    case 'meta':
      await db.meta.create({ data: row });
      return;
    case 'smmus':
      await db.smmu.create({ data: row });
      return;
    case 'contexts':
      await db.context.create({ data: row });
      return;
    case 'devices':
      await db.device.create({ data: row });
      return;
    case 'objects':
      await db.iommufdObject.create({ data: row });
      return;
    case 'mappings':
      await db.ioasMapping.create({ data: row });
      return;
    case 'pages': {
      const r = row as { page: string; data: Uint8Array };
      await db.guestPage.create({ data: { page: r.page, data: Uint8Array.from(r.data) } });
      return;
    }
    case 'events':
      await db.eventRecord.create({ data: row });
      return;
    case 'idempotency':
      await db.idempotencyKey.create({ data: row });
      return;
    case 'audit':
      await db.auditEntry.create({ data: row });
      return;
  }
}

let t: TestApp;
let world: Records;
beforeAll(async () => {
  t = await startApp();
  await buildWorld(t);
  world = await t.repository.loadAll();
}, 120_000);
afterAll(async () => {
  await t?.close();
  for (const db of opened.splice(0)) await db.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('storage writer: one path for every change of every table', () => {
  it('writer: every record of every table is stored exactly as Prisma\'s create stored it (types included)', async () => {
    const viaPrisma = await emptyDatabase();
    const viaStatements = await emptyDatabase();
    const changes: StagedChange[] = [];
    for (const table of TABLE_ORDER) {
      for (const record of world[table] as Array<TableRecords[TableName]>) {
        await prismaCreate(await viaPrisma.prisma(), table, record);
        changes.push(created(table, record));
      }
    }
    new SqlWriter(viaStatements.sqlite).commit(changes);
    const a = readDatabase(viaPrisma.file);
    const b = readDatabase(viaStatements.file);
    for (const table of Object.keys(a.tables)) expect(b.tables[table], table).toEqual(a.tables[table]);
    // And the SQLite storage classes, which the comparison above does not tell apart for dates vs text.
    const classes = (db: OpenedDatabase) =>
      Object.fromEntries(
        Object.keys(a.tables).map((table) => {
          const cols = db.sqlite.prepare('SELECT name FROM pragma_table_info(?)').pluck().all(table) as string[];
          return [table, db.sqlite.prepare(`SELECT ${cols.map((c) => `typeof("${c}")`).join(' || \',\' || ')} FROM "${table}"`).pluck().all()];
        }),
      );
    expect(classes(viaStatements)).toEqual(classes(viaPrisma));
  });

  it('writer: the graph key of every record gives its primary key as stored (rows.ts key ↔ types.ts recordKey)', () => {
    for (const table of TABLE_ORDER) {
      const map = COLUMN_MAPS[table] as unknown as { table: string; key(k: string): Record<string, unknown> };
      const pk = t.database.sqlite.prepare('SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk').pluck().all(map.table) as string[];
      for (const record of world[table] as Array<TableRecords[TableName]>) {
        const row = toRow(table, record as never) as Record<string, unknown>;
        expect(map.key(recordKey(table, record)), `${table} ${recordKey(table, record)}`).toEqual(Object.fromEntries(pk.map((c) => [c, row[c]])));
      }
    }
  });

  it('writer: a statement SQLite refuses (FOREIGN KEY, PRIMARY KEY) rolls the whole group back and throws SQLite\'s error', async () => {
    const db = await emptyDatabase();
    const writer = new SqlWriter(db.sqlite);
    const ctx: ContextRec = { id: 1, name: 'vm', createdAt: new Date() };
    const ioas = { id: 2, contextId: 99, type: 'ioas', createdAt: Date.now() } as TableRecords['objects'];
    const meta = { key: 'nextId', value: '3' };
    expect(() => writer.commit([created('meta', meta), created('contexts', ctx), created('objects', ioas)])).toThrow(
      expect.objectContaining({ code: 'SQLITE_CONSTRAINT_FOREIGNKEY' }),
    );
    expect(readDatabase(db.file).tables.Context).toEqual([]);
    expect(readDatabase(db.file).tables.Meta).toEqual([]);
    writer.commit([created('contexts', ctx)]);
    expect(() => writer.commit([created('meta', meta), created('contexts', ctx)])).toThrow(expect.objectContaining({ code: 'SQLITE_CONSTRAINT_PRIMARYKEY' }));
    expect(readDatabase(db.file).tables.Meta).toEqual([]);
    // The connection is left outside any transaction: the next group commits.
    expect(db.sqlite.inTransaction).toBe(false);
    writer.commit([created('meta', meta)]);
    expect(readDatabase(db.file).tables.Meta).toEqual([{ key: 'nextId', value: '3' }]);
  });

  it('writer: an update or a delete that finds no row fails the group (the graph and the database disagree)', async () => {
    const db = await emptyDatabase();
    const writer = new SqlWriter(db.sqlite);
    const ctx: ContextRec = { id: 1, name: 'vm', createdAt: new Date() };
    const meta = { key: 'nextId', value: '2' };
    expect(() => writer.commit([created('meta', meta), { table: 'contexts', key: '1', record: { ...ctx, name: 'x' }, created: false, previous: ctx }])).toThrow(RowMissingError);
    expect(() => writer.commit([created('meta', meta), { table: 'contexts', key: '1', record: null, created: false }])).toThrow(RowMissingError);
    expect(readDatabase(db.file).tables.Meta).toEqual([]);
  });

  it('writer: an update writes only the columns whose stored value changed', async () => {
    const db = await emptyDatabase();
    const writer = new SqlWriter(db.sqlite);
    const ctx: ContextRec = { id: 1, name: 'vm', createdAt: new Date('2026-01-01T00:00:00Z') };
    writer.commit([created('contexts', ctx)]);
    // A trigger on "createdAt" refuses any UPDATE that names the column, even with the same value.
    db.sqlite.exec(`CREATE TRIGGER no_date BEFORE UPDATE OF "createdAt" ON "Context" BEGIN SELECT RAISE(ABORT, 'createdAt written'); END`);
    const renamed = { ...ctx, name: 'vm2', createdAt: new Date('2026-01-01T00:00:00Z') };
    writer.commit([{ table: 'contexts', key: '1', record: renamed, created: false, previous: ctx }]);
    expect(readDatabase(db.file).tables.Context).toEqual([{ id: '1n', name: 'vm2', createdAt: '2026-01-01T00:00:00.000+00:00' }]);
    // Nothing changed: no statement at all.
    writer.commit([{ table: 'contexts', key: '1', record: { ...renamed }, created: false, previous: renamed }]);
    expect(() => writer.commit([{ table: 'contexts', key: '1', record: { ...renamed, createdAt: new Date(0) }, created: false, previous: renamed }])).toThrow(/createdAt written/);
  });

  it('writer: the prepared statements are cached, and the cache stays within its capacity', async () => {
    const db = await emptyDatabase();
    const writer = new SqlWriter(db.sqlite, 3);
    let ctx: ContextRec = { id: 1, name: 'vm', createdAt: new Date(0) };
    writer.commit([created('contexts', ctx)]);
    for (let i = 1; i <= 20; i++) {
      // Alternating column sets: UPDATE of name; of createdAt; of both.
      const next = { ...ctx, ...(i % 3 !== 1 ? { name: `vm${i}` } : {}), ...(i % 3 !== 2 ? { createdAt: new Date(i * 1000) } : {}) };
      writer.commit([{ table: 'contexts', key: '1', record: next, created: false, previous: ctx }]);
      ctx = next;
      expect(writer.statements.size).toBeLessThanOrEqual(3);
    }
    expect(readDatabase(db.file).tables.Context).toEqual([{ id: '1n', name: ctx.name, createdAt: ctx.createdAt.toISOString().replace('Z', '+00:00') }]);
  });
});

/**
 * The domain's Repository on the one SQLite connection (database.ts): loads through Prisma, and
 * commits one group of staged changes as one transaction — a Prisma batch ($transaction([...]);
 * no interactive transactions, see prisma-offline.md "Traps") for structural writes, or the
 * prepared in-place statements (in-place.ts) when the group only updates rows in place. Both
 * convert through the column maps of rows.ts.
 */
import type { StagedChange } from '../domain/graph.js';
import type { Repository } from '../domain/repository.js';
import type { AuditRec, ContextRec, DeviceRec, EventRec, IdempotencyRec, MappingRec, ObjectRec, PageRec, SmmuRec, TableName, TableRecords } from '../domain/types.js';
import type { OpenedDatabase } from './database.js';
import { InPlaceWriter } from './in-place.js';
import { COLUMN_MAPS, hex64, splitIdempotencyKey } from './rows.js';

export class PrismaRepository implements Repository {
  private statements = 0;
  private transactions = 0;
  private readonly inPlace: InPlaceWriter;

  constructor(private readonly database: OpenedDatabase) {
    this.inPlace = new InPlaceWriter(database.sqlite);
  }

  roundTrips(): number {
    return this.statements;
  }

  /** Database transactions committed (or attempted) so far: one per group of writes. */
  commits(): number {
    return this.transactions;
  }

  async loadAll(): Promise<{ [T in TableName]: TableRecords[T][] }> {
    const db = this.database.db;
    const m = COLUMN_MAPS;
    this.statements += 10;
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
      // Commit order: the graph keeps the audit table oldest first.
      db.auditEntry.findMany({ orderBy: { seq: 'asc' } }),
    ]);
    return {
      meta,
      smmus: smmus.map(m.smmus.fromRow),
      contexts: contexts.map(m.contexts.fromRow),
      devices: devices.map(m.devices.fromRow),
      objects: objects.map(m.objects.fromRow),
      mappings: mappings.map(m.mappings.fromRow),
      pages: pages.map(m.pages.fromRow),
      events: events.map(m.events.fromRow),
      idempotency: idempotency.map(m.idempotency.fromRow),
      audit: audit.map(m.audit.fromRow),
    };
  }

  async commit(changes: readonly StagedChange[]): Promise<void> {
    if (changes.length === 0) return;
    this.transactions++;
    this.statements += changes.length;
    if (this.inPlace.handles(changes)) {
      this.inPlace.commit(changes);
      return;
    }
    await this.database.db.$transaction(changes.map((c) => this.operation(c)));
  }

  // Prisma's delegates are typed per model; the switch keeps each call fully typed.
  private operation(c: StagedChange) {
    const db = this.database.db;
    const m = COLUMN_MAPS;
    switch (c.table) {
      case 'meta': {
        const r = c.record as TableRecords['meta'] | null;
        if (!r) return db.meta.delete({ where: { key: c.key } });
        return db.meta.upsert({ where: { key: r.key }, create: r, update: { value: r.value } });
      }
      case 'smmus': {
        const r = c.record as SmmuRec | null;
        if (!r) return db.smmu.delete({ where: { id: Number(c.key) } });
        const row = m.smmus.toRow(r);
        return c.created ? db.smmu.create({ data: row }) : db.smmu.update({ where: { id: r.id }, data: row });
      }
      case 'contexts': {
        const r = c.record as ContextRec | null;
        if (!r) return db.context.delete({ where: { id: Number(c.key) } });
        return c.created ? db.context.create({ data: r }) : db.context.update({ where: { id: r.id }, data: r });
      }
      case 'devices': {
        const r = c.record as DeviceRec | null;
        if (!r) return db.device.delete({ where: { id: Number(c.key) } });
        const row = m.devices.toRow(r);
        return c.created ? db.device.create({ data: row }) : db.device.update({ where: { id: r.id }, data: row });
      }
      case 'objects': {
        const r = c.record as ObjectRec | null;
        if (!r) return db.iommufdObject.delete({ where: { id: Number(c.key) } });
        const row = m.objects.toRow(r);
        return c.created ? db.iommufdObject.create({ data: row }) : db.iommufdObject.update({ where: { id: r.id }, data: row });
      }
      case 'mappings': {
        const r = c.record as MappingRec | null;
        if (!r) {
          const [ioasId, iova] = c.key.split(':');
          return db.ioasMapping.delete({ where: { ioasId_iova: { ioasId: Number(ioasId), iova: hex64(BigInt(iova)) } } });
        }
        const row = m.mappings.toRow(r);
        return c.created
          ? db.ioasMapping.create({ data: row })
          : db.ioasMapping.update({ where: { ioasId_iova: { ioasId: r.ioasId, iova: row.iova } }, data: row });
      }
      case 'pages': {
        const r = c.record as PageRec | null;
        const page = hex64(r ? r.page : BigInt('0x' + c.key));
        if (!r) return db.guestPage.delete({ where: { page } });
        const data = Uint8Array.from(r.data);
        return db.guestPage.upsert({ where: { page }, create: { page, data }, update: { data } });
      }
      case 'events': {
        const r = c.record as EventRec | null;
        if (!r) {
          const [eventqId, ord] = c.key.split(':');
          return db.eventRecord.delete({ where: { eventqId_ord: { eventqId: Number(eventqId), ord: BigInt(ord) } } });
        }
        const row = m.events.toRow(r);
        return c.created
          ? db.eventRecord.create({ data: row })
          : db.eventRecord.update({ where: { eventqId_ord: { eventqId: r.eventqId, ord: row.ord } }, data: row });
      }
      case 'idempotency': {
        const r = c.record as IdempotencyRec | null;
        if (!r) {
          const [caller, key] = splitIdempotencyKey(c.key);
          return db.idempotencyKey.delete({ where: { caller_key: { caller, key } } });
        }
        const row = m.idempotency.toRow(r);
        return db.idempotencyKey.upsert({ where: { caller_key: { caller: r.caller, key: r.key } }, create: row, update: row });
      }
      case 'audit': {
        const r = c.record as AuditRec | null;
        if (!r) return db.auditEntry.delete({ where: { seq: BigInt(c.key) } });
        return db.auditEntry.create({ data: m.audit.toRow(r) });
      }
    }
  }
}

/**
 * The Prisma implementation of the domain's Repository: row ↔ record conversion and the
 * commit of one write's staged changes as a single batch transaction ($transaction([...]);
 * no interactive transactions, see prisma-offline.md "Traps").
 */
import type { StagedChange } from '../domain/graph.js';
import type { Repository } from '../domain/repository.js';
import type { ContextRec, DeviceRec, EventRec, MappingRec, ObjectRec, PageRec, SmmuRec, TableName, TableRecords } from '../domain/types.js';
import type { Db } from './database.js';
import type { FastPath } from './fast-path.js';
import { eventToRow, fromHex, hex64, objectToRow, pageKey } from './rows.js';
import type { IommufdObject } from '../generated/prisma/client.js';

function smmuToRow(r: SmmuRec) {
  return {
    id: r.id,
    name: r.name,
    idr0: r.idr[0],
    idr1: r.idr[1],
    idr2: r.idr[2],
    idr3: r.idr[3],
    idr4: r.idr[4],
    idr5: r.idr[5],
    iidr: r.iidr,
    aidr: r.aidr,
    iotlbSize: r.iotlbSize,
    cmdqvVersion: r.cmdqv?.version ?? null,
    cmdqvVintfs: r.cmdqv?.vintfs ?? null,
    cmdqvVcmdqsPerVintf: r.cmdqv?.vcmdqsPerVintf ?? null,
    cmdqvSidsPerVintf: r.cmdqv?.sidsPerVintf ?? null,
    createdAt: r.createdAt,
  };
}
type SmmuRow = ReturnType<typeof smmuToRow>;
function smmuFromRow(r: SmmuRow): SmmuRec {
  // Prisma Int is signed 32-bit: registers are stored as their signed image and read back unsigned.
  const u = (v: number) => v >>> 0;
  return {
    id: r.id,
    name: r.name,
    idr: [u(r.idr0), u(r.idr1), u(r.idr2), u(r.idr3), u(r.idr4), u(r.idr5)],
    iidr: u(r.iidr),
    aidr: u(r.aidr),
    iotlbSize: r.iotlbSize,
    cmdqv:
      r.cmdqvVintfs === null
        ? null
        : {
            version: r.cmdqvVersion ?? 1,
            vintfs: r.cmdqvVintfs,
            vcmdqsPerVintf: r.cmdqvVcmdqsPerVintf ?? 0,
            sidsPerVintf: r.cmdqvSidsPerVintf ?? 0,
          },
    createdAt: r.createdAt,
  };
}
const toSigned32 = (v: number) => v | 0;

function objectFromRow(r: IommufdObject): ObjectRec {
  return {
    ...r,
    type: r.type as ObjectRec['type'],
    viommuType: r.viommuType as ObjectRec['viommuType'],
    vste0: r.vste0 === null ? null : fromHex(r.vste0),
    vste1: r.vste1 === null ? null : fromHex(r.vste1),
    virtId: r.virtId === null ? null : Number(r.virtId),
    eventqType: r.eventqType as ObjectRec['eventqType'],
    nextOrd: r.nextOrd === null ? null : Number(r.nextOrd),
    queueType: r.queueType as ObjectRec['queueType'],
    queueIova: r.queueIova === null ? null : fromHex(r.queueIova),
    queueBase: r.queueBase === null ? null : fromHex(r.queueBase),
  };
}

function eventFromRow(r: ReturnType<typeof eventToRow>): EventRec {
  return { eventqId: r.eventqId, ord: Number(r.ord), sequence: r.sequence, flags: r.flags, payload: r.payload === '' ? [] : r.payload.split(',').map(fromHex) };
}

function mappingToRow(r: MappingRec) {
  return { ...r, iova: hex64(r.iova), length: hex64(r.length), hostAddress: hex64(r.hostAddress) };
}
function mappingFromRow(r: ReturnType<typeof mappingToRow>): MappingRec {
  return { ...r, iova: fromHex(r.iova), length: fromHex(r.length), hostAddress: fromHex(r.hostAddress) };
}

export class PrismaRepository implements Repository {
  private statements = 0;
  private transactions = 0;

  constructor(
    private readonly db: Db,
    private readonly fast: FastPath | null = null,
  ) {}

  roundTrips(): number {
    return this.statements;
  }

  /** Database transactions committed (or attempted) so far: one per group of writes. */
  commits(): number {
    return this.transactions;
  }

  async loadAll(): Promise<{ [T in TableName]: TableRecords[T][] }> {
    this.fast?.fold(); // what is only in the fast path's journal yet
    this.statements += 8;
    const [meta, smmus, contexts, devices, objects, mappings, pages, events] = await Promise.all([
      this.db.meta.findMany(),
      this.db.smmu.findMany({ orderBy: { id: 'asc' } }),
      this.db.context.findMany({ orderBy: { id: 'asc' } }),
      this.db.device.findMany({ orderBy: { id: 'asc' } }),
      this.db.iommufdObject.findMany({ orderBy: { id: 'asc' } }),
      this.db.ioasMapping.findMany(),
      this.db.guestPage.findMany(),
      this.db.eventRecord.findMany({ orderBy: [{ eventqId: 'asc' }, { ord: 'asc' }] }),
    ]);
    return {
      meta,
      smmus: smmus.map(smmuFromRow),
      contexts: contexts as ContextRec[],
      devices: devices as DeviceRec[],
      objects: objects.map(objectFromRow),
      mappings: mappings.map(mappingFromRow),
      pages: pages.map((p): PageRec => ({ page: fromHex(p.page), data: new Uint8Array(p.data) })),
      events: events.map(eventFromRow),
    };
  }

  async commit(changes: readonly StagedChange[]): Promise<void> {
    if (changes.length === 0) return;
    this.transactions++;
    if (this.fast?.handles(changes)) {
      this.statements += changes.length;
      this.fast.commit(changes);
      return;
    }
    // The journal's rows first: this write may delete what they update.
    this.fast?.fold();
    const ops = changes.map((c) => this.operation(c));
    this.statements += ops.length;
    await this.db.$transaction(ops);
  }

  // Prisma's delegates are typed per model; the switch keeps each call fully typed.
  private operation(c: StagedChange) {
    const db = this.db;
    switch (c.table) {
      case 'meta': {
        const r = c.record as TableRecords['meta'] | null;
        if (!r) return db.meta.delete({ where: { key: c.key } });
        return db.meta.upsert({ where: { key: r.key }, create: r, update: { value: r.value } });
      }
      case 'smmus': {
        const r = c.record as SmmuRec | null;
        if (!r) return db.smmu.delete({ where: { id: Number(c.key) } });
        const row = smmuToRow(r);
        const signed = {
          ...row,
          idr0: toSigned32(row.idr0),
          idr1: toSigned32(row.idr1),
          idr2: toSigned32(row.idr2),
          idr3: toSigned32(row.idr3),
          idr4: toSigned32(row.idr4),
          idr5: toSigned32(row.idr5),
          iidr: toSigned32(row.iidr),
          aidr: toSigned32(row.aidr),
        };
        return c.created ? db.smmu.create({ data: signed }) : db.smmu.update({ where: { id: r.id }, data: signed });
      }
      case 'contexts': {
        const r = c.record as ContextRec | null;
        if (!r) return db.context.delete({ where: { id: Number(c.key) } });
        return c.created ? db.context.create({ data: r }) : db.context.update({ where: { id: r.id }, data: r });
      }
      case 'devices': {
        const r = c.record as DeviceRec | null;
        if (!r) return db.device.delete({ where: { id: Number(c.key) } });
        return c.created ? db.device.create({ data: r }) : db.device.update({ where: { id: r.id }, data: r });
      }
      case 'objects': {
        const r = c.record as ObjectRec | null;
        if (!r) return db.iommufdObject.delete({ where: { id: Number(c.key) } });
        const row = objectToRow(r);
        return c.created ? db.iommufdObject.create({ data: row }) : db.iommufdObject.update({ where: { id: r.id }, data: row });
      }
      case 'mappings': {
        const r = c.record as MappingRec | null;
        if (!r) {
          const [ioasId, iova] = c.key.split(':');
          return db.ioasMapping.delete({ where: { ioasId_iova: { ioasId: Number(ioasId), iova: hex64(BigInt(iova)) } } });
        }
        const row = mappingToRow(r);
        return c.created
          ? db.ioasMapping.create({ data: row })
          : db.ioasMapping.update({ where: { ioasId_iova: { ioasId: r.ioasId, iova: row.iova } }, data: row });
      }
      case 'pages': {
        const r = c.record as PageRec | null;
        const page = pageKey(r ? r.page : BigInt('0x' + c.key));
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
        const row = eventToRow(r);
        return c.created
          ? db.eventRecord.create({ data: row })
          : db.eventRecord.update({ where: { eventqId_ord: { eventqId: r.eventqId, ord: row.ord } }, data: row });
      }
    }
  }
}

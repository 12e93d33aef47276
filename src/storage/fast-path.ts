/**
 * The hot write path on raw better-sqlite3 prepared statements (a second connection to the same
 * WAL database; the Store's single writer keeps the two from ever writing at once). A Prisma
 * batch costs ~0.5–1 ms per write here (prisma-offline.md, "Measured costs"); the guest's VCMDQ
 * PROD writes, queue memory and queued events must commit in tens of microseconds. Only the
 * changes these paths make are handled; anything else goes through Prisma.
 */
import Database from 'better-sqlite3';
import type { StagedChange } from '../domain/graph.js';
import type { EventRec, ObjectRec, PageRec } from '../domain/types.js';
import { eventToRow, objectToRow, pageKey } from './rows.js';

/** Object columns a write may update in place (never id, contextId, type or createdAt). */
const OBJECT_COLUMNS = [
  'ioasId', 'hwptId', 'viommuId', 'deviceId', 'smmuId', 'nestParent', 'dirtyTracking', 'auto', 'vste0', 'vste1', 'enableAts',
  'viommuType', 'vmid', 'vintf', 'virtId', 'sidSlot', 'eventqType', 'depth', 'nextSequence', 'nextOrd', 'queueType', 'queueIndex',
  'queueIova', 'queueLength', 'queueBase', 'prevQueueId', 'qProd', 'qCons', 'qEnabled', 'qGerror', 'qGerrorn',
] as const;
type ObjectColumn = (typeof OBJECT_COLUMNS)[number];

/** The SQLite values of `cols` in the row Prisma would write (booleans as 0/1). */
function objectValues(o: ObjectRec, cols: readonly ObjectColumn[]): unknown[] {
  const row = objectToRow(o);
  return cols.map((c) => {
    const v = row[c];
    return typeof v === 'boolean' ? (v ? 1 : 0) : v;
  });
}

export class FastPath {
  private readonly db: Database.Database;
  private readonly updateObject: Database.Statement;
  private readonly upsertPage: Database.Statement;
  private readonly deletePage: Database.Statement;
  private readonly insertEvent: Database.Statement;
  private readonly deleteEvent: Database.Statement;
  private readonly upsertMeta: Database.Statement;
  /** Built once: better-sqlite3's transaction wrapper is costly to create per commit. */
  private readonly writeAll: (changes: readonly StagedChange[]) => void;

  constructor(file: string) {
    this.db = new Database(file, { timeout: 5000 });
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.db.defaultSafeIntegers(false);
    this.updateObject = this.db.prepare(`UPDATE "IommufdObject" SET ${OBJECT_COLUMNS.map((c) => `"${c}" = ?`).join(', ')} WHERE "id" = ?`);
    this.upsertPage = this.db.prepare('INSERT INTO "GuestPage" ("page", "data") VALUES (?, ?) ON CONFLICT ("page") DO UPDATE SET "data" = excluded."data"');
    this.deletePage = this.db.prepare('DELETE FROM "GuestPage" WHERE "page" = ?');
    this.insertEvent = this.db.prepare('INSERT INTO "EventRecord" ("eventqId", "ord", "sequence", "flags", "payload") VALUES (?, ?, ?, ?, ?)');
    this.deleteEvent = this.db.prepare('DELETE FROM "EventRecord" WHERE "eventqId" = ? AND "ord" = ?');
    this.upsertMeta = this.db.prepare('INSERT INTO "Meta" ("key", "value") VALUES (?, ?) ON CONFLICT ("key") DO UPDATE SET "value" = excluded."value"');
    this.writeAll = this.db.transaction((changes: readonly StagedChange[]) => this.apply(changes));
  }

  /** Whether every change is one this path writes (object updates, pages, events, counters). */
  handles(changes: readonly StagedChange[]): boolean {
    return changes.every((c) => {
      switch (c.table) {
        case 'pages':
        case 'events':
          return true;
        case 'meta':
          return c.record !== null;
        case 'objects':
          return !c.created && c.record !== null;
        default:
          return false;
      }
    });
  }

  /** One SQLite transaction: all or nothing. */
  commit(changes: readonly StagedChange[]): void {
    this.writeAll(changes);
  }

  private apply(changes: readonly StagedChange[]): void {
    for (const c of changes) {
      switch (c.table) {
        case 'objects': {
          const o = c.record as ObjectRec;
          const prev = c.previous as ObjectRec | undefined;
          if (!prev) {
            this.updateObject.run(...objectValues(o, OBJECT_COLUMNS), o.id);
            break;
          }
          // Only the columns that changed (a guest's PROD write touches two or three).
          const cols = OBJECT_COLUMNS.filter((col) => o[col] !== prev[col]);
          if (cols.length === 0) break;
          const stmt = this.updateColumns(cols);
          if (stmt) stmt.run(...objectValues(o, cols), o.id);
          else this.updateObject.run(...objectValues(o, OBJECT_COLUMNS), o.id);
          break;
        }
        case 'pages': {
          const page = pageKey(c.record ? (c.record as PageRec).page : BigInt('0x' + c.key));
          if (c.record) {
            const data = (c.record as PageRec).data;
            this.upsertPage.run(page, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
          }
          else this.deletePage.run(page);
          break;
        }
        case 'events': {
          if (c.record) {
            const e = eventToRow(c.record as EventRec);
            this.insertEvent.run(e.eventqId, e.ord, e.sequence, e.flags, e.payload);
          } else {
            const [eventqId, ord] = c.key.split(':');
            this.deleteEvent.run(Number(eventqId), Number(ord));
          }
          break;
        }
        case 'meta': {
          const m = c.record as { key: string; value: string };
          this.upsertMeta.run(m.key, m.value);
          break;
        }
        default:
          throw new Error(`fast path cannot write ${c.table}`);
      }
    }
  }

  private readonly byColumns = new Map<string, Database.Statement>();

  /** A prepared UPDATE of just these columns (at most 64 kept; beyond that, the full update). */
  private updateColumns(cols: readonly ObjectColumn[]): Database.Statement | null {
    const key = cols.join(',');
    let stmt = this.byColumns.get(key);
    if (!stmt) {
      if (this.byColumns.size >= 64) return null;
      stmt = this.db.prepare(`UPDATE "IommufdObject" SET ${cols.map((c) => `"${c}" = ?`).join(', ')} WHERE "id" = ?`);
      this.byColumns.set(key, stmt);
    }
    return stmt;
  }

  close(): void {
    this.db.close();
  }
}

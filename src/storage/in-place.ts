/**
 * In-place updates: the writes a running guest makes many times a second — a VCMDQ PROD write
 * with its queue page, an event queued or read, the id counter — as prepared better-sqlite3
 * statements, one SQLite transaction per group commit. A Prisma batch costs ~0.5–1 ms per write
 * here (prisma-offline.md, "Measured costs"); a prepared transaction ~30–80 µs.
 *
 * This is not a second storage path: it runs on Prisma's own connection (database.ts), inside
 * the Store's one serialised group commit, and converts records with the same column maps
 * (rows.ts). Which columns an object update writes is the difference between the record's row
 * before and after, so a column added to the table needs no entry here.
 */
import type { StagedChange } from '../domain/graph.js';
import type { AuditRec, EventRec, IdempotencyRec, ObjectRec, PageRec } from '../domain/types.js';
import type BetterSqlite3 from 'better-sqlite3';
import type { Sqlite } from './database.js';
import { COLUMN_MAPS, hex64, splitIdempotencyKey, sqlValue } from './rows.js';

type Statement = BetterSqlite3.Statement;

/** Columns no update may change: the identity of the row. */
const FIXED_OBJECT_COLUMNS: ReadonlySet<string> = new Set(['id', 'contextId', 'type', 'createdAt']);

export class InPlaceWriter {
  private readonly upsertPage: Statement;
  private readonly deletePage: Statement;
  private readonly putEvent: Statement;
  private readonly deleteEvent: Statement;
  private readonly upsertMeta: Statement;
  private readonly putAnswer: Statement;
  private readonly deleteAnswer: Statement;
  private readonly putAudit: Statement;
  private readonly deleteAudit: Statement;
  private readonly byColumns = new Map<string, Statement>();
  /** Built once: better-sqlite3's transaction wrapper is costly to create per commit. */
  private readonly writeAll: (changes: readonly StagedChange[]) => void;

  constructor(private readonly sqlite: Sqlite) {
    const t = COLUMN_MAPS;
    this.upsertPage = sqlite.prepare(`INSERT INTO "${t.pages.table}" ("page", "data") VALUES (?, ?) ON CONFLICT ("page") DO UPDATE SET "data" = excluded."data"`);
    this.deletePage = sqlite.prepare(`DELETE FROM "${t.pages.table}" WHERE "page" = ?`);
    this.putEvent = sqlite.prepare(`INSERT OR REPLACE INTO "${t.events.table}" ("eventqId", "ord", "sequence", "flags", "payload") VALUES (?, ?, ?, ?, ?)`);
    this.deleteEvent = sqlite.prepare(`DELETE FROM "${t.events.table}" WHERE "eventqId" = ? AND "ord" = ?`);
    this.upsertMeta = sqlite.prepare(`INSERT INTO "${t.meta.table}" ("key", "value") VALUES (?, ?) ON CONFLICT ("key") DO UPDATE SET "value" = excluded."value"`);
    this.putAnswer = sqlite.prepare(
      `INSERT OR REPLACE INTO "${t.idempotency.table}" ("caller", "key", "fingerprint", "method", "path", "status", "body", "contentType", "createdAt", "expiresAt") VALUES (@caller, @key, @fingerprint, @method, @path, @status, @body, @contentType, @createdAt, @expiresAt)`,
    );
    this.deleteAnswer = sqlite.prepare(`DELETE FROM "${t.idempotency.table}" WHERE "caller" = ? AND "key" = ?`);
    this.putAudit = sqlite.prepare(
      `INSERT INTO "${t.audit.table}" ("seq", "at", "requestId", "actor", "method", "route", "path", "operation", "contextIds", "created", "changed", "destroyed") VALUES (@seq, @at, @requestId, @actor, @method, @route, @path, @operation, @contextIds, @created, @changed, @destroyed)`,
    );
    this.deleteAudit = sqlite.prepare(`DELETE FROM "${t.audit.table}" WHERE "seq" = ?`);
    this.writeAll = sqlite.transaction((changes: readonly StagedChange[]) => {
      for (const c of changes) this.write(c);
    });
  }

  /**
   * Whether every change is an in-place one: object updates, pages, events, counters, and what
   * goes with every write (its audit entry, an idempotent request's answer).
   */
  handles(changes: readonly StagedChange[]): boolean {
    return changes.every((c) => {
      switch (c.table) {
        case 'pages':
        case 'events':
        case 'idempotency':
        case 'audit':
          return true;
        case 'meta':
          return c.record !== null;
        case 'objects':
          return !c.created && c.record !== null && c.previous !== undefined;
        default:
          return false;
      }
    });
  }

  /** Writes all the changes or none, in one SQLite transaction. */
  commit(changes: readonly StagedChange[]): void {
    this.writeAll(changes);
  }

  private write(c: StagedChange): void {
    switch (c.table) {
      case 'objects':
        this.updateObject(c.previous as ObjectRec, c.record as ObjectRec);
        return;
      case 'pages': {
        const r = c.record as PageRec | null;
        if (r) this.upsertPage.run(hex64(r.page), sqlValue(r.data));
        else this.deletePage.run(hex64(BigInt('0x' + c.key)));
        return;
      }
      case 'events': {
        if (c.record) {
          const row = COLUMN_MAPS.events.toRow(c.record as EventRec);
          this.putEvent.run(row.eventqId, row.ord, row.sequence, row.flags, row.payload);
        } else {
          const [eventqId, ord] = c.key.split(':');
          this.deleteEvent.run(Number(eventqId), BigInt(ord));
        }
        return;
      }
      case 'meta': {
        const m = c.record as { key: string; value: string };
        this.upsertMeta.run(m.key, m.value);
        return;
      }
      case 'idempotency': {
        if (c.record) this.putAnswer.run(COLUMN_MAPS.idempotency.toRow(c.record as IdempotencyRec));
        else this.deleteAnswer.run(...splitIdempotencyKey(c.key));
        return;
      }
      case 'audit': {
        if (c.record) this.putAudit.run(COLUMN_MAPS.audit.toRow(c.record as AuditRec));
        else this.deleteAudit.run(BigInt(c.key));
        return;
      }
      default:
        throw new Error(`in-place path cannot write ${c.table}`);
    }
  }

  /** UPDATE of only the columns whose stored value changed (a PROD write touches two or three). */
  private updateObject(previous: ObjectRec, next: ObjectRec): void {
    const before = COLUMN_MAPS.objects.toRow(previous) as Record<string, unknown>;
    const after = COLUMN_MAPS.objects.toRow(next) as Record<string, unknown>;
    const cols: string[] = [];
    for (const col in after) {
      if (FIXED_OBJECT_COLUMNS.has(col) || before[col] === after[col]) continue;
      cols.push(col);
    }
    if (cols.length === 0) return;
    this.updateColumns(cols).run(...cols.map((c) => sqlValue(after[c])), next.id);
  }

  /** A prepared UPDATE of just these columns (the first 64 column sets are kept prepared). */
  private updateColumns(cols: readonly string[]): Statement {
    const key = cols.join(',');
    const cached = this.byColumns.get(key);
    if (cached) return cached;
    const stmt = this.sqlite.prepare(`UPDATE "${COLUMN_MAPS.objects.table}" SET ${cols.map((c) => `"${c}" = ?`).join(', ')} WHERE "id" = ?`);
    if (this.byColumns.size < 64) this.byColumns.set(key, stmt);
    return stmt;
  }
}

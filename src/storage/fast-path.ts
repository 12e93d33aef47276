/**
 * The hot write path: a guest's VCMDQ PROD write with its queue memory, a queued or read event,
 * a counter. A Prisma batch costs ~0.5–1 ms per write here (prisma-offline.md, "Measured
 * costs") and even one raw SQLite transaction ~30–80 µs, so these commits go to an append-only
 * journal (journal.ts, one write(2) each) and reach SQLite later, folded in one transaction over
 * raw better-sqlite3 prepared statements on a second connection to the same WAL database (the
 * Store's single writer keeps the two connections from ever writing at once). Only the changes
 * these paths make are handled; anything else goes through Prisma, after a fold.
 */
import { existsSync, unlinkSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { StagedChange } from '../domain/graph.js';
import type { EventRec, ObjectRec, PageRec } from '../domain/types.js';
import { Journal, type JournalEntry, type SqlValue } from './journal.js';
import { eventToRow, objectColumn, pageKey } from './rows.js';

/** Object columns a write may update in place (never id, contextId, type or createdAt). */
const OBJECT_COLUMNS = [
  'ioasId', 'hwptId', 'viommuId', 'deviceId', 'smmuId', 'nestParent', 'dirtyTracking', 'auto', 'vste0', 'vste1', 'enableAts',
  'viommuType', 'vmid', 'vintf', 'virtId', 'sidSlot', 'eventqType', 'depth', 'nextSequence', 'nextOrd', 'queueType', 'queueIndex',
  'queueIova', 'queueLength', 'queueBase', 'prevQueueId', 'qProd', 'qCons', 'qEnabled', 'qGerror', 'qGerrorn',
] as const;
type ObjectColumn = (typeof OBJECT_COLUMNS)[number];
const OBJECT_COLUMN_SET: ReadonlySet<string> = new Set(OBJECT_COLUMNS);

/** Journal size at which its records are folded into SQLite before the next commit. */
export const DEFAULT_FOLD_BYTES = 4 * 1024 * 1024;

/** The journal of the database `file`. */
export const journalFile = (file: string): string => `${file}-fastlog`;

export interface FastPathOptions {
  /** Commit through the journal (default) or straight to SQLite, one transaction per commit. */
  journal?: boolean;
  foldBytes?: number;
}

/** The latest state, per row, of everything journaled since the last fold. */
class Pending {
  readonly objects = new Map<number, Record<string, SqlValue>>();
  readonly pages = new Map<string, Uint8Array | null>();
  readonly events = new Map<string, JournalEntry & { t: 'e' }>();
  readonly meta = new Map<string, string>();

  add(entries: readonly JournalEntry[]): void {
    for (const e of entries) {
      switch (e.t) {
        case 'o': {
          const cols = this.objects.get(e.id);
          if (cols) Object.assign(cols, e.cols);
          else this.objects.set(e.id, { ...e.cols });
          break;
        }
        case 'p':
          this.pages.set(e.page, e.data);
          break;
        case 'e': {
          const key = `${e.eventqId}:${e.ord}`;
          this.events.delete(key); // re-inserted last: the order of the latest changes is kept
          this.events.set(key, e);
          break;
        }
        case 'm':
          this.meta.set(e.key, e.value);
          break;
      }
    }
  }

  get empty(): boolean {
    return this.objects.size + this.pages.size + this.events.size + this.meta.size === 0;
  }

  clear(): void {
    this.objects.clear();
    this.pages.clear();
    this.events.clear();
    this.meta.clear();
  }
}

export class FastPath {
  private readonly db: Database.Database;
  private readonly upsertPage: Database.Statement;
  private readonly deletePage: Database.Statement;
  private readonly putEvent: Database.Statement;
  private readonly deleteEvent: Database.Statement;
  private readonly upsertMeta: Database.Statement;
  private journal: Journal | null;
  private readonly foldBytes: number;
  private readonly pending = new Pending();
  /** Built once: better-sqlite3's transaction wrapper is costly to create per commit. */
  private readonly writeAll: (entries: Iterable<JournalEntry>) => void;
  private folds = 0;
  /** A journal write failed part-way; its epoch must be closed before the next record. */
  private torn = false;

  /**
   * Opens the second connection and the journal; whole records a previous run left in the
   * journal (it stopped without folding them) are folded into SQLite here, before anything reads
   * the database.
   */
  constructor(file: string, opts: FastPathOptions = {}) {
    this.db = new Database(file, { timeout: 5000 });
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.db.defaultSafeIntegers(false);
    this.upsertPage = this.db.prepare('INSERT INTO "GuestPage" ("page", "data") VALUES (?, ?) ON CONFLICT ("page") DO UPDATE SET "data" = excluded."data"');
    this.deletePage = this.db.prepare('DELETE FROM "GuestPage" WHERE "page" = ?');
    // REPLACE: folding a journal twice (a crash between the fold and the journal's reset) is harmless.
    this.putEvent = this.db.prepare('INSERT OR REPLACE INTO "EventRecord" ("eventqId", "ord", "sequence", "flags", "payload") VALUES (?, ?, ?, ?, ?)');
    this.deleteEvent = this.db.prepare('DELETE FROM "EventRecord" WHERE "eventqId" = ? AND "ord" = ?');
    this.upsertMeta = this.db.prepare('INSERT INTO "Meta" ("key", "value") VALUES (?, ?) ON CONFLICT ("key") DO UPDATE SET "value" = excluded."value"');
    this.writeAll = this.db.transaction((entries: Iterable<JournalEntry>) => {
      for (const e of entries) this.write(e);
    });
    this.foldBytes = opts.foldBytes ?? DEFAULT_FOLD_BYTES;
    const path = journalFile(file);
    const useJournal = opts.journal !== false;
    // A journal left by a run that had one is folded even when this run goes without.
    this.journal = useJournal || existsSync(path) ? new Journal(path) : null;
    if (this.journal) {
      for (const rec of this.journal.readAll()) this.pending.add(rec);
      this.fold();
      if (!useJournal) {
        this.journal.close();
        this.journal = null;
        unlinkSync(path);
      }
    }
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

  /**
   * Commits all the changes or none: one journal record (or, without a journal, one SQLite
   * transaction). A full journal is folded first, so a failed fold fails this commit before any
   * of it is written.
   */
  commit(changes: readonly StagedChange[]): void {
    const entries: JournalEntry[] = [];
    for (const c of changes) {
      const e = toEntry(c);
      if (e) entries.push(e);
    }
    if (entries.length === 0) return;
    if (!this.journal) {
      this.writeAll(entries);
      return;
    }
    if (this.journal.bytes >= this.foldBytes || this.torn) this.fold();
    try {
      this.journal.append(entries);
    } catch (err) {
      // Part of the record may be on disk, and its missing tail could match older bytes there:
      // fold what was acknowledged and open a new epoch, so the record can never be read. Until
      // that succeeds no commit is taken (the next one retries it first).
      this.torn = true;
      try {
        this.fold();
      } catch {
        // reported through `err`; retried by the next commit
      }
      throw err;
    }
    this.pending.add(entries);
  }

  /**
   * Writes what the journal holds into SQLite in one transaction (the latest state of each row),
   * then empties the journal. Runs before any write that is not the fast path's, before the
   * database is read, when the journal reaches its size limit, and at close.
   */
  fold(): void {
    if (!this.journal) return;
    if (!this.pending.empty) {
      this.writeAll(this.pendingEntries());
      this.folds++;
    }
    this.pending.clear();
    if (this.torn || this.journal.bytes > 0) this.journal.reset();
    this.torn = false;
  }

  /** Folds so far, and the bytes waiting in the journal (for tests and metrics). */
  stats(): { folds: number; journalBytes: number } {
    return { folds: this.folds, journalBytes: this.journal?.bytes ?? 0 };
  }

  private *pendingEntries(): Iterable<JournalEntry> {
    const p = this.pending;
    for (const [id, cols] of p.objects) yield { t: 'o', id, cols };
    for (const [page, data] of p.pages) yield { t: 'p', page, data };
    yield* p.events.values();
    for (const [key, value] of p.meta) yield { t: 'm', key, value };
  }

  private write(e: JournalEntry): void {
    switch (e.t) {
      case 'o': {
        const cols = Object.keys(e.cols).filter((c) => OBJECT_COLUMN_SET.has(c));
        if (cols.length === 0) return;
        this.updateColumns(cols).run(...cols.map((c) => e.cols[c]), e.id);
        return;
      }
      case 'p':
        if (e.data) this.upsertPage.run(e.page, Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength));
        else this.deletePage.run(e.page);
        return;
      case 'e':
        if (e.row) this.putEvent.run(e.eventqId, e.ord, e.row.sequence, e.row.flags, e.row.payload);
        else this.deleteEvent.run(e.eventqId, e.ord);
        return;
      case 'm':
        this.upsertMeta.run(e.key, e.value);
        return;
    }
  }

  private readonly byColumns = new Map<string, Database.Statement>();

  /** A prepared UPDATE of just these columns (the first 64 column sets are kept prepared). */
  private updateColumns(cols: readonly string[]): Database.Statement {
    const key = cols.join(',');
    const cached = this.byColumns.get(key);
    if (cached) return cached;
    const stmt = this.db.prepare(`UPDATE "IommufdObject" SET ${cols.map((c) => `"${c}" = ?`).join(', ')} WHERE "id" = ?`);
    if (this.byColumns.size < 64) this.byColumns.set(key, stmt);
    return stmt;
  }

  /** Folds the journal and closes the connection. */
  close(): void {
    try {
      this.fold();
    } finally {
      this.journal?.close();
      this.db.close();
    }
  }
}

/** A staged change as the row-level entry it writes (null: nothing to write). */
function toEntry(c: StagedChange): JournalEntry | null {
  switch (c.table) {
    case 'objects': {
      const o = c.record as ObjectRec;
      const prev = c.previous as ObjectRec | undefined;
      // Only the columns that changed (a guest's PROD write touches two or three).
      const cols: Record<string, SqlValue> = {};
      let any = false;
      for (const col of OBJECT_COLUMNS) {
        if (prev && o[col] === prev[col]) continue;
        cols[col] = objectColumn(o, col as ObjectColumn);
        any = true;
      }
      return any ? { t: 'o', id: o.id, cols } : null;
    }
    case 'pages': {
      const r = c.record as PageRec | null;
      return { t: 'p', page: pageKey(r ? r.page : BigInt('0x' + c.key)), data: r ? r.data : null };
    }
    case 'events': {
      if (c.record) {
        const e = eventToRow(c.record as EventRec);
        return { t: 'e', eventqId: e.eventqId, ord: e.ord, row: { sequence: e.sequence, flags: e.flags, payload: e.payload } };
      }
      const [eventqId, ord] = c.key.split(':');
      return { t: 'e', eventqId: Number(eventqId), ord: BigInt(ord), row: null };
    }
    case 'meta': {
      const m = c.record as { key: string; value: string };
      return { t: 'm', key: m.key, value: m.value };
    }
    default:
      throw new Error(`fast path cannot write ${c.table}`);
  }
}

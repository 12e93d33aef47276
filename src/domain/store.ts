/**
 * Serialised writes over the graph and the repository. Every write runs its rule checks
 * synchronously against a WriteTx (no await between check and stage), then commits the staged
 * changes to the database in one transaction, and only then applies them to the in-memory graph.
 * One group of writes at a time: the next starts after the previous has committed or failed, so
 * the graph and the database never disagree, also when a write fails half-way.
 *
 * Each write also stages, in its own transaction, what it must never be separated from: its
 * audit entry (who, what, when: audit.ts), and for a request made with an Idempotency-Key the
 * answer that request gets (write-scope.ts) — both come from the write's scope, picked up where
 * `write` is called. A crash therefore finds a write with its audit entry and its stored answer,
 * or none of them.
 */
import { answerRecord, auditEntryOf, DEFAULT_AUDIT_RETENTION } from './audit.js';
import { ObjectGraph, WriteTx, type StagedChange } from './graph.js';
import type { Repository } from './repository.js';
import { TABLE_ORDER, recordKey, type IdempotencyRec } from './types.js';
import { currentWriteScope, WriteOutsideScopeError, type IdempotentRequest, type WriteScope } from './write-scope.js';

interface PendingWrite {
  fn: (tx: WriteTx) => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
  scope: WriteScope;
}

export interface StoreOptions {
  /** Audit entries kept (the newest); older ones are deleted by the commit that goes over. */
  auditRetention: number;
}

export class Store {
  readonly graph = new ObjectGraph();
  private readonly pending: PendingWrite[] = [];
  private scheduled = false;
  private flushing = false;
  private readonly idle: Array<() => void> = [];
  private readonly listeners = new Set<(changes: ReturnType<WriteTx['changes']>) => void>();
  closing = false;
  /** The `seq` of the newest audit entry committed. */
  private auditSeq = 0;

  constructor(
    readonly repo: Repository,
    readonly options: StoreOptions = { auditRetention: DEFAULT_AUDIT_RETENTION },
  ) {}

  async load(): Promise<void> {
    const all = await this.repo.loadAll();
    this.graph.clear();
    for (const table of TABLE_ORDER) {
      for (const rec of all[table] as never[]) this.graph.load(table, rec);
    }
    this.auditSeq = 0;
    for (const a of this.graph.values('audit')) this.auditSeq = Math.max(this.auditSeq, a.seq);
    this.graph.version++;
  }

  /**
   * Runs `fn` as the only writer; resolves with its result after the commit.
   *
   * Group commit: writes that arrive while the previous commit is in flight (or in the same turn
   * of the event loop) run one after another, each in its own transaction layered on the group's,
   * so each sees the ones before it; a write whose rules fail is rejected alone and leaves
   * nothing behind. The group is then committed in one database transaction and applied; if that
   * commit fails, every write of the group fails and neither the database nor the graph changes.
   *
   * `scope` (by default the caller's, write-scope.ts) says who the write is for: its audit entry
   * and, for an idempotent request, its answer are staged in the write's own transaction.
   */
  write<T>(fn: (tx: WriteTx) => T, scope: WriteScope | null = currentWriteScope()): Promise<T> {
    if (scope === null) return Promise.reject(new WriteOutsideScopeError());
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ fn, resolve: resolve as (v: unknown) => void, reject, scope });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.flushing || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    const jobs = this.pending.splice(0);
    const group = new WriteTx(this.graph);
    const done: Array<{ job: PendingWrite; result: unknown; changes: StagedChange[] }> = [];
    const answered: Array<{ request: IdempotentRequest; rec: IdempotencyRec }> = [];
    const now = new Date();
    let seq = this.auditSeq;
    for (const job of jobs) {
      const tx = new WriteTx(group);
      try {
        const result = job.fn(tx);
        const scope = job.scope;
        // The request's answer, shaped against the write's own transaction (the route's reply).
        const request = scope.idempotency;
        let answer: IdempotencyRec | null = null;
        if (request && request.shape && !request.stored && !answered.some((a) => a.request === request)) {
          const shaped = request.shape(result, tx);
          const body = shaped.body === null || shaped.body === undefined ? null : JSON.stringify(shaped.body);
          answer = answerRecord(request, { status: shaped.status, body, contentType: body === null ? null : 'application/json; charset=utf-8' }, now);
        }
        const entry = tx.unaudited ? null : auditEntryOf(seq + 1, now, scope.origin, tx.changes(), group);
        if (entry) {
          seq = entry.seq;
          tx.put('audit', entry);
        }
        if (request && answer) {
          tx.put('idempotency', answer);
          answered.push({ request, rec: answer });
        }
        const changes = tx.changes();
        tx.mergeInto(group);
        done.push({ job, result, changes });
      } catch (err) {
        job.reject(err);
      }
    }
    this.trimAudit(group);
    try {
      const changes = group.changes();
      if (changes.length > 0) await this.repo.commit(changes);
      this.graph.apply(changes);
      this.auditSeq = seq;
      for (const a of answered) a.request.stored = a.rec;
    } catch (err) {
      for (const d of done) d.job.reject(err);
      this.afterFlush();
      return;
    }
    // Committed: nothing below may leave the queue stuck; a throwing hook or listener fails only
    // the reply of its write (the commit stands, as before group commit).
    let hookError: unknown = null;
    try {
      for (const hook of group.afterCommit) hook();
    } catch (err) {
      hookError = err;
    }
    for (const d of done) {
      try {
        if (hookError !== null) throw hookError;
        for (const listener of this.listeners) listener(d.changes);
        d.job.resolve(d.result);
      } catch (err) {
        d.job.reject(err);
      }
    }
    this.afterFlush();
  }

  /** Keeps the newest `auditRetention` audit entries: the oldest go in the same commit. */
  private trimAudit(group: WriteTx): void {
    let over = group.count('audit') - this.options.auditRetention;
    if (over <= 0) return;
    const oldest: string[] = [];
    // The table is in commit order (seq order): the oldest come first.
    for (const [key] of group.entries('audit')) {
      if (over-- <= 0) break;
      oldest.push(key);
    }
    for (const key of oldest) group.delete('audit', key);
  }

  private afterFlush(): void {
    this.flushing = false;
    if (this.pending.length > 0) this.schedule();
    else for (const wake of this.idle.splice(0)) wake();
  }

  /** Resolves once every write queued so far has finished. */
  drain(): Promise<void> {
    if (!this.flushing && !this.scheduled && this.pending.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  onCommit(listener: (changes: ReturnType<WriteTx['changes']>) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

export { recordKey };

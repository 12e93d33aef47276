/**
 * Serialised writes over the graph and the repository. Every write runs its rule checks
 * synchronously against a WriteTx (no await between check and stage), then commits the staged
 * changes to the database in one transaction, and only then applies them to the in-memory graph.
 * One group of writes at a time: the next starts after the previous has committed or failed, so
 * the graph and the database never disagree, also when a write fails half-way.
 */
import { ObjectGraph, WriteTx, type StagedChange } from './graph.js';
import type { Repository } from './repository.js';
import { TABLE_ORDER, recordKey } from './types.js';

interface PendingWrite {
  fn: (tx: WriteTx) => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

export class Store {
  readonly graph = new ObjectGraph();
  private readonly pending: PendingWrite[] = [];
  private scheduled = false;
  private flushing = false;
  private readonly idle: Array<() => void> = [];
  private readonly listeners = new Set<(changes: ReturnType<WriteTx['changes']>) => void>();
  closing = false;

  constructor(readonly repo: Repository) {}

  async load(): Promise<void> {
    const all = await this.repo.loadAll();
    for (const table of TABLE_ORDER) {
      this.graph.tables[table].clear();
      for (const rec of all[table] as never[]) this.graph.load(table, rec);
    }
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
   */
  write<T>(fn: (tx: WriteTx) => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ fn, resolve: resolve as (v: unknown) => void, reject });
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
    for (const job of jobs) {
      const tx = new WriteTx(group);
      try {
        const result = job.fn(tx);
        const changes = tx.changes();
        tx.mergeInto(group);
        done.push({ job, result, changes });
      } catch (err) {
        job.reject(err);
      }
    }
    try {
      const changes = group.changes();
      if (changes.length > 0) await this.repo.commit(changes);
      this.graph.apply(changes);
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

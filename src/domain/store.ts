/**
 * Serialised writes over the graph and the repository. Every write runs its rule checks
 * synchronously against a WriteTx (no await between check and stage), then commits the staged
 * changes to the database in one transaction, and only then applies them to the in-memory graph.
 * One write at a time: the next starts after the previous has committed or failed, so the graph
 * and the database never disagree, also when a write fails half-way.
 */
import { ObjectGraph, WriteTx } from './graph.js';
import type { Repository } from './repository.js';
import { TABLE_ORDER, recordKey } from './types.js';

export class Store {
  readonly graph = new ObjectGraph();
  private tail: Promise<unknown> = Promise.resolve();
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

  /** Runs `fn` as the only writer; resolves with its result after the commit. */
  write<T>(fn: (tx: WriteTx) => T): Promise<T> {
    const run = async (): Promise<T> => {
      const tx = new WriteTx(this.graph);
      const result = fn(tx);
      const changes = tx.changes();
      await this.repo.commit(changes);
      this.graph.apply(changes);
      for (const hook of tx.afterCommit) hook();
      for (const listener of this.listeners) listener(changes);
      return result;
    };
    const next = this.tail.then(run, run);
    this.tail = next.catch(() => undefined);
    return next;
  }

  /** Resolves once every write queued so far has finished. */
  async drain(): Promise<void> {
    await this.tail;
  }

  onCommit(listener: (changes: ReturnType<WriteTx['changes']>) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

export { recordKey };

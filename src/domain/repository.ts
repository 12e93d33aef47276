/**
 * What the domain needs from storage: load everything at start, commit one write's changes
 * atomically. The Prisma implementation lives in src/storage; the domain never sees Prisma.
 */
import type { StagedChange } from './graph.js';
import type { TableName, TableRecords } from './types.js';

export interface Repository {
  loadAll(): Promise<{ [T in TableName]: TableRecords[T][] }>;
  /** Commits every change or none (one database transaction). */
  commit(changes: readonly StagedChange[]): Promise<void>;
  /** Number of database round trips so far (statements sent); for N+1 tests and metrics. */
  roundTrips(): number;
}

/**
 * WAL checkpoints off the event loop (WAL_CHECKPOINTS=worker): a worker thread with a connection
 * of its own runs `PRAGMA wal_checkpoint(PASSIVE)` every `intervalMs`, and the service's
 * connection does not checkpoint (`wal_autocheckpoint = 0`, set by database.ts).
 *
 * SQLite's default checkpoints inside the commit that takes the WAL past 1,000 pages: that commit
 * copies ~4 MB of pages into the database file and syncs it on the thread that runs every request
 * (bench/wal-checkpoint.ts, on a loaded machine: commits' p99.9 8.9 ms, max 170 ms; with this
 * worker 4.6 ms and 51 ms). A PASSIVE checkpoint takes no lock a writer needs: the
 * service's commits go on while the worker copies, and the next commit after a complete
 * checkpoint restarts the WAL from its start (`journal_size_limit` then truncates a WAL a burst
 * made large).
 *
 * The worker only reads and checkpoints; it writes no row, so the service stays the one writer.
 * It is closed before the service's connection, which is then the last one: its close checkpoints
 * the rest and removes the WAL, as before. Should the worker fail, the service's connection takes
 * the checkpoints back (`wal_autocheckpoint = 1000`, SQLite's default): the WAL never grows
 * without bound.
 *
 * The worker's code is a string (below), plain CommonJS, not a module of this tree: it needs only
 * better-sqlite3, which it loads by the path this thread resolved (sqlite-driver.ts: the version
 * for this Node), so it runs the same from `dist/` and from the TypeScript sources under tests.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type BetterSqlite3 from 'better-sqlite3';
import { SQLITE_DRIVER } from './sqlite-driver.js';

/** SQLite's default: what the service's connection falls back to without the worker. */
export const DEFAULT_AUTOCHECKPOINT_PAGES = 1000;

const CLOSE_TIMEOUT_MS = 5000;

export interface CheckpointStats {
  /** Checkpoints that copied at least one frame. */
  checkpoints: number;
  /** Frames copied into the database file, in all. */
  frames: number;
  /** Whether the worker runs (false once closed, or after it failed). */
  running: boolean;
  /** Why the worker stopped, if it failed. */
  error: string | null;
}

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true, timeout: 0 });
function checkpoint() {
  const [r] = db.pragma('wal_checkpoint(PASSIVE)');
  if (r.checkpointed > 0) parentPort.postMessage({ type: 'checkpointed', frames: r.checkpointed });
}
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m !== 'close') return;
  clearInterval(timer);
  try {
    checkpoint();
  } finally {
    db.close();
    parentPort.postMessage({ type: 'closed' });
    parentPort.close();
  }
});
`;

export class Checkpointer {
  private readonly stats: CheckpointStats = { checkpoints: 0, frames: 0, running: true, error: null };
  private closing: Promise<void> | null = null;

  private constructor(
    private readonly worker: Worker,
    private readonly sqlite: BetterSqlite3.Database,
  ) {
    worker.on('message', (m: { type: string; frames?: number }) => {
      if (m.type !== 'checkpointed') return;
      this.stats.checkpoints++;
      this.stats.frames += m.frames ?? 0;
    });
    // A SqliteError reaches this thread as a plain object with its code only.
    worker.on('error', (err: unknown) => this.failed(errorText(err)));
    worker.on('exit', (code) => {
      if (this.closing === null) this.failed(`the checkpoint worker exited (code ${code})`);
    });
    // A service that is not closed (a test's app left open) is not kept alive by its checkpoints.
    worker.unref();
  }

  /**
   * Starts the worker on `file` (its connection opens in the background: a start does not wait
   * the ~0.1 s a new thread takes to load better-sqlite3). `sqlite` is the service's connection,
   * which gets the checkpoints back if the worker fails, at its start or later.
   */
  static start(file: string, sqlite: BetterSqlite3.Database, intervalMs: number): Checkpointer {
    const driver = createRequire(import.meta.url).resolve(SQLITE_DRIVER);
    return new Checkpointer(new Worker(WORKER_SOURCE, { eval: true, workerData: { file, driver, intervalMs } }), sqlite);
  }

  checkpointStats(): Readonly<CheckpointStats> {
    return { ...this.stats };
  }

  /** A last checkpoint, then the worker's connection closes and the worker ends. */
  close(): Promise<void> {
    this.closing ??= this.stats.running
      ? new Promise<void>((resolve) => {
          // Held until it has ended: a process that is closing has little else keeping it alive.
          this.worker.ref();
          this.worker.once('exit', () => resolve());
          this.worker.on('message', (m: { type: string }) => {
            if (m.type === 'closed') void this.worker.terminate();
          });
          this.worker.postMessage('close');
          // A worker that does not answer (a checkpoint stuck on I/O) is not waited for forever:
          // the service's own close checkpoints what is left.
          setTimeout(() => void this.worker.terminate(), CLOSE_TIMEOUT_MS).unref();
        }).then(() => {
          this.stats.running = false;
        })
      : Promise.resolve();
    return this.closing;
  }

  private failed(message: string): void {
    if (!this.stats.running) return;
    this.stats.running = false;
    this.stats.error = message;
    if (this.sqlite.open) this.sqlite.pragma(`wal_autocheckpoint = ${DEFAULT_AUTOCHECKPOINT_PAGES}`);
  }
}

function errorText(err: unknown): string {
  if (err instanceof Error && err.message) return err.message;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : String(err);
}

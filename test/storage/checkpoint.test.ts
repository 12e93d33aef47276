/**
 * WAL checkpoints (WAL_CHECKPOINTS; src/storage/checkpointer.ts). By default (`inline`) SQLite
 * checkpoints inside the commit that fills the WAL. With `worker` the service's connection never
 * checkpoints inside a commit; a worker thread with its own connection copies committed frames
 * into the database file; a close leaves no WAL; should the worker fail, the service's connection
 * checkpoints again, as SQLite does by default.
 */
import { copyFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { must, scratchDirs, startApp } from '../helper.js';
import { Checkpointer, DEFAULT_AUTOCHECKPOINT_PAGES } from '../../src/storage/checkpointer.js';

const tempDir = scratchDirs('vsmmu-checkpoint-');

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The rows of `sql` in a copy of the database file alone (no WAL beside it): what a checkpoint put there. */
function inMainFileOnly<T>(dbFile: string, sql: string): T[] {
  const copy = path.join(tempDir(), 'main-only.db');
  copyFileSync(dbFile, copy);
  const db = new Database(copy, { readonly: true });
  try {
    return db.prepare(sql).all() as T[];
  } finally {
    db.close();
  }
}

const WORKER = { WAL_CHECKPOINTS: 'worker' };

describe('storage checkpoints: inline by default, or in a worker thread', () => {
  it('checkpoint: by default the service\'s connection checkpoints as SQLite does (every 1,000 pages, inside the commit) and no worker runs', async () => {
    const t = await startApp({ dir: tempDir() });
    try {
      expect(Number(t.database.sqlite.pragma('wal_autocheckpoint', { simple: true }))).toBe(DEFAULT_AUTOCHECKPOINT_PAGES);
      expect(t.database.checkpoints()).toEqual({ checkpoints: 0, frames: 0, running: false, error: null });
      const text = (await t.req('GET', '/metrics')).raw;
      expect(text).toMatch(/^vsmmu_db_checkpoint_worker_up 0$/m);
    } finally {
      await t.close();
    }
  });

  it('checkpoint: WAL_CHECKPOINTS=worker — the service\'s connection does not checkpoint (wal_autocheckpoint 0); the worker copies committed frames into the database file', async () => {
    const t = await startApp({ dir: tempDir(), env: WORKER });
    try {
      expect(Number(t.database.sqlite.pragma('wal_autocheckpoint', { simple: true }))).toBe(0);
      expect(Number(t.database.sqlite.pragma('journal_size_limit', { simple: true }))).toBe(64 * 1024 * 1024);
      const before = t.database.checkpoints();
      expect(before.running).toBe(true);
      expect(before.error).toBeNull();
      const names: string[] = [];
      for (let i = 0; i < 40; i++) {
        names.push(`ckpt-${i}`);
        must(await t.req('POST', '/v1/contexts', { name: `ckpt-${i}` }), 201);
      }
      // The worker reports a checkpoint by a message, which reaches this thread after the pages
      // reached the file: wait for both.
      await until('a checkpoint of the new contexts, and its report', () => {
        const rows = inMainFileOnly<{ name: string }>(t.dbFile, `SELECT name FROM "Context" WHERE name LIKE 'ckpt-%'`);
        return rows.length === names.length && t.database.checkpoints().checkpoints > before.checkpoints;
      });
      const after = t.database.checkpoints();
      expect(after.checkpoints).toBeGreaterThan(before.checkpoints);
      expect(after.frames).toBeGreaterThan(before.frames);
      // /metrics reports them (counters; the worker's state a gauge).
      const text = (await t.req('GET', '/metrics')).raw;
      const sample = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
      expect(sample('vsmmu_db_wal_checkpoints_total')).toBeGreaterThanOrEqual(after.checkpoints);
      expect(sample('vsmmu_db_wal_checkpointed_frames_total')).toBeGreaterThanOrEqual(after.frames);
      expect(sample('vsmmu_db_checkpoint_worker_up')).toBe(1);
      expect(text).toMatch(/^# TYPE vsmmu_db_wal_checkpoints_total counter$/m);
    } finally {
      await t.close();
    }
  });

  it('checkpoint: WAL_CHECKPOINTS=worker — a close ends the worker first and leaves no WAL; a restart reads everything', async () => {
    const dir = tempDir();
    const t = await startApp({ dir, env: WORKER });
    const ctx = must(await t.req('POST', '/v1/contexts', { name: 'kept' }), 201);
    const dbFile = t.dbFile;
    await t.close();
    expect(t.database.checkpoints().running).toBe(false);
    expect(existsSync(`${dbFile}-wal`)).toBe(false);
    expect(inMainFileOnly<{ id: number }>(dbFile, `SELECT id FROM "Context" WHERE name = 'kept'`)).toEqual([{ id: ctx.id }]);
    const again = await startApp({ dir, env: WORKER });
    try {
      expect(must(await again.req('GET', `/v1/contexts/${ctx.id}`), 200).name).toBe('kept');
    } finally {
      await again.close();
    }
  });

  it('checkpoint: should the worker fail, the service\'s connection takes the checkpoints back (SQLite\'s default, 1,000 pages)', async () => {
    const file = path.join(tempDir(), 'raw.db');
    const sqlite = new Database(file);
    try {
      sqlite.pragma('journal_mode = WAL');
      sqlite.pragma('wal_autocheckpoint = 0');
      sqlite.exec('CREATE TABLE t (x TEXT)');
      const cp = Checkpointer.start(file, sqlite, 20);
      sqlite.prepare('INSERT INTO t VALUES (?)').run('a');
      await until('the first checkpoint', () => cp.checkpointStats().frames > 0);
      expect(sqlite.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
      // The worker ends unasked (what a crash of its thread looks like from here).
      await (cp as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
      await until('the failure to be noticed', () => !cp.checkpointStats().running);
      expect(cp.checkpointStats().error).toMatch(/exited/);
      expect(sqlite.pragma('wal_autocheckpoint', { simple: true })).toBe(DEFAULT_AUTOCHECKPOINT_PAGES);
      await cp.close();
    } finally {
      sqlite.close();
    }
  });

  it('checkpoint: a worker that cannot open the database fails, and the service\'s connection checkpoints itself', async () => {
    const sqlite = new Database(':memory:');
    try {
      sqlite.pragma('wal_autocheckpoint = 0');
      const cp = Checkpointer.start(path.join(tempDir(), 'missing.db'), sqlite, 20);
      await until('the failure to be noticed', () => !cp.checkpointStats().running);
      expect(cp.checkpointStats().error).toMatch(/unable to open|SQLITE_CANTOPEN|does not exist/i);
      expect(sqlite.pragma('wal_autocheckpoint', { simple: true })).toBe(DEFAULT_AUTOCHECKPOINT_PAGES);
      await cp.close();
    } finally {
      sqlite.close();
    }
  });
});

/**
 * What a WAL checkpoint costs the commit that runs it (README `WAL_CHECKPOINTS`,
 * src/storage/checkpointer.ts): 20,000 better-sqlite3 transactions of three ~260-byte rows on a
 * fresh WAL database, each timed, with SQLite's automatic checkpoint (`inline`, 1,000 pages),
 * with the checkpoints in the worker thread (`worker`), and with none at all (`none`, the floor).
 * Prints p50, p99, p99.9 and max per mode and the ratio of `worker`'s p99.9 to `inline`'s.
 * Usage: npx tsx bench/wal-checkpoint.ts
 */
import '../src/storage/sqlite-driver.js';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const { default: Database } = await import('better-sqlite3');
const { Checkpointer } = await import('../src/storage/checkpointer.js');

const COMMITS = Number(process.env.BENCH_COMMITS ?? 20_000);
const results: Record<string, number[]> = {};
for (const mode of ['inline', 'worker', 'none'] as const) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vsmmu-ckpt-'));
  const file = path.join(dir, 'x.db');
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma(`wal_autocheckpoint = ${mode === 'inline' ? 1000 : 0}`);
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b TEXT)');
  const worker = mode === 'worker' ? Checkpointer.start(file, db, 200) : null;
  const insert = db.prepare('INSERT INTO t (a, b) VALUES (?, ?)');
  const commit = db.transaction(() => {
    for (let i = 0; i < 3; i++) insert.run('x'.repeat(150), 'y'.repeat(100));
  });
  const times: number[] = [];
  for (let i = 0; i < COMMITS; i++) {
    const t = performance.now();
    commit();
    times.push(performance.now() - t);
    // Let the worker's messages and timers run, as a service's event loop would between requests.
    if (i % 100 === 0) await new Promise((r) => setImmediate(r));
  }
  await worker?.close();
  db.close();
  rmSync(dir, { recursive: true, force: true });
  results[mode] = times.sort((a, b) => a - b);
}
const q = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor(xs.length * p))];
for (const [mode, xs] of Object.entries(results)) {
  console.log(`${mode.padEnd(6)} p50 ${q(xs, 0.5).toFixed(3)} ms, p99 ${q(xs, 0.99).toFixed(3)} ms, p99.9 ${q(xs, 0.999).toFixed(3)} ms, max ${xs[xs.length - 1].toFixed(2)} ms, commits over 2 ms: ${xs.filter((x) => x > 2).length}`);
}
console.log(`worker p99.9 / inline p99.9: ${(q(results.worker, 0.999) / q(results.inline, 0.999)).toFixed(3)}`);

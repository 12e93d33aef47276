/**
 * `npm run bench`: runs every bench/*.ts script (except this one), one after the other, each in
 * its own Node process (so one bench's JIT state, heap and sockets do not colour the next), and
 * prints their output. A missed target is reported by the bench itself and is not a failure;
 * the exit code is non-zero only when a bench script crashes.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = path.dirname(fileURLToPath(import.meta.url));
const self = path.basename(fileURLToPath(import.meta.url));
const scripts = readdirSync(dir)
  // setup.ts holds what the benches share; it is not one.
  .filter((f) => f.endsWith('.ts') && f !== self && f !== 'setup.ts' && !f.endsWith('.d.ts'))
  .sort();

console.log(`node ${process.version}, ${process.platform}/${process.arch}, ${(await import('node:os')).cpus().length} cores, ${new Date().toISOString()}`);
const failed: string[] = [];
for (const f of scripts) {
  console.log(`\n=== bench/${f} ===`);
  const started = Date.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(dir, f)], { stdio: 'inherit', cwd: path.dirname(dir) });
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  if (r.status !== 0) {
    failed.push(f);
    console.log(`--- bench/${f} failed (exit ${r.status ?? r.signal}) after ${secs} s`);
  } else {
    console.log(`--- bench/${f} done in ${secs} s`);
  }
}
if (failed.length > 0) {
  console.log(`\n${failed.length} bench script(s) crashed: ${failed.join(', ')}`);
  process.exitCode = 1;
}

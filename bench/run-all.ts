/**
 * `npm run bench`: every benchmark, one after the other, each in its own Node process (so one
 * bench's JIT state, heap and sockets do not colour the next):
 *   bench/model-vs-decode.ts, bench/invalidate-http.ts, bench/vcmdq-vs-invalidate.ts  (figures)
 *   bench/probe-latency.ts                                                           (printed only)
 *   bench/scale.ts                                                                   (issue 13's figures)
 * then writes bench/results.json (one number per figure, with the date and git commit) and prints
 * every figure with its target and MET/MISSED. A missed target is reported, not an error; the
 * exit code is non-zero only when a bench script crashes. BENCH_SCALE (e.g. 0.05) shortens every
 * bench for a smoke test; results.json records the scale.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { machine, printFigure, SCALE, scaled, type Figure } from './lib/common.js';
import { RESULTS_FILE, writeResults } from './lib/results.js';

const dir = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(dir);
const tmp = mkdtempSync(path.join(os.tmpdir(), 'vsmmu-bench-all-'));

interface Step {
  name: string;
  args: string[];
  /** The JSON the step writes its figures to (bench/lib/run-existing.ts), if any. */
  out?: string;
  env?: Record<string, string>;
}

const steps: Step[] = [
  ...(['model', 'http', 'vcmdq'] as const).map((b) => ({ name: { model: 'bench/model-vs-decode.ts', http: 'bench/invalidate-http.ts', vcmdq: 'bench/vcmdq-vs-invalidate.ts' }[b], args: [path.join(dir, 'lib', 'run-existing.ts'), b, path.join(tmp, `${b}.json`)], out: path.join(tmp, `${b}.json`) })),
  {
    name: 'bench/probe-latency.ts',
    args: [path.join(dir, 'probe-latency.ts')],
    // Its own knobs, shortened with the rest at a small BENCH_SCALE.
    env: SCALE < 1 ? { BENCH_CONNECTIONS: String(scaled(200, 10)), BENCH_LOAD_MS: String(scaled(8000, 1000)), BENCH_RAMP_LIMIT_MS: String(scaled(60_000, 5000)) } : {},
  },
  { name: 'bench/scale.ts', args: [path.join(dir, 'scale.ts')] },
];

const started = machine();
console.log(`node ${process.version}, ${started.platform}, ${started.cores} cores, load average ${started.loadavg.join(' ')}, ${started.date}, commit ${started.commit.slice(0, 12)}${started.dirty ? ' (uncommitted changes)' : ''}, BENCH_SCALE ${SCALE}`);
const failed: string[] = [];
const figures: Figure[] = [];
const details: Record<string, unknown> = {};
const t0 = Date.now();
for (const s of steps) {
  console.log(`\n=== ${s.name} ===`);
  const t = Date.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', ...s.args], { stdio: 'inherit', cwd: root, env: { ...process.env, ...s.env } });
  const secs = ((Date.now() - t) / 1000).toFixed(1);
  if (r.status !== 0) {
    failed.push(s.name);
    console.log(`--- ${s.name} failed (exit ${r.status ?? r.signal}) after ${secs} s`);
    continue;
  }
  console.log(`--- ${s.name} done in ${secs} s`);
  if (s.out) {
    const got = JSON.parse(readFileSync(s.out, 'utf8')) as { figures: Figure[]; details: unknown };
    figures.push(...got.figures);
    details[path.basename(s.name, '.ts')] = got.details;
  }
}
rmSync(tmp, { recursive: true, force: true });
// scale.ts wrote its own figures; these are merged beside them.
const written = writeResults(figures, details, started);
console.log(`\n=== every figure (bench/results.json, ${((Date.now() - t0) / 60000).toFixed(1)} min, load average ${started.loadavg.join(' ')} → ${machine().loadavg.join(' ')}) ===`);
for (const [key, value] of Object.entries(written.figures)) {
  const t = written.targets[key];
  printFigure({ key, value, unit: t.unit, kind: t.kind, target: t.target, met: t.met, refused: written.refused[key] ?? null, note: (written.measured[key]?.date ?? '') < started.date ? `(from an earlier run: ${written.measured[key]?.date}, scale ${written.measured[key]?.scale})` : undefined });
}
console.log(`written to ${path.relative(root, RESULTS_FILE)}`);
if (failed.length > 0) {
  console.log(`\n${failed.length} bench script(s) crashed: ${failed.join(', ')}`);
  process.exitCode = 1;
}

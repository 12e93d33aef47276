/**
 * What the issue-13 benches share: the scale knob, statistics, formatting, figure verdicts.
 *
 * BENCH_SCALE (default 1) multiplies every size of bench/scale.ts: 0.05 runs the whole thing at
 * 1/20 (5,000 instead of 100,000 objects, 50 instead of 1,000 VMs) as a smoke test. The figures
 * of a scaled run are not the issue's figures; results.json records the scale they were made at.
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export const SCALE = (() => {
  const raw = process.env.BENCH_SCALE ?? '1';
  const s = Number(raw);
  if (!Number.isFinite(s) || s <= 0 || s > 10) throw new Error(`BENCH_SCALE must be a number in (0, 10], got ${raw}`);
  return s;
})();

/** `n` at the bench's scale, never below `min`. */
export const scaled = (n: number, min = 1) => Math.max(min, Math.round(n * SCALE));

export const median = (xs: number[]) => percentile(xs, 50);
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  // Nearest rank: the value at or below which p % of the samples fall.
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

export const fmt = (x: number, digits = 0) => (Number.isFinite(x) ? x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : String(x));

/** Child processes the benches started: killed if the bench itself exits without stopping them. */
export const children = new Set<import('node:child_process').ChildProcess>();
process.once('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/**
 * CPU placement of the throughput ratios (BENCH_PIN, default on with ≥ 2 cores and `taskset`;
 * BENCH_PIN=0 turns it off). The load generator (autocannon, in the bench's own process) and the
 * server it measures share the machine; left to the scheduler, they sometimes share a core and
 * sometimes not, and a server's rate then depends on where it landed (the bare route's rate was
 * bimodal, ~20–24 k or ~31–37 k req/s, between runs of one commit). While `pinned` runs, the bench
 * is on the first core and every server it starts (the service and the bare route alike) on the
 * others, so both sides of a ratio run under the same placement. Only the throughput figures are
 * pinned: start-up, memory and latencies are measured as the service runs, on every core.
 */
export const PIN = (() => {
  if (process.env.BENCH_PIN === '0' || os.cpus().length < 2) return null;
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
  } catch {
    return null;
  }
  return { bench: '0', servers: `1-${os.cpus().length - 1}` };
})();

let pinning = false;

/** Runs `f` with this process (every thread) on the bench's core and the servers it starts on the others, then puts the process back where it was; a plain call when PIN is off. */
export async function pinned<T>(f: () => Promise<T>): Promise<T> {
  if (!PIN) return f();
  // The placement to go back to: the one this process started with (`taskset -p -c` prints "pid N's current affinity list: 0,1").
  const before = /:\s*(\S+)\s*$/.exec(execFileSync('taskset', ['-p', '-c', String(process.pid)], { encoding: 'utf8' }))?.[1] ?? `0-${os.cpus().length - 1}`;
  execFileSync('taskset', ['-a', '-p', '-c', PIN.bench, String(process.pid)], { stdio: 'ignore' });
  pinning = true;
  try {
    return await f();
  } finally {
    pinning = false;
    execFileSync('taskset', ['-a', '-p', '-c', before, String(process.pid)], { stdio: 'ignore' });
  }
}

/** The command and arguments that start `node <args>`, on the servers' cores inside `pinned` (taskset execs: same pid). */
export function serverSpawn(args: string[]): [string, string[]] {
  return PIN && pinning ? ['taskset', ['-c', PIN.servers, process.execPath, ...args]] : [process.execPath, args];
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function machine() {
  let commit = 'unknown';
  let dirty = false;
  try {
    commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    // bench/results.json is the benches' own output (scale.ts writes it before run-all.ts looks
    // again at the end): not an uncommitted change of the tree measured.
    dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no', '--', '.', ':!bench/results.json'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
  } catch {
    // not a git checkout: the commit stays unknown
  }
  return {
    date: new Date().toISOString(),
    commit,
    dirty,
    node: process.version,
    platform: `${process.platform}/${process.arch}`,
    cores: os.cpus().length,
    loadavg: os.loadavg().map((x) => Number(x.toFixed(2))),
    pinned: PIN ? `throughput figures: bench on CPU ${PIN.bench}, servers on CPU ${PIN.servers}` : 'no',
  };
}

/** A figure: its value, its target and whether it is met. */
export interface Figure {
  key: string;
  value: number;
  unit: string;
  /** 'min': value ≥ target is met; 'max': value ≤ target is met; null: informational. */
  kind: 'min' | 'max' | null;
  target: number | null;
  met: boolean | null;
  /** 429/503 answers the figure's load got (null: not an HTTP figure). */
  refused?: { '429': number; '503': number } | null;
  note?: string;
}

export function figure(key: string, value: number, unit: string, kind: 'min' | 'max' | null, target: number | null, extra: Partial<Figure> = {}): Figure {
  const met = kind === null || target === null || !Number.isFinite(value) ? null : kind === 'min' ? value >= target : value <= target;
  return { key, value, unit, kind, target, met, ...extra };
}

export function printFigure(f: Figure): void {
  const digits = f.unit === 'ratio' ? 3 : f.unit === 'ms' || f.unit === 's' ? 2 : f.unit === 'MB' ? 1 : 0;
  const target = f.kind === null || f.target === null ? 'informational' : `target ${f.kind === 'min' ? '≥' : '≤'} ${fmt(f.target, f.unit === 'ratio' ? 2 : 0)}${f.unit === 'ratio' ? '' : ` ${f.unit}`}`;
  const verdict = f.met === null ? '' : f.met ? '  MET' : '  MISSED';
  const refused = f.refused ? `  [429: ${f.refused['429']}, 503: ${f.refused['503']}]` : '';
  console.log(`  ${f.key.padEnd(28)} ${fmt(f.value, digits).padStart(12)} ${f.unit === 'ratio' ? '' : f.unit}  (${target})${verdict}${refused}${f.note ? `  — ${f.note}` : ''}`);
}

#!/usr/bin/env node
// Rechecks the survivors of a Stryker JSON report by hand: each "Survived" mutant is applied to
// its file in this checkout (which must be the commit the report was made on: the report's own
// copy of the file is compared first), the test files Stryker says cover it are run with plain
// Vitest (the mutate suite's configuration, vitest.mutate.config.ts) with the suite's files named
// after the module or importing it (`candidates` below), and the file is restored.
// A failing run is a kill Stryker missed (a run past RECHECK_TIMEOUT_S, default 300, decides
// nothing): with the Vitest runner and `perTest` coverage, Stryker 9/10 records some mutants as
// Survived although their covering tests fail (stryker-js #6192; docs/architecture.md
// "Mutation testing"). The report is written again with
// those mutants as Killed (`statusReason: "recheck: <failing test file>"`).
// Usage: node scripts/mutation-recheck.mjs <report.json> [<out.json>] [--files=<substring>] [--uncovered]
// Not for a checkout anyone is editing: it rewrites source files while it runs.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { clearTimeout, setTimeout } from 'node:timers';

const [reportPath, outPath = reportPath.replace(/\.json$/, '.rechecked.json')] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const only = process.argv.find((a) => a.startsWith('--files='))?.slice('--files='.length);
const withUncovered = process.argv.includes('--uncovered');
const report = JSON.parse(readFileSync(reportPath, 'utf8'));
const testFileOf = new Map();
for (const [file, tf] of Object.entries(report.testFiles ?? {})) for (const t of tf.tests) testFileOf.set(t.id, file);

let original = null;
let originalPath = null;
const restore = () => {
  if (originalPath !== null) writeFileSync(originalPath, original);
  originalPath = null;
};
let child = null;
const killGroup = (signal) => {
  try {
    if (child) process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
};
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    killGroup('SIGKILL');
    restore();
    process.exit(130);
  });
}

/** Runs Vitest on `tests` (asynchronously, so a signal restores the file at once): null if they pass, the failing file if not. */
function failingRun(tests) {
  return new Promise((resolve) => {
    let out = '';
    // Its own process group: a timeout kills Vitest and its workers, not only npx.
    child = spawn('npx', ['vitest', 'run', '--config', 'vitest.mutate.config.ts', '--bail=1', ...tests], { detached: true, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' } });
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => killGroup('SIGKILL'), Number(process.env.RECHECK_TIMEOUT_S ?? 300) * 1000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      child = null;
      // A run that had to be killed decides nothing (on a loaded machine a slow suite is not an
      // endless loop): the mutant stays Survived, so the score stays a lower bound.
      if (code === 0 || signal) resolve(signal ? { undecided: true } : null);
      else resolve(/FAIL\s+(\S+)/.exec(out)?.[1] ?? `exit ${code}`);
    });
  });
}

/**
 * The test files to run against a mutant: the ones Stryker says cover it first, then — because
 * that attribution misses covering tests (stryker-js #5928, #6073) — the suite's files named after
 * the mutated module or importing it. Still a lower bound: a test that reaches the module only
 * through the app is run only if Stryker named it.
 */
const suite = spawnSync('npx', ['vitest', 'list', '--config', 'vitest.mutate.config.ts', '--filesOnly'], { encoding: 'utf8' })
  .stdout.split('\n')
  .map((l) => l.trim())
  .filter((l) => l.endsWith('.test.ts'));
const suiteText = new Map(suite.map((f) => [f, readFileSync(f, 'utf8')]));
function candidates(sourcePath, named) {
  const base = sourcePath.replace(/^.*\//, '').replace(/\.ts$/, '');
  const module = sourcePath.replace(/^src\//, '').replace(/\.ts$/, '.js');
  const related = suite.filter((f) => f.includes(base) || suiteText.get(f).includes(module));
  return [...new Set([...named, ...related])];
}

/** `source` with the mutant's range (1-based lines and columns, end exclusive) replaced. */
function applied(source, m) {
  const lines = source.split('\n');
  const offset = (p) => lines.slice(0, p.line - 1).reduce((n, l) => n + l.length + 1, 0) + p.column - 1;
  return source.slice(0, offset(m.location.start)) + m.replacement + source.slice(offset(m.location.end));
}

let rechecked = 0;
let killed = 0;
let unnamed = 0;
let undecided = 0;
for (const [name, file] of Object.entries(report.files)) {
  if (only && !name.includes(only)) continue;
  const current = readFileSync(name, 'utf8');
  if (current !== file.source) throw new Error(`${name} differs from the report's copy: check out the commit the report was made on`);
  for (const m of file.mutants) {
    // --uncovered: also mutants Stryker found no test for (its per-test coverage can miss them,
    // or the mutate suite left their tests out), run against the related files.
    if (m.status !== 'Survived' && !(withUncovered && m.status === 'NoCoverage')) continue;
    const tests = candidates(name, new Set((m.coveredBy ?? []).map((id) => testFileOf.get(id)).filter(Boolean)));
    if (tests.length === 0) {
      unnamed++;
      console.log(`not rechecked ${name}:${m.location.start.line} ${m.mutatorName}: no covering or related test file`);
      continue;
    }
    rechecked++;
    original = current;
    originalPath = name;
    let failing = null;
    try {
      writeFileSync(name, applied(current, m));
      failing = await failingRun(tests);
    } finally {
      restore();
    }
    const where = `${name}:${m.location.start.line} ${m.mutatorName} → ${JSON.stringify(m.replacement).slice(0, 60)}`;
    if (typeof failing === 'object' && failing !== null) {
      undecided++;
      console.log(`undecided ${where} (the run timed out: kept as Survived)`);
    } else if (failing !== null) {
      killed++;
      m.status = 'Killed';
      m.statusReason = `recheck: ${failing}`;
      console.log(`killed   ${where} (${failing})`);
    } else {
      console.log(`survived ${where} (${tests.length} test files)`);
    }
  }
}
writeFileSync(outPath, JSON.stringify(report));
console.log(`rechecked ${rechecked} survivors: ${killed} killed by their covering tests; ${unnamed} not rechecked (no covering or related test file), ${undecided} undecided (timed out); report written to ${outPath}`);

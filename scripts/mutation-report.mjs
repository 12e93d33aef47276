#!/usr/bin/env node
// Reads Stryker's JSON reports (stryker.config.mjs writes reports/mutation/mutation.json, or
// STRYKER_REPORT) and prints, per file and in all: mutants, killed (timeouts count as killed, as
// Stryker scores them), survived, no coverage, the score, and every survivor with its line and
// replacement. A survivor whose run completed no test (`testsCompleted: 0`) is flagged: the
// Vitest runner reports such a non-measurement as "Survived" (stryker-js #6213).
// Usage: node scripts/mutation-report.mjs <report.json>... [--survivors]
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const listSurvivors = args.includes('--survivors');
const files = new Map();
for (const report of args.filter((a) => !a.startsWith('--'))) {
  const json = JSON.parse(readFileSync(report, 'utf8'));
  for (const [name, file] of Object.entries(json.files)) files.set(name, { file, source: file.source.split('\n') });
}
const KILLED = new Set(['Killed', 'Timeout']);
const COUNTED = new Set(['Killed', 'Timeout', 'Survived', 'NoCoverage']);
const total = { mutants: 0, killed: 0, survived: 0, noCoverage: 0, unrun: 0 };
const rows = [];
for (const [name, { file, source }] of [...files].sort(([a], [b]) => a.localeCompare(b))) {
  const t = { mutants: 0, killed: 0, survived: 0, noCoverage: 0, unrun: 0 };
  const survivors = [];
  for (const m of file.mutants) {
    if (!COUNTED.has(m.status)) continue;
    t.mutants++;
    if (KILLED.has(m.status)) t.killed++;
    else if (m.status === 'NoCoverage') t.noCoverage++;
    else {
      t.survived++;
      if (m.testsCompleted === 0) t.unrun++;
    }
    if (!KILLED.has(m.status)) survivors.push(m);
  }
  for (const k of Object.keys(total)) total[k] += t[k];
  rows.push(`${name}: ${t.killed}/${t.mutants} = ${((100 * t.killed) / Math.max(1, t.mutants)).toFixed(1)} % (survived ${t.survived}${t.unrun ? `, ${t.unrun} of them with no test run` : ''}, no coverage ${t.noCoverage})`);
  if (listSurvivors) {
    for (const m of survivors.sort((a, b) => a.location.start.line - b.location.start.line)) {
      const line = m.location.start.line;
      const flag = m.status === 'NoCoverage' ? 'uncovered' : m.testsCompleted === 0 ? 'survived, no test run' : 'survived';
      rows.push(`  ${line}: [${flag}] ${m.mutatorName} → ${JSON.stringify(m.replacement ?? '').slice(0, 80)} | ${(source[line - 1] ?? '').trim().slice(0, 100)}`);
    }
  }
}
console.log(rows.join('\n'));
console.log(`all: ${total.killed}/${total.mutants} = ${((100 * total.killed) / Math.max(1, total.mutants)).toFixed(1)} % (survived ${total.survived}${total.unrun ? `, ${total.unrun} of them with no test run` : ''}, no coverage ${total.noCoverage})`);

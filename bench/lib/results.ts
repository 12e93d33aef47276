/**
 * bench/results.json: one number per figure (`figures`), with the date and git commit of the run
 * that wrote it, and per figure its target, verdict, 429/503 count and provenance. A run that
 * measures only some figures (`npm run bench:scale`) replaces those and keeps the others, each
 * with the date, commit and scale of the run that measured it (`measured`).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { machine, ROOT, SCALE, type Figure } from './common.js';

export const RESULTS_FILE = path.join(ROOT, 'bench', 'results.json');

interface ResultsFile {
  date: string;
  commit: string;
  dirty: boolean;
  scale: number;
  machine: Record<string, unknown>;
  figures: Record<string, number>;
  targets: Record<string, { kind: 'min' | 'max' | null; target: number | null; unit: string; met: boolean | null }>;
  refused: Record<string, { '429': number; '503': number }>;
  measured: Record<string, { date: string; commit: string; scale: number }>;
  details: Record<string, unknown>;
}

export function writeResults(figures: Figure[], details: Record<string, unknown>, started: ReturnType<typeof machine>): ResultsFile {
  const end = machine();
  const prev: Partial<ResultsFile> = existsSync(RESULTS_FILE) ? JSON.parse(readFileSync(RESULTS_FILE, 'utf8')) : {};
  const out: ResultsFile = {
    date: end.date,
    commit: end.commit,
    dirty: end.dirty,
    scale: SCALE,
    machine: { node: end.node, platform: end.platform, cores: end.cores, loadavgAtStart: started.loadavg, loadavgAtEnd: end.loadavg, started: started.date },
    figures: { ...(prev.figures ?? {}) },
    targets: { ...(prev.targets ?? {}) },
    refused: { ...(prev.refused ?? {}) },
    measured: { ...(prev.measured ?? {}) },
    details: { ...(prev.details ?? {}), ...details },
  };
  for (const f of figures) {
    out.figures[f.key] = Number(f.value.toPrecision(6));
    out.targets[f.key] = { kind: f.kind, target: f.target, unit: f.unit, met: f.met };
    if (f.refused) out.refused[f.key] = f.refused;
    else delete out.refused[f.key];
    out.measured[f.key] = { date: end.date, commit: end.commit, scale: SCALE };
  }
  writeFileSync(RESULTS_FILE, JSON.stringify(out, null, 2) + '\n');
  return out;
}

/**
 * Issue 13's figures (`npm run bench:scale`; `npm run bench` runs it after the other benches):
 * the service in its own process on 127.0.0.1, load from autocannon (throughput) or a keep-alive
 * node:http client (latencies, and the 16 clients that build 1,000 VMs: each request needs the
 * ids of the ones before it). Prints every figure with its target and MET/MISSED, and the 429 and
 * 503 answers its load got under the default limits; writes them into bench/results.json.
 *
 *   read_vs_bare, create_per_s, create_vs_bare       bench/lib/fig-throughput.ts
 *   build_1000_vms_s, rss_1000_vms_mb,
 *   graphql_dashboard_ms                              bench/lib/fig-build.ts
 *   startup_100k_s, rss_100k_mb, list_scaling,
 *   op_scaling, invalidate_scaling, vcmdq_scaling     bench/lib/fig-scaling.ts
 *
 * BENCH_SCALE=0.05 runs everything at 1/20 of its size (a smoke test); BENCH_ONLY=throughput,
 * build,scaling picks sections. A missed target is reported, not an error exit.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fmt, machine, pinned, printFigure, SCALE, type Figure } from './lib/common.js';
import { buildFigures } from './lib/fig-build.js';
import { scalingFigures } from './lib/fig-scaling.js';
import { throughputFigures } from './lib/fig-throughput.js';
import { writeResults } from './lib/results.js';
import { serverCommand } from './lib/service.js';

const SECTIONS = ['throughput', 'build', 'scaling'] as const;

export async function runScale(): Promise<Figure[]> {
  const only = (process.env.BENCH_ONLY ?? SECTIONS.join(',')).split(',').map((s) => s.trim());
  const started = machine();
  const t0 = performance.now();
  const log = (s: string) => console.log(`[${((performance.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${s}`);
  console.log(`issue 13 figures: scale ${SCALE}, ${serverCommand().label}, LOG_LEVEL ${process.env.BENCH_LOG_LEVEL ?? 'info (default)'}, load average ${started.loadavg.join(' ')} on ${started.cores} cores, pinned: ${started.pinned}`);
  const work = mkdtempSync(path.join(os.tmpdir(), 'vsmmu-scale-'));
  const figures: Figure[] = [];
  const details: Record<string, unknown> = {};
  try {
    if (only.includes('throughput')) {
      log('read_vs_bare, create_per_s, create_vs_bare');
      const r = await pinned(() => throughputFigures(work, log));
      figures.push(...r.figures);
      Object.assign(details, r.details);
    }
    if (only.includes('build')) {
      log('build_1000_vms_s, rss_1000_vms_mb, graphql_dashboard_ms');
      const r = await buildFigures(work, log);
      figures.push(...r.figures);
      Object.assign(details, r.details);
    }
    if (only.includes('scaling')) {
      log('startup_100k_s, rss_100k_mb, list_scaling, op_scaling, invalidate_scaling, vcmdq_scaling');
      const r = await scalingFigures(work, log);
      figures.push(...r.figures);
      Object.assign(details, r.details);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const end = machine();
  console.log(`\nissue 13 figures (scale ${SCALE}${SCALE === 1 ? '' : ': NOT the issue\'s sizes'}), ${fmt((performance.now() - t0) / 1000, 0)} s, load average ${started.loadavg.join(' ')} → ${end.loadavg.join(' ')}:`);
  for (const f of figures) printFigure(f);
  writeResults(figures, { scale13: details }, started);
  return figures;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await runScale();
}

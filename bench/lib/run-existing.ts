/**
 * Runs one of the earlier benches (issues 3 and 5) in this process, prints it as its own script
 * does, and writes its figures as JSON to the file named by the second argument (for run-all.ts):
 *   model   bench/model-vs-decode.ts       (1) model_vs_decode
 *   http    bench/invalidate-http.ts       (2) invalidate_octet_vs_bare, invalidate_octet_cmds_per_s
 *                                          (3) invalidate_json_of_octet
 *   vcmdq   bench/vcmdq-vs-invalidate.ts   vcmdq_vs_invalidate
 * BENCH_SCALE below 1 shortens (1) and (2)/(3) (fewer rounds and requests), for a smoke test.
 */
import { writeFileSync } from 'node:fs';
import { figure, SCALE, scaled, type Figure } from './common.js';

const [which, out] = process.argv.slice(2);
const figures: Figure[] = [];
let details: unknown = null;

if (which === 'model') {
  const { runModelBench, printModelBench, MODEL_TARGET } = await import('../model-vs-decode.js');
  const r = SCALE < 1 ? runModelBench(3, scaled(2000, 100)) : runModelBench();
  printModelBench(r);
  figures.push(figure('model_vs_decode', r.ratio, 'ratio', 'min', MODEL_TARGET, { note: `model ${Math.round(r.model).toLocaleString('en-US')} vs plain ${Math.round(r.plain).toLocaleString('en-US')} commands/s` }));
  details = r;
} else if (which === 'http') {
  const { runHttpBench, printHttpBench, OCTET_RATIO_TARGET, OCTET_RATE_TARGET, JSON_OF_OCTET_TARGET } = await import('../invalidate-http.js');
  const r = SCALE < 1 ? await runHttpBench(3, scaled(1000, 100)) : await runHttpBench();
  printHttpBench(r);
  figures.push(figure('invalidate_octet_vs_bare', r.octet.ratio, 'ratio', 'min', OCTET_RATIO_TARGET, { note: 'octet-stream invalidate ÷ bare Fastify route' }));
  figures.push(figure('invalidate_octet_cmds_per_s', r.octet.invalidate, 'commands/s', 'min', OCTET_RATE_TARGET));
  figures.push(figure('invalidate_json_of_octet', r.json.ofOctet, 'ratio', 'min', JSON_OF_OCTET_TARGET, { note: 'JSON ÷ octet-stream invalidate' }));
  details = r;
} else if (which === 'vcmdq') {
  const { runVcmdqBench } = await import('../vcmdq-vs-invalidate.js');
  const r = await runVcmdqBench();
  console.log(`vCMDQ 256-command batches over HTTP: ${Math.round(r.vcmdq).toLocaleString('en-US')} commands/s`);
  console.log(`invalidate path, same commands:     ${Math.round(r.invalidate).toLocaleString('en-US')} commands/s`);
  console.log(`per-round ratios: ${[...r.ratios].sort((a, b) => a - b).map((x) => x.toFixed(2)).join(' ')}`);
  console.log(`ratio vCMDQ / invalidate (median of rounds): ${r.ratio.toFixed(2)} (target ≥ 0.8) ${r.ratio >= 0.8 ? 'MET' : 'MISSED'}`);
  figures.push(figure('vcmdq_vs_invalidate', r.ratio, 'ratio', 'min', 0.8, { note: `vCMDQ ${Math.round(r.vcmdq).toLocaleString('en-US')} vs invalidate ${Math.round(r.invalidate).toLocaleString('en-US')} commands/s` }));
  details = r;
} else {
  throw new Error(`unknown bench ${which}: model, http or vcmdq`);
}
if (out) writeFileSync(out, JSON.stringify({ figures, details }));

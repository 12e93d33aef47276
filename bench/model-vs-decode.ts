/**
 * Issue #3 benchmark (1): the SMMUv3 model executing a 256-command TLBI_NH_VA batch
 * (Smmuv3.submitCommands: copy into the main queue, consume, execute, counters, command log)
 * against a plain loop that only reads the same fields (OP, NUM, SCALE, VMID, ASID, LEAF, TTL,
 * TG, ADDR) from the same buffer with DataView reads and shifts. Both run in the same round, in
 * the same process; the ratio is model throughput / plain-loop throughput (target ≥ 0.3).
 *
 * The measured model's IOTLB is empty, as in the service when nothing has translated; an
 * informational line repeats the model side with a full IOTLB (256 entries of another VMID).
 *
 * Bounded: one warm-up round discarded, then ROUNDS rounds of BATCHES_PER_ROUND batches each
 * (BATCHES_PER_ROUND / 100 for the full-IOTLB line); the figures are the medians of the rounds.
 * In-process only (no network).
 */
import { DEFAULT_IDR, Smmuv3 } from '../src/hw/index.js';

const BATCH = 256;
const ROUNDS = 7;
const BATCHES_PER_ROUND = 2000;

export const MODEL_TARGET = 0.3;

/** 256 TLBI_NH_VA: VMID 1, ASID 1, TG=1 (4 KiB) NUM=0 SCALE=0 TTL=0, one page each, addr varies. */
export function tlbiNhVaBatch(count = BATCH, vmid = 1): Buffer {
  const buf = Buffer.alloc(count * 16);
  for (let i = 0; i < count; i++) {
    const o = i * 16;
    buf.writeBigUInt64LE(0x0001000000000012n | (BigInt(vmid) << 32n), o);
    buf.writeBigUInt64LE(0x0000000000000401n | (BigInt(i) << 12n), o + 8);
  }
  return buf;
}

/**
 * The baseline: reads every field of the TLBI_NH_VA layout of each entry, cheapest plain JS
 * (32-bit halves, numbers only, the address as its two halves), and folds them into a sink so
 * the reads cannot be elided.
 */
function plainDecode(view: DataView, count: number): number {
  let sink = 0;
  for (let i = 0, o = 0; i < count; i++, o += 16) {
    const lo0 = view.getUint32(o, true);
    const hi0 = view.getUint32(o + 4, true);
    const lo1 = view.getUint32(o + 8, true);
    const hi1 = view.getUint32(o + 12, true);
    const op = lo0 & 0xff;
    const num = (lo0 >>> 12) & 0x1f;
    const scale = (lo0 >>> 20) & 0x1f;
    const vmid = hi0 & 0xffff;
    const asid = hi0 >>> 16;
    const leaf = lo1 & 1;
    const ttl = (lo1 >>> 8) & 3;
    const tg = (lo1 >>> 10) & 3;
    const addrLo = lo1 & 0xfffff000;
    const addrHi = hi1;
    sink = (sink + op + num + scale + vmid + asid + leaf + ttl + tg + (addrLo >>> 12) + addrHi) | 0;
  }
  return sink;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export interface ModelBenchResult {
  model: number;
  plain: number;
  ratio: number;
  rounds: number;
  /** Informational: model commands/s with a full IOTLB (256 entries that the batch does not match). */
  modelFullIotlb: number;
}

export function runModelBench(rounds = ROUNDS, batchesPerRound = BATCHES_PER_ROUND): ModelBenchResult {
  const buf = tlbiNhVaBatch(BATCH);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  // The service's model: default IDR (S1P+S2P, VMID16, ASID16), 256-entry main queue, 256-entry IOTLB (empty).
  const smmu = new Smmuv3({ idr: DEFAULT_IDR });

  const runModel = (): number => {
    const start = process.hrtime.bigint();
    for (let b = 0; b < batchesPerRound; b++) {
      const r = smmu.submitCommands(buf, 0, BATCH);
      if (r.error !== null || r.consumed !== BATCH) throw new Error(`model: ${JSON.stringify(r.error)} consumed ${r.consumed}`);
    }
    return (batchesPerRound * BATCH) / (Number(process.hrtime.bigint() - start) / 1e9);
  };
  let sink = 0;
  const runPlain = (): number => {
    const start = process.hrtime.bigint();
    for (let b = 0; b < batchesPerRound; b++) sink = (sink + plainDecode(view, BATCH)) | 0;
    return (batchesPerRound * BATCH) / (Number(process.hrtime.bigint() - start) / 1e9);
  };

  runModel(); // warm-up round, discarded
  runPlain();
  const m: number[] = [];
  const p: number[] = [];
  for (let r = 0; r < rounds; r++) {
    m.push(runModel());
    p.push(runPlain());
  }
  if (sink === 0x7fffffff) console.log('(sink)'); // keeps the plain loop observable
  const model = median(m);
  const plain = median(p);

  // Informational: the same batch against a full IOTLB (256 entries of another VMID, so none is
  // removed and the IOTLB stays full): every TLBI then runs QEMU's overlap scan over all entries.
  const full = new Smmuv3({ idr: DEFAULT_IDR });
  for (let i = 0; i < 256; i++) {
    full.iotlbInsert({ asid: 1, vmid: 2, iova: BigInt(i) << 12n, tg: 1, level: 3, translatedAddr: BigInt(i) << 12n, addrMask: 0xfffn, perm: 3 });
  }
  const fullBatches = Math.max(1, Math.floor(batchesPerRound / 100));
  const runFull = (): number => {
    const start = process.hrtime.bigint();
    for (let b = 0; b < fullBatches; b++) {
      const r = full.submitCommands(buf, 0, BATCH);
      if (r.error !== null || r.consumed !== BATCH) throw new Error(`model (full IOTLB): ${JSON.stringify(r.error)}`);
    }
    return (fullBatches * BATCH) / (Number(process.hrtime.bigint() - start) / 1e9);
  };
  runFull(); // warm-up, discarded
  const f: number[] = [];
  for (let r = 0; r < rounds; r++) f.push(runFull());
  if (full.iotlb.size !== 256) throw new Error('full IOTLB lost entries');
  return { model, plain, ratio: model / plain, rounds, modelFullIotlb: median(f) };
}

export function printModelBench(r: ModelBenchResult): void {
  const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
  console.log(`(1) model vs plain decode, 256 × TLBI_NH_VA per batch, median of ${r.rounds} rounds`);
  console.log(`    model submitCommands: ${fmt(r.model)} commands/s`);
  console.log(`    plain field reads:    ${fmt(r.plain)} commands/s`);
  console.log(`    ratio model / plain: ${r.ratio.toFixed(3)} (target ≥ ${MODEL_TARGET}) ${r.ratio >= MODEL_TARGET ? 'MET' : 'MISSED'}`);
  console.log(`    (informational) model with a full 256-entry IOTLB of another VMID: ${fmt(r.modelFullIotlb)} commands/s, ratio ${(r.modelFullIotlb / r.plain).toFixed(4)}`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  printModelBench(runModelBench());
}

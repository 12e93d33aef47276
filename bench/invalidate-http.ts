/**
 * Issue #3 benchmarks (2) and (3): end-to-end POST /v1/viommus/{id}/invalidate over HTTP with
 * batches of 256 TLBI_NH_VA entries, against a bare Fastify route (no hooks, no plugins) that
 * accepts the same body and returns a constant, measured in the same run:
 *   (2) application/octet-stream (raw 16-byte LE entries): ratio invalidate / bare (target ≥ 0.5)
 *       and invalidate throughput ≥ 1,000,000 commands/s;
 *   (3) application/json `{ dataType: 'arm_smmuv3', entries: [[w0, w1], ...] }`: ratio
 *       invalidate / bare, and JSON invalidate commands/s ≥ 0.25 × octet-stream invalidate
 *       commands/s of (2).
 *
 * The servers (the real app on a temp SQLite database, and the bare route) run on this thread;
 * the load generator runs in a worker thread (plain node:http, keep-alive, CONCURRENCY
 * connections) so client and server each get a core of this 2-core machine. Loopback only.
 * Bounded: one warm-up round discarded, then ROUNDS rounds of REQUESTS_PER_ROUND requests per
 * target, targets interleaved within each round; the figures are the medians of the rounds.
 */
import { Worker } from 'node:worker_threads';
import Fastify from 'fastify';
import { benchApp, benchVm } from './setup.js';

const BATCH = 256;
const ROUNDS = 5;
const REQUESTS_PER_ROUND = 1000;
const WARMUP_REQUESTS = 500;
const CONCURRENCY = 8;

export const OCTET_RATIO_TARGET = 0.5;
export const OCTET_RATE_TARGET = 1_000_000;
export const JSON_OF_OCTET_TARGET = 0.25;

/** 256 TLBI_NH_VA, ASID 1, TG=1 NUM=0, one 4 KiB page each (the guest's VMID field is overwritten). */
function octetBody(count: number): Buffer {
  const buf = Buffer.alloc(count * 16);
  for (let i = 0; i < count; i++) {
    buf.writeBigUInt64LE(0x0001000000000012n, i * 16);
    buf.writeBigUInt64LE(0x0000000000000401n | (BigInt(i) << 12n), i * 16 + 8);
  }
  return buf;
}

function jsonBody(raw: Buffer): Buffer {
  const entries: Array<[string, string]> = [];
  for (let o = 0; o < raw.length; o += 16) {
    entries.push([`0x${raw.readBigUInt64LE(o).toString(16)}`, `0x${raw.readBigUInt64LE(o + 8).toString(16)}`]);
  }
  return Buffer.from(JSON.stringify({ dataType: 'arm_smmuv3', entries }));
}

/** The load generator (plain JS, evaluated in a worker thread). */
const CLIENT = `
const { parentPort } = require('node:worker_threads');
const http = require('node:http');
function post(agent, port, url, type, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: url, method: 'POST', agent,
      headers: { 'content-type': type, 'content-length': body.length } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end(body);
  });
}
parentPort.on('message', async ({ id, port, url, type, body, requests, concurrency }) => {
  try {
    const buf = Buffer.from(body);
    const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
    let next = 0;
    const start = process.hrtime.bigint();
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < requests) {
        next++;
        const status = await post(agent, port, url, type, buf);
        if (status !== 200) throw new Error(url + ' answered ' + status);
      }
    }));
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    agent.destroy();
    parentPort.postMessage({ id, seconds });
  } catch (err) {
    parentPort.postMessage({ id, error: String(err && err.stack || err) });
  }
});
`;

interface Target {
  name: string;
  port: number;
  url: string;
  type: string;
  body: Buffer;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export interface HttpBenchResult {
  octet: { invalidate: number; bare: number; ratio: number };
  json: { invalidate: number; bare: number; ratio: number; ofOctet: number };
  rounds: number;
  concurrency: number;
}

export async function runHttpBench(rounds = ROUNDS, requestsPerRound = REQUESTS_PER_ROUND): Promise<HttpBenchResult> {
  const b = await benchApp();
  const { app } = b;
  const bare = Fastify({ logger: false });
  bare.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  bare.post('/bare', async () => ({ entriesProcessed: BATCH }));
  const worker = new Worker(CLIENT, { eval: true });
  let seq = 0;
  const pending = new Map<number, { resolve: (s: number) => void; reject: (e: Error) => void }>();
  worker.on('message', (m: { id: number; seconds?: number; error?: string }) => {
    const p = pending.get(m.id);
    pending.delete(m.id);
    if (m.error !== undefined) p?.reject(new Error(m.error));
    else p?.resolve(m.seconds as number);
  });
  const throughput = (t: Target, requests: number): Promise<number> =>
    new Promise<number>((resolve, reject) => {
      const id = ++seq;
      pending.set(id, { resolve, reject });
      worker.postMessage({ id, port: t.port, url: t.url, type: t.type, body: t.body, requests, concurrency: CONCURRENCY });
    }).then((seconds) => (requests * BATCH) / seconds);

  try {
    await app.listen({ port: 0, host: '127.0.0.1' });
    await bare.listen({ port: 0, host: '127.0.0.1' });
    const port = (app.server.address() as { port: number }).port;
    const barePort = (bare.server.address() as { port: number }).port;
    const { viommu } = await benchVm(b, 'bench-invalidate', 'arm_smmuv3');

    const raw = octetBody(BATCH);
    const json = jsonBody(raw);
    const invUrl = `/v1/viommus/${viommu}/invalidate`;
    const OCTET = 'application/octet-stream';
    const JSONT = 'application/json';
    // Check the answers once before timing anything.
    for (const [type, body] of [[OCTET, raw], [JSONT, json]] as const) {
      const res = await app.inject({ method: 'POST', url: invUrl, headers: { 'content-type': type }, payload: body });
      if (res.statusCode !== 200 || res.json().entriesProcessed !== BATCH) throw new Error(`invalidate ${type}: ${res.statusCode} ${res.body}`);
    }
    const targets: Target[] = [
      { name: 'octet-invalidate', port, url: invUrl, type: OCTET, body: raw },
      { name: 'octet-bare', port: barePort, url: '/bare', type: OCTET, body: raw },
      { name: 'json-invalidate', port, url: invUrl, type: JSONT, body: json },
      { name: 'json-bare', port: barePort, url: '/bare', type: JSONT, body: json },
    ];
    for (const t of targets) await throughput(t, WARMUP_REQUESTS); // warm-up round, discarded
    const samples = new Map<string, number[]>(targets.map((t) => [t.name, []]));
    for (let r = 0; r < rounds; r++) {
      for (const t of targets) samples.get(t.name)!.push(await throughput(t, requestsPerRound));
    }
    const m = (name: string) => median(samples.get(name)!);
    const octet = { invalidate: m('octet-invalidate'), bare: m('octet-bare'), ratio: 0 };
    octet.ratio = octet.invalidate / octet.bare;
    const j = { invalidate: m('json-invalidate'), bare: m('json-bare'), ratio: 0, ofOctet: 0 };
    j.ratio = j.invalidate / j.bare;
    j.ofOctet = j.invalidate / octet.invalidate;
    return { octet, json: j, rounds, concurrency: CONCURRENCY };
  } finally {
    await worker.terminate();
    await bare.close();
    await b.close();
  }
}

export function printHttpBench(r: HttpBenchResult): void {
  const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
  const verdict = (ok: boolean) => (ok ? 'MET' : 'MISSED');
  console.log(`(2) invalidate over HTTP, octet-stream, 256 entries per request, ${r.concurrency} keep-alive connections, median of ${r.rounds} rounds`);
  console.log(`    POST /v1/viommus/{id}/invalidate: ${fmt(r.octet.invalidate)} commands/s  ${verdict(r.octet.invalidate >= OCTET_RATE_TARGET)} (target ≥ ${fmt(OCTET_RATE_TARGET)})`);
  console.log(`    bare Fastify route:               ${fmt(r.octet.bare)} commands/s`);
  console.log(`    ratio invalidate / bare: ${r.octet.ratio.toFixed(3)} (target ≥ ${OCTET_RATIO_TARGET}) ${verdict(r.octet.ratio >= OCTET_RATIO_TARGET)}`);
  console.log(`(3) invalidate over HTTP, JSON, 256 entries per request`);
  console.log(`    POST /v1/viommus/{id}/invalidate: ${fmt(r.json.invalidate)} commands/s`);
  console.log(`    bare Fastify route:               ${fmt(r.json.bare)} commands/s`);
  console.log(`    ratio invalidate / bare: ${r.json.ratio.toFixed(3)} (informational)`);
  console.log(`    ratio JSON / octet-stream invalidate: ${r.json.ofOctet.toFixed(3)} (target ≥ ${JSON_OF_OCTET_TARGET}) ${verdict(r.json.ofOctet >= JSON_OF_OCTET_TARGET)}`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  printHttpBench(await runHttpBench());
}

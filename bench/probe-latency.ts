/**
 * Issue 12: do /healthz and /readyz stay fast while the service is flooded? The real service
 * (`node --import tsx src/server.ts`, its own process, a temp database) is driven by CONNECTIONS
 * keep-alive connections, each sending 4096-entry invalidations back to back (JSON, the costlier
 * encoding, or octet-stream), from a worker thread; meanwhile this thread sends a liveness or
 * readiness probe every PROBE_EVERY_MS on a fresh connection (as an orchestrator does) and
 * records how long each waited. Plain node:http, no load tool. Probing starts once every load
 * connection has had an answer (Node accepts one new connection per event-loop turn, so the
 * ramp-up of 200 connections is its own story, printed apart).
 *
 * Runs: "unprotected" (every limit off: the issue's 1.8 s p50), the defaults (JSON and
 * octet-stream), a turn budget of 1 MiB, and the defaults with MAX_EVENT_LOOP_DELAY=200. Prints the probe latencies (p50, p90, p99, max) and what the
 * load got (answers per status). Bounded: WARMUP_MS + LOAD_MS of load per run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 200);
const ENTRIES = 4096;
const WARMUP_MS = 1000;
const RAMP_LIMIT_MS = Number(process.env.BENCH_RAMP_LIMIT_MS ?? 60_000);
const LOAD_MS = Number(process.env.BENCH_LOAD_MS ?? 8000);
const PROBE_EVERY_MS = 100;
const PROBE_TIMEOUT_MS = 30_000;
const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

/** The load generator (plain JS in a worker thread): CONNECTIONS loops of POSTs until told to stop. */
const CLIENT = `
const { parentPort } = require('node:worker_threads');
const http = require('node:http');
parentPort.once('message', ({ port, url, type, body, connections }) => {
  const buf = Buffer.from(body);
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const statuses = {};
  let errors = 0, stop = false;
  const post = () => new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path: url, method: 'POST', agent,
      headers: { 'content-type': type, 'content-length': buf.length } }, (res) => {
      res.resume();
      res.on('end', () => { statuses[res.statusCode] = (statuses[res.statusCode] || 0) + 1; resolve(); });
    });
    req.on('error', () => { errors++; resolve(); });
    req.end(buf);
  });
  // Ramp-up: tell the bench once every connection has had an answer (the service accepts one new
  // connection per event-loop turn, so 200 connections take a while to all be in).
  let answeredOnce = 0;
  const loops = Array.from({ length: connections }, async () => {
    let first = true;
    while (!stop) {
      await post();
      if (first) { first = false; if (++answeredOnce === connections) parentPort.postMessage('ramped'); }
    }
  });
  parentPort.on('message', async (m) => {
    if (m === 'reset') { for (const k of Object.keys(statuses)) delete statuses[k]; errors = 0; return; }
    stop = true;
    await Promise.all(loops);
    agent.destroy();
    parentPort.postMessage({ statuses, errors });
  });
});
`;

function entriesJson(count: number): Buffer {
  const entries: Array<[string, string]> = [];
  for (let i = 0; i < count; i++) entries.push(['0x1000000000012', `0x${(0x401 + (i << 12)).toString(16)}`]);
  return Buffer.from(JSON.stringify({ dataType: 'arm_smmuv3', entries }));
}

function entriesOctet(count: number): Buffer {
  const buf = Buffer.alloc(count * 16);
  for (let i = 0; i < count; i++) {
    buf.writeBigUInt64LE(0x0001000000000012n, i * 16);
    buf.writeBigUInt64LE(0x0000000000000401n | (BigInt(i) << 12n), i * 16 + 8);
  }
  return buf;
}

/** One GET on a fresh connection: status and milliseconds. */
function probe(port: number, url: string): Promise<{ status: number; ms: number }> {
  const start = process.hrtime.bigint();
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: url, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: Number(process.hrtime.bigint() - start) / 1e6 }));
    });
    req.on('error', () => resolve({ status: 0, ms: Number(process.hrtime.bigint() - start) / 1e6 }));
    // An orchestrator gives up long before; so does the bench (counted as not 200).
    req.setTimeout(PROBE_TIMEOUT_MS, () => req.destroy());
  });
}

async function startService(env: Record<string, string>): Promise<{ child: ChildProcess; port: number; dir: string }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vsmmu-probe-'));
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', DATABASE_URL: `file:${path.join(dir, 'v.db')}`, LOG_LEVEL: 'info', API_TOKENS: '', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer) => {
      out += d;
      const m = /listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        child.stdout!.off('data', onData);
        child.stdout!.resume();
        resolve(Number(m[1]));
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`the service exited (${code}) before listening`)));
  });
  return { child, port, dir };
}

async function call(port: number, method: string, url: string, body?: object): Promise<any> {
  let res = await fetch(`http://127.0.0.1:${port}${url}`, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
  // A shed request says when to come back (Retry-After).
  for (let i = 0; i < 10 && res.status === 503; i++) {
    await new Promise((r) => setTimeout(r, Number(res.headers.get('retry-after') ?? 1) * 1000));
    res = await fetch(`http://127.0.0.1:${port}${url}`, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
  }
  const json = await res.json();
  if (res.status >= 300) throw new Error(`${method} ${url}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** A VM on `nic1` (context, bound device, IOAS, nest parent, vIOMMU): the vIOMMU's id. */
async function buildVm(port: number): Promise<number> {
  const devices = (await call(port, 'GET', '/v1/devices?limit=500')).items as Array<{ id: number; name: string }>;
  const dev = devices.find((d) => d.name === 'nic1')!.id;
  const ctx = (await call(port, 'POST', '/v1/contexts', { name: 'probe-bench' })).id;
  await call(port, 'POST', `/v1/contexts/${ctx}/devices`, { deviceId: dev });
  const ioas = (await call(port, 'POST', '/v1/ioas', { contextId: ctx })).id;
  const parent = (await call(port, 'POST', '/v1/hwpts', { deviceId: dev, ptId: ioas, flags: ['nest_parent'] })).id;
  return (await call(port, 'POST', '/v1/viommus', { deviceId: dev, hwptId: parent, type: 'arm_smmuv3' })).id;
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

export interface ProbeRun {
  name: string;
  encoding: string;
  healthz: number[];
  readyz: number[];
  probeFailures: number;
  idle: number[];
  /** How long until every connection had an answer (complete false: cut at RAMP_LIMIT_MS). */
  ramp: { ms: number; complete: boolean };
  load: { statuses: Record<string, number>; errors: number; seconds: number };
}

async function run(name: string, encoding: 'json' | 'octet', env: Record<string, string>): Promise<ProbeRun> {
  const svc = await startService(env);
  try {
    const viommu = await buildVm(svc.port);
    const body = encoding === 'json' ? entriesJson(ENTRIES) : entriesOctet(ENTRIES);
    const type = encoding === 'json' ? 'application/json' : 'application/octet-stream';
    const url = `/v1/viommus/${viommu}/invalidate`;
    const check = await fetch(`http://127.0.0.1:${svc.port}${url}`, { method: 'POST', headers: { 'content-type': type }, body });
    if (check.status !== 200) throw new Error(`invalidate: ${check.status} ${await check.text()}`);
    const idle: number[] = [];
    for (let i = 0; i < 20; i++) idle.push((await probe(svc.port, '/healthz')).ms);

    const worker = new Worker(CLIENT, { eval: true });
    const loadStart = Date.now();
    worker.postMessage({ port: svc.port, url, type, body, connections: CONNECTIONS });
    // Probe the steady state: every connection in and answered once (or RAMP_LIMIT_MS passed).
    let onRamped = () => {};
    let onResult: (r: { statuses: Record<string, number>; errors: number }) => void = () => {};
    worker.on('message', (m) => (m === 'ramped' ? onRamped() : onResult(m)));
    const ramped = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), RAMP_LIMIT_MS);
      onRamped = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
    const rampMs = Date.now() - loadStart;
    await new Promise((r) => setTimeout(r, WARMUP_MS));
    worker.postMessage('reset');
    const healthz: number[] = [];
    const readyz: number[] = [];
    let probeFailures = 0;
    const started = Date.now();
    for (let i = 0; Date.now() - started < LOAD_MS; i++) {
      const which = i % 2 === 0 ? '/healthz' : '/readyz';
      const r = await probe(svc.port, which);
      if (r.status !== 200) probeFailures++;
      (which === '/healthz' ? healthz : readyz).push(r.ms);
      await new Promise((res) => setTimeout(res, PROBE_EVERY_MS));
    }
    const seconds = (Date.now() - started) / 1000;
    const load = await new Promise<{ statuses: Record<string, number>; errors: number }>((resolve) => {
      onResult = resolve;
      worker.postMessage('stop');
    });
    await worker.terminate();
    return { name, encoding, healthz, readyz, probeFailures, idle, ramp: { ms: rampMs, complete: ramped }, load: { ...load, seconds } };
  } finally {
    svc.child.kill('SIGTERM');
    await new Promise((r) => svc.child.once('exit', r));
    rmSync(svc.dir, { recursive: true, force: true });
  }
}

export function printProbeRun(r: ProbeRun): void {
  const f = (xs: number[]) => `p50 ${pct(xs, 50).toFixed(1)} ms, p90 ${pct(xs, 90).toFixed(1)} ms, p99 ${pct(xs, 99).toFixed(1)} ms, max ${Math.max(...xs).toFixed(1)} ms (${xs.length} probes)`;
  const answered = Object.values(r.load.statuses).reduce((a, b) => a + b, 0);
  const byStatus = Object.entries(r.load.statuses).map(([s, n]) => `${s}: ${n} (${(n / r.load.seconds).toFixed(0)}/s)`).join(', ');
  console.log(`${r.name}, ${r.encoding}, ${CONNECTIONS} connections × ${ENTRIES}-entry invalidations`);
  console.log(`    idle /healthz:  ${f(r.idle)}`);
  console.log(`    ramp-up:        ${r.ramp.complete ? `every connection answered after ${(r.ramp.ms / 1000).toFixed(1)} s` : `cut after ${(r.ramp.ms / 1000).toFixed(1)} s, not every connection answered yet`}`);
  console.log(`    /healthz:       ${f(r.healthz)}`);
  console.log(`    /readyz:        ${f(r.readyz)}`);
  console.log(`    probes not 200: ${r.probeFailures}`);
  console.log(`    load answers:   ${answered} in ${r.load.seconds.toFixed(1)} s — ${byStatus}; connection errors ${r.load.errors}`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const OFF = { MAX_IN_FLIGHT: '0', MAX_TURN_BYTES: '0', MAX_EVENT_LOOP_DELAY: '0', RATE_LIMIT_MAX: '0' };
  const runs: Array<[string, 'json' | 'octet', Record<string, string>]> = [
    ['unprotected (every limit off)', 'json', OFF],
    ['defaults', 'json', {}],
    ['defaults', 'octet', {}],
    ['MAX_TURN_BYTES=1048576', 'json', { MAX_TURN_BYTES: '1048576' }],
    ['defaults + MAX_EVENT_LOOP_DELAY=200', 'json', { MAX_EVENT_LOOP_DELAY: '200' }],
  ];
  for (const [name, enc, env] of runs) printProbeRun(await run(name, enc, env));
}

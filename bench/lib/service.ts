/**
 * The service as its own process, as it runs in production: `node dist/server.js` (`npm run build`) when the
 * compiled output exists, otherwise `node --import tsx src/server.ts` (what `npm start`, `tsx
 * src/server.ts`, runs, without tsx's wrapper process, so the pid is the server's own). Default
 * configuration but the port and the database: the default LOG_LEVEL (info, a log line per
 * request) included, its output going to `<database>.log` as a deployment's log file would
 * (BENCH_LOG_LEVEL overrides it, to see what the access log costs). BENCH_CPU_PROF=<dir> starts
 * every service process with `--cpu-prof --cpu-prof-dir=<dir>` (a profile per process, written
 * when it stops).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { children, ROOT, serverSpawn, sleep } from './common.js';

export interface Service {
  child: ChildProcess;
  port: number;
  base: string;
  /** Milliseconds from spawn to the first /readyz 200. */
  readyMs: number;
  command: string;
  stop(): Promise<void>;
}

/** The service's configuration variables (src/config.ts): not inherited, so a run measures the defaults. */
const CONFIG_VARIABLES = [
  'PORT', 'HOST', 'DATABASE_URL', 'HOST_TOPOLOGY', 'LOG_LEVEL', 'WAL_CHECKPOINTS', 'MAX_INVALIDATION_ENTRIES', 'GUEST_MEMORY_LIMIT', 'API_TOKENS', 'BODY_LIMIT',
  'IDEMPOTENCY_TTL', 'AUDIT_RETENTION', 'RATE_LIMIT_MAX', 'RATE_LIMIT_WINDOW', 'MAX_TURN_BYTES', 'MAX_IN_FLIGHT', 'MAX_EVENT_LOOP_DELAY', 'MAX_HEAP_USED',
  'PRESSURE_SAMPLE_INTERVAL', 'RETRY_AFTER', 'REQUEST_TIMEOUT', 'CONNECTION_TIMEOUT', 'HANDLER_TIMEOUT', 'MAX_HEADER_SIZE', 'GRAPHQL_MAX_COST',
  'SHUTDOWN_DELAY', 'SHUTDOWN_TIMEOUT',
];

function defaultsEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of CONFIG_VARIABLES) delete env[k];
  return env;
}

export function serverCommand(): { args: string[]; label: string } {
  const compiled = path.join(ROOT, 'dist', 'server.js');
  if (existsSync(compiled)) return { args: [compiled], label: 'node dist/server.js' };
  return { args: ['--import', 'tsx', path.join(ROOT, 'src', 'server.ts')], label: 'node --import tsx src/server.ts' };
}

/** Resident memory of a process, MB (from /proc). */
export function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) / 1024;
}

async function readyz(port: number): Promise<number> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/readyz`);
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

/**
 * Starts the service on `dbFile` on a free port chosen up front (the "listening" line is logged
 * at info, below LOG_LEVEL=warn) and polls /readyz every 10 ms until it answers 200.
 */
export async function startService(dbFile: string, env: Record<string, string> = {}, opts: { port?: number; timeoutMs?: number; execArgv?: string[] } = {}): Promise<Service> {
  const port = opts.port ?? (await freePort());
  const { args, label } = serverCommand();
  const started = performance.now();
  const logLevel = process.env.BENCH_LOG_LEVEL ?? 'info';
  const log = openSync(`${dbFile}.log`, 'a');
  const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(process.env.BENCH_CPU_PROF)}`] : [];
  const child = spawn(...serverSpawn([...prof, ...(opts.execArgv ?? []), ...args]), {
    cwd: ROOT,
    env: { ...defaultsEnv(), PORT: String(port), HOST: '127.0.0.1', DATABASE_URL: `file:${dbFile}`, LOG_LEVEL: logLevel, ...env },
    stdio: ['ignore', log, 'inherit'],
  });
  closeSync(log);
  children.add(child);
  child.once('exit', () => children.delete(child));
  let exited: number | string | null = null;
  child.once('exit', (code, signal) => (exited = code ?? signal ?? 'exit'));
  const deadline = started + (opts.timeoutMs ?? 120_000);
  for (;;) {
    if (exited !== null) throw new Error(`the service exited (${exited}) before /readyz answered 200`);
    if (performance.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the service did not answer /readyz 200 within ${opts.timeoutMs ?? 120_000} ms`);
    }
    if ((await readyz(port)) === 200) break;
    await sleep(10);
  }
  const readyMs = performance.now() - started;
  return {
    child,
    port,
    base: `http://127.0.0.1:${port}`,
    readyMs,
    command: label,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await gone;
      clearTimeout(t);
    },
  };
}

/** A free TCP port on 127.0.0.1 (bound and released; the service binds it right after). */
export async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** The service's own V8 heap figures from /metrics (MB), to tell heap from the rest of its RSS. */
export async function heapMb(base: string): Promise<{ heapUsed: number; heapTotal: number; external: number } | null> {
  try {
    const text = await (await fetch(`${base}/metrics`)).text();
    const get = (name: string) => {
      const m = new RegExp(`^\\w*${name} ([0-9.e+]+)$`, 'm').exec(text);
      return m ? Number(m[1]) / 1048576 : NaN;
    };
    return { heapUsed: get('nodejs_heap_size_used_bytes'), heapTotal: get('nodejs_heap_size_total_bytes'), external: get('nodejs_external_memory_bytes') };
  } catch {
    return null;
  }
}

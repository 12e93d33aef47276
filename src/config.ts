/**
 * Configuration from the environment, validated with zod at start. A bad value stops the start
 * with one line naming the variable (see server.ts).
 */
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { getHeapStatistics } from 'node:v8';
import { z } from 'zod';
import { BUILTIN_TOPOLOGY, type Topology } from './domain/topology.js';
import { topologyFile } from './schema/inventory.js';
import { parseTokens, type TokenGrant } from './routes/plugins/auth.js';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** A whole number from the environment, within [min, max] (0 is allowed where it means "off"). */
const whole = (what: string, min: number, max: number, off: boolean) =>
  z
    .string()
    .regex(/^[0-9]{1,15}$/, `must be a number of ${what}`)
    .transform(Number)
    .pipe(off ? z.int().max(max).refine((n) => n === 0 || n >= min, `must be 0 (off) or at least ${min}`) : z.int().min(min).max(max));
const count = (what: string, min: number, max: number, def: number, off = false) => whole(what, min, max, off).default(def);
const HOUR_MS = 3_600_000;

/** A TCP port variable (PORT): digits, 0..65535, `def` when unset. The gateway's too. */
export const tcpPort = (def: number) =>
  z
    .string()
    .regex(/^[0-9]{1,5}$/, 'must be a TCP port number')
    .transform(Number)
    .pipe(z.int().min(0).max(65535))
    .default(def);

const envSchema = z.object({
  PORT: tcpPort(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  DATABASE_URL: z
    .string()
    .regex(/^file:.+/, 'must be a SQLite URL of the form file:<path>')
    .default('file:./data/vsmmu.db'),
  HOST_TOPOLOGY: z.string().min(1).optional(),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  // Where WAL checkpoints run (storage/checkpointer.ts): inside the commit that fills the WAL
  // (SQLite's default), or in a worker thread (~16 MB more resident memory, no commit stalls).
  WAL_CHECKPOINTS: z.enum(['inline', 'worker']).default('inline'),
  MAX_INVALIDATION_ENTRIES: z
    .string()
    .regex(/^[0-9]{1,6}$/, 'must be a number of entries')
    .transform(Number)
    .pipe(z.int().min(1).max(65536))
    .default(4096),
  GUEST_MEMORY_LIMIT: z
    .string()
    .regex(/^[0-9]{1,12}$/, 'must be a number of bytes')
    .transform(Number)
    .pipe(z.int().min(4096))
    .default(268435456),
  API_TOKENS: z.string().optional(),
  BODY_LIMIT: z
    .string()
    .regex(/^[0-9]{1,9}$/, 'must be a number of bytes')
    .transform(Number)
    .pipe(z.int().min(1024))
    .default(1048576),
  // How long an Idempotency-Key's answer is kept (ms; default 24 h), and how many audit entries.
  IDEMPOTENCY_TTL: z
    .string()
    .regex(/^[0-9]{1,11}$/, 'must be a number of milliseconds')
    .transform(Number)
    .pipe(z.int().min(1000).max(30 * 24 * 3_600_000))
    .default(86_400_000),
  AUDIT_RETENTION: z
    .string()
    .regex(/^[0-9]{1,8}$/, 'must be a number of audit entries')
    .transform(Number)
    .pipe(z.int().min(100).max(10_000_000))
    .default(10_000),
  // Access and overload (issue 12). Every limit but the window can be 0: off.
  // 1,000,000 a minute (16,667/s sustained) per token or address: one orchestrator at issue 13's
  // rates (3,000 creates/s, reads at the bare route's ~16,000/s) is never refused; 100,000 (1,667/s) was.
  RATE_LIMIT_MAX: count('requests', 1, 1e9, 1_000_000, true),
  RATE_LIMIT_WINDOW: count('milliseconds', 1000, 24 * HOUR_MS, 60_000),
  MAX_IN_FLIGHT: count('requests', 1, 1e6, 256, true),
  MAX_TURN_BYTES: count('bytes', 1024, 2 ** 40, 512 * 1024, true),
  // Off by default: a one-off long task (a start, a teardown, a starved CPU) would shed the next
  // interval's requests; admission per turn (MAX_TURN_BYTES) bounds the queue. 200 suits a
  // dedicated host.
  MAX_EVENT_LOOP_DELAY: count('milliseconds', 10, HOUR_MS, 0, true),
  // Unset: 90 % of V8's heap limit (node --max-old-space-size).
  MAX_HEAP_USED: whole('bytes', 16 * 1024 * 1024, 2 ** 50, true).optional(),
  PRESSURE_SAMPLE_INTERVAL: count('milliseconds', 10, 60_000, 250),
  RETRY_AFTER: count('seconds', 1, 3600, 1),
  REQUEST_TIMEOUT: count('milliseconds', 1000, 24 * HOUR_MS, 30_000, true),
  CONNECTION_TIMEOUT: count('milliseconds', 1000, 24 * HOUR_MS, 0, true),
  HANDLER_TIMEOUT: count('milliseconds', 100, 24 * HOUR_MS, 0, true),
  MAX_HEADER_SIZE: count('bytes', 1024, 1024 * 1024, 16_384),
  GRAPHQL_MAX_COST: count('fields', 10, 1e9, 100000, true),
  SHUTDOWN_DELAY: count('milliseconds', 0, HOUR_MS, 1000),
  SHUTDOWN_TIMEOUT: count('milliseconds', 1000, HOUR_MS, 8000),
  // A comment line on every idle SSE stream this often, so proxies keep it open; 0 off.
  SSE_HEARTBEAT_MS: count('milliseconds', 10, HOUR_MS, 15_000, true),
});

/** Every environment variable this configuration reads (docker-compose.yml may set only these). */
export const ENV_VARIABLES: readonly string[] = Object.keys(envSchema.shape);

/** The limits of src/routes/plugins/overload.ts and the server's timeouts; 0 means off. */
export interface OverloadConfig {
  /** Requests per token (per client address without API_TOKENS) per window. */
  rateLimitMax: number;
  rateLimitWindowMs: number;
  /** Requests with a body (writes, GraphQL POSTs) waiting or being served; more are shed (503 EOVERLOAD). */
  maxInFlight: number;
  /** Their declared body bytes admitted per event-loop turn; more wait for the next turn. */
  maxTurnBytes: number;
  /** Mean event-loop delay (ms) over a sample interval above which requests are shed. */
  maxEventLoopDelayMs: number;
  /** V8 heap in use (bytes) above which requests are shed. */
  maxHeapUsedBytes: number;
  pressureSampleIntervalMs: number;
  /** The Retry-After (seconds) of a shed or rate-limited answer. */
  retryAfterSeconds: number;
}

export interface Config {
  port: number;
  host: string;
  databaseUrl: string;
  logLevel: (typeof LOG_LEVELS)[number];
  walCheckpoints: 'inline' | 'worker';
  bodyLimit: number;
  maxInvalidationEntries: number;
  guestMemoryLimit: number;
  /** null: no API_TOKENS, the service is open (and listens on loopback only). */
  apiTokens: Map<string, TokenGrant> | null;
  topology: Topology;
  topologySource: string;
  /** How long the answer of a request made with an Idempotency-Key is kept (ms). */
  idempotencyTtlMs: number;
  /** Audit entries kept (the newest). */
  auditRetention: number;
  overload: OverloadConfig;
  /** Node's requestTimeout: the whole request (headers and body) must arrive within it (ms). */
  requestTimeoutMs: number;
  /** Node's socket timeout (ms): a connection idle that long is closed (SSE streams too). */
  connectionTimeoutMs: number;
  /** Fastify's handlerTimeout (ms): a route that has not answered by then answers 503 ETIME. */
  handlerTimeoutMs: number;
  /** Largest request line + headers (bytes); more is 431 E2BIG. */
  maxHeaderSize: number;
  /** GraphQL: largest query cost (src/routes/graphql/cost.ts). */
  graphqlMaxCost: number;
  /** On SIGTERM/SIGINT: how long /readyz answers 503 before the listener closes (ms). */
  shutdownDelayMs: number;
  /** On SIGTERM/SIGINT: the exit is forced (code 1) after this long (ms). */
  shutdownTimeoutMs: number;
  /** ms between heartbeat comments on an SSE stream (0: none). */
  sseHeartbeatMs: number;
}

/** 127.0.0.0/8, ::1 (also IPv4-mapped) and localhost: the addresses only this host reaches. */
export function isLoopback(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  if (isIP(v4) === 4) return v4.split('.')[0] === '127';
  if (isIP(h) === 6) return /^(0{0,4}:){2,7}0{0,3}1$/.test(h) || h === '::1';
  return false;
}

export class ConfigError extends Error {
  constructor(readonly variable: string, message: string) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

/** Variables whose empty value means "unset". */
const EMPTY_MEANS_UNSET = new Set(['API_TOKENS']);

/** `file:./data/vsmmu.db` → the absolute path of the SQLite file (as storage/database.ts reads it). */
function sqlitePath(url: string): string {
  return path.resolve(url.replace(/^file:/, '').replace(/\?.*$/, ''));
}

/**
 * The database's place, checked before anything opens it, so a typo or a read-only mount is one
 * line naming DATABASE_URL rather than SQLite's "External error" from deep inside Prisma. A
 * missing directory is refused for a DATABASE_URL that was given (a typo would otherwise start
 * an empty database somewhere unexpected); only the default's `./data` is created (the
 * quick start in a fresh checkout). The directory must be writable (SQLite's WAL puts its -wal
 * and -shm files beside the database): checked by creating and removing a probe directory, which
 * also catches read-only file systems and root on them.
 */
export function checkDatabaseLocation(url: string, given: boolean): void {
  const file = sqlitePath(url);
  const dir = path.dirname(file);
  const bad = (why: string) => new ConfigError('DATABASE_URL', `${why} (got ${JSON.stringify(url)})`);
  let dirStat;
  try {
    dirStat = statSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !given) return; // the default ./data: created at start
    if (code === 'ENOENT') throw bad(`the directory ${dir} does not exist: create it first (the service does not create the directory of a given DATABASE_URL)`);
    throw bad(`the directory ${dir} cannot be reached (${code ?? 'error'})`);
  }
  if (!dirStat.isDirectory()) throw bad(`${dir} is not a directory`);
  try {
    rmdirSync(mkdtempSync(path.join(dir, '.vsmmu-probe-')));
  } catch (err) {
    throw bad(`the directory ${dir} is not writable (${(err as NodeJS.ErrnoException).code ?? 'error'}): SQLite needs to create files beside the database`);
  }
  if (!existsSync(file)) return;
  if (!statSync(file).isFile()) throw bad(`${file} is not a regular file`);
  try {
    closeSync(openSync(file, 'r+'));
  } catch (err) {
    throw bad(`${file} cannot be opened for reading and writing (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/** Reads and validates the environment; throws ConfigError naming the first bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const known = new Set(Object.keys(envSchema.shape));
  // An empty value is refused (it used to mean "the default": `PORT= npm start` served on 3000),
  // except API_TOKENS, where empty is documented as "no tokens".
  for (const [k, v] of Object.entries(env)) {
    if (v === '' && known.has(k) && !EMPTY_MEANS_UNSET.has(k)) throw new ConfigError(k, 'is empty: set a value or unset the variable for the default');
  }
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const variable = String(issue.path[0]);
    // A token is never shown, whatever the check that failed.
    const got = variable === 'API_TOKENS' ? '' : ` (got ${JSON.stringify(present[variable])})`;
    throw new ConfigError(variable, `${issue.message}${got}`);
  }
  const e = parsed.data;
  let topology: Topology = BUILTIN_TOPOLOGY;
  let topologySource = 'built-in';
  if (e.HOST_TOPOLOGY) {
    if (!existsSync(e.HOST_TOPOLOGY)) throw new ConfigError('HOST_TOPOLOGY', `no such file ${e.HOST_TOPOLOGY}`);
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(e.HOST_TOPOLOGY, 'utf8'));
    } catch (err) {
      throw new ConfigError('HOST_TOPOLOGY', `${e.HOST_TOPOLOGY} is not valid JSON (${(err as Error).message})`);
    }
    const t = topologyFile.safeParse(json);
    if (!t.success) {
      const issue = t.error.issues[0];
      throw new ConfigError('HOST_TOPOLOGY', `${e.HOST_TOPOLOGY}: ${issue.path.join('.')}: ${issue.message}`);
    }
    topology = t.data;
    topologySource = e.HOST_TOPOLOGY;
  }
  let apiTokens: Map<string, TokenGrant> | null = null;
  if (e.API_TOKENS !== undefined) {
    try {
      apiTokens = parseTokens(e.API_TOKENS);
    } catch (err) {
      throw new ConfigError('API_TOKENS', (err as Error).message);
    }
  }
  if (apiTokens === null && !isLoopback(e.HOST)) {
    throw new ConfigError('HOST', `${e.HOST} is not a loopback address and API_TOKENS is not set: anyone who reaches it could change everything; set API_TOKENS or listen on 127.0.0.1`);
  }
  if (e.SHUTDOWN_DELAY >= e.SHUTDOWN_TIMEOUT) {
    throw new ConfigError('SHUTDOWN_DELAY', `must be shorter than SHUTDOWN_TIMEOUT (${e.SHUTDOWN_TIMEOUT} ms) (got ${e.SHUTDOWN_DELAY})`);
  }
  checkDatabaseLocation(e.DATABASE_URL, env.DATABASE_URL !== undefined);
  return {
    apiTokens,
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    logLevel: e.LOG_LEVEL,
    walCheckpoints: e.WAL_CHECKPOINTS,
    bodyLimit: e.BODY_LIMIT,
    maxInvalidationEntries: e.MAX_INVALIDATION_ENTRIES,
    guestMemoryLimit: e.GUEST_MEMORY_LIMIT,
    topology,
    topologySource,
    idempotencyTtlMs: e.IDEMPOTENCY_TTL,
    auditRetention: e.AUDIT_RETENTION,
    overload: {
      rateLimitMax: e.RATE_LIMIT_MAX,
      rateLimitWindowMs: e.RATE_LIMIT_WINDOW,
      maxInFlight: e.MAX_IN_FLIGHT,
      maxTurnBytes: e.MAX_TURN_BYTES,
      maxEventLoopDelayMs: e.MAX_EVENT_LOOP_DELAY,
      maxHeapUsedBytes: e.MAX_HEAP_USED ?? Math.floor(getHeapStatistics().heap_size_limit * 0.9),
      pressureSampleIntervalMs: e.PRESSURE_SAMPLE_INTERVAL,
      retryAfterSeconds: e.RETRY_AFTER,
    },
    requestTimeoutMs: e.REQUEST_TIMEOUT,
    connectionTimeoutMs: e.CONNECTION_TIMEOUT,
    handlerTimeoutMs: e.HANDLER_TIMEOUT,
    maxHeaderSize: e.MAX_HEADER_SIZE,
    graphqlMaxCost: e.GRAPHQL_MAX_COST,
    shutdownDelayMs: e.SHUTDOWN_DELAY,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT,
    sseHeartbeatMs: e.SSE_HEARTBEAT_MS,
  };
}

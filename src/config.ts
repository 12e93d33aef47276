/**
 * Configuration from the environment, validated with zod at start. A bad value stops the start
 * with one line naming the variable (see server.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { BUILTIN_TOPOLOGY, type Topology } from './domain/topology.js';
import { topologyFile } from './schema/inventory.js';
import { parseTokens, type Role } from './routes/plugins/auth.js';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const envSchema = z.object({
  PORT: z
    .string()
    .regex(/^[0-9]{1,5}$/, 'must be a TCP port number')
    .transform(Number)
    .pipe(z.int().min(0).max(65535))
    .default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  DATABASE_URL: z
    .string()
    .regex(/^file:.+/, 'must be a SQLite URL of the form file:<path>')
    .default('file:./data/vsmmu.db'),
  HOST_TOPOLOGY: z.string().min(1).optional(),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
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
});

export interface Config {
  port: number;
  host: string;
  databaseUrl: string;
  logLevel: (typeof LOG_LEVELS)[number];
  bodyLimit: number;
  maxInvalidationEntries: number;
  guestMemoryLimit: number;
  /** null: no API_TOKENS, the service is open. */
  apiTokens: Map<string, Role> | null;
  topology: Topology;
  topologySource: string;
}

export class ConfigError extends Error {
  constructor(readonly variable: string, message: string) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

/** Reads and validates the environment; throws ConfigError naming the first bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(String(issue.path[0]), `${issue.message} (got ${JSON.stringify(present[String(issue.path[0])])})`);
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
  let apiTokens: Map<string, Role> | null = null;
  if (e.API_TOKENS !== undefined) {
    try {
      apiTokens = parseTokens(e.API_TOKENS);
    } catch (err) {
      throw new ConfigError('API_TOKENS', (err as Error).message);
    }
  }
  return {
    apiTokens,
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    logLevel: e.LOG_LEVEL,
    bodyLimit: e.BODY_LIMIT,
    maxInvalidationEntries: e.MAX_INVALIDATION_ENTRIES,
    guestMemoryLimit: e.GUEST_MEMORY_LIMIT,
    topology,
    topologySource,
  };
}

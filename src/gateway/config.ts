/**
 * The fleet gateway's configuration from the environment. As src/config.ts: a bad value stops the
 * start with one line naming the variable (main.ts), and without API_TOKENS the gateway listens
 * on a loopback address only. A host's token never appears in a message: FLEET_TOKENS errors name
 * the host, not the value.
 */
import { z } from 'zod';
import { ConfigError, isLoopback, tcpPort } from '../config.js';
import { parseTokens, type TokenGrant } from '../routes/plugins/auth.js';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** One host of the fleet: its name, where it is, and the token the gateway presents to it. */
export interface FleetHost {
  name: string;
  /** The host's base URL (no trailing slash), as shown in the gateway's `url` field. */
  url: string;
  /** Its GraphQL endpoint: `url` + `/graphql`. */
  endpoint: string;
  /** Sent as `Authorization: Bearer …`; null when the host runs without API_TOKENS. */
  token: string | null;
}

export interface GatewayConfig {
  port: number;
  host: string;
  logLevel: (typeof LOG_LEVELS)[number];
  hosts: FleetHost[];
  /** How long one host may take to answer one request (ms); later it counts as down. */
  timeoutMs: number;
  /** The gateway's own callers (API_TOKENS, the service's format); null: open, loopback only. */
  apiTokens: Map<string, TokenGrant> | null;
}

const envSchema = z.object({
  PORT: tcpPort(4000),
  HOST: z.string().min(1).default('127.0.0.1'),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  FLEET_HOSTS: z.string({ error: 'must be set: name=url,name=url,… (a host\'s base URL or its /graphql URL)' }),
  FLEET_TOKENS: z.string().optional(),
  FLEET_TIMEOUT_MS: z
    .string()
    .regex(/^[0-9]{1,7}$/, 'must be a number of milliseconds')
    .transform(Number)
    .pipe(z.int().min(100).max(600_000))
    .default(3000),
  API_TOKENS: z.string().optional(),
});

/** Every environment variable this configuration reads (docker-compose.yml may set only these). */
export const ENV_VARIABLES: readonly string[] = Object.keys(envSchema.shape);

/** Host names: what a dashboard shows and `host(name:)` takes. */
const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/** `name=value` pairs separated by commas (a value may contain `=`; names may not). */
function pairs(value: string): Array<[name: string, value: string]> {
  return value
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => {
      const i = p.indexOf('=');
      return i < 0 ? [p, ''] : [p.slice(0, i).trim(), p.slice(i + 1).trim()];
    });
}

/** A host's base URL or its /graphql URL → both, normalised; throws a message without the URL's secrets. */
function hostUrl(name: string, raw: string): { url: string; endpoint: string } {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ConfigError('FLEET_HOSTS', `host ${name}: ${JSON.stringify(raw)} is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ConfigError('FLEET_HOSTS', `host ${name}: the URL must be http: or https: (got ${u.protocol})`);
  // Credentials in a URL would be shown in `url` and in logs: tokens go in FLEET_TOKENS.
  if (u.username || u.password) throw new ConfigError('FLEET_HOSTS', `host ${name}: the URL carries credentials; put the host's token in FLEET_TOKENS`);
  if (u.search || u.hash) throw new ConfigError('FLEET_HOSTS', `host ${name}: the URL may not have a query or a fragment (got ${JSON.stringify(raw)})`);
  const path = u.pathname.replace(/\/+$/, '');
  const basePath = path.endsWith('/graphql') ? path.slice(0, -'/graphql'.length) : path;
  const url = `${u.origin}${basePath}`;
  return { url, endpoint: `${url}/graphql` };
}

function parseHosts(value: string): FleetHost[] {
  const hosts: FleetHost[] = [];
  for (const [name, raw] of pairs(value)) {
    if (!HOST_NAME.test(name)) throw new ConfigError('FLEET_HOSTS', `${JSON.stringify(name)} is not a host name (letters, digits, '_', '.', '-'; 1-63 characters) in name=url`);
    if (raw === '') throw new ConfigError('FLEET_HOSTS', `host ${name} has no URL (name=url)`);
    if (hosts.some((h) => h.name === name)) throw new ConfigError('FLEET_HOSTS', `host ${name} is listed twice`);
    const { url, endpoint } = hostUrl(name, raw);
    const same = hosts.find((h) => h.endpoint === endpoint);
    if (same) throw new ConfigError('FLEET_HOSTS', `hosts ${same.name} and ${name} have the same URL ${url}`);
    hosts.push({ name, url, endpoint, token: null });
  }
  if (hosts.length === 0) throw new ConfigError('FLEET_HOSTS', 'must list at least one host: name=url,name=url,…');
  return hosts;
}

/** FLEET_TOKENS `name=token,…` onto the hosts. Messages name the host, never the token. */
function applyTokens(hosts: FleetHost[], value: string): void {
  for (const [name, token] of pairs(value)) {
    const host = hosts.find((h) => h.name === name);
    if (!host) throw new ConfigError('FLEET_TOKENS', `${JSON.stringify(name)} is not a host of FLEET_HOSTS (${hosts.map((h) => h.name).join(', ')})`);
    if (token === '' || /\s/.test(token)) throw new ConfigError('FLEET_TOKENS', `host ${name}: the token must be name=token, without spaces`);
    if (host.token !== null) throw new ConfigError('FLEET_TOKENS', `host ${name} is given two tokens`);
    host.token = token;
  }
}

/** Reads and validates the gateway's environment; throws ConfigError naming the first bad variable. */
export function loadGatewayConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const variable = String(issue.path[0]);
    // Values of secret-bearing variables are not echoed.
    const shown = variable === 'FLEET_TOKENS' || variable === 'API_TOKENS' || present[variable] === undefined ? '' : ` (got ${JSON.stringify(present[variable])})`;
    throw new ConfigError(variable, `${issue.message}${shown}`);
  }
  const e = parsed.data;
  const hosts = parseHosts(e.FLEET_HOSTS);
  if (e.FLEET_TOKENS !== undefined) applyTokens(hosts, e.FLEET_TOKENS);
  let apiTokens: Map<string, TokenGrant> | null = null;
  if (e.API_TOKENS !== undefined) {
    try {
      apiTokens = parseTokens(e.API_TOKENS);
    } catch (err) {
      throw new ConfigError('API_TOKENS', (err as Error).message);
    }
    // The gateway reads every host with its own tokens: it cannot cut an answer to some contexts.
    const limited = [...apiTokens.values()].find((g) => g.contexts !== null);
    if (limited) throw new ConfigError('API_TOKENS', `token ${limited.name} is limited to contexts, which the gateway cannot honour (it reads each host with that host's FLEET_TOKENS token): give it no context list`);
  }
  if (apiTokens === null && !isLoopback(e.HOST)) {
    throw new ConfigError('HOST', `${e.HOST} is not a loopback address and API_TOKENS is not set: anyone who reaches it could read every host; set API_TOKENS or listen on 127.0.0.1`);
  }
  return { port: e.PORT, host: e.HOST, logLevel: e.LOG_LEVEL, hosts, timeoutMs: e.FLEET_TIMEOUT_MS, apiTokens };
}

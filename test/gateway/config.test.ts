/**
 * The fleet gateway's configuration: FLEET_HOSTS, FLEET_TOKENS, FLEET_TIMEOUT_MS, HOST and
 * API_TOKENS validated at start, a bad value stopping it with one line naming the variable (and
 * never showing a token); `npm run gateway`'s entry point end to end.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ConfigError } from '../../src/config.js';
import { loadGatewayConfig } from '../../src/gateway/config.js';
import { freePort, ROOT } from '../ops/support.js';

const HOSTS = 'a=http://127.0.0.1:3001,b=http://10.0.0.2:3000/graphql';

function configError(env: Record<string, string>): ConfigError {
  try {
    loadGatewayConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`no ConfigError for ${JSON.stringify(env)}`);
}

describe('gateway config', () => {
  it('gateway config: hosts by base URL or /graphql URL, tokens per host, defaults', () => {
    const c = loadGatewayConfig({ FLEET_HOSTS: `${HOSTS}, c=https://h.example:8443/prefix/ `, FLEET_TOKENS: 'b=tok:with=signs' });
    expect(c.hosts).toEqual([
      { name: 'a', url: 'http://127.0.0.1:3001', endpoint: 'http://127.0.0.1:3001/graphql', token: null },
      { name: 'b', url: 'http://10.0.0.2:3000', endpoint: 'http://10.0.0.2:3000/graphql', token: 'tok:with=signs' },
      { name: 'c', url: 'https://h.example:8443/prefix', endpoint: 'https://h.example:8443/prefix/graphql', token: null },
    ]);
    expect(c).toMatchObject({ port: 4000, host: '127.0.0.1', timeoutMs: 3000, apiTokens: null, logLevel: 'info' });
    expect(loadGatewayConfig({ FLEET_HOSTS: HOSTS, FLEET_TIMEOUT_MS: '250', PORT: '0' })).toMatchObject({ timeoutMs: 250, port: 0 });
  });

  it('gateway config: each bad value is a ConfigError naming its variable', () => {
    const cases: Array<[Record<string, string>, string, RegExp]> = [
      [{}, 'FLEET_HOSTS', /must be set/],
      [{ FLEET_HOSTS: ' , ' }, 'FLEET_HOSTS', /at least one host/],
      [{ FLEET_HOSTS: 'a' }, 'FLEET_HOSTS', /host a has no URL/],
      [{ FLEET_HOSTS: 'a b=http://x' }, 'FLEET_HOSTS', /is not a host name/],
      [{ FLEET_HOSTS: 'a=not a url' }, 'FLEET_HOSTS', /host a: "not a url" is not a URL/],
      [{ FLEET_HOSTS: 'a=ftp://x/' }, 'FLEET_HOSTS', /http: or https:/],
      [{ FLEET_HOSTS: 'a=http://x?y=1' }, 'FLEET_HOSTS', /query or a fragment/],
      [{ FLEET_HOSTS: 'a=http://x,a=http://y' }, 'FLEET_HOSTS', /host a is listed twice/],
      [{ FLEET_HOSTS: 'a=http://x,b=http://x/graphql' }, 'FLEET_HOSTS', /hosts a and b have the same URL/],
      [{ FLEET_HOSTS: HOSTS, FLEET_TOKENS: 'z=some-token' }, 'FLEET_TOKENS', /"z" is not a host of FLEET_HOSTS/],
      [{ FLEET_HOSTS: HOSTS, FLEET_TOKENS: 'a=' }, 'FLEET_TOKENS', /host a: the token/],
      [{ FLEET_HOSTS: HOSTS, FLEET_TOKENS: 'a=t1-token,a=t2-token' }, 'FLEET_TOKENS', /host a is given two tokens/],
      [{ FLEET_HOSTS: HOSTS, FLEET_TIMEOUT_MS: 'soon' }, 'FLEET_TIMEOUT_MS', /number of milliseconds/],
      [{ FLEET_HOSTS: HOSTS, FLEET_TIMEOUT_MS: '10' }, 'FLEET_TIMEOUT_MS', />=100|at least|too small/i],
      [{ FLEET_HOSTS: HOSTS, PORT: '70000' }, 'PORT', /./],
      [{ FLEET_HOSTS: HOSTS, LOG_LEVEL: 'loud' }, 'LOG_LEVEL', /./],
      [{ FLEET_HOSTS: HOSTS, HOST: '0.0.0.0' }, 'HOST', /not a loopback address and API_TOKENS is not set/],
      [{ FLEET_HOSTS: HOSTS, API_TOKENS: 'short:viewer' }, 'API_TOKENS', /8\+ characters/],
      [{ FLEET_HOSTS: HOSTS, API_TOKENS: 'scoped-token-1:viewer:3' }, 'API_TOKENS', /limited to contexts/],
    ];
    for (const [env, variable, message] of cases) {
      const err = configError(env);
      expect(err.variable, JSON.stringify(env)).toBe(variable);
      expect(err.message, JSON.stringify(env)).toMatch(new RegExp(`^${variable}: `));
      expect(err.message, JSON.stringify(env)).toMatch(message);
      expect(err.message).not.toContain('\n');
    }
    // With API_TOKENS the gateway may listen beyond loopback.
    expect(loadGatewayConfig({ FLEET_HOSTS: HOSTS, HOST: '0.0.0.0', API_TOKENS: 'gateway-token-1:viewer' }).host).toBe('0.0.0.0');
  });

  it('gateway config: no message shows a token or URL credentials', () => {
    const secret = 's3cret-token-value';
    const messages = [
      configError({ FLEET_HOSTS: HOSTS, FLEET_TOKENS: `nohost=${secret}` }).message,
      configError({ FLEET_HOSTS: HOSTS, FLEET_TOKENS: `a=${secret},a=${secret}` }).message,
      configError({ FLEET_HOSTS: HOSTS, FLEET_TOKENS: `a=${secret} x` }).message,
      configError({ FLEET_HOSTS: `a=http://user:${secret}@h:3000` }).message,
      configError({ FLEET_HOSTS: HOSTS, API_TOKENS: `${secret}:nobody` }).message,
    ];
    for (const m of messages) expect(m).not.toContain(secret);
    expect(messages[3]).toMatch(/credentials; put the host's token in FLEET_TOKENS/);
  });
});

/** Runs src/gateway/main.ts (the source of what `npm run gateway` runs compiled, dist/gateway/main.js), with this environment. */
function runGateway(env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/gateway/main.ts')], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, stdout: () => out, stderr: () => err };
}

describe('npm run gateway', () => {
  it('gateway: a bad FLEET_TIMEOUT_MS stops the start: one line on stderr naming it, exit code 1', async () => {
    const g = runGateway({ FLEET_HOSTS: HOSTS, FLEET_TOKENS: 'a=hidden-token-1', FLEET_TIMEOUT_MS: 'forever' });
    expect(await g.exited).toBe(1);
    const lines = g.stderr().trim().split('\n');
    expect(lines).toEqual([expect.stringMatching(/^vsmmu-gateway: invalid configuration: FLEET_TIMEOUT_MS: must be a number of milliseconds/)]);
    expect(g.stderr() + g.stdout()).not.toContain('hidden-token-1');
  });

  it('gateway: starts with every host down, answers, and exits 0 on SIGTERM', async () => {
    const port = await freePort();
    const dead = await freePort();
    const g = runGateway({ FLEET_HOSTS: `gone=http://127.0.0.1:${dead}`, FLEET_TIMEOUT_MS: '500', PORT: String(port), LOG_LEVEL: 'error' });
    try {
      let body: any;
      for (let i = 0; i < 300 && body === undefined; i++) {
        try {
          const res = await fetch(`http://127.0.0.1:${port}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ hosts { name up smmus { name } } }' }) });
          body = await res.json();
        } catch {
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      expect(body).toEqual({ data: { hosts: [{ name: 'gone', up: false, smmus: null }] } });
    } finally {
      g.child.kill('SIGTERM');
    }
    expect(await g.exited).toBe(0);
  });
});

describe('docker-compose: fleet profile', () => {
  it('compose: the gateway runs what `npm run gateway` runs (node dist/gateway/main.js, no npm in the signal path) from the same image, only under the fleet profile, on 4000 with tokens', () => {
    const compose = parse(readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'));
    const gw = compose.services['vsmmu-gateway'];
    expect(gw.profiles).toEqual(['fleet']);
    expect(compose.services['vsmmu-control'].profiles).toBeUndefined();
    expect(gw.command).toEqual(['node', 'dist/gateway/main.js']);
    expect(gw.image).toBe(compose.services['vsmmu-control'].image);
    expect(gw.ports).toContain('127.0.0.1:4000:4000');
    expect(gw.environment).toMatchObject({ HOST: '0.0.0.0', PORT: '4000' });
    // Beyond loopback it needs its callers' tokens; by default it fronts the compose file's own host.
    expect(gw.environment.API_TOKENS).toMatch(/^\$\{API_TOKENS:\?/);
    expect(gw.environment.FLEET_HOSTS).toBe('${FLEET_HOSTS:-local=http://vsmmu-control:3000}');
    expect(gw.environment.FLEET_TOKENS).toBe('${FLEET_TOKENS:-}');
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    expect(pkg.scripts.gateway).toBe(gw.command.join(' '));
  });
});

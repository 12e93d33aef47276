/**
 * Issue 12, access: without API_TOKENS the service listens on loopback only, and the operations
 * variables are validated with the others (one line naming the variable).
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, isLoopback, loadConfig } from '../../src/config.js';
import { parseTokens } from '../../src/routes/plugins/auth.js';
import { spawnService } from './support.js';

const TOKENS = 'admin-token-1:admin';

describe('config: loopback without tokens', () => {
  it('config: without API_TOKENS a HOST other than loopback is a ConfigError naming HOST', () => {
    for (const host of ['0.0.0.0', '::', '192.168.1.10', '10.0.0.1', 'example.com', '::ffff:10.1.2.3']) {
      let err: unknown;
      try {
        loadConfig({ HOST: host });
      } catch (e) {
        err = e;
      }
      expect(err, host).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).variable).toBe('HOST');
      expect((err as Error).message).toMatch(/^HOST: .*API_TOKENS/);
    }
    // An empty API_TOKENS is no tokens.
    expect(() => loadConfig({ HOST: '0.0.0.0', API_TOKENS: '' })).toThrow(/^HOST: /);
  });

  it('config: loopback addresses start open; any address starts with API_TOKENS', () => {
    for (const host of ['127.0.0.1', '127.3.2.1', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', 'localhost', 'LOCALHOST']) {
      expect(isLoopback(host), host).toBe(true);
      expect(loadConfig({ HOST: host }).apiTokens, host).toBeNull();
    }
    expect(loadConfig({}).host).toBe('127.0.0.1');
    expect(loadConfig({ HOST: '0.0.0.0', API_TOKENS: TOKENS }).host).toBe('0.0.0.0');
  });

  it('config: the service itself refuses to start on 0.0.0.0 without tokens: one line on stderr, exit code 1', async () => {
    const svc = await spawnService({ HOST: '0.0.0.0', API_TOKENS: '' }, { ready: false });
    const { code } = await svc.exited;
    expect(code).toBe(1);
    const lines = svc.stderr().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^vsmmu-control: invalid configuration: HOST: 0\.0\.0\.0 is not a loopback address and API_TOKENS is not set/);
  });
});

describe('config: tokens and limits', () => {
  it('config: API_TOKENS takes an optional list of context ids after the role', () => {
    const tokens = parseTokens('plain-token-1:viewer, scoped-token-1:operator:3|7 ,with:colon-token:admin:12');
    expect(tokens.get('plain-token-1')).toMatchObject({ role: 'viewer', contexts: null });
    expect([...(tokens.get('scoped-token-1')?.contexts ?? [])]).toEqual([3, 7]);
    expect(tokens.get('scoped-token-1')?.role).toBe('operator');
    expect([...(tokens.get('with:colon-token')?.contexts ?? [])]).toEqual([12]);
    // Token names are fingerprints, never the token.
    for (const [token, grant] of tokens) {
      expect(grant.name).toMatch(/^(viewer|operator|admin)-[0-9a-f]{8}$/);
      expect(grant.name).not.toContain(token);
    }
    for (const bad of ['scoped-token-1:operator:0', 'scoped-token-1:operator:3|', 'scoped-token-1:operator:x', 'short:admin:3', 'dup-token-1:admin,dup-token-1:viewer']) {
      expect(() => loadConfig({ API_TOKENS: bad }), bad).toThrow(/^API_TOKENS: /);
    }
    // The error never shows more than the token's first 3 characters.
    expect(() => loadConfig({ API_TOKENS: 'secret-token-xyz:root' })).toThrow(/"sec…"/);
  });

  it('config: the overload and shutdown variables have defaults and are validated', () => {
    const c = loadConfig({});
    expect(c.overload).toMatchObject({ rateLimitMax: 1000000, rateLimitWindowMs: 60000, maxInFlight: 256, maxTurnBytes: 524288, maxEventLoopDelayMs: 0, retryAfterSeconds: 1 });
    expect(c.overload.maxHeapUsedBytes).toBeGreaterThan(0);
    expect(c).toMatchObject({ requestTimeoutMs: 30000, connectionTimeoutMs: 0, handlerTimeoutMs: 0, maxHeaderSize: 16384, graphqlMaxCost: 100000, shutdownDelayMs: 1000, shutdownTimeoutMs: 8000 });
    expect(loadConfig({ RATE_LIMIT_MAX: '0', MAX_TURN_BYTES: '0' }).overload).toMatchObject({ rateLimitMax: 0, maxTurnBytes: 0 });
    for (const [variable, value] of [
      ['RATE_LIMIT_MAX', 'many'],
      ['RATE_LIMIT_WINDOW', '10'],
      ['MAX_TURN_BYTES', '100'],
      ['REQUEST_TIMEOUT', '5'],
      ['GRAPHQL_MAX_COST', '-1'],
      ['SHUTDOWN_TIMEOUT', '20'],
    ]) {
      expect(() => loadConfig({ [variable]: value }), variable).toThrow(new RegExp(`^${variable}: `));
    }
    expect(() => loadConfig({ SHUTDOWN_DELAY: '9000' })).toThrow(/^SHUTDOWN_DELAY: must be shorter than SHUTDOWN_TIMEOUT/);
  });

  it('config: WAL_CHECKPOINTS is inline unless set to worker; any other value is refused naming it', () => {
    expect(loadConfig({}).walCheckpoints).toBe('inline');
    expect(loadConfig({ WAL_CHECKPOINTS: 'worker' }).walCheckpoints).toBe('worker');
    for (const bad of ['', 'thread', 'WORKER']) expect(() => loadConfig({ WAL_CHECKPOINTS: bad }), bad).toThrow(/^WAL_CHECKPOINTS: /);
  });
});

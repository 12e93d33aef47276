/**
 * Issue 14: a bad value stops the start with one line naming the variable (stderr, exit code 1),
 * whether loadConfig sees it (empty values, the database's place, tokens) or only the listen or
 * the database open does (a port in use, a host that does not resolve, a file that is not SQLite).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { spawnService } from './support.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'vsmmu-startup-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

/** The child's whole stderr is one line starting with `vsmmu-control: `; exit code 1. */
async function refusedWithOneLine(env: Record<string, string>): Promise<string> {
  const svc = await spawnService({ DATABASE_URL: `file:${path.join(dir, `db-${Math.random().toString(36).slice(2)}.db`)}`, ...env }, { ready: false });
  const { code } = await svc.exited;
  const lines = svc.stderr().trim().split('\n');
  expect(lines, svc.stderr()).toHaveLength(1);
  expect(code).toBe(1);
  expect(lines[0]).toMatch(/^vsmmu-control: /);
  expect(svc.stderr()).not.toMatch(/\n\s+at /);
  return lines[0];
}

describe('startup: bad values are one line naming the variable', () => {
  it('startup: an empty value is refused, not taken as the default (PORT= no longer serves on 3000); an empty API_TOKENS still means no tokens', () => {
    for (const variable of ['PORT', 'HOST', 'DATABASE_URL', 'LOG_LEVEL', 'BODY_LIMIT', 'HOST_TOPOLOGY']) {
      const err = configError({ [variable]: '' });
      expect(err.variable).toBe(variable);
      expect(err.message).toBe(`${variable}: is empty: set a value or unset the variable for the default`);
    }
    expect(loadConfig({ API_TOKENS: '' }).apiTokens).toBeNull();
  });

  it('startup: a DATABASE_URL in a missing directory is refused (the directory is not created), only the default ./data is created at start', () => {
    const missing = path.join(dir, 'no-such-dir', 'sub');
    const err = configError({ DATABASE_URL: `file:${missing}/vsmmu.db` });
    expect(err.variable).toBe('DATABASE_URL');
    expect(err.message).toMatch(/^DATABASE_URL: the directory .*no-such-dir\/sub does not exist: create it first/);
    // The default is not checked for existence (openDatabase creates ./data).
    expect(() => loadConfig({})).not.toThrow();
  });

  it('startup: a DATABASE_URL in an unwritable place, under a file, or naming a directory is refused naming DATABASE_URL', () => {
    const aFile = path.join(dir, 'plain-file');
    writeFileSync(aFile, 'x');
    const aDir = path.join(dir, 'a-dir.db');
    mkdirSync(aDir, { recursive: true });
    const cases: [string, RegExp][] = [
      ['file:/proc/vsmmu.db', /^DATABASE_URL: the directory \/proc is not writable/],
      [`file:${aFile}/vsmmu.db`, /^DATABASE_URL: .*(is not a directory|cannot be reached)/],
      [`file:${aDir}`, /^DATABASE_URL: .* is not a regular file/],
    ];
    for (const [url, re] of cases) {
      const err = configError({ DATABASE_URL: url });
      expect(err.variable, url).toBe('DATABASE_URL');
      expect(err.message, url).toMatch(re);
    }
  });

  it('startup: a malformed API_TOKENS entry never shows the token (at most its first 3 characters)', () => {
    const secret = 'sup3r-s3cret-t0ken-value';
    for (const value of [`${secret}:root`, secret, `${secret}:admin:0`, `${secret}:admin:x|`, `${secret}:viewer,${secret}:admin`, `short:admin,${secret}`, `${secret}:`]) {
      const err = configError({ API_TOKENS: value });
      expect(err.variable, value).toBe('API_TOKENS');
      expect(err.message, value).not.toContain(secret.slice(0, 4));
    }
  });

  it('startup: the service refuses an empty PORT, a missing database directory and an unwritable one with one line naming the variable', async () => {
    expect(await refusedWithOneLine({ PORT: '' })).toMatch(/^vsmmu-control: invalid configuration: PORT: is empty/);
    expect(await refusedWithOneLine({ DATABASE_URL: `file:${path.join(dir, 'missing', 'x.db')}` })).toMatch(/^vsmmu-control: invalid configuration: DATABASE_URL: the directory .* does not exist/);
    expect(await refusedWithOneLine({ DATABASE_URL: 'file:/proc/vsmmu.db' })).toMatch(/^vsmmu-control: invalid configuration: DATABASE_URL: the directory \/proc is not writable/);
    expect(await refusedWithOneLine({ API_TOKENS: 'sup3r-s3cret-t0ken:root' })).not.toContain('s3cret');
  }, 120_000);

  it('startup: a PORT in use, a HOST that does not resolve and a file that is not SQLite are one line naming PORT, HOST, DATABASE_URL (no stack trace)', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as net.AddressInfo).port;
    try {
      expect(await refusedWithOneLine({ PORT: String(port) })).toBe(`vsmmu-control: cannot start: PORT: port ${port} on 127.0.0.1 is already in use`);
    } finally {
      taken.close();
    }
    expect(await refusedWithOneLine({ HOST: 'no-such-host.invalid', API_TOKENS: 'admin-token-1:admin' })).toMatch(/^vsmmu-control: cannot start: HOST: no-such-host\.invalid does not resolve/);
    const notSqlite = path.join(dir, 'not-sqlite.db');
    writeFileSync(notSqlite, 'this is not a database, and it is long enough to be read as a header........\n'.repeat(20));
    expect(await refusedWithOneLine({ DATABASE_URL: `file:${notSqlite}` })).toMatch(/^vsmmu-control: cannot start: DATABASE_URL: .*not-sqlite\.db: /);
  }, 120_000);
});

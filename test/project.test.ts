/** The project's own promises: migrations match the schema, configuration, npm start. (The image and compose: test/ops/ship.test.ts.) */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { diffMigrationsToSchema, MIGRATIONS_DIR } from '../src/storage/migrate.js';

const root = path.resolve(import.meta.dirname, '..');

describe('migrations', () => {
  it('migrations: the committed migrations produce exactly the schema in prisma/schema.prisma', async () => {
    const scratch = mkdtempSync(path.join(os.tmpdir(), 'vsmmu-mig-'));
    const scratch2 = mkdtempSync(path.join(os.tmpdir(), 'vsmmu-mig-'));
    try {
      const schema = readFileSync(path.join(root, 'prisma', 'schema.prisma'), 'utf8');
      expect(await diffMigrationsToSchema(MIGRATIONS_DIR, schema, scratch)).toBeNull();
      // The check is not vacuous: a schema with one more column needs a migration.
      const edited = schema.replace('model Meta {', 'model Meta {\n  extra String?');
      expect(await diffMigrationsToSchema(MIGRATIONS_DIR, edited, scratch2)).toMatch(/extra/);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
      rmSync(scratch2, { recursive: true, force: true });
    }
  });
});

describe('configuration', () => {
  it('config: defaults are 127.0.0.1:3000 and file:./data/vsmmu.db with the built-in topology', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ host: '127.0.0.1', port: 3000, databaseUrl: 'file:./data/vsmmu.db', logLevel: 'info', topologySource: 'built-in' });
  });

  it.each([
    ['PORT', 'eighty'],
    ['PORT', '70000'],
    ['DATABASE_URL', 'postgres://x'],
    ['LOG_LEVEL', 'loud'],
    ['HOST_TOPOLOGY', '/nonexistent/topology.json'],
  ])('config: a bad %s (%s) names the variable', (variable, value) => {
    expect(() => loadConfig({ [variable]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [variable]: value })).toThrow(new RegExp(`^${variable}: `));
  });

  it('config: HOST_TOPOLOGY is validated with the same schema as POST /v1/smmus', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vsmmu-topo-'));
    try {
      const good = path.join(dir, 'good.json');
      writeFileSync(good, JSON.stringify({ smmus: [{ name: 'only', devices: [{ name: 'd0', streamId: 5 }] }] }));
      expect(loadConfig({ HOST_TOPOLOGY: good }).topology.smmus[0].devices?.[0].streamId).toBe(5);
      const bad = path.join(dir, 'bad.json');
      writeFileSync(bad, JSON.stringify({ smmus: [{ name: 'only', devices: [{ name: 'd0', streamId: -1 }] }] }));
      expect(() => loadConfig({ HOST_TOPOLOGY: bad })).toThrow(/^HOST_TOPOLOGY: .*streamId/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('config: the server refuses to start on a bad value with one line naming it', () => {
    const res = spawnSync(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      cwd: root,
      env: { ...process.env, PORT: 'not-a-port' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(res.status).toBe(1);
    const lines = res.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^vsmmu-control: invalid configuration: PORT: /);
  });
});

describe('npm start', () => {
  it('npm start runs compiled JavaScript: postinstall builds dist/ with tsc, and node dist/server.js serves /readyz', async () => {
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
    expect(pkg.scripts.start).toBe('node dist/server.js');
    expect(pkg.scripts.postinstall).toMatch(/npm run build/);
    expect(pkg.scripts.build).toBe('tsc -p tsconfig.build.json');
    // CI installs with npm ci, so dist/ is the build of this tree.
    expect(existsSync(path.join(root, 'dist', 'server.js'))).toBe(true);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vsmmu-start-'));
    const port = 20000 + Math.floor(Math.random() * 20000);
    const child = spawn(process.execPath, [path.join(root, 'dist', 'server.js')], {
      cwd: root,
      env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', DATABASE_URL: `file:${path.join(dir, 'x.db')}`, LOG_LEVEL: 'silent', API_TOKENS: '' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    try {
      let ready = false;
      for (let i = 0; i < 120 && !ready; i++) {
        await new Promise((r) => setTimeout(r, 250));
        ready = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status === 200, () => false);
      }
      expect(ready).toBe(true);
      const smmus = (await (await fetch(`http://127.0.0.1:${port}/v1/smmus`)).json()) as { items: unknown[] };
      expect(smmus.items.length).toBeGreaterThan(0);
    } finally {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

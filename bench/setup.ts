/**
 * What the HTTP benches share: the real app on a fresh SQLite file in a temporary directory, and
 * a VM on it (context, bound device, IOAS, nest parent, vIOMMU) built through the REST API.
 */
import os from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { buildApp, type App } from '../src/app.js';
import { loadConfig } from '../src/config.js';

export interface BenchApp extends App {
  /** POST/PUT/PATCH through `inject`; throws on any status ≥ 300. */
  call(method: 'POST' | 'PUT' | 'PATCH', url: string, payload: object): Promise<any>;
  close(): Promise<void>;
}

export async function benchApp(): Promise<BenchApp> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vsmmu-bench-'));
  // BENCH_WAL_CHECKPOINTS=worker measures the app with its checkpoints in a worker thread (README).
  const walCheckpoints = process.env.BENCH_WAL_CHECKPOINTS ? { WAL_CHECKPOINTS: process.env.BENCH_WAL_CHECKPOINTS } : {};
  const built = await buildApp(loadConfig({ DATABASE_URL: `file:${path.join(dir, 'b.db')}`, LOG_LEVEL: 'silent', ...walCheckpoints }));
  return {
    ...built,
    async call(method, url, payload) {
      const res = await built.app.inject({ method, url, payload });
      if (res.statusCode >= 300) throw new Error(`${method} ${url}: ${res.body}`);
      return JSON.parse(res.body);
    },
    async close() {
      await built.app.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A VM on the built-in topology's `nic1` (the SMMU with a CMDQV): ids of what was built. */
export async function benchVm(b: BenchApp, name: string, viommuType: 'arm_smmuv3' | 'tegra241_cmdqv', mapping?: { iova: string; length: string }) {
  const devices = (await b.app.inject({ method: 'GET', url: '/v1/devices?limit=500' })).json().items as Array<{ id: number; name: string }>;
  const dev = devices.find((d) => d.name === 'nic1')!.id;
  const ctx = (await b.call('POST', '/v1/contexts', { name })).id as number;
  await b.call('POST', `/v1/contexts/${ctx}/devices`, { deviceId: dev });
  const ioas = (await b.call('POST', '/v1/ioas', { contextId: ctx })).id as number;
  if (mapping) await b.call('POST', `/v1/ioas/${ioas}/mappings`, mapping);
  const parent = (await b.call('POST', '/v1/hwpts', { deviceId: dev, ptId: ioas, flags: ['nest_parent'] })).id as number;
  const viommu = (await b.call('POST', '/v1/viommus', { deviceId: dev, hwptId: parent, type: viommuType })).id as number;
  return { ctx, dev, ioas, parent, viommu };
}

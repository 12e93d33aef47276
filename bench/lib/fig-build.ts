/**
 * build_1000_vms_s, rss_1000_vms_mb, graphql_dashboard_ms.
 *
 * The service in its own process on a fresh database. Untimed setup through the admin API: SMMUS
 * SMMUs (`POST /v1/smmus`, default IDR: 16-bit VMIDs and StreamIDs) and 8 devices per VM
 * (`POST /v1/devices`), VMs spread round-robin over the SMMUs (a VM's devices share its SMMU, as
 * its vIOMMU needs). Timed: 16 clients, each on its own keep-alive connection, take the next VM
 * and build it request by request, as a VMM would:
 *   context, 8 × bind, IOAS, nest-parent HWPT, vIOMMU, 8 × vDEVICE (vSID 8..15), nested HWPT
 *   (the guest's s1_translate STE), 8 × attach (every device to the nested HWPT)
 * — 29 requests per VM, 29,000 for 1,000 (the issue counts ~21,000: the 21 allocations, the
 * attaches of a nested HWPT not counted one per device). A 429/503 answer is retried after its
 * Retry-After (counted). Then the service's resident memory, and the dashboard query's p50.
 */
import path from 'node:path';
import { figure, fmt, median, percentile, scaled, sleep, type Figure } from './common.js';
import { Client, noneRefused, addRefused, type Answer } from './load.js';
import { heapMb, rssMb, startService } from './service.js';

const SMMUS = 8;
const DEVICES_PER_VM = 8;
const CLIENTS = 16;
const NESTED_STE = ['0x000000008000000b', '0x0'];
export const DASHBOARD_QUERY = '{ viommus { id vmid smmu { name } nestParent { id } vdevices { virtId device { name } } nestedHwpts { id } stats { invalidations { entries } } } }';

/** A request that must succeed; 429/503 are retried after Retry-After. */
async function must(c: Client, method: string, url: string, body?: unknown): Promise<any> {
  for (let attempt = 0; ; attempt++) {
    const r: Answer = await c.request(method, url, body);
    if (r.status < 300) return r.body === '' ? null : JSON.parse(r.body);
    if ((r.status === 429 || r.status === 503) && attempt < 20) {
      await sleep(1000);
      continue;
    }
    throw new Error(`${method} ${url}: ${r.status} ${r.body.slice(0, 300)}`);
  }
}

export async function buildFigures(work: string, log: (s: string) => void): Promise<{ figures: Figure[]; details: Record<string, unknown> }> {
  const vms = scaled(1000, 16);
  const svc = await startService(path.join(work, 'build.db'));
  const clients = Array.from({ length: CLIENTS }, () => new Client(svc.port));
  try {
    // ---- setup (untimed): SMMUs and devices through the admin API ----
    const t0 = performance.now();
    const smmus: number[] = [];
    for (let i = 0; i < SMMUS; i++) smmus.push((await must(clients[0], 'POST', '/v1/smmus', { name: `build-smmu${i}` })).id);
    const perSmmu = Math.ceil(vms / SMMUS) * DEVICES_PER_VM;
    const deviceIds = new Map<number, number[]>(smmus.map((s) => [s, []]));
    const todo: Array<{ smmuId: number; j: number }> = [];
    for (const s of smmus) for (let j = 0; j < perSmmu; j++) todo.push({ smmuId: s, j });
    let nextDev = 0;
    await Promise.all(
      clients.map(async (c) => {
        while (nextDev < todo.length) {
          const { smmuId, j } = todo[nextDev++];
          const d = await must(c, 'POST', '/v1/devices', { name: `b${smmuId}-d${j}`, smmuId, streamId: 0x100 + j, ats: true });
          deviceIds.get(smmuId)![j] = d.id;
        }
      }),
    );
    const setupRefused = clients.reduce((acc, c) => addRefused(acc, c.refused), noneRefused());
    for (const c of clients) Object.assign(c.refused, noneRefused());
    log(`  setup: ${SMMUS} SMMUs, ${todo.length} devices through the admin API in ${((performance.now() - t0) / 1000).toFixed(1)} s${setupRefused['429'] + setupRefused['503'] > 0 ? ` (429: ${setupRefused['429']}, 503: ${setupRefused['503']})` : ''}`);

    // ---- timed: 16 clients build the VMs ----
    let nextVm = 0;
    let requests = 0;
    const vmMs: number[] = [];
    const buildVm = async (c: Client, i: number) => {
      const started = performance.now();
      const smmuId = smmus[i % SMMUS];
      const k = Math.floor(i / SMMUS);
      const devs = deviceIds.get(smmuId)!.slice(k * DEVICES_PER_VM, (k + 1) * DEVICES_PER_VM);
      const ctx = (await must(c, 'POST', '/v1/contexts', { name: `vm${i}` })).id;
      for (const d of devs) await must(c, 'POST', `/v1/contexts/${ctx}/devices`, { deviceId: d });
      const ioas = (await must(c, 'POST', '/v1/ioas', { contextId: ctx })).id;
      const parent = (await must(c, 'POST', '/v1/hwpts', { deviceId: devs[0], ptId: ioas, flags: ['nest_parent'] })).id;
      const viommu = (await must(c, 'POST', '/v1/viommus', { deviceId: devs[0], hwptId: parent, type: 'arm_smmuv3' })).id;
      for (let v = 0; v < devs.length; v++) await must(c, 'POST', '/v1/vdevices', { viommuId: viommu, deviceId: devs[v], virtId: 8 + v });
      const nested = (await must(c, 'POST', '/v1/hwpts', { deviceId: devs[0], ptId: viommu, data: { type: 'arm_smmuv3', ste: NESTED_STE } })).id;
      for (const d of devs) await must(c, 'PUT', `/v1/devices/${d}/attachment`, { ptId: nested });
      requests += 5 + 3 * devs.length;
      vmMs.push(performance.now() - started);
    };
    const t1 = performance.now();
    await Promise.all(
      clients.map(async (c) => {
        while (nextVm < vms) await buildVm(c, nextVm++);
      }),
    );
    const seconds = (performance.now() - t1) / 1000;
    const refused = clients.reduce((acc, c) => addRefused(acc, c.refused), noneRefused());
    const rss = rssMb(svc.child.pid!);
    const heap = await heapMb(svc.base);
    log(`  built ${vms} VMs (${requests} requests, ${fmt(requests / seconds)}/s) in ${seconds.toFixed(2)} s; one VM p50 ${median(vmMs).toFixed(0)} ms; service RSS ${rss.toFixed(1)} MB (V8 heap ${heap ? `${heap.heapUsed.toFixed(0)} used of ${heap.heapTotal.toFixed(0)} MB` : 'unknown'})`);

    // ---- the dashboard query over the VMs ----
    const gq = clients[0];
    const first = await gq.timed('POST', '/graphql', { query: DASHBOARD_QUERY });
    const got = first.json.data?.viommus as Array<{ vdevices: unknown[] }> | undefined;
    if (!got || got.length !== vms || got.some((v) => v.vdevices.length !== DEVICES_PER_VM)) {
      throw new Error(`dashboard query: expected ${vms} vIOMMUs with ${DEVICES_PER_VM} vDEVICEs each, got ${JSON.stringify(first.json).slice(0, 300)}`);
    }
    await gq.timed('POST', '/graphql', { query: DASHBOARD_QUERY });
    const samples: number[] = [];
    for (let q = 0; q < scaled(21, 7); q++) samples.push((await gq.timed('POST', '/graphql', { query: DASHBOARD_QUERY })).ms);
    const gqRefused = { ...gq.refused };
    const p50 = median(samples);
    log(`  dashboard query over ${vms} VMs: p50 ${p50.toFixed(1)} ms, p90 ${percentile(samples, 90).toFixed(1)} ms (${samples.length} samples, ${(JSON.stringify(first.json).length / 1024).toFixed(0)} KiB)`);

    return {
      figures: [
        figure('build_1000_vms_s', seconds, 's', 'max', 15, { refused, note: `${vms} VMs, ${requests} requests, ${CLIENTS} clients` }),
        figure('rss_1000_vms_mb', rss, 'MB', 'max', 200, { note: `service RSS after the build${heap ? `; V8 heap ${heap.heapUsed.toFixed(0)} used / ${heap.heapTotal.toFixed(0)} MB` : ''}` }),
        figure('graphql_dashboard_ms', p50, 'ms', 'max', 25, { refused: gqRefused, note: `p50 of ${samples.length}, ${vms} vIOMMUs` }),
      ],
      details: {
        build: { vms, requests, seconds, requestsPerSecond: requests / seconds, vmP50Ms: median(vmMs), rssMb: rss, heapMb: heap, devices: todo.length, smmus: SMMUS },
        graphql: { samplesMs: samples.map((x) => Number(x.toFixed(2))), p50, p90: percentile(samples, 90), bytes: JSON.stringify(first.json).length },
      },
    };
  } finally {
    for (const c of clients) c.close();
    await svc.stop();
  }
}

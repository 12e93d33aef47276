/**
 * startup_100k_s, rss_100k_mb, list_scaling, op_scaling, invalidate_scaling, vcmdq_scaling.
 *
 * Three hosts seeded by bench/lib/seed.ts (same SMMUs; cached in bench/.cache/): LARGE (100,000
 * objects), SMALL (1,000) and EMPTY (no objects, only the SMMUs and their spare devices). Each
 * runs as its own service process, all three at once, so every comparison alternates between
 * them request by request (latencies) or round by round (throughput) and a slow phase of the
 * shared machine weighs on both sides of a ratio.
 *
 * - startup: LARGE started STARTS times (spawn to the first /readyz 200), the median; its RSS
 *   after the start and after a walk of every /v1/objects page with the cursor (the larger is
 *   the figure).
 * - list_scaling: p50 of one page (limit 100, the default) of every list endpoint, first page,
 *   a page from the middle of the id space (cursor), and filtered (contextId, type, smmuId), on
 *   LARGE ÷ on SMALL; the worst endpoint is the figure, every one is printed.
 * - op_scaling: p50 on LARGE ÷ p50 on SMALL of: vIOMMU create and destroy, vDEVICE create and
 *   destroy, an attach (PUT /v1/devices/{id}/attachment, replacing the nested HWPT by the nest
 *   parent and back), an invalidation of one ATC_INV naming a vSID (the vSID → StreamID lookup)
 *   — on a VM of the benches' own on a populated SMMU (the first plain one: an eighth of the VMs).
 * - invalidate_scaling, vcmdq_scaling: autocannon, 4 connections (as bench/vcmdq-vs-invalidate.ts),
 *   255 TLBI_NH_VA through POST /v1/viommus/{id}/invalidate and 256 commands through a VCMDQ
 *   (POST /v1/hw-queues/{id}/commands), on a tegra241_cmdqv VM of a CMDQV SMMU of LARGE ÷ the same
 *   on EMPTY.
 */
import path from 'node:path';
import { encodeCommand } from '../../src/hw/index.js';
import { figure, fmt, median, scaled, SCALE, type Figure } from './common.js';
import { addRefused, blast, Client, noneRefused, type BlastOptions, type BlastResult, type Refused } from './load.js';
import { seededCopy, type SeedManifest } from './seed.js';
import { heapMb, rssMb, startService, type Service } from './service.js';

const STARTS = 3;
const NESTED_STE = ['0x000000008000000b', '0x0'];
const SCALING_TARGET = 1.5;

interface Host {
  name: string;
  svc: Service;
  c: Client;
  manifest: SeedManifest;
}

/** Walks every page of /v1/objects; the ids seen (count, last). */
async function walkObjects(c: Client): Promise<{ count: number; lastId: number; pages: number; ms: number }> {
  let cursor: string | null = null;
  let count = 0;
  let lastId = 0;
  let pages = 0;
  const t = performance.now();
  do {
    const page: { items: Array<{ id: number }>; nextCursor: string | null } = await c.call('GET', `/v1/objects${cursor ? `?cursor=${cursor}` : ''}`);
    pages++;
    count += page.items.length;
    if (page.items.length > 0) lastId = page.items[page.items.length - 1].id;
    cursor = page.nextCursor;
  } while (cursor !== null);
  return { count, lastId, pages, ms: performance.now() - t };
}

function tlbiNhVa(count: number, withSync: boolean): Buffer {
  const buf = Buffer.alloc(count * 16);
  for (let i = 0; i < count; i++) {
    const o = i * 16;
    if (withSync && i === count - 1) {
      buf.writeUInt32LE(0x46, o); // CMD_SYNC, as a guest ends its batch
      continue;
    }
    buf.writeBigUInt64LE(0x0001000000000012n, o);
    buf.writeBigUInt64LE(0x0000000000000401n | (BigInt(i) << 12n), o + 8);
  }
  return buf;
}

const hex = (x: bigint) => `0x${x.toString(16)}`;

/** The benches' own plain VM for the op figures, on spare devices of SMMU `smmuId`. */
async function opVm(h: Host, smmuId: number) {
  const [a, b, cDev] = h.manifest.spares[smmuId];
  const c = h.c;
  const ctx = (await c.call('POST', '/v1/contexts', { name: 'bench-ops' })).id as number;
  for (const d of [a, b, cDev]) await c.call('POST', `/v1/contexts/${ctx}/devices`, { deviceId: d });
  const ioas = (await c.call('POST', '/v1/ioas', { contextId: ctx })).id as number;
  const parent = (await c.call('POST', '/v1/hwpts', { deviceId: a, ptId: ioas, flags: ['nest_parent'] })).id as number;
  const viommu = (await c.call('POST', '/v1/viommus', { deviceId: a, hwptId: parent, type: 'arm_smmuv3' })).id as number;
  await c.call('POST', '/v1/vdevices', { viommuId: viommu, deviceId: cDev, virtId: 0x20 });
  const nested = (await c.call('POST', '/v1/hwpts', { deviceId: a, ptId: viommu, data: { type: 'arm_smmuv3', ste: NESTED_STE } })).id as number;
  await c.call('PUT', `/v1/devices/${cDev}/attachment`, { ptId: nested });
  // ATC_INV of vSID 0x20, SSID 0, the whole ATC of the device (the vSID is replaced by its StreamID).
  const [w0, w1] = encodeCommand('ATC_INV', { SID: 0x20, SIZE: 52 });
  return { a, b, c: cDev, ctx, ioas, parent, viommu, nested, atcInv: { dataType: 'arm_smmuv3', entries: [[hex(w0), hex(w1)]] } };
}

/** The benches' own tegra241_cmdqv VM with an enabled 256-entry VCMDQ, on a CMDQV SMMU's spare device. */
async function tegraVm(h: Host) {
  const smmuId = h.manifest.cmdqvSmmus[0];
  const dev = h.manifest.spares[smmuId][0];
  const c = h.c;
  const ctx = (await c.call('POST', '/v1/contexts', { name: 'bench-vcmdq' })).id as number;
  await c.call('POST', `/v1/contexts/${ctx}/devices`, { deviceId: dev });
  const ioas = (await c.call('POST', '/v1/ioas', { contextId: ctx })).id as number;
  await c.call('POST', `/v1/ioas/${ioas}/mappings`, { iova: '0x40000000', length: '0x10000' });
  const parent = (await c.call('POST', '/v1/hwpts', { deviceId: dev, ptId: ioas, flags: ['nest_parent'] })).id as number;
  const viommu = (await c.call('POST', '/v1/viommus', { deviceId: dev, hwptId: parent, type: 'tegra241_cmdqv' })).id as number;
  const queue = (await c.call('POST', '/v1/hw-queues', { viommuId: viommu, type: 'tegra241_cmdqv', index: 0, nestingParentIova: '0x40000000', length: '0x1000' })).id as number;
  await c.call('PATCH', `/v1/hw-queues/${queue}`, { enabled: true });
  return { viommu, queue };
}

/** The first and last id of a list (the last by bisecting the cursor: ~32 one-item pages). */
async function idRange(c: Client, endpoint: string): Promise<{ first: number; last: number }> {
  const first = (await c.call('GET', `${endpoint}?limit=1`)).items[0]?.id as number | undefined;
  if (first === undefined) return { first: 0, last: 0 };
  let lo = first;
  let hi = 2 ** 32 - 1;
  while (lo < hi) {
    const m = Math.floor((lo + hi) / 2);
    if ((await c.call('GET', `${endpoint}?limit=1&cursor=${m}`)).items.length > 0) lo = m + 1;
    else hi = m;
  }
  return { first, last: lo };
}

const LIST_ENDPOINTS = ['/v1/objects', '/v1/ioas', '/v1/hwpts', '/v1/viommus', '/v1/vdevices', '/v1/eventqs', '/v1/hw-queues', '/v1/devices', '/v1/contexts'];

/** The list URLs of a host: first page, a page from the middle of the list's ids, and filtered. */
async function listUrls(h: Host): Promise<Array<{ endpoint: string; variant: string; url: string }>> {
  const c = h.c;
  const urls: Array<{ endpoint: string; variant: string; url: string }> = [];
  const add = (endpoint: string, variant: string, query: string) => urls.push({ endpoint, variant, url: `${endpoint}${query ? `?${query}` : ''}` });
  const mids = new Map<string, number>();
  for (const e of LIST_ENDPOINTS) {
    const { first, last } = await idRange(c, e);
    mids.set(e, Math.floor((first + last) / 2));
    add(e, 'first page', '');
    add(e, 'middle page', `cursor=${mids.get(e)}`);
  }
  // A VM's context from the middle of the host, and a tegra VM's (it has HW queues).
  const ctx = (await c.call('GET', `/v1/vdevices?cursor=${mids.get('/v1/vdevices')}&limit=1`)).items[0].contextId as number;
  const tctx = (await c.call('GET', `/v1/hw-queues?cursor=${mids.get('/v1/hw-queues')}&limit=1`)).items[0].contextId as number;
  add('/v1/objects', 'type=vdevice', 'type=vdevice');
  add('/v1/objects', 'type=hwpt_nested, middle', `type=hwpt_nested&cursor=${mids.get('/v1/objects')}`);
  add('/v1/objects', 'contextId', `contextId=${ctx}`);
  add('/v1/objects', 'contextId&type', `contextId=${ctx}&type=vdevice`);
  for (const e of ['/v1/ioas', '/v1/hwpts', '/v1/viommus', '/v1/vdevices', '/v1/eventqs']) add(e, 'contextId', `contextId=${ctx}`);
  add('/v1/hw-queues', 'contextId', `contextId=${tctx}`);
  add('/v1/devices', 'smmuId', `smmuId=${h.manifest.stdSmmus[0]}`);
  add('/v1/devices', 'contextId', `contextId=${ctx}`);
  return urls;
}

export async function scalingFigures(work: string, log: (s: string) => void): Promise<{ figures: Figure[]; details: Record<string, unknown> }> {
  const largeN = scaled(100_000, 2_000);
  const smallN = 1_000;
  const figures: Figure[] = [];
  const details: Record<string, unknown> = {};
  const hosts: Host[] = [];
  try {
    const mE = await seededCopy(0, path.join(work, 'empty.db'), log);
    const mS = await seededCopy(smallN, path.join(work, 'small.db'), log);
    const mL = await seededCopy(largeN, path.join(work, 'large.db'), log);
    log(`  hosts: large ${fmt(mL.objects)} objects (${fmt(mL.devices)} devices), small ${fmt(mS.objects)}, empty ${mE.objects}${mL.cached ? ' (seeds from bench/.cache)' : ''}`);

    // ---- startup and memory on LARGE ----
    const starts: number[] = [];
    let large: Service | null = null;
    for (let i = 0; i < STARTS; i++) {
      const svc = await startService(path.join(work, 'large.db'));
      starts.push(svc.readyMs / 1000);
      if (i < STARTS - 1) await svc.stop();
      else large = svc;
    }
    const L: Host = { name: 'large', svc: large!, c: new Client(large!.port), manifest: mL };
    hosts.push(L);
    const rssStart = rssMb(L.svc.child.pid!);
    const walkL = await walkObjects(L.c);
    const rssWalk = rssMb(L.svc.child.pid!);
    const heapWalk = await heapMb(L.svc.base);
    if (walkL.count !== mL.objects) throw new Error(`walk of /v1/objects on the large host: ${walkL.count} objects, seeded ${mL.objects}`);
    const startup = median(starts);
    log(`  startup on ${fmt(mL.objects)} objects: ${starts.map((s) => s.toFixed(2)).join(', ')} s; RSS ${rssStart.toFixed(1)} MB after start, ${rssWalk.toFixed(1)} MB after walking ${walkL.pages} pages (${(walkL.ms / 1000).toFixed(1)} s; V8 heap then ${heapWalk ? `${heapWalk.heapUsed.toFixed(0)} used of ${heapWalk.heapTotal.toFixed(0)} MB` : 'unknown'})`);
    figures.push(figure('startup_100k_s', startup, 's', 'max', 3, { note: `median of ${STARTS} starts (${starts.map((s) => s.toFixed(2)).join(', ')}), ${fmt(mL.objects)} objects, ${L.svc.command}` }));
    figures.push(figure('rss_100k_mb', Math.max(rssStart, rssWalk), 'MB', 'max', 250, { note: `after start ${rssStart.toFixed(0)} MB, after the walk ${rssWalk.toFixed(0)} MB` }));
    details.startup = { objects: mL.objects, devices: mL.devices, startsS: starts, rssAfterStartMb: rssStart, rssAfterWalkMb: rssWalk, heapAfterWalkMb: heapWalk, walk: walkL, command: L.svc.command };

    const sSvc = await startService(path.join(work, 'small.db'));
    const S: Host = { name: 'small', svc: sSvc, c: new Client(sSvc.port), manifest: mS };
    hosts.push(S);
    const eSvc = await startService(path.join(work, 'empty.db'));
    const E: Host = { name: 'empty', svc: eSvc, c: new Client(eSvc.port), manifest: mE };
    hosts.push(E);

    // ---- list_scaling ----
    const urlsL = await listUrls(L);
    const urlsS = await listUrls(S);
    const listSamples = scaled(100, 15);
    const perVariant: Array<{ endpoint: string; variant: string; large: number; small: number; ratio: number; items: [number, number] }> = [];
    const lat = urlsL.map(() => ({ L: [] as number[], S: [] as number[], items: [0, 0] as [number, number] }));
    for (let i = 0; i < urlsL.length; i++) {
      // Warm-up; a page that is not full on one host (a filter that selects fewer than 100 on the
      // small one, the end of a short list) is asked with that many as its limit on both.
      const nL = (await L.c.call('GET', urlsL[i].url)).items.length;
      const nS = (await S.c.call('GET', urlsS[i].url)).items.length;
      if (nL !== nS && Math.min(nL, nS) > 0) {
        const sep = urlsL[i].url.includes('?') ? '&' : '?';
        urlsL[i].url += `${sep}limit=${Math.min(nL, nS)}`;
        urlsS[i].url += `${sep}limit=${Math.min(nL, nS)}`;
        urlsL[i].variant += `, limit=${Math.min(nL, nS)}`;
      }
    }
    for (let k = 0; k < listSamples; k++) {
      for (let i = 0; i < urlsL.length; i++) {
        const first = k % 2 === 0 ? L : S;
        const second = first === L ? S : L;
        for (const h of [first, second]) {
          const u = h === L ? urlsL[i] : urlsS[i];
          const r = await h.c.timed('GET', u.url);
          (h === L ? lat[i].L : lat[i].S).push(r.ms);
          lat[i].items[h === L ? 0 : 1] = r.json.items.length;
        }
      }
    }
    for (let i = 0; i < urlsL.length; i++) {
      const l = median(lat[i].L);
      const s = median(lat[i].S);
      perVariant.push({ endpoint: urlsL[i].endpoint, variant: urlsL[i].variant, large: l, small: s, ratio: l / s, items: lat[i].items });
    }
    const worstList = perVariant.reduce((w, v) => (v.ratio > w.ratio ? v : w));
    log(`  list pages, p50 of ${listSamples} each, ${fmt(mL.objects)} ÷ ${fmt(mS.objects)} objects:`);
    for (const v of perVariant) log(`    ${`${v.endpoint} (${v.variant})`.padEnd(44)} ${v.large.toFixed(2).padStart(7)} ms ÷ ${v.small.toFixed(2).padStart(6)} ms = ${v.ratio.toFixed(2)}  [${v.items[0]} / ${v.items[1]} items]`);
    figures.push(figure('list_scaling', worstList.ratio, 'ratio', 'max', SCALING_TARGET, { refused: addRefused(L.c.refused, S.c.refused), note: `worst: ${worstList.endpoint} (${worstList.variant}) ${worstList.large.toFixed(2)} ÷ ${worstList.small.toFixed(2)} ms` }));
    details.list = perVariant.map((v) => ({ ...v, large: Number(v.large.toFixed(3)), small: Number(v.small.toFixed(3)), ratio: Number(v.ratio.toFixed(3)) }));

    // ---- op_scaling ----
    const before = { L: { ...L.c.refused }, S: { ...S.c.refused } };
    const vmL = await opVm(L, mL.stdSmmus[0]);
    const vmS = await opVm(S, mS.stdSmmus[0]);
    const opNames = ['vIOMMU create', 'vIOMMU destroy', 'vDEVICE create', 'vDEVICE destroy', 'attach', 'invalidate ATC_INV (vSID)'] as const;
    const ops = new Map<string, { L: number[]; S: number[] }>(opNames.map((n) => [n, { L: [], S: [] }]));
    const opRound = async (h: Host, vm: Awaited<ReturnType<typeof opVm>>, record: boolean) => {
      const rec = (name: string, ms: number) => record && ops.get(name)![h === L ? 'L' : 'S'].push(ms);
      const v = await h.c.timed('POST', '/v1/viommus', { deviceId: vm.a, hwptId: vm.parent, type: 'arm_smmuv3' });
      rec('vIOMMU create', v.ms);
      rec('vIOMMU destroy', (await h.c.timed('DELETE', `/v1/objects/${v.json.id}`)).ms);
      const d = await h.c.timed('POST', '/v1/vdevices', { viommuId: vm.viommu, deviceId: vm.b, virtId: 0x30 });
      rec('vDEVICE create', d.ms);
      rec('vDEVICE destroy', (await h.c.timed('DELETE', `/v1/objects/${d.json.id}`)).ms);
      rec('attach', (await h.c.timed('PUT', `/v1/devices/${vm.c}/attachment`, { ptId: vm.parent })).ms);
      rec('attach', (await h.c.timed('PUT', `/v1/devices/${vm.c}/attachment`, { ptId: vm.nested })).ms);
      const inv = await h.c.timed('POST', `/v1/viommus/${vm.viommu}/invalidate`, vm.atcInv);
      if (inv.json.entriesProcessed !== 1) throw new Error(`ATC_INV: ${JSON.stringify(inv.json)}`);
      rec('invalidate ATC_INV (vSID)', inv.ms);
    };
    for (let k = 0; k < 3; k++) {
      await opRound(L, vmL, false);
      await opRound(S, vmS, false);
    }
    const opIterations = scaled(150, 15);
    for (let k = 0; k < opIterations; k++) {
      if (k % 2 === 0) {
        await opRound(L, vmL, true);
        await opRound(S, vmS, true);
      } else {
        await opRound(S, vmS, true);
        await opRound(L, vmL, true);
      }
    }
    const opResults = opNames.map((n) => {
      const o = ops.get(n)!;
      const l = median(o.L);
      const s = median(o.S);
      return { op: n, large: l, small: s, ratio: l / s };
    });
    const worstOp = opResults.reduce((w, v) => (v.ratio > w.ratio ? v : w));
    log(`  operations, p50 of ${opIterations} each, ${fmt(mL.objects)} ÷ ${fmt(mS.objects)} objects:`);
    for (const o of opResults) log(`    ${o.op.padEnd(28)} ${o.large.toFixed(2).padStart(7)} ms ÷ ${o.small.toFixed(2).padStart(6)} ms = ${o.ratio.toFixed(2)}`);
    const opRefused: Refused = {
      '429': L.c.refused['429'] - before.L['429'] + S.c.refused['429'] - before.S['429'],
      '503': L.c.refused['503'] - before.L['503'] + S.c.refused['503'] - before.S['503'],
    };
    figures.push(figure('op_scaling', worstOp.ratio, 'ratio', 'max', SCALING_TARGET, { refused: opRefused, note: `worst: ${worstOp.op} ${worstOp.large.toFixed(2)} ÷ ${worstOp.small.toFixed(2)} ms` }));
    details.ops = opResults.map((o) => ({ ...o, large: Number(o.large.toFixed(3)), small: Number(o.small.toFixed(3)), ratio: Number(o.ratio.toFixed(3)) }));

    // ---- invalidate_scaling, vcmdq_scaling: LARGE vs EMPTY ----
    const tL = await tegraVm(L);
    const tE = await tegraVm(E);
    const vcmdqBody = tlbiNhVa(256, true);
    const invBody = tlbiNhVa(255, false);
    const amount = scaled(2000, 200);
    const rounds = 5;
    const headers = { 'content-type': 'application/octet-stream' };
    const opts = (h: Host, url: string, body: Buffer): BlastOptions => ({ url: `${h.svc.base}${url}`, method: 'POST', body, headers, connections: 4, amount });
    const paths = {
      invalidate: { L: opts(L, `/v1/viommus/${tL.viommu}/invalidate`, invBody), E: opts(E, `/v1/viommus/${tE.viommu}/invalidate`, invBody), cmds: 255 },
      vcmdq: { L: opts(L, `/v1/hw-queues/${tL.queue}/commands`, vcmdqBody), E: opts(E, `/v1/hw-queues/${tE.queue}/commands`, vcmdqBody), cmds: 256 },
    };
    for (const p of Object.values(paths)) {
      await blast({ ...p.L, amount: Math.ceil(amount / 4) });
      await blast({ ...p.E, amount: Math.ceil(amount / 4) });
    }
    const hw: Record<string, { large: number; empty: number; ratio: number; ratios: number[]; refused: Refused }> = {};
    for (const [name, p] of Object.entries(paths)) {
      const rl: number[] = [];
      const re: number[] = [];
      const ratios: number[] = [];
      let refused = noneRefused();
      for (let r = 0; r < rounds; r++) {
        let x: BlastResult;
        let y: BlastResult;
        if (r % 2 === 0) {
          x = await blast(p.L);
          y = await blast(p.E);
        } else {
          y = await blast(p.E);
          x = await blast(p.L);
        }
        refused = addRefused(refused, addRefused(x.refused, y.refused));
        if (x.ok !== amount || y.ok !== amount) throw new Error(`${name}: not every answer 2xx: ${JSON.stringify(x.statuses)} / ${JSON.stringify(y.statuses)}`);
        rl.push(x.rate * p.cmds);
        re.push(y.rate * p.cmds);
        ratios.push(x.rate / y.rate);
      }
      hw[name] = { large: median(rl), empty: median(re), ratio: median(ratios), ratios, refused };
      log(`  ${name}: ${fmt(hw[name].large)} commands/s on ${fmt(mL.objects)} objects, ${fmt(hw[name].empty)} on the empty host: ${hw[name].ratio.toFixed(3)} (rounds ${ratios.map((x) => x.toFixed(2)).join(' ')})`);
    }
    figures.push(figure('invalidate_scaling', hw.invalidate.ratio, 'ratio', 'min', 1 / SCALING_TARGET, { refused: hw.invalidate.refused, note: `${fmt(hw.invalidate.large)} vs ${fmt(hw.invalidate.empty)} commands/s; target: the 1.5× of the latencies, as throughput` }));
    figures.push(figure('vcmdq_scaling', hw.vcmdq.ratio, 'ratio', 'min', 1 / SCALING_TARGET, { refused: hw.vcmdq.refused, note: `${fmt(hw.vcmdq.large)} vs ${fmt(hw.vcmdq.empty)} commands/s` }));
    details.hwScaling = hw;
    details.scalingHosts = { large: mL.objects, small: mS.objects, empty: mE.objects, scale: SCALE };
    return { figures, details };
  } finally {
    for (const h of hosts) {
      h.c.close();
      await h.svc.stop();
    }
  }
}

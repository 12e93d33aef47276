/**
 * read_vs_bare, create_per_s, create_vs_bare: autocannon against the service (its own process,
 * fresh database) and against the bare Fastify server (its own process), same settings, rounds
 * alternating which goes first; each ratio is the median of the per-round ratios (a slow phase
 * of the shared machine then weighs on both sides of a ratio), each rate the median of the rounds.
 */
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { startBare } from './bare.js';
import { figure, fmt, median, scaled, type Figure } from './common.js';
import { addRefused, blast, Client, noneRefused, type BlastOptions, type BlastResult } from './load.js';
import { startService } from './service.js';

export const CONNECTIONS = 16;
const ROUNDS = 3;

/** A VM on the built-in topology's nic0: context, IOAS, nest parent, vIOMMU (ids). */
export async function smallVm(c: Client, name: string, deviceName = 'nic0') {
  const devices = (await c.call('GET', '/v1/devices?limit=500')).items as Array<{ id: number; name: string }>;
  const dev = devices.find((d) => d.name === deviceName)!.id;
  const ctx = (await c.call('POST', '/v1/contexts', { name })).id as number;
  await c.call('POST', `/v1/contexts/${ctx}/devices`, { deviceId: dev });
  const ioas = (await c.call('POST', '/v1/ioas', { contextId: ctx })).id as number;
  const parent = (await c.call('POST', '/v1/hwpts', { deviceId: dev, ptId: ioas, flags: ['nest_parent'] })).id as number;
  const viommu = (await c.call('POST', '/v1/viommus', { deviceId: dev, hwptId: parent, type: 'arm_smmuv3' })).id as number;
  return { ctx, dev, ioas, parent, viommu };
}

/** Rounds of A vs B, alternating which goes first: medians and per-round ratios A/B. */
async function paired(a: BlastOptions, b: BlastOptions, rounds: number, log: (s: string) => void, label: string) {
  const ra: BlastResult[] = [];
  const rb: BlastResult[] = [];
  const ratios: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let x: BlastResult;
    let y: BlastResult;
    if (r % 2 === 0) {
      x = await blast(a);
      y = await blast(b);
    } else {
      y = await blast(b);
      x = await blast(a);
    }
    ra.push(x);
    rb.push(y);
    ratios.push(x.rate / y.rate);
    log(`  ${label} round ${r + 1}: service ${fmt(x.rate)}/s, bare ${fmt(y.rate)}/s, ratio ${(x.rate / y.rate).toFixed(3)}${x.ok < (a.amount ?? 0) ? ` (${(a.amount ?? 0) - x.ok} not 2xx: ${JSON.stringify(x.statuses)})` : ''}`);
  }
  const refused = ra.reduce((acc, x) => addRefused(acc, x.refused), noneRefused());
  return { a: median(ra.map((x) => x.rate)), b: median(rb.map((x) => x.rate)), ratio: median(ratios), ratios, refused, sent: ra.reduce((n, x) => n + x.ok + Object.entries(x.statuses).filter(([s]) => !s.startsWith('2')).reduce((m, [, v]) => m + v, 0), 0), seconds: ra.reduce((n, x) => n + x.seconds, 0) };
}

export async function throughputFigures(work: string, log: (s: string) => void): Promise<{ figures: Figure[]; details: Record<string, unknown> }> {
  const readAmount = scaled(15_000, 500);
  const createAmount = scaled(10_000, 500);
  const warm = scaled(3_000, 200);
  const figures: Figure[] = [];
  const details: Record<string, unknown> = {};

  // ---- read_vs_bare: its own service process (fresh database) ----
  {
    const svc = await startService(path.join(work, 'read.db'));
    const c = new Client(svc.port);
    const { viommu } = await smallVm(c, 'bench-read');
    const viommuJson = await c.call('GET', `/v1/viommus/${viommu}`);
    const bare = await startBare({ viommu: viommuJson, ioas: {} });
    try {
      const check = await fetch(`${bare.base}/bare/viommu`).then((r) => r.json());
      if (!isDeepStrictEqual(check, viommuJson)) throw new Error('the bare route does not answer the same JSON');
      const app: BlastOptions = { url: `${svc.base}/v1/viommus/${viommu}`, connections: CONNECTIONS, amount: readAmount };
      const base: BlastOptions = { url: `${bare.base}/bare/viommu`, connections: CONNECTIONS, amount: readAmount };
      await blast({ ...app, amount: warm });
      await blast({ ...base, amount: warm });
      const r = await paired(app, base, ROUNDS, log, 'read');
      figures.push(figure('read_vs_bare', r.ratio, 'ratio', 'min', 0.6, { refused: r.refused, note: `GET /v1/viommus/{id} ${fmt(r.a)}/s vs bare ${fmt(r.b)}/s, ${CONNECTIONS} connections` }));
      details.read = { service: r.a, bare: r.b, ratios: r.ratios, requestsPerRound: readAmount, connections: CONNECTIONS, bytes: JSON.stringify(viommuJson).length, offeredPerSecond: r.sent / r.seconds };
    } finally {
      c.close();
      await bare.stop();
      await svc.stop();
    }
  }

  // ---- create_per_s, create_vs_bare: another service process (fresh database) ----
  {
    const svc = await startService(path.join(work, 'create.db'));
    const c = new Client(svc.port);
    const ctx = (await c.call('POST', '/v1/contexts', { name: 'bench-create' })).id as number;
    const sample = await c.call('POST', '/v1/ioas', { contextId: ctx });
    const bare = await startBare({ viommu: {}, ioas: sample });
    try {
      const body = JSON.stringify({ contextId: ctx });
      const headers = { 'content-type': 'application/json' };
      const app: BlastOptions = { url: `${svc.base}/v1/ioas`, method: 'POST', body, headers, connections: CONNECTIONS, amount: createAmount };
      const base: BlastOptions = { url: `${bare.base}/bare/ioas`, method: 'POST', body, headers, connections: CONNECTIONS, amount: createAmount };
      await blast({ ...app, amount: warm });
      await blast({ ...base, amount: warm });
      const r = await paired(app, base, ROUNDS, log, 'create');
      figures.push(figure('create_per_s', r.a, '/s', 'min', 3000, { refused: r.refused, note: `POST /v1/ioas, acknowledged after commit, ${CONNECTIONS} connections` }));
      figures.push(figure('create_vs_bare', r.ratio, 'ratio', 'min', 0.15, { refused: r.refused, note: `bare POST ${fmt(r.b)}/s` }));
      details.create = { service: r.a, bare: r.b, ratios: r.ratios, requestsPerRound: createAmount, connections: CONNECTIONS, offeredPerSecond: r.sent / r.seconds };
    } finally {
      c.close();
      await bare.stop();
      await svc.stop();
    }
  }
  return { figures, details };
}

/**
 * Every list endpoint, positively (api.md "Conventions": `GET /v1/<collection>?limit=&cursor=&<filters>`
 * → `{ items, nextCursor }`, stable order by id, `limit` 1..500, default 100).
 *
 * One world is built once, through the API only: in context A more than 100 of every object type
 * (IOAS, paging and nested HWPTs, vIOMMUs, vDEVICEs, vEVENTQs, HW queues) and more than 100
 * bound devices; in context B exactly one of each type; context C empty; more than 100 SMMUs,
 * devices and contexts in all. Every id the world creates is recorded with its type and
 * context, so each list is compared with the exact set it must return — never with another list.
 */
import { beforeAll, afterAll, describe, expect, it } from 'vitest';
import { deviceByName, expectProblem, expectUnchanged, listAll, must, startApp, type TestApp } from '../helper.js';

/** More than the default page: the default limit (100) must cut every collection. */
const MANY = 105;
const DEFAULT_LIMIT = 100;
const hex = (n: number | bigint) => `0x${n.toString(16)}`;

type ObjType = 'ioas' | 'hwpt_paging' | 'hwpt_nested' | 'viommu' | 'vdevice' | 'hw_queue' | 'veventq';
const OBJECT_TYPES: ObjType[] = ['ioas', 'hwpt_paging', 'hwpt_nested', 'viommu', 'vdevice', 'hw_queue', 'veventq'];

/** Each typed collection and the object types it holds. */
const TYPED_LISTS: Array<{ url: string; types: ObjType[] }> = [
  { url: '/v1/ioas', types: ['ioas'] },
  { url: '/v1/hwpts', types: ['hwpt_paging', 'hwpt_nested'] },
  { url: '/v1/viommus', types: ['viommu'] },
  { url: '/v1/vdevices', types: ['vdevice'] },
  { url: '/v1/eventqs', types: ['veventq'] },
  { url: '/v1/hw-queues', types: ['hw_queue'] },
];

let t: TestApp;
/** Every object the world created: id → type and context. */
const objects = new Map<number, { type: ObjType; ctx: number }>();
const smmuIds: number[] = [];
const deviceIds: number[] = [];
const contextIds: number[] = [];
/** Devices per SMMU and per context (bound), as created. */
const devicesBySmmu = new Map<number, number[]>();
const boundTo = new Map<number, number>();
/** Devices attached (to the auto HWPT of an IOAS), and that HWPT. */
const attachedTo = new Map<number, number>();
let ctxA = 0;
let ctxB = 0;
let ctxC = 0;
let bigSmmu = 0;
let queueSmmu = 0;
/** IOAS of context A with several mappings, and the mappings as created. */
let mappedIoas = 0;
let otherMappedIoas = 0;
const createdMappings: Array<{ iova: string; length: string; hostAddress: string; read: boolean; write: boolean }> = [];

const sortNum = (a: number, b: number) => a - b;
const idsOf = (items: Array<{ id: number }>) => items.map((x) => x.id);
const expectedObjects = (pred: (o: { type: ObjType; ctx: number }) => boolean) =>
  [...objects].filter(([, o]) => pred(o)).map(([id]) => id).sort(sortNum);

function record(body: { id: number; type: ObjType; contextId: number }): number {
  expect(OBJECT_TYPES).toContain(body.type);
  objects.set(body.id, { type: body.type, ctx: body.contextId });
  return body.id;
}

async function createContext(name: string): Promise<number> {
  const id = must(await t.req('POST', '/v1/contexts', { name }), 201).id;
  contextIds.push(id);
  return id;
}

async function createDevice(name: string, smmuId: number, streamId: number): Promise<number> {
  const id = must(await t.req('POST', '/v1/devices', { name, smmuId, streamId }), 201).id;
  deviceIds.push(id);
  devicesBySmmu.set(smmuId, [...(devicesBySmmu.get(smmuId) ?? []), id]);
  return id;
}

async function bind(ctx: number, dev: number): Promise<void> {
  must(await t.req('POST', `/v1/contexts/${ctx}/devices`, { deviceId: dev }), 201);
  boundTo.set(dev, ctx);
}

/** PUT attachment to an IOAS: records the auto HWPT it creates (its id is the device's attachedTo). */
async function attachToIoas(dev: number, ioas: number, ctx: number): Promise<void> {
  const d = must(await t.req('PUT', `/v1/devices/${dev}/attachment`, { ptId: ioas }), 200);
  objects.set(d.attachedTo, { type: 'hwpt_paging', ctx });
  attachedTo.set(dev, d.attachedTo);
}

/** One of each object type in `ctx`, on the built-in SMMUs (nic0 on smmu0, nic1 on the CMDQV smmu1). */
async function oneOfEach(ctx: number, armDev: number, tegraDev: number): Promise<void> {
  await bind(ctx, armDev);
  await bind(ctx, tegraDev);
  const ioas = record(must(await t.req('POST', '/v1/ioas', { contextId: ctx }), 201));
  await attachToIoas(armDev, ioas, ctx);
  const parent = record(must(await t.req('POST', '/v1/hwpts', { deviceId: armDev, ptId: ioas, flags: ['nest_parent'] }), 201));
  const viommu = record(must(await t.req('POST', '/v1/viommus', { deviceId: armDev, hwptId: parent, type: 'arm_smmuv3' }), 201));
  record(must(await t.req('POST', '/v1/vdevices', { viommuId: viommu, deviceId: armDev, virtId: 0x42 }), 201));
  record(must(await t.req('POST', '/v1/hwpts', { deviceId: armDev, ptId: viommu, data: { type: 'arm_smmuv3', ste: ['0x9', '0x0'] } }), 201));
  record(must(await t.req('POST', '/v1/eventqs', { viommuId: viommu, type: 'arm_smmuv3', depth: 4 }), 201));
  // The Tegra241 side: its own nest parent (tegraDev is on smmu1), vIOMMU and one HW queue.
  const tparent = record(must(await t.req('POST', '/v1/hwpts', { deviceId: tegraDev, ptId: ioas, flags: ['nest_parent'] }), 201));
  const tviommu = record(must(await t.req('POST', '/v1/viommus', { deviceId: tegraDev, hwptId: tparent, type: 'tegra241_cmdqv' }), 201));
  must(await t.req('POST', `/v1/ioas/${ioas}/mappings`, { iova: '0x40000000', length: '0x1000' }), 201);
  record(must(await t.req('POST', '/v1/hw-queues', { viommuId: tviommu, type: 'tegra241_cmdqv', index: 0, nestingParentIova: '0x40000000', length: '0x1000' }), 201));
}

beforeAll(async () => {
  t = await startApp();
  for (const s of (await t.req('GET', '/v1/smmus?limit=500')).body.items) smmuIds.push(s.id);
  for (const d of (await t.req('GET', '/v1/devices?limit=500')).body.items) {
    deviceIds.push(d.id);
    devicesBySmmu.set(d.smmuId, [...(devicesBySmmu.get(d.smmuId) ?? []), d.id]);
  }
  expect(smmuIds).toHaveLength(2);
  expect(deviceIds).toHaveLength(8);

  ctxA = await createContext('ctx-a');
  ctxB = await createContext('ctx-b');
  ctxC = await createContext('ctx-c');
  for (let i = 0; i < MANY; i++) await createContext(`filler-${i}`);

  // SMMUs: one for the many devices of context A, one with a CMDQV of 128 VCMDQs per VINTF for
  // the many HW queues, and enough empty ones to pass the default page.
  bigSmmu = must(await t.req('POST', '/v1/smmus', { name: 'big' }), 201).id;
  queueSmmu = must(await t.req('POST', '/v1/smmus', { name: 'queues', cmdqv: { vintfs: 2, vcmdqsPerVintf: 128, sidsPerVintf: 16 } }), 201).id;
  smmuIds.push(bigSmmu, queueSmmu);
  for (let i = 0; i < MANY; i++) smmuIds.push(must(await t.req('POST', '/v1/smmus', { name: `empty-${i}` }), 201).id);

  // Context A: MANY bound devices on `big`, one on `queues`.
  const devA: number[] = [];
  for (let i = 0; i < MANY; i++) {
    const d = await createDevice(`a-dev-${i}`, bigSmmu, 0x10 + i);
    await bind(ctxA, d);
    devA.push(d);
  }
  const qdev = await createDevice('a-qdev', queueSmmu, 0x10);
  await bind(ctxA, qdev);
  // Two unbound devices on the `queues` SMMU: the smmuId filter must list unbound ones too.
  await createDevice('free-0', queueSmmu, 0x11);
  await createDevice('free-1', queueSmmu, 0x12);

  // IOAS.
  const ioasA: number[] = [];
  for (let i = 0; i < MANY; i++) ioasA.push(record(must(await t.req('POST', '/v1/ioas', { contextId: ctxA }), 201)));
  // Paging HWPTs: the auto one of the attach, then MANY allocated on the first IOAS (one a nest parent).
  await attachToIoas(devA[0], ioasA[0], ctxA);
  const parent = record(must(await t.req('POST', '/v1/hwpts', { deviceId: devA[0], ptId: ioasA[0], flags: ['nest_parent'] }), 201));
  for (let i = 1; i < MANY; i++) record(must(await t.req('POST', '/v1/hwpts', { deviceId: devA[i % devA.length], ptId: ioasA[i % 7] }), 201));
  // vIOMMUs, each with its arm_smmuv3 vEVENTQ.
  const viommus: number[] = [];
  for (let i = 0; i < MANY; i++) viommus.push(record(must(await t.req('POST', '/v1/viommus', { deviceId: devA[0], hwptId: parent, type: 'arm_smmuv3' }), 201)));
  for (const v of viommus) record(must(await t.req('POST', '/v1/eventqs', { viommuId: v, type: 'arm_smmuv3', depth: 1 }), 201));
  // vDEVICEs: one per device, all on the first vIOMMU.
  for (let i = 0; i < MANY; i++) record(must(await t.req('POST', '/v1/vdevices', { viommuId: viommus[0], deviceId: devA[i], virtId: 0x1000 + i }), 201));
  // Nested HWPTs (abort and bypass need no vDEVICE attach).
  for (const ste of ['0x1', '0x9', '0x0']) record(must(await t.req('POST', '/v1/hwpts', { deviceId: devA[1], ptId: viommus[1], data: { type: 'arm_smmuv3', ste: [ste, '0x0'] } }), 201));
  // HW queues: a Tegra241 vIOMMU on `queues`, MANY queues of 4 KiB in ascending index order.
  const qparent = record(must(await t.req('POST', '/v1/hwpts', { deviceId: qdev, ptId: ioasA[1], flags: ['nest_parent'] }), 201));
  const tviommu = record(must(await t.req('POST', '/v1/viommus', { deviceId: qdev, hwptId: qparent, type: 'tegra241_cmdqv' }), 201));
  must(await t.req('POST', `/v1/ioas/${ioasA[1]}/mappings`, { iova: '0x100000', length: hex(MANY * 0x1000) }), 201);
  for (let i = 0; i < MANY; i++) {
    record(must(await t.req('POST', '/v1/hw-queues', { viommuId: tviommu, type: 'tegra241_cmdqv', index: i, nestingParentIova: hex(0x100000 + i * 0x1000), length: '0x1000' }), 201));
  }

  // Mappings of one IOAS, created out of iova order, one read-only and one write-only; another
  // IOAS has its own mapping that must not show up in the first one's list.
  mappedIoas = ioasA[2];
  otherMappedIoas = ioasA[3];
  for (const m of [
    { iova: '0x300000', length: '0x2000', read: true, write: false },
    { iova: '0x100000', length: '0x1000', read: true, write: true },
    { iova: '0x200000', length: '0x4000', read: false, write: true },
  ]) {
    const res = must(await t.req('POST', `/v1/ioas/${mappedIoas}/mappings`, m), 201);
    createdMappings.push({ ...m, hostAddress: res.hostAddress });
  }
  must(await t.req('POST', `/v1/ioas/${otherMappedIoas}/mappings`, { iova: '0x100000', length: '0x1000' }), 201);

  // Context B: exactly one object of each type.
  await oneOfEach(ctxB, (await deviceByName(t, 'nic0')).id, (await deviceByName(t, 'nic1')).id);
}, 300_000);

afterAll(async () => {
  await t?.close();
});

/**
 * GET /v1/devices/{id}: the device's list view plus `host` (what the host driver programmed),
 * which list items leave out. In this world a device is either attached to the auto HWPT of an
 * IOAS — a stage-1 domain on these SMMUs, so a CD-table STE whose CD at SSID 0 is that HWPT's —
 * or attached to nothing (an abort STE, no CD table).
 */
async function deviceDetail(id: number): Promise<{ view: Record<string, unknown>; host: any }> {
  const { host, ...view } = must(await t.req('GET', `/v1/devices/${id}`), 200);
  expect(host.ste, `device ${id} STE`).toHaveLength(8);
  for (const w of host.ste) expect(w).toMatch(/^0x[0-9a-f]{16}$/);
  if (view.attachedTo === null) {
    expect(host, `device ${id}`).toMatchObject({ config: 'abort', cdTable: null });
  } else {
    expect(host.config, `device ${id}`).toBe('s1_translate');
    expect(host.cdTable, `device ${id}`).toMatchObject({ s1dss: 'ssid0', cds: [{ ssid: 0, hwptId: view.attachedTo }] });
  }
  return { view, host };
}

/** The items of one GET, which must succeed with `{ items, nextCursor }`. */
async function page(url: string): Promise<{ items: any[]; nextCursor: string | null }> {
  const res = must(await t.req('GET', url), 200);
  expect(Object.keys(res).sort()).toEqual(['items', 'nextCursor']);
  expect(Array.isArray(res.items)).toBe(true);
  return res;
}

/** Walks `url` with `limit` per page; asserts every page's size and returns every item in order. */
async function walk(url: string, limit: number): Promise<{ items: any[]; pages: number }> {
  const sep = url.includes('?') ? '&' : '?';
  const items: any[] = [];
  let cursor: string | null = null;
  let pages = 0;
  for (;;) {
    const p = await page(`${url}${sep}limit=${limit}${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`);
    pages++;
    expect(p.items.length).toBeLessThanOrEqual(limit);
    items.push(...p.items);
    if (p.nextCursor === null) break;
    // Only a full page may point further.
    expect(p.items).toHaveLength(limit);
    expect(typeof p.nextCursor).toBe('string');
    cursor = p.nextCursor;
    expect(pages).toBeLessThan(2000);
  }
  return { items, pages };
}

function expectIdOrder(items: Array<{ id: number }>): void {
  const ids = idsOf(items);
  for (let i = 1; i < ids.length; i++) expect(ids[i], `item ${i} of ${ids.join(',')}`).toBeGreaterThan(ids[i - 1]);
}

/** Every list endpoint with the ids it must return, unfiltered. */
function allLists(): Array<{ url: string; ids: number[] }> {
  return [
    { url: '/v1/smmus', ids: [...smmuIds].sort(sortNum) },
    { url: '/v1/devices', ids: [...deviceIds].sort(sortNum) },
    { url: '/v1/contexts', ids: [...contextIds].sort(sortNum) },
    { url: '/v1/objects', ids: expectedObjects(() => true) },
    ...TYPED_LISTS.map((l) => ({ url: l.url, ids: expectedObjects((o) => l.types.includes(o.type)) })),
    { url: `/v1/contexts/${ctxA}/devices`, ids: [...boundTo].filter(([, c]) => c === ctxA).map(([d]) => d).sort(sortNum) },
  ];
}

describe('lists: each collection returns exactly its own items', () => {
  it('lists: the world has more than 100 of every collection, so the default page cannot hold any of them', () => {
    for (const l of allLists()) expect(l.ids.length, l.url).toBeGreaterThan(DEFAULT_LIMIT);
    for (const type of OBJECT_TYPES) expect(expectedObjects((o) => o.type === type).length, type).toBeGreaterThan(0);
  });

  it('lists: GET /v1/smmus returns every SMMU (built-in and created) and nothing else, each as GET /v1/smmus/{id} shows it', async () => {
    const items = await listAll(t, '/v1/smmus');
    expect(idsOf(items)).toEqual([...smmuIds].sort(sortNum));
    for (const s of items) {
      expect(s.type).toBeUndefined();
      expect(s).toEqual(must(await t.req('GET', `/v1/smmus/${s.id}`), 200));
    }
  });

  it('lists: GET /v1/devices returns every device (bound or not) and nothing else, each as GET /v1/devices/{id} shows it (without its host configuration)', async () => {
    const items = await listAll(t, '/v1/devices');
    expect(idsOf(items)).toEqual([...deviceIds].sort(sortNum));
    for (const d of items) {
      expect(d.type).toBeUndefined();
      expect(d.host).toBeUndefined();
      expect(d).toEqual((await deviceDetail(d.id)).view);
      expect(d.contextId).toBe(boundTo.get(d.id) ?? null);
      expect(d.attachedTo).toBe(attachedTo.get(d.id) ?? null);
    }
  });

  it('lists: GET /v1/contexts returns every context and nothing else, each as GET /v1/contexts/{id} shows it', async () => {
    const items = await listAll(t, '/v1/contexts');
    expect(idsOf(items)).toEqual([...contextIds].sort(sortNum));
    for (const c of items) expect(c).toEqual(must(await t.req('GET', `/v1/contexts/${c.id}`), 200));
  });

  it('lists: GET /v1/objects returns every object of every type and context, each as GET /v1/objects/{id} shows it', async () => {
    const items = await listAll(t, '/v1/objects');
    expect(idsOf(items)).toEqual(expectedObjects(() => true));
    for (const o of items) {
      expect(o.type).toBe(objects.get(o.id)?.type);
      expect(o.contextId).toBe(objects.get(o.id)?.ctx);
    }
    const sample = items.filter((_o, i) => i % 10 === 0 || items[i - 1]?.type !== _o.type);
    for (const o of sample) expect(o).toEqual(must(await t.req('GET', `/v1/objects/${o.id}`), 200));
  });

  for (const l of TYPED_LISTS) {
    it(`lists: GET ${l.url} returns only ${l.types.join(' and ')} objects — all of them, from every context`, async () => {
      const items = await listAll(t, l.url);
      expect(idsOf(items)).toEqual(expectedObjects((o) => l.types.includes(o.type)));
      for (const type of l.types) expect(items.some((o) => o.type === type), `${l.url} has a ${type}`).toBe(true);
      for (const o of items) {
        expect(l.types).toContain(o.type);
        expect(o.contextId).toBe(objects.get(o.id)?.ctx);
      }
      // Each item is the object's own view (the same as GET /v1/objects/{id}).
      for (const o of items.filter((_o, i) => i % 20 === 0 || i === items.length - 1)) expect(o).toEqual(must(await t.req('GET', `/v1/objects/${o.id}`), 200));
    });
  }

  it('lists: the typed collections partition GET /v1/objects (disjoint, and together every object)', async () => {
    const all = idsOf(await listAll(t, '/v1/objects'));
    const parts = await Promise.all(TYPED_LISTS.map(async (l) => idsOf(await listAll(t, l.url))));
    expect(parts.flat().sort(sortNum)).toEqual(all);
    // Inventory ids never appear among objects (one id space, different collections).
    const inventory = new Set([...smmuIds, ...deviceIds, ...contextIds]);
    expect(all.filter((id) => inventory.has(id))).toEqual([]);
  });

  it('lists: GET /v1/contexts/{id}/devices returns exactly the devices bound to that context, each as GET /v1/devices/{id} shows it (without its host configuration)', async () => {
    for (const ctx of [ctxA, ctxB, ctxC]) {
      const items = await listAll(t, `/v1/contexts/${ctx}/devices`);
      expect(idsOf(items), `context ${ctx}`).toEqual([...boundTo].filter(([, c]) => c === ctx).map(([d]) => d).sort(sortNum));
      for (const d of items) {
        expect(d.host).toBeUndefined();
        expect(d).toEqual((await deviceDetail(d.id)).view);
      }
    }
    expect((await listAll(t, `/v1/contexts/${ctxB}/devices`)).map((d) => d.name)).toEqual(['nic0', 'nic1']);
  });

  it('lists: GET /v1/ioas/{id}/mappings returns exactly that IOAS\'s mappings in iova order, with their permissions and host addresses', async () => {
    const res = must(await t.req('GET', `/v1/ioas/${mappedIoas}/mappings`), 200);
    const expected = [...createdMappings].sort((a, b) => Number(BigInt(a.iova) - BigInt(b.iova)));
    expect(res.items).toEqual(expected);
    expect(must(await t.req('GET', `/v1/ioas/${otherMappedIoas}/mappings`), 200).items).toEqual([
      { iova: '0x100000', length: '0x1000', hostAddress: expect.stringMatching(/^0x[0-9a-f]+$/), read: true, write: true },
    ]);
    // An IOAS without mappings lists none; a non-IOAS id is ENOENT.
    const bare = expectedObjects((o) => o.type === 'ioas' && o.ctx === ctxA).at(-1)!;
    expect(must(await t.req('GET', `/v1/ioas/${bare}/mappings`), 200)).toEqual({ items: [], nextCursor: null });
    expectProblem(await t.req('GET', `/v1/ioas/${expectedObjects((o) => o.type === 'viommu')[0]}/mappings`), 'ENOENT', 404);
  });
});

describe('lists: an IOAS\'s mappings are a list like the others (api.md "Lists")', () => {
  it('lists: GET /v1/ioas/{id}/mappings pages by IOVA — default 100, limit, cursor (the last IOVA), nextCursor null on the last page', async () => {
    const m = await startApp();
    try {
      const ctx = must(await m.req('POST', '/v1/contexts', { name: 'maps' }), 201).id;
      const ioas = must(await m.req('POST', '/v1/ioas', { contextId: ctx }), 201).id;
      // 103 mappings, created out of IOVA order.
      const iovas = Array.from({ length: 103 }, (_, i) => ((i * 37) % 103) * 0x2000 + 0x100000);
      for (const iova of iovas) must(await m.req('POST', `/v1/ioas/${ioas}/mappings`, { iova: `0x${iova.toString(16)}`, length: '0x1000' }), 201);
      const sorted = [...iovas].sort((a, b) => a - b).map((v) => `0x${v.toString(16)}`);
      const first = must(await m.req('GET', `/v1/ioas/${ioas}/mappings`), 200);
      expect(first.items.map((x: { iova: string }) => x.iova)).toEqual(sorted.slice(0, 100));
      expect(first.nextCursor).toBe(sorted[99]);
      const rest = must(await m.req('GET', `/v1/ioas/${ioas}/mappings?cursor=${first.nextCursor}`), 200);
      expect(rest).toEqual({ items: expect.any(Array), nextCursor: null });
      expect(rest.items.map((x: { iova: string }) => x.iova)).toEqual(sorted.slice(100));
      // Pages of 7 with the cursor: every mapping once, in order.
      const walked: string[] = [];
      let cursor: string | null = null;
      do {
        const page: { items: Array<{ iova: string }>; nextCursor: string | null } = must(await m.req('GET', `/v1/ioas/${ioas}/mappings?limit=7${cursor ? `&cursor=${cursor}` : ''}`), 200);
        expect(page.items.length).toBeLessThanOrEqual(7);
        walked.push(...page.items.map((x) => x.iova));
        cursor = page.nextCursor;
      } while (cursor !== null);
      expect(walked).toEqual(sorted);
      // A page that ends exactly at the last mapping has no next cursor.
      expect(must(await m.req('GET', `/v1/ioas/${ioas}/mappings?limit=3&cursor=${sorted[99]}`), 200).nextCursor).toBeNull();
      // Malformed paging is EINVAL and changes nothing; a cursor past the end is an empty last page.
      await expectUnchanged(m, async () => {
        for (const q of ['limit=0', 'limit=501', 'limit=x', 'cursor=5', 'cursor=0xZZ', 'cursor=0X10', `cursor=0x${'1'.repeat(17)}`, 'cursor=', 'iova=0x1000']) {
          expectProblem(await m.req('GET', `/v1/ioas/${ioas}/mappings?${q}`), 'EINVAL', 400);
        }
      });
      expect(must(await m.req('GET', `/v1/ioas/${ioas}/mappings?cursor=0xffffffffffffffff`), 200)).toEqual({ items: [], nextCursor: null });
    } finally {
      await m.close();
    }
  }, 60_000);
});

describe('lists: filters', () => {
  it('lists: GET /v1/objects?type= returns exactly the objects of that type, for each of the seven types', async () => {
    for (const type of OBJECT_TYPES) {
      const items = await listAll(t, `/v1/objects?type=${type}`);
      expect(idsOf(items), type).toEqual(expectedObjects((o) => o.type === type));
      for (const o of items) expect(o.type).toBe(type);
    }
  });

  it('lists: contextId filters /v1/objects and every typed collection to that context (one of each type in B, none in C)', async () => {
    for (const url of ['/v1/objects', ...TYPED_LISTS.map((l) => l.url)]) {
      const types = TYPED_LISTS.find((l) => l.url === url)?.types ?? OBJECT_TYPES;
      for (const ctx of [ctxA, ctxB, ctxC]) {
        const items = await listAll(t, `${url}?contextId=${ctx}`);
        expect(idsOf(items), `${url}?contextId=${ctx}`).toEqual(expectedObjects((o) => o.ctx === ctx && types.includes(o.type)));
        for (const o of items) expect(o.contextId).toBe(ctx);
      }
    }
    // B holds one object of each type (and the auto HWPT of its attach, and a second nest parent).
    const b = await listAll(t, `/v1/objects?contextId=${ctxB}`);
    expect([...new Set(b.map((o) => o.type))].sort()).toEqual([...OBJECT_TYPES].sort());
    expect(await listAll(t, `/v1/objects?contextId=${ctxC}`)).toEqual([]);
  });

  it('lists: contextId and type combine on /v1/objects', async () => {
    for (const type of OBJECT_TYPES) {
      for (const ctx of [ctxA, ctxB, ctxC]) {
        const items = await listAll(t, `/v1/objects?contextId=${ctx}&type=${type}`);
        expect(idsOf(items), `${type} in ${ctx}`).toEqual(expectedObjects((o) => o.ctx === ctx && o.type === type));
      }
    }
  });

  it('lists: GET /v1/devices?smmuId= returns exactly the devices behind that SMMU, bound or not', async () => {
    for (const smmu of smmuIds.slice(0, 6)) {
      const items = await listAll(t, `/v1/devices?smmuId=${smmu}`);
      expect(idsOf(items), `smmu ${smmu}`).toEqual([...(devicesBySmmu.get(smmu) ?? [])].sort(sortNum));
      for (const d of items) expect(d.smmuId).toBe(smmu);
    }
    expect(idsOf(await listAll(t, `/v1/devices?smmuId=${queueSmmu}`))).toHaveLength(3);
  });

  it('lists: GET /v1/devices?contextId= returns exactly the devices bound to that context; smmuId and contextId combine', async () => {
    for (const ctx of [ctxA, ctxB, ctxC]) {
      const items = await listAll(t, `/v1/devices?contextId=${ctx}`);
      expect(idsOf(items), `context ${ctx}`).toEqual([...boundTo].filter(([, c]) => c === ctx).map(([d]) => d).sort(sortNum));
      for (const d of items) expect(d.contextId).toBe(ctx);
    }
    const both = await listAll(t, `/v1/devices?contextId=${ctxA}&smmuId=${queueSmmu}`);
    expect(both.map((d) => d.name)).toEqual(['a-qdev']);
    expect(await listAll(t, `/v1/devices?contextId=${ctxB}&smmuId=${bigSmmu}`)).toEqual([]);
  });
});

describe('lists: filter validation', () => {
  it('lists: a malformed filter — type not an object type, contextId or smmuId 0 or not a number — is EINVAL', async () => {
    for (const url of ['/v1/objects?type=device', '/v1/objects?type=IOAS', '/v1/objects?contextId=0', '/v1/objects?contextId=x', '/v1/ioas?contextId=0', '/v1/hw-queues?contextId=-1', '/v1/devices?smmuId=0', '/v1/devices?contextId=abc']) {
      expectProblem(await t.req('GET', url), 'EINVAL', 400);
    }
  });
});

describe('lists: paging', () => {
  it('lists: without a limit every collection answers the first 100 items in id order and a cursor to the rest (default limit 100)', async () => {
    for (const l of allLists()) {
      const first = await page(l.url);
      expect(first.items, l.url).toHaveLength(DEFAULT_LIMIT);
      expect(idsOf(first.items), l.url).toEqual(l.ids.slice(0, DEFAULT_LIMIT));
      expect(first.nextCursor, l.url).not.toBeNull();
      const rest = await page(`${l.url}?cursor=${encodeURIComponent(first.nextCursor!)}`);
      expect(idsOf(rest.items), `${l.url} page 2`).toEqual(l.ids.slice(DEFAULT_LIMIT, 2 * DEFAULT_LIMIT));
      if (l.ids.length <= 2 * DEFAULT_LIMIT) expect(rest.nextCursor, `${l.url} page 2`).toBeNull();
    }
  });

  it('lists: a filtered collection pages with the default limit too (contextId, type, smmuId)', async () => {
    for (const [url, ids] of [
      [`/v1/objects?contextId=${ctxA}&type=ioas`, expectedObjects((o) => o.ctx === ctxA && o.type === 'ioas')],
      [`/v1/hw-queues?contextId=${ctxA}`, expectedObjects((o) => o.ctx === ctxA && o.type === 'hw_queue')],
      [`/v1/devices?smmuId=${bigSmmu}`, [...(devicesBySmmu.get(bigSmmu) ?? [])].sort(sortNum)],
    ] as Array<[string, number[]]>) {
      expect(ids.length).toBeGreaterThan(DEFAULT_LIMIT);
      const first = await page(url);
      expect(idsOf(first.items), url).toEqual(ids.slice(0, DEFAULT_LIMIT));
      expect(first.nextCursor).not.toBeNull();
      const rest = await page(`${url}&cursor=${encodeURIComponent(first.nextCursor!)}`);
      expect(idsOf(rest.items), `${url} page 2`).toEqual(ids.slice(DEFAULT_LIMIT));
      expect(rest.nextCursor).toBeNull();
    }
  });

  it('lists: walking every collection with a small limit visits every item once, in id order, without gaps', async () => {
    for (const l of allLists()) {
      for (const limit of [7, 50]) {
        const { items, pages } = await walk(l.url, limit);
        expect(idsOf(items), `${l.url} limit ${limit}`).toEqual(l.ids);
        expectIdOrder(items);
        expect(pages).toBeGreaterThanOrEqual(Math.ceil(l.ids.length / limit));
      }
    }
  });

  it('lists: walking filtered collections (contextId, type, smmuId, both) visits exactly the filtered items in id order', async () => {
    const cases: Array<[string, number[]]> = [
      [`/v1/objects?contextId=${ctxA}`, expectedObjects((o) => o.ctx === ctxA)],
      [`/v1/objects?type=hwpt_paging`, expectedObjects((o) => o.type === 'hwpt_paging')],
      [`/v1/objects?contextId=${ctxB}&type=hwpt_paging`, expectedObjects((o) => o.ctx === ctxB && o.type === 'hwpt_paging')],
      [`/v1/hwpts?contextId=${ctxB}`, expectedObjects((o) => o.ctx === ctxB && (o.type === 'hwpt_paging' || o.type === 'hwpt_nested'))],
      [`/v1/vdevices?contextId=${ctxA}`, expectedObjects((o) => o.ctx === ctxA && o.type === 'vdevice')],
      [`/v1/devices?smmuId=${bigSmmu}&contextId=${ctxA}`, [...(devicesBySmmu.get(bigSmmu) ?? [])].sort(sortNum)],
    ];
    for (const [url, ids] of cases) {
      for (const limit of [1, 3, 11]) {
        if (limit === 1 && ids.length > 20) continue;
        const { items } = await walk(url, limit);
        expect(idsOf(items), `${url} limit ${limit}`).toEqual(ids);
      }
    }
  });

  it('lists: limit=1 and limit=500 are accepted on every collection; 500 returns up to 500 items', async () => {
    for (const l of allLists()) {
      const one = await page(`${l.url}?limit=1`);
      expect(idsOf(one.items), l.url).toEqual(l.ids.slice(0, 1));
      expect(one.nextCursor).not.toBeNull();
      const max = await page(`${l.url}?limit=500`);
      expect(idsOf(max.items), l.url).toEqual(l.ids.slice(0, 500));
      if (l.ids.length <= 500) expect(max.nextCursor, l.url).toBeNull();
    }
  });

  it('lists: limit 0, 501, a negative or non-numeric limit, and a cursor the service never returned are EINVAL on every collection', async () => {
    for (const l of allLists()) {
      for (const q of ['limit=0', 'limit=501', 'limit=-1', 'limit=abc', 'limit=1.5', 'cursor=abc', 'cursor=-5']) {
        expectProblem(await t.req('GET', `${l.url}?${q}`), 'EINVAL', 400);
      }
    }
  });

  it('lists: a walk stays exact when items are destroyed and created between pages (the cursor is a position in id order)', async () => {
    const ctx = must(await t.req('POST', '/v1/contexts', { name: 'walker' }), 201).id;
    const ids: number[] = [];
    for (let i = 0; i < 12; i++) ids.push(must(await t.req('POST', '/v1/ioas', { contextId: ctx }), 201).id);
    const url = `/v1/ioas?contextId=${ctx}&limit=5`;
    const first = await page(url);
    expect(idsOf(first.items)).toEqual(ids.slice(0, 5));
    // Destroy the last item of the page (the one the cursor follows) and one not yet read; create one.
    must(await t.req('DELETE', `/v1/objects/${ids[4]}`), 204);
    must(await t.req('DELETE', `/v1/objects/${ids[6]}`), 204);
    const added = must(await t.req('POST', '/v1/ioas', { contextId: ctx }), 201).id;
    const second = await page(`${url}&cursor=${encodeURIComponent(first.nextCursor!)}`);
    expect(idsOf(second.items)).toEqual([ids[5], ids[7], ids[8], ids[9], ids[10]]);
    const third = await page(`${url}&cursor=${encodeURIComponent(second.nextCursor!)}`);
    expect(idsOf(third.items)).toEqual([ids[11], added]);
    expect(third.nextCursor).toBeNull();
    must(await t.req('DELETE', `/v1/contexts/${ctx}`), 200);
  });
});

/**
 * GraphQL's writes and lists against REST's (api.md "GraphQL": a mutation for every write): the
 * same answer for the same operation, the same errno and status when it is refused, and a refused
 * mutation changes nothing. GraphQL ids are `ID`s (strings); `rest()` reads them back as numbers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildViommu, expectUnchanged, must, startApp, type Graph, type Res, type TestApp } from '../helper.js';

const A = 0x40000000;
const hex = (n: number) => `0x${n.toString(16)}`;

/** Fields that are ids: GraphQL serializes them as strings. */
const ID_FIELDS = new Set(['id', 'contextId', 'deviceId', 'viommuId', 'hwptId', 'ioasId', 'eventqId', 'smmuId', 'attachedTo']);
/** A GraphQL answer with its id strings as the numbers REST answers. */
function rest(v: unknown): any {
  if (Array.isArray(v)) return v.map(rest);
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, ID_FIELDS.has(k) && typeof x === 'string' ? Number(x) : rest(x)]));
}
/** `whole` cut to the keys of `part` (GraphQL selects fields; REST answers all of them). */
const pick = (whole: Record<string, unknown>, part: Record<string, unknown>) => Object.fromEntries(Object.keys(part).map((k) => [k, whole[k]]));

/** A GraphQL error's errno and status, or REST's problem's. */
const gqlErr = (res: any) => ({ errno: res.errors?.[0]?.extensions?.errno, status: res.errors?.[0]?.extensions?.status });
const restErr = (res: Res) => ({ errno: res.body?.errno, status: res.status });

const HW_QUEUE = 'id type contextId viommuId queueType index nestingParentIova length base log2Size prod cons consIndex enabled gerror gerrorn stopped error';
const EVENTQ = 'id type contextId viommuId eventqType depth pending nextSequence';
const EVENT = 'sequence flags lostEvents record decoded { __typename ... on ArmSmmuv3Event { type name fields { SID SSID CLASS ADDR IPA } } ... on Tegra241Event { lvcmdqErrMap } }';
const RUN = 'consumed prod cons error { code index opcode }';

let t: TestApp;
/** A tegra241_cmdqv vIOMMU (smmu1) with guest RAM at A, and an arm_smmuv3 one (smmu0). */
let tg: Graph;
let arm: Graph;
beforeAll(async () => {
  t = await startApp();
  tg = await buildViommu(t, { device: 'nic1', type: 'tegra241_cmdqv' });
  must(await t.req('POST', `/v1/ioas/${tg.ioas}/mappings`, { iova: hex(A), length: '0x10000' }), 201);
  must(await t.req('POST', '/v1/vdevices', { viommuId: tg.viommu, deviceId: tg.dev, virtId: 0x10 }), 201);
  arm = await buildViommu(t, { device: 'nic0' });
  must(await t.req('POST', `/v1/ioas/${arm.ioas}/mappings`, { iova: hex(A), length: '0x10000' }), 201);
  must(await t.req('POST', '/v1/vdevices', { viommuId: arm.viommu, deviceId: arm.dev, virtId: 8 }), 201);
}, 120_000);
afterAll(async () => t.close());

describe('graphql: every object type has its GraphQL type', () => {
  it('graphql: a HW queue is served by object(id:), hwQueue(id:), hwQueues and context { objects hwQueues } as GET /v1/hw-queues/{id} serves it', async () => {
    const q = (await t.gql(`mutation { allocHwQueue(viommuId: "${tg.viommu}", type: "tegra241_cmdqv", index: 0, nestingParentIova: "${hex(A)}", length: "0x100") { id } }`)).data.allocHwQueue;
    const own = must(await t.req('GET', `/v1/hw-queues/${q.id}`), 200);
    const res = await t.gql(`{
      object(id: ${q.id}) { __typename id type contextId ... on HwQueue { ${HW_QUEUE} viommu { id } } }
      hwQueue(id: "${q.id}") { ${HW_QUEUE} }
      hwQueues(contextId: ${tg.ctx}) { id }
      context(id: ${tg.ctx}) { objects { __typename id type } hwQueues { id } }
    }`);
    expect(res.errors).toBeUndefined();
    const { __typename, viommu, ...object } = res.data.object;
    expect(__typename).toBe('HwQueue');
    expect(viommu).toEqual({ id: String(tg.viommu) });
    expect(rest(object)).toEqual(pick(own, object));
    expect(rest(res.data.hwQueue)).toEqual(pick(own, res.data.hwQueue));
    expect(res.data.hwQueues).toEqual([{ id: q.id }]);
    expect(res.data.context.objects).toContainEqual({ __typename: 'HwQueue', id: q.id, type: 'hw_queue' });
    expect(res.data.context.hwQueues).toEqual([{ id: q.id }]);
    // Every object of the context resolves to its type (the interface's resolveType covers all).
    const listed = must(await t.req('GET', `/v1/objects?contextId=${tg.ctx}`), 200).items;
    expect(rest(res.data.context.objects.map(({ id, type }: { id: string; type: string }) => ({ id, type })))).toEqual(listed.map(({ id, type }: { id: number; type: string }) => ({ id, type })));
  });
});

describe('graphql: ids are GraphQL IDs, u32 as on REST', () => {
  it('graphql: an id of 2^32 − 1 is ENOENT (a well-formed id of nothing); 2^32, -1, 0, "abc", "0x10" and 1.5 are EINVAL, as on REST', async () => {
    expect(gqlErr(await t.gql('{ object(id: 4294967295) { id } }'))).toEqual({ errno: 'ENOENT', status: 404 });
    expect(gqlErr(await t.gql('{ object(id: "4294967295") { id } }'))).toEqual({ errno: 'ENOENT', status: 404 });
    expect(gqlErr(await t.gql('query ($id: ID!) { object(id: $id) { id } }', { id: 4294967295 }))).toEqual({ errno: 'ENOENT', status: 404 });
    expect(restErr(await t.req('GET', '/v1/objects/4294967295'))).toEqual({ errno: 'ENOENT', status: 404 });
    for (const bad of ['4294967296', '-1', '0', '"abc"', '"0x10"', '1.5']) {
      expect(gqlErr(await t.gql(`{ object(id: ${bad}) { id } }`)), bad).toEqual({ errno: 'EINVAL', status: 400 });
    }
    for (const bad of ['4294967296', '-1', '0', 'abc', '0x10']) expect(restErr(await t.req('GET', `/v1/objects/${bad}`)), bad).toEqual({ errno: 'EINVAL', status: 400 });
    // Beyond Int: an id ≥ 2^31 is accepted (was a GraphQL coercion error with Int).
    expect(gqlErr(await t.gql('{ viommu(id: 2147483648) { id } }'))).toEqual({ errno: 'ENOENT', status: 404 });
    // Ids go out as IDs too.
    const v = (await t.gql(`{ viommu(id: ${arm.viommu}) { id contextId smmuId hwptId } }`)).data.viommu;
    expect(v).toEqual({ id: String(arm.viommu), contextId: String(arm.ctx), smmuId: '1', hwptId: String(arm.parent) });
  });
});

describe('graphql: lists as REST lists them', () => {
  it('graphql: hwQueues, eventqs, hwpts and vdevices list what GET /v1/hw-queues, /v1/eventqs, /v1/hwpts and /v1/vdevices list, with and without contextId', async () => {
    must(await t.req('POST', '/v1/eventqs', { viommuId: arm.viommu, type: 'arm_smmuv3', depth: 8 }), 201);
    const lists = [
      ['hwQueues', '/v1/hw-queues'],
      ['eventqs', '/v1/eventqs'],
      ['hwpts', '/v1/hwpts'],
      ['vdevices', '/v1/vdevices'],
      ['viommus', '/v1/viommus'],
    ] as const;
    for (const [field, path] of lists) {
      for (const filter of ['', `contextId: ${arm.ctx}`, `contextId: "${tg.ctx}"`, 'contextId: 4294967295']) {
        const res = await t.gql(`{ ${field}${filter ? `(${filter})` : ''} { id type contextId } }`);
        expect(res.errors, `${field}(${filter})`).toBeUndefined();
        const query = filter ? `&contextId=${filter.replace(/\D/g, '')}` : '';
        const items = must(await t.req('GET', `${path}?limit=500${query}`), 200).items;
        expect(rest(res.data[field]), `${field}(${filter})`).toEqual(items.map((o: Record<string, unknown>) => ({ id: o.id, type: o.type, contextId: o.contextId })));
      }
      expect(gqlErr(await t.gql(`{ ${field}(contextId: "x") { id } }`)), field).toEqual({ errno: 'EINVAL', status: 400 });
      expect(restErr(await t.req('GET', `${path}?contextId=x`)), path).toEqual({ errno: 'EINVAL', status: 400 });
    }
  });
});

describe('graphql: a mutation for every write, answering as REST', () => {
  it('graphql: allocEventq answers what POST /v1/eventqs answers; EEXIST, EOPNOTSUPP, EINVAL and ENOENT as REST, and a refused one changes nothing', async () => {
    const res = await t.gql(`mutation { allocEventq(viommuId: ${tg.viommu}, type: "tegra241_cmdqv", depth: 4) { ${EVENTQ} } }`);
    expect(res.errors).toBeUndefined();
    const own = must(await t.req('GET', `/v1/eventqs/${res.data.allocEventq.id}`), 200);
    expect(rest(res.data.allocEventq)).toEqual(pick(own, res.data.allocEventq));
    await expectUnchanged(t, async () => {
      for (const [args, body] of [
        [`viommuId: ${tg.viommu}, type: "tegra241_cmdqv", depth: 4`, { viommuId: tg.viommu, type: 'tegra241_cmdqv', depth: 4 }],
        [`viommuId: ${tg.viommu}, type: "default", depth: 4`, { viommuId: tg.viommu, type: 'default', depth: 4 }],
        [`viommuId: ${tg.viommu}, type: "arm_smmuv3", depth: 0`, { viommuId: tg.viommu, type: 'arm_smmuv3', depth: 0 }],
        [`viommuId: 4294967295, type: "arm_smmuv3", depth: 4`, { viommuId: 4294967295, type: 'arm_smmuv3', depth: 4 }],
      ] as const) {
        const g = gqlErr(await t.gql(`mutation { allocEventq(${args}) { id } }`));
        expect(g, args).toEqual(restErr(await t.req('POST', '/v1/eventqs', body)));
        expect(g.errno, args).toMatch(/^E/);
      }
    });
  });

  it('graphql: injectEvent and readEventq answer what POST /v1/viommus/{id}/events and POST /v1/eventqs/{id}/read answer', async () => {
    const eq = must(await t.req('GET', `/v1/eventqs?contextId=${arm.ctx}`), 200).items[0];
    const record = ['0x0000000800000010', '0x0', '0x40000000', '0x0'];
    // Injected over REST, read over GraphQL; injected over GraphQL, read over REST.
    const injectedRest = must(await t.req('POST', `/v1/viommus/${arm.viommu}/events`, { type: 'arm_smmuv3', record }), 201);
    const readGql = await t.gql(`mutation { readEventq(id: ${eq.id}, max: 10) { records { ${EVENT} } } }`);
    expect(readGql.errors).toBeUndefined();
    const injectedGql = await t.gql(`mutation { injectEvent(viommuId: ${arm.viommu}, type: "arm_smmuv3", record: ${JSON.stringify(record)}) { ${EVENT} } }`);
    expect(injectedGql.errors).toBeUndefined();
    const readRest = must(await t.req('POST', `/v1/eventqs/${eq.id}/read`, { max: 10 }), 200);
    const shape = (e: any) => ({ ...e, decoded: { type: e.decoded.type, name: e.decoded.name, fields: pick(e.decoded.fields, { SID: 0, SSID: 0, CLASS: 0, ADDR: 0, IPA: 0 }) } });
    const strip = ({ decoded: { __typename, ...decoded }, ...e }: any) => ({ ...e, decoded });
    expect(readGql.data.readEventq.records.map(strip)).toEqual([shape(injectedRest)]);
    expect(readRest.records.map(shape)).toEqual([strip(injectedGql.data.injectEvent)]);
    expect(injectedGql.data.injectEvent.decoded.__typename).toBe('ArmSmmuv3Event');
    await expectUnchanged(t, async () => {
      expect(gqlErr(await t.gql(`mutation { readEventq(id: ${eq.id}, max: 0) { records { sequence } } }`))).toEqual(restErr(await t.req('POST', `/v1/eventqs/${eq.id}/read`, { max: 0 })));
      expect(gqlErr(await t.gql(`mutation { readEventq(id: ${arm.viommu}) { records { sequence } } }`))).toEqual(restErr(await t.req('POST', `/v1/eventqs/${arm.viommu}/read`, {})));
      const wrongWords = await t.gql(`mutation { injectEvent(viommuId: ${arm.viommu}, type: "arm_smmuv3", record: ["0x1"]) { sequence } }`);
      expect(gqlErr(wrongWords)).toEqual(restErr(await t.req('POST', `/v1/viommus/${arm.viommu}/events`, { type: 'arm_smmuv3', record: ['0x1'] })));
      expect(gqlErr(wrongWords).errno).toBe('EINVAL');
      const noQueue = await t.gql(`mutation { injectEvent(viommuId: ${arm.viommu}, type: "tegra241_cmdqv", record: ["0x1", "0x0"]) { sequence } }`);
      expect(gqlErr(noQueue)).toEqual(restErr(await t.req('POST', `/v1/viommus/${arm.viommu}/events`, { type: 'tegra241_cmdqv', record: ['0x1', '0x0'] })));
    });
  });

  it('graphql: allocHwQueue, setHwQueueEnabled, pushHwQueueCommands and ackHwQueueError answer as POST /v1/hw-queues, PATCH, …/commands and …/error/ack', async () => {
    // Queue 1 of the VINTF over GraphQL; the same operations on a twin vIOMMU over REST.
    const twin = await buildViommu(t, { device: 'nvme1', type: 'tegra241_cmdqv' });
    must(await t.req('POST', `/v1/ioas/${twin.ioas}/mappings`, { iova: hex(A), length: '0x10000' }), 201);
    const qGql = (await t.gql(`mutation { allocHwQueue(viommuId: ${twin.viommu}, type: "tegra241_cmdqv", index: 0, nestingParentIova: "${hex(A)}", length: "0x100") { ${HW_QUEUE} } }`)).data.allocHwQueue;
    expect(rest(qGql)).toEqual(pick(must(await t.req('GET', `/v1/hw-queues/${qGql.id}`), 200), qGql));
    const qRest = must(await t.req('POST', '/v1/hw-queues', { viommuId: twin.viommu, type: 'tegra241_cmdqv', index: 1, nestingParentIova: hex(A + 0x1000), length: '0x100' }), 201);
    const entries = [['0x11', '0x0'], ['0x30', '0x0'], ['0x11', '0x0']];
    const pushed = await t.gql(`mutation { pushHwQueueCommands(id: ${qGql.id}, entries: ${JSON.stringify(entries)}) { ${RUN} } }`);
    expect(pushed.data.pushHwQueueCommands).toEqual(must(await t.req('POST', `/v1/hw-queues/${qRest.id}/commands`, { entries }), 200));
    const enabled = await t.gql(`mutation { setHwQueueEnabled(id: ${qGql.id}, enabled: true) { ${HW_QUEUE} run { ${RUN} } } }`);
    expect(enabled.errors).toBeUndefined();
    const patched = must(await t.req('PATCH', `/v1/hw-queues/${qRest.id}`, { enabled: true }), 200);
    const { id: _a, base: _b, nestingParentIova: _c, index: _d, ...sameGql } = rest(enabled.data.setHwQueueEnabled);
    expect(sameGql).toEqual(pick(patched, sameGql));
    expect(enabled.data.setHwQueueEnabled.run).toMatchObject({ consumed: 1, error: { code: 'CERROR_ILL', index: 1, opcode: 0x30 } });
    const acked = await t.gql(`mutation { ackHwQueueError(id: ${qGql.id}, replaceWithSync: true) { ${RUN} } }`);
    expect(acked.data.ackHwQueueError).toEqual(must(await t.req('POST', `/v1/hw-queues/${qRest.id}/error/ack`, { replaceWithSync: true }), 200));
    expect(acked.data.ackHwQueueError).toEqual({ consumed: 2, prod: 3, cons: 3, error: null });
    const plain = await t.gql(`mutation { ackHwQueueError(id: ${qGql.id}) { ${RUN} } }`);
    expect(plain.data.ackHwQueueError).toEqual(must(await t.req('POST', `/v1/hw-queues/${qRest.id}/error/ack`, {}), 200));
    await expectUnchanged(t, async () => {
      const cases: Array<[string, string, string, unknown]> = [
        [`allocHwQueue(viommuId: ${twin.viommu}, type: "default", index: 0, nestingParentIova: "${hex(A)}", length: "0x100") { id }`, 'POST', '/v1/hw-queues', { viommuId: twin.viommu, type: 'default', index: 0, nestingParentIova: hex(A), length: '0x100' }],
        [`allocHwQueue(viommuId: ${twin.viommu}, type: "tegra241_cmdqv", index: 0, nestingParentIova: "${hex(A + 0x2000)}", length: "0x100") { id }`, 'POST', '/v1/hw-queues', { viommuId: twin.viommu, type: 'tegra241_cmdqv', index: 0, nestingParentIova: hex(A + 0x2000), length: '0x100' }],
        [`allocHwQueue(viommuId: ${arm.viommu}, type: "tegra241_cmdqv", index: 0, nestingParentIova: "${hex(A)}", length: "0x100") { id }`, 'POST', '/v1/hw-queues', { viommuId: arm.viommu, type: 'tegra241_cmdqv', index: 0, nestingParentIova: hex(A), length: '0x100' }],
        [`allocHwQueue(viommuId: ${twin.viommu}, type: "tegra241_cmdqv", index: 0, nestingParentIova: "${hex(A)}", length: "0x0") { id }`, 'POST', '/v1/hw-queues', { viommuId: twin.viommu, type: 'tegra241_cmdqv', index: 0, nestingParentIova: hex(A), length: '0x0' }],
        [`pushHwQueueCommands(id: ${qGql.id}, entries: []) { consumed }`, 'POST', `/v1/hw-queues/${qGql.id}/commands`, { entries: [] }],
        [`pushHwQueueCommands(id: ${qGql.id}, entries: [["0x1"]]) { consumed }`, 'POST', `/v1/hw-queues/${qGql.id}/commands`, { entries: [['0x1']] }],
        [`pushHwQueueCommands(id: ${qGql.id}, entries: ${JSON.stringify(Array(17).fill(['0x46', '0x0']))}) { consumed }`, 'POST', `/v1/hw-queues/${qGql.id}/commands`, { entries: Array(17).fill(['0x46', '0x0']) }],
        [`pushHwQueueCommands(id: ${twin.viommu}, entries: [["0x46", "0x0"]]) { consumed }`, 'POST', `/v1/hw-queues/${twin.viommu}/commands`, { entries: [['0x46', '0x0']] }],
        [`setHwQueueEnabled(id: 4294967295, enabled: false) { id }`, 'PATCH', '/v1/hw-queues/4294967295', { enabled: false }],
        [`ackHwQueueError(id: ${twin.parent}) { consumed }`, 'POST', `/v1/hw-queues/${twin.parent}/error/ack`, {}],
      ];
      for (const [mutation, method, url, body] of cases) {
        const g = gqlErr(await t.gql(`mutation { ${mutation} }`));
        expect(g, mutation).toEqual(restErr(await t.req(method as 'POST', url, body)));
        expect(g.errno, mutation).toMatch(/^E/);
      }
    });
  });

  it('graphql: invalidate and invalidateViommu answer { entriesProcessed } as POST /v1/objects/{id}/invalidate and /v1/viommus/{id}/invalidate; a failure carries errno and entriesProcessed', async () => {
    const ok = [['0x0000000800000010', '0x0'], ['0x11', '0x0']];
    for (const [field, path] of [['invalidate', 'objects'], ['invalidateViommu', 'viommus']] as const) {
      const res = await t.gql(`mutation { ${field}(id: ${arm.viommu}, dataType: "arm_smmuv3", entries: ${JSON.stringify(ok)}) { entriesProcessed } }`);
      expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
      expect(res.data[field]).toEqual(must(await t.req('POST', `/v1/${path}/${arm.viommu}/invalidate`, { dataType: 'arm_smmuv3', entries: ok }), 200));
    }
    // Entry 1 is an opcode the conversion refuses: EIO with entriesProcessed 1 on both.
    const partial = [['0x0000000800000010', '0x0'], ['0xff', '0x0']];
    const g = await t.gql(`mutation { invalidate(id: ${arm.viommu}, dataType: "arm_smmuv3", entries: ${JSON.stringify(partial)}) { entriesProcessed } }`);
    const r = await t.req('POST', `/v1/objects/${arm.viommu}/invalidate`, { dataType: 'arm_smmuv3', entries: partial });
    expect(g.errors[0].extensions).toMatchObject({ errno: r.body.errno, status: r.status, entriesProcessed: r.body.entriesProcessed });
    expect(r.body.entriesProcessed).toBe(1);
    await expectUnchanged(t, async () => {
      const cases: Array<[string, string, string, unknown]> = [
        ['invalidate', 'objects', `${arm.viommu}`, { dataType: 'arm_smmuv3', entries: [['0xff', '0x0']] }],
        ['invalidate', 'objects', `${arm.viommu}`, { dataType: 'vtd_s1', entries: ok }],
        ['invalidate', 'objects', `${arm.viommu}`, { dataType: 'arm_smmuv3', entries: [] }],
        ['invalidate', 'objects', `${arm.viommu}`, { dataType: 'arm_smmuv3', entries: [['zz', '0x0']] }],
        ['invalidate', 'objects', '4294967295', { dataType: 'arm_smmuv3', entries: ok }],
        ['invalidate', 'objects', `${arm.ioas}`, { dataType: 'arm_smmuv3', entries: ok }],
        ['invalidateViommu', 'viommus', `${arm.parent}`, { dataType: 'arm_smmuv3', entries: ok }],
      ];
      for (const [field, path, id, body] of cases) {
        const b = body as { dataType: string; entries: unknown };
        const res = await t.gql(`mutation { ${field}(id: ${id}, dataType: "${b.dataType}", entries: ${JSON.stringify(b.entries)}) { entriesProcessed } }`);
        const rr = await t.req('POST', `/v1/${path}/${id}/invalidate`, body);
        expect(res.errors?.[0]?.extensions, `${field} ${JSON.stringify(body)}`).toMatchObject({ errno: rr.body.errno, status: rr.status, entriesProcessed: rr.body.entriesProcessed });
        expect(rr.body.entriesProcessed).toBe(0);
      }
    });
  });

  it('graphql: writeGuestMemory and guestMemory write and read what PUT and GET /v1/ioas/{id}/memory do; ENOENT and EINVAL as REST', async () => {
    const bytes = Buffer.from('0123456789abcdef', 'hex');
    const written = await t.gql(`mutation { writeGuestMemory(ioasId: ${arm.ioas}, iova: "${hex(A + 0x100)}", data: "${bytes.toString('base64')}") { iova length } }`);
    expect(written.errors).toBeUndefined();
    const putRest = must(await t.req('PUT', `/v1/ioas/${arm.ioas}/memory?iova=${hex(A + 0x200)}&length=8`, bytes, { 'content-type': 'application/octet-stream' }), 200);
    expect(putRest).toEqual({ iova: hex(A + 0x200), length: 8 });
    expect(written.data.writeGuestMemory).toEqual({ iova: hex(A + 0x100), length: 8 });
    const readRest = await t.app.inject({ method: 'GET', url: `/v1/ioas/${arm.ioas}/memory?iova=${hex(A + 0x100)}&length=0x110` });
    const readGql = await t.gql(`{ guestMemory(ioasId: ${arm.ioas}, iova: "${hex(A + 0x100)}", length: "0x110") }`);
    expect(Buffer.from(readGql.data.guestMemory, 'base64')).toEqual(readRest.rawPayload);
    expect(readRest.rawPayload.subarray(0, 8)).toEqual(bytes);
    expect(readRest.rawPayload.subarray(0x100, 0x108)).toEqual(bytes);
    await expectUnchanged(t, async () => {
      const unmapped = await t.gql(`mutation { writeGuestMemory(ioasId: ${arm.ioas}, iova: "0x10", data: "AAAA") { length } }`);
      expect(gqlErr(unmapped)).toEqual(restErr(await t.req('PUT', `/v1/ioas/${arm.ioas}/memory?iova=0x10&length=3`, Buffer.alloc(3), { 'content-type': 'application/octet-stream' })));
      expect(gqlErr(unmapped).errno).toBe('ENOENT');
      expect(gqlErr(await t.gql(`mutation { writeGuestMemory(ioasId: ${arm.ioas}, iova: "${hex(A)}", data: "not base64!") { length } }`))).toEqual({ errno: 'EINVAL', status: 400 });
      expect(gqlErr(await t.gql(`mutation { writeGuestMemory(ioasId: ${arm.ioas}, iova: "${hex(A)}", data: "") { length } }`))).toEqual({ errno: 'EINVAL', status: 400 });
      expect(gqlErr(await t.gql(`mutation { writeGuestMemory(ioasId: ${arm.viommu}, iova: "${hex(A)}", data: "AAAA") { length } }`))).toEqual({ errno: 'ENOENT', status: 404 });
      expect(gqlErr(await t.gql(`{ guestMemory(ioasId: ${arm.ioas}, iova: "0x10", length: "16") }`))).toEqual(restErr(await t.req('GET', `/v1/ioas/${arm.ioas}/memory?iova=0x10&length=16`)));
      expect(gqlErr(await t.gql(`{ guestMemory(ioasId: ${arm.ioas}, iova: "${hex(A)}", length: "0x100001") }`))).toEqual(restErr(await t.req('GET', `/v1/ioas/${arm.ioas}/memory?iova=${hex(A)}&length=0x100001`)));
    });
  });

  it('graphql: translate answers what POST /v1/devices/{id}/translate answers, fault included; EINVAL and ENOENT as REST', async () => {
    const TRANSLATION = `__typename
      ... on TranslationOk { pa perm { read write } tlbHit atcHit pageSize }
      ... on TranslationFault { fault { type code stage class inputAddr ipa } event { record decoded { type name } } forwarded { viommuId virtId eventqId sequence lostEvents } }`;
    for (const [dev, iova] of [[tg.dev, '0x1000'], [arm.dev, hex(A)]] as const) {
      const g = await t.gql(`mutation { translate(deviceId: ${dev}, iova: "${iova}", access: "read") { ${TRANSLATION} } }`);
      expect(g.errors).toBeUndefined();
      const r = must(await t.req('POST', `/v1/devices/${dev}/translate`, { iova, access: 'read' }), 200);
      const { __typename, ...answer } = g.data.translate;
      expect(__typename).toBe('fault' in r ? 'TranslationFault' : 'TranslationOk');
      const expected = 'fault' in r ? { ...r, event: r.event && { record: r.event.record, decoded: { type: r.event.decoded.type, name: r.event.decoded.name } } } : { ...r, tlbHit: answer.tlbHit };
      expect(rest(answer)).toEqual(expected);
    }
    await expectUnchanged(t, async () => {
      for (const [args, dev, body] of [
        ['iova: "0x0", access: "exec"', tg.dev, { iova: '0x0', access: 'exec' }],
        ['iova: "0x0", ssid: 1048576, access: "read"', tg.dev, { iova: '0x0', ssid: 1048576, access: 'read' }],
        ['iova: "0x0", access: "read"', 4294967295, { iova: '0x0', access: 'read' }],
      ] as const) {
        const g = gqlErr(await t.gql(`mutation { translate(deviceId: ${dev}, ${args}) { __typename } }`));
        expect(g, args).toEqual(restErr(await t.req('POST', `/v1/devices/${dev}/translate`, body)));
        expect(g.errno).toMatch(/^E/);
      }
    });
  });
});

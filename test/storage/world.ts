/**
 * A database built through the real app in which every column of every table holds a value away
 * from its default (and from NULL) somewhere: what the storage tests read back through both load
 * paths and write again. `defaultColumns` names the columns that do not (the tests assert none).
 */
import Database from 'better-sqlite3';
import { must, type TestApp } from '../helper.js';

const hex = (n: number | bigint) => `0x${n.toString(16)}`;

export const SMMU_BODY = {
  name: 'storage-smmu',
  // IDR0 with HTTU 2 (dirty tracking); IDR1 SSIDSIZE 10; IDR4 with bit 31 (a negative stored Int).
  idr: [0x0d45049b, (20 | (10 << 6) | (5 << 11) | (17 << 16) | (15 << 21)) >>> 0, 0x123, 0x900, 0xdeadbeef, 0x456],
  iidr: 0xf0a1243b,
  aidr: 0x2,
  iotlbSize: 13,
  cmdqv: { vintfs: 8, vcmdqsPerVintf: 4, sidsPerVintf: 32, version: 3 },
};

export interface World {
  ctx: number;
  dev: number;
  gpu: number;
  parent: number;
  tviommu: number;
  q0: number;
  q1: number;
}

/** Builds the world on a running app (its requests also leave audit entries and idempotent answers). */
export async function buildWorld(t: TestApp): Promise<World> {
  const smmu = must(await t.req('POST', '/v1/smmus', SMMU_BODY), 201).id;
  const dev = must(await t.req('POST', '/v1/devices', { name: 'st-dev', smmuId: smmu, streamId: 0xabcde, ats: true, pasidBits: 14 }), 201).id;
  const gpu = must(await t.req('POST', '/v1/devices', { name: 'st-gpu', smmuId: smmu, streamId: 0xfffff, ats: true, pasidBits: 20 }), 201).id;
  // A GraphQL mutation: an audit entry with an operation.
  const gql = await t.gql('mutation { createContext(name: "st-gql") { id } }');
  if (gql.errors) throw new Error(JSON.stringify(gql.errors));
  // A keyed request: its stored answer has a body; a request id of the caller's.
  const ctx = must(await t.req('POST', '/v1/contexts', { name: 'st-vm' }, { 'idempotency-key': 'st-create', 'x-request-id': 'st-request-1' }), 201).id;
  must(await t.req('POST', `/v1/contexts/${ctx}/devices`, { deviceId: dev }), 201);
  must(await t.req('POST', `/v1/contexts/${ctx}/devices`, { deviceId: gpu }), 201);
  const ioas = must(await t.req('POST', '/v1/ioas', { contextId: ctx }), 201).id;
  const ioas2 = must(await t.req('POST', '/v1/ioas', { contextId: ctx }), 201).id;
  must(await t.req('POST', `/v1/ioas/${ioas2}/mappings`, { iova: '0x0', length: '0x100000' }), 201);
  must(await t.req('POST', `/v1/ioas/${ioas2}/mappings`, { iova: '0x40000000', length: '0x3000', read: true, write: false }), 201);
  must(await t.req('POST', `/v1/ioas/${ioas2}/mappings`, { iova: '0x50000000', length: '0x2000', read: false, write: true }), 201);
  must(await t.req('POST', `/v1/ioas/${ioas2}/mappings`, { iova: '0x80000000', length: '0x10000' }), 201);
  // Guest memory: two pages.
  const data = Buffer.from(Array.from({ length: 48 }, (_, i) => 0xa0 + i));
  must(await t.req('PUT', `/v1/ioas/${ioas2}/memory?iova=0x3ff0&length=${data.length}`, data, { 'content-type': 'application/octet-stream' }), 200);
  // Paging HWPTs: the gpu's auto one (PASID-compatible), a dirty-tracking one, a stage-1 one
  // with an ASID for a PASID attachment, the nest parent.
  must(await t.req('PUT', `/v1/devices/${gpu}/attachment`, { ptId: ioas2 }), 200);
  must(await t.req('POST', '/v1/hwpts', { deviceId: dev, ptId: ioas, flags: ['dirty_tracking'] }), 201);
  const s1 = must(await t.req('POST', '/v1/hwpts', { deviceId: gpu, ptId: ioas, flags: ['pasid'] }), 201).id;
  must(await t.req('PUT', `/v1/devices/${gpu}/pasids/5/attachment`, { ptId: s1 }), 200);
  const parent = must(await t.req('POST', '/v1/hwpts', { deviceId: dev, ptId: ioas2, flags: ['nest_parent'] }), 201).id;
  const tviommu = must(await t.req('POST', '/v1/viommus', { deviceId: dev, hwptId: parent, type: 'tegra241_cmdqv' }), 201).id;
  const aviommu = must(await t.req('POST', '/v1/viommus', { deviceId: gpu, hwptId: parent, type: 'arm_smmuv3' }), 201).id;
  must(await t.req('POST', '/v1/vdevices', { viommuId: tviommu, deviceId: dev, virtId: 0xfffffff0 }), 201);
  must(await t.req('POST', '/v1/vdevices', { viommuId: aviommu, deviceId: gpu, virtId: 0x10 }), 201);
  // Nested HWPTs: one attached (S1 translate), one with EATS (enableAts).
  const nested = must(await t.req('POST', '/v1/hwpts', { deviceId: dev, ptId: tviommu, data: { type: 'arm_smmuv3', ste: [hex(0x1000bn), hex(0xe6n)] } }), 201).id;
  must(await t.req('POST', '/v1/hwpts', { deviceId: gpu, ptId: aviommu, data: { type: 'arm_smmuv3', ste: [hex(0x1000bn), hex(1n << 28n)] } }), 201);
  must(await t.req('PUT', `/v1/devices/${dev}/attachment`, { ptId: nested }), 200);
  // A vEVENTQ that overflowed (the LOST_EVENTS marker, flags 1), part-read.
  const eventq = must(await t.req('POST', '/v1/eventqs', { viommuId: aviommu, type: 'arm_smmuv3', depth: 2 }), 201).id;
  must(await t.req('POST', '/v1/eventqs', { viommuId: tviommu, type: 'tegra241_cmdqv', depth: 5 }), 201);
  for (let i = 0; i < 4; i++) {
    must(await t.req('POST', `/v1/viommus/${aviommu}/events`, { type: 'arm_smmuv3', record: [hex(0x10_0000_0010n + BigInt(i)), hex(0xfeed + i), '0x0', hex(0xabcdef00)] }), 201);
  }
  must(await t.req('POST', `/v1/eventqs/${eventq}/read`, { max: 1 }), 200);
  // HW queues: queue 0 stopped by an illegal command and acknowledged (GERROR, GERRORN), queue 1
  // (after queue 0: prevQueueId) enabled and drained.
  const q0 = must(await t.req('POST', '/v1/hw-queues', { viommuId: tviommu, type: 'tegra241_cmdqv', index: 0, nestingParentIova: '0x80000800', length: '0x800' }), 201).id;
  const q1 = must(await t.req('POST', '/v1/hw-queues', { viommuId: tviommu, type: 'tegra241_cmdqv', index: 1, nestingParentIova: '0x80001000', length: '0x1000' }), 201).id;
  must(await t.req('POST', `/v1/hw-queues/${q0}/commands`, { entries: [['0x46', '0x0'], ['0x30', '0x0'], ['0x46', '0x0']] }), 200);
  must(await t.req('PATCH', `/v1/hw-queues/${q0}`, { enabled: true }), 200);
  must(await t.req('POST', `/v1/hw-queues/${q0}/error/ack`, {}), 200);
  must(await t.req('PATCH', `/v1/hw-queues/${q1}`, { enabled: true }), 200);
  must(await t.req('POST', `/v1/hw-queues/${q1}/commands`, { entries: [['0x46', '0x0']] }), 200);
  // A keyed request answered without a body (204): its stored answer's body is NULL.
  const gone = must(await t.req('POST', '/v1/ioas', { contextId: ctx }), 201).id;
  must(await t.req('DELETE', `/v1/objects/${gone}`, undefined, { 'idempotency-key': 'st-delete' }), 204);
  return { ctx, dev, gpu, parent, tviommu, q0, q1 };
}

/**
 * "Table.column" of every column that holds only NULL or its declared default in every row (a
 * column without a default must hold a non-NULL value somewhere; a boolean must be true somewhere).
 */
export function defaultColumns(dbFile: string): string[] {
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    const tables = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '_prisma_migrations' ORDER BY name`).pluck().all() as string[];
    const out: string[] = [];
    for (const table of tables) {
      const columns = db.prepare('SELECT name, type, dflt_value FROM pragma_table_info(?)').all(table) as Array<{ name: string; type: string; dflt_value: string | null }>;
      for (const c of columns) {
        const q = `"${c.name}"`;
        // CURRENT_TIMESTAMP: every row has its own time; any value counts as written.
        const differs = c.dflt_value === null || /CURRENT_TIMESTAMP/i.test(c.dflt_value) ? `${q} IS NOT NULL` : `${q} IS NOT NULL AND ${q} IS NOT ${c.dflt_value}`;
        const boolTrue = c.type.toUpperCase() === 'BOOLEAN' ? ` AND ${q} = 1` : '';
        const n = db.prepare(`SELECT COUNT(*) FROM "${table}" WHERE ${differs}${boolTrue}`).pluck().get() as number;
        if (n === 0) out.push(`${table}.${c.name}`);
      }
    }
    return out;
  } finally {
    db.close();
  }
}

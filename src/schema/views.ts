/**
 * The response bodies of the REST API as zod schemas: what src/routes/views.ts and the object
 * descriptors' views (src/domain/objects/) build, field by field. They are the routes' `response`
 * schemas, so they become /openapi.json's response schemas (each registered with an `id`: a named
 * component under `components.schemas`), and the tests validate every answer against them
 * (test/helper.ts, strict by default).
 *
 * They are documentation and the test-time contract only: the REST plugin serializes replies with
 * JSON.stringify and never parses a reply with these (src/routes/rest/index.ts). The objects are
 * closed (no other field), so a field a view adds without documenting it fails the tests; api.md
 * still allows later versions to add fields, which clients should ignore.
 */
import { z } from 'zod';
import { EVT_ID, type EventName } from '../hw/index.js';
import { EVENTQ_TYPES, OBJECT_TYPES, VIOMMU_TYPES } from '../domain/types.js';
import { U32_MAX } from './common.js';

// ---------------------------------------------------------------------------------------------
// Building blocks

/** The SMMUv3 event names (§4.6). */
const EVENT_NAMES = Object.keys(EVT_ID) as [EventName, ...EventName[]];

const u32 = z.int().min(0).max(U32_MAX);
const count = z.int().min(0).max(Number.MAX_SAFE_INTEGER);
const id = z.int().min(1).max(U32_MAX).describe('an id of the one id space (SMMUs, devices, contexts, objects)');
const ids = z.array(z.int().min(1).max(U32_MAX));

/** 64-bit addresses and lengths as `addr64` writes them (src/domain/format.ts). */
export const hexAddr = z
  .string()
  .regex(/^0x(0|[1-9a-f][0-9a-f]{0,15})$/)
  .describe('a 64-bit address or length: "0x" + lowercase hex digits without leading zeros');
/** 64-bit words (STE, CD, commands, event records) as `word64` writes them. */
export const hexWord = z
  .string()
  .regex(/^0x[0-9a-f]{16}$/)
  .describe('a 64-bit word: "0x" + 16 lowercase hex digits');
const timestamp = z.string().meta({ format: 'date-time' }).describe('when, as an ISO 8601 UTC timestamp');
const cursor = z
  .string()
  .regex(/^[0-9]{1,10}$/)
  .nullable()
  .describe('pass as `cursor` for the next page; null on the last page');

/** Raw bytes: application/octet-stream request and response bodies. */
export const binary = z.custom<Buffer>((v) => Buffer.isBuffer(v)).meta({ type: 'string', format: 'binary', description: 'raw bytes' });

/** A list page of api.md "Lists": items in id order, and the cursor of the next page. */
function page<T extends z.ZodType>(item: T, name: string, what: string) {
  return z.strictObject({ items: z.array(item), nextCursor: cursor }).meta({ id: `${name}Page`, description: `A page of ${what}, in id order` });
}

// ---------------------------------------------------------------------------------------------
// Host inventory

export const smmuFeaturesView = z
  .strictObject({
    s1p: z.boolean().describe('IDR0.S1P: stage 1 implemented'),
    s2p: z.boolean().describe('IDR0.S2P: stage 2 implemented'),
    nesting: z.boolean().describe('both stages (Linux ARM_SMMU_FEAT_NESTING)'),
    ats: z.boolean(),
    pri: z.boolean(),
    vmidBits: z.union([z.literal(8), z.literal(16)]),
    asidBits: z.union([z.literal(8), z.literal(16)]),
    sidBits: z.int().min(0).max(63).describe('IDR1.SIDSIZE as implemented (6 bits)'),
    ssidBits: z.int().min(0).max(31).describe('IDR1.SSIDSIZE as implemented (5 bits; the architecture defines up to 20)'),
    oasBits: z.int().min(32).max(52),
    granules: z.array(z.enum(['4k', '16k', '64k'])),
    ril: z.boolean().describe('IDR3.RIL: range invalidation'),
    cmdqs: z.int().min(0).max(31).describe('IDR1.CMDQS: log2 of the command queue size'),
    eventqs: z.int().min(0).max(31).describe('IDR1.EVENTQS: log2 of the event queue size'),
  })
  .meta({ id: 'SmmuFeatures', description: 'The decoded IDR fields of an SMMU' });

export const cmdqvView = z
  .strictObject({ version: z.int().min(0).max(15), vintfs: z.int().min(1), vcmdqsPerVintf: z.int().min(1), sidsPerVintf: z.int().min(1) })
  .meta({ id: 'Cmdqv', description: 'A Tegra241 CMDQV beside the SMMU' });

export const smmuView = z
  .strictObject({
    id,
    name: z.string(),
    idr: z.array(u32).length(6).describe('IDR0..IDR5'),
    iidr: u32,
    aidr: u32,
    iotlbSize: z.int().min(1).describe('IOTLB entries of the model'),
    features: smmuFeaturesView,
    cmdqv: cmdqvView.nullable(),
    createdAt: timestamp,
  })
  .meta({ id: 'Smmu', description: 'A physical SMMUv3 instance' });
export const smmuPage = page(smmuView, 'Smmu', 'SMMUs');

const pasidAttachmentView = z.strictObject({ pasid: u32, hwptId: id });

const deviceShape = {
  id,
  name: z.string(),
  smmuId: id,
  streamId: u32.describe('the physical StreamID'),
  ats: z.boolean(),
  pasidBits: z.int().min(0).max(20),
  contextId: id.nullable().describe('the context it is bound to, or null'),
  attachedTo: id.nullable().describe('the HWPT its RID is attached to, or null'),
  pasids: z.array(pasidAttachmentView).describe('PASIDs attached to a HWPT, ascending'),
  createdAt: timestamp,
};
export const deviceView = z.strictObject(deviceShape).meta({ id: 'Device', description: 'A physical device behind an SMMU' });
export const devicePage = page(deviceView, 'Device', 'devices');

export const hostCdView = z.strictObject({ ssid: u32, hwptId: id, asid: u32, words: z.array(hexWord).length(8) });

export const hostConfigView = z
  .strictObject({
    ste: z.array(hexWord).length(8).describe('the STE the driver installed'),
    config: z.enum(['abort', 'bypass', 's1_translate', 's2_translate', 'nested']).describe('STE.Config'),
    cdTable: z
      .strictObject({
        base: hexAddr,
        s1fmt: z.enum(['linear', '4k_l2', '64k_l2']),
        s1cdmax: z.int().min(0).max(20),
        s1dss: z.enum(['terminate', 'bypass', 'ssid0']),
        cds: z.array(hostCdView),
      })
      .nullable()
      .describe('the CD table of a stage-1 domain or of PASIDs, or null'),
  })
  .meta({ id: 'HostConfig', description: 'What the host driver programmed for the device: its STE and CD table' });

export const deviceDetailView = z
  .strictObject({ ...deviceShape, host: hostConfigView })
  .meta({ id: 'DeviceDetail', description: 'A device with what its SMMU was programmed with (GET /v1/devices/{id}, attachment replies)' });

export const hwInfoView = z
  .discriminatedUnion('type', [
    z.strictObject({
      type: z.literal('arm_smmuv3'),
      data: z.strictObject({ flags: u32, idr: z.array(u32).length(6), iidr: u32, aidr: u32 }),
      maxPasidLog2: z.int().min(0).max(20),
      capabilities: z.array(z.enum(['dirty_tracking', 'pci_pasid_exec', 'pci_pasid_priv', 'pci_ats_not_supported'])),
    }),
    z.strictObject({
      type: z.literal('tegra241_cmdqv'),
      data: z.strictObject({ flags: u32, version: z.int().min(0), log2vcmdqs: z.int().min(0), log2vsids: z.int().min(0) }),
      maxPasidLog2: z.int().min(0).max(20),
      capabilities: z.array(z.enum(['dirty_tracking', 'pci_pasid_exec', 'pci_pasid_priv', 'pci_ats_not_supported'])),
    }),
  ])
  .meta({ id: 'HwInfo', description: 'IOMMU_GET_HW_INFO: the type answered and its data' });

// ---------------------------------------------------------------------------------------------
// Contexts

export const contextView = z.strictObject({ id, name: z.string(), createdAt: timestamp }).meta({ id: 'Context', description: 'One iommufd (one per VM)' });
export const contextPage = page(contextView, 'Context', 'contexts');
export const contextDeletedView = z
  .strictObject({ destroyedObjects: ids.describe('objects destroyed, leaf-first'), unboundDevices: ids.describe('devices unbound, ascending') })
  .meta({ id: 'ContextDeleted', description: 'What closing the context destroyed' });
export const deviceUnboundView = z
  .strictObject({ destroyedVdevice: id.nullable().describe('the vDEVICE destroyed with the binding, or null') })
  .meta({ id: 'DeviceUnbound' });

// ---------------------------------------------------------------------------------------------
// Objects (the descriptors' views, src/domain/objects/)

const objectBase = { id, contextId: id, createdAt: timestamp };

export const ioasView = z.strictObject({ ...objectBase, type: z.literal('ioas') }).meta({ id: 'Ioas', description: 'An I/O address space (IOMMU_IOAS_ALLOC)' });

export const hwptPagingView = z
  .strictObject({
    ...objectBase,
    type: z.literal('hwpt_paging'),
    ioasId: id,
    nestParent: z.boolean(),
    dirtyTracking: z.boolean(),
    pasid: z.boolean().describe('allocated with the pasid flag'),
    auto: z.boolean().describe('created by attaching a device to an IOAS; released with its last device'),
    smmuId: id,
    stage: z.union([z.literal(1), z.literal(2)]).describe('1: a CD with an ASID; 2 (nest parent): an S2 STE with a VMID'),
    vmid: u32.nullable().describe('stage 2: its VMID'),
    asid: u32.nullable().describe('stage 1: its ASID'),
    deviceId: id,
    devices: ids.describe('devices whose RID is attached'),
    pasidDevices: z.array(z.strictObject({ deviceId: id, pasid: u32 })).describe('PASID attachments'),
  })
  .meta({ id: 'HwptPaging', description: 'A paging HWPT (IOMMU_HWPT_ALLOC on an IOAS)' });

export const vsteView = z
  .strictObject({
    ste: z.tuple([hexWord, hexWord]).describe('the guest STE words as accepted (EATS cleared)'),
    valid: z.boolean(),
    config: z.enum(['abort', 'bypass', 's1_translate', 'invalid']),
    s1ContextPtr: hexAddr,
    s1Fmt: z.int().min(0),
    s1CdMax: z.int().min(0),
    s1Dss: z.int().min(0),
    eats: z.int().min(0),
  })
  .meta({ id: 'Vste', description: 'The decoded guest STE of a nested HWPT' });

export const hwptNestedView = z
  .strictObject({
    ...objectBase,
    type: z.literal('hwpt_nested'),
    nestParent: z.literal(false),
    viommuId: id,
    smmuId: id,
    deviceId: id,
    enableAts: z.boolean(),
    vste: vsteView,
    devices: ids,
  })
  .meta({ id: 'HwptNested', description: 'A nested HWPT from a guest STE (IOMMU_HWPT_ALLOC on a vIOMMU)' });

export const viommuView = z
  .strictObject({
    ...objectBase,
    type: z.literal('viommu'),
    viommuType: z.enum(VIOMMU_TYPES),
    smmuId: id,
    hwptId: id.describe('the nest-parent HWPT'),
    deviceId: id,
    vmid: u32.describe('the VMID the vIOMMU owns'),
    vintf: u32.optional().describe('tegra241_cmdqv: its VINTF index'),
  })
  .meta({ id: 'Viommu', description: 'A vIOMMU (IOMMU_VIOMMU_ALLOC)' });

export const vdeviceView = z
  .strictObject({
    ...objectBase,
    type: z.literal('vdevice'),
    viommuId: id,
    deviceId: id,
    virtId: u32.describe("the guest's vSID"),
    physicalStreamId: u32.nullable(),
    sidSlot: u32.optional().describe('tegra241_cmdqv: its SID_MATCH/SID_REPLACE slot'),
  })
  .meta({ id: 'Vdevice', description: 'A vDEVICE: a vSID on a vIOMMU (IOMMU_VDEVICE_ALLOC)' });

export const hwQueueView = z
  .strictObject({
    ...objectBase,
    type: z.literal('hw_queue'),
    viommuId: id,
    queueType: z.literal('tegra241_cmdqv'),
    index: u32,
    nestingParentIova: hexAddr,
    length: hexAddr.describe('bytes'),
    base: hexAddr.describe('VCMDQ BASE: ADDR | LOG2SIZE'),
    log2Size: z.int().min(0),
    prod: u32,
    cons: u32.describe('CONS with ERR in [30:24]'),
    consIndex: u32,
    enabled: z.boolean(),
    status: z.strictObject({ enabled: z.boolean() }),
    gerror: u32,
    gerrorn: u32,
    stopped: z.boolean(),
    error: z
      .string()
      .regex(/^CERROR_[A-Z0-9_]+$/)
      .nullable()
      .describe('CONS.ERR by name (CERROR_ILL, CERROR_ABT, CERROR_ATC_INV_SYNC), or null'),
  })
  .meta({ id: 'HwQueue', description: "A Tegra241 VCMDQ (IOMMU_HW_QUEUE_ALLOC) with the guest's VCMDQ page" });

export const eventqView = z
  .strictObject({
    ...objectBase,
    type: z.literal('veventq'),
    viommuId: id,
    eventqType: z.enum(EVENTQ_TYPES),
    depth: u32,
    pending: count.describe('items queued'),
    nextSequence: z.int().min(0).max(0x7fffffff),
  })
  .meta({ id: 'Eventq', description: 'A vEVENTQ (IOMMU_VEVENTQ_ALLOC)' });

/** Any object, by its `type` (GET /v1/objects/{id}). */
export const objectView = z
  .discriminatedUnion('type', [ioasView, hwptPagingView, hwptNestedView, viommuView, vdeviceView, hwQueueView, eventqView])
  .meta({ id: 'IommufdObject', description: `An object of one of the types ${OBJECT_TYPES.join(', ')}` });
export const hwptView = z.discriminatedUnion('type', [hwptPagingView, hwptNestedView]).meta({ id: 'Hwpt', description: 'A paging or a nested HWPT' });

export const objectPage = page(objectView, 'IommufdObject', 'objects');
export const ioasPage = page(ioasView, 'Ioas', 'IOASes');
export const hwptPage = page(hwptView, 'Hwpt', 'HWPTs');
export const viommuPage = page(viommuView, 'Viommu', 'vIOMMUs');
export const vdevicePage = page(vdeviceView, 'Vdevice', 'vDEVICEs');
export const hwQueuePage = page(hwQueueView, 'HwQueue', 'HW queues');
export const eventqPage = page(eventqView, 'Eventq', 'vEVENTQs');

export const mappingView = z
  .strictObject({ iova: hexAddr, length: hexAddr, hostAddress: hexAddr.describe('the simulated host memory backing it'), read: z.boolean(), write: z.boolean() })
  .meta({ id: 'Mapping', description: 'One IOAS mapping (IOMMU_IOAS_MAP)' });
export const mappingList = z
  .strictObject({ items: z.array(mappingView), nextCursor: z.string().nullable().describe('the next page\'s `cursor`, null on the last page') })
  .meta({ id: 'MappingList', description: "A page of the IOAS's mappings, by IOVA" });
export const unmappedView = z.strictObject({ unmapped: hexAddr.describe('bytes unmapped') }).meta({ id: 'Unmapped' });

// ---------------------------------------------------------------------------------------------
// The hardware side

export const invalidationView = z
  .strictObject({ entriesProcessed: count.describe('entries handled (all of them on success)') })
  .meta({ id: 'InvalidationResult' });

const armEventFields = z.strictObject({
  SSV: u32,
  SSID: u32,
  SID: u32,
  STAG: u32,
  STALL: u32,
  PNU: u32,
  IND: u32,
  RNW: u32,
  S2: u32,
  CLASS: u32,
  TTRNW: u32,
  ADDR: hexAddr,
  ADDR2: hexAddr,
  FETCH_ADDR: hexAddr,
  IPA: hexAddr,
});
export const armEventView = z
  .strictObject({ type: z.int().min(0).max(255).describe('the event ID'), name: z.enum(EVENT_NAMES).nullable(), fields: armEventFields })
  .meta({ id: 'ArmSmmuv3Event', description: 'A 32-byte SMMUv3 event record, decoded (smmuv3.md §4.7)' });

export const eventView = z
  .strictObject({
    sequence: z.int().min(0).max(0x7fffffff),
    flags: u32,
    lostEvents: z.boolean().describe('the LOST_EVENTS marker (flags bit 0)'),
    record: z.array(hexWord).max(4),
    decoded: z
      .union([armEventView, z.strictObject({ lvcmdqErrMap: z.array(hexWord) }).meta({ id: 'Tegra241Event' })])
      .nullable()
      .describe('arm_smmuv3: the record decoded; tegra241_cmdqv: the LVCMDQ_ERR_MAP words; null for the marker'),
  })
  .meta({ id: 'Event', description: 'One vEVENTQ item as read(2) returns it' });
export const eventList = z.strictObject({ records: z.array(eventView) }).meta({ id: 'EventList', description: 'The items read (and removed), oldest first' });

export const translationOkView = z
  .strictObject({
    pa: hexAddr,
    perm: z.strictObject({ read: z.boolean(), write: z.boolean() }),
    tlbHit: z.boolean(),
    atcHit: z.boolean(),
    pageSize: count,
  })
  .meta({ id: 'TranslationOk', description: 'The DMA translated' });
export const translationFaultView = z
  .strictObject({
    fault: z.strictObject({
      type: z.string().describe('the event name (F_TRANSLATION, C_BAD_STE, …) or ABORT'),
      code: z.int().min(0).max(255),
      stage: z.union([z.literal(0), z.literal(1), z.literal(2)]),
      class: z.enum(['CD', 'TT', 'IN']).nullable(),
      inputAddr: hexAddr,
      ipa: hexAddr.nullable(),
    }),
    event: z.strictObject({ record: z.array(hexWord).length(4), decoded: armEventView }).nullable().describe('the recorded event, or null when not recorded'),
    forwarded: z
      .strictObject({ viommuId: id, virtId: u32, eventqId: id.nullable(), sequence: z.int().min(0).nullable(), lostEvents: z.boolean() })
      .nullable()
      .describe("where the device's vmaster forwarded the record (eventqId null: dropped)"),
  })
  .meta({ id: 'TranslationFault', description: 'The DMA faulted (a 200 answer: the fault is the outcome)' });
export const translationView = z.union([translationOkView, translationFaultView]).meta({ id: 'Translation' });

export const queueRunView = z
  .strictObject({
    consumed: count,
    prod: u32,
    cons: u32,
    error: z
      .strictObject({ code: z.string().describe('CERROR_ILL, CERROR_ABT or CERROR_ATC_INV_SYNC'), index: u32, opcode: z.int().min(0).max(255).nullable() })
      .nullable(),
  })
  .meta({ id: 'QueueRun', description: 'What the queue consumed, its pointers, and the error that stopped it' });
export const hwQueueEnabledView = z
  .strictObject({ ...hwQueueView.shape, run: queueRunView })
  .meta({ id: 'HwQueueWithRun', description: 'The HW queue, and what enabling it ran' });

const tlbStats = { entries: count, hits: count, misses: count, evictions: count };
export const viommuStatsView = z
  .strictObject({
    viommuId: id,
    vmid: u32,
    invalidations: z.strictObject({
      requests: count,
      entries: count,
      batches: count,
      errors: count,
      skipped: count.describe('commands the SMMU refused inside an issued batch, skipped as the driver does'),
      byOpcode: z.record(z.string(), count),
    }),
    tlb: z.strictObject(tlbStats),
    atc: z.strictObject({ entries: count }),
  })
  .meta({ id: 'ViommuStats', description: 'Counters since start (they start at zero after a restart)' });

export const smmuStateView = z
  .strictObject({
    smmuId: id,
    commands: z.strictObject({
      executed: count,
      byOpcode: z.record(z.string(), count),
      errors: z.strictObject({ CERROR_ILL: count, CERROR_ABT: count, CERROR_ATC_INV_SYNC: count }),
    }),
    tlb: z.strictObject({ ...tlbStats, capacity: count }),
    atc: z.strictObject({ entries: count, devices: count }),
    configCache: z.strictObject({ entries: count, hits: count, misses: count }),
    cmdq: z.strictObject({ log2Size: z.int().min(0), prod: u32, cons: u32, err: u32, stopped: z.boolean(), enabled: z.boolean(), pending: count }),
    irqs: z.strictObject({ cmdSync: count, gerror: count }),
    streamTable: z.strictObject({ entries: count }),
    recentCommands: z.array(z.tuple([hexWord, hexWord])).describe('the last executed commands, oldest first'),
  })
  .meta({ id: 'SmmuState', description: "The SMMU model's counters, caches, queue pointers and recent commands" });

export const memoryWrittenView = z.strictObject({ iova: hexAddr, length: z.int().min(1) }).meta({ id: 'MemoryWritten' });

// ---------------------------------------------------------------------------------------------
// Audit

export const auditEntryView = z
  .strictObject({
    seq: z.int().min(1),
    at: timestamp,
    requestId: z.string().nullable(),
    actor: z.string().describe('the token\'s name, "anonymous", or "system"'),
    method: z.string().nullable(),
    route: z.string(),
    path: z.string().nullable(),
    operation: z.string().nullable().describe("a GraphQL mutation's field name; the service's own operation"),
    contextIds: ids,
    created: ids,
    changed: ids,
    destroyed: ids,
  })
  .meta({ id: 'AuditEntry', description: 'One accepted write' });
export const auditPage = z
  .strictObject({ items: z.array(auditEntryView), nextCursor: cursor })
  .meta({ id: 'AuditPage', description: 'A page of the audit trail, oldest first (cursor: `seq`)' });

// ---------------------------------------------------------------------------------------------
// Operations and GraphQL (outside /v1: documented by src/routes/plugins/openapi.ts)

export const healthView = z.strictObject({ status: z.literal('ok') }).meta({ id: 'Health', description: 'The process answers' });
export const readyView = z
  .strictObject({ status: z.literal('ready'), migrations: count.describe('migrations applied'), journalMode: z.string().describe('SQLite journal mode (wal)') })
  .meta({ id: 'Ready', description: 'Database reachable, migrations applied, not shutting down' });

/** POST /graphql with application/json (a single operation; batches are not enabled). */
export const graphqlRequest = z
  .strictObject({
    query: z.string().describe('the GraphQL document'),
    variables: z.record(z.string(), z.unknown()).nullable().optional(),
    operationName: z.string().nullable().optional(),
    extensions: z.record(z.string(), z.unknown()).optional(),
    persisted: z.boolean().optional(),
  })
  .describe('A GraphQL operation (queries and mutations; subscriptions go over WebSocket)');
export const graphqlQuery = z.strictObject({
  query: z.string().describe('the GraphQL document (queries only over GET)'),
  variables: z.string().optional().describe('the variables as JSON text'),
  operationName: z.string().optional(),
  extensions: z.string().optional().describe('extensions as JSON text'),
});
const graphqlError = z
  .looseObject({
    message: z.string(),
    locations: z.array(z.strictObject({ line: z.int(), column: z.int() })).optional(),
    path: z.array(z.union([z.string(), z.int()])).optional(),
    extensions: z.record(z.string(), z.unknown()).optional().describe('errno, status, requestId and the problem extensions (blockedBy, errors, …)'),
  })
  .meta({ id: 'GraphqlError' });
export const graphqlResponse = z
  .strictObject({
    data: z.record(z.string(), z.unknown()).nullable().optional(),
    errors: z.array(graphqlError).optional(),
    extensions: z.record(z.string(), z.unknown()).optional(),
  })
  .meta({ id: 'GraphqlResponse', description: 'A GraphQL response: `data`, and `errors` whose extensions carry the errno' });

/** GET /openapi.json: this document. */
export const openapiDocument = z.looseObject({ openapi: z.string(), info: z.record(z.string(), z.unknown()), paths: z.record(z.string(), z.unknown()) }).meta({ id: 'OpenApiDocument', description: 'This OpenAPI 3.1 document' });

// ---------------------------------------------------------------------------------------------
// No body

/** A 204 answer: no content (`reply.code(204).send()`; shown without content in the document). */
export const noContent = z.undefined().describe('No content');

export type SmmuView = z.output<typeof smmuView>;
export type DeviceView = z.output<typeof deviceView>;
export type DeviceDetailView = z.output<typeof deviceDetailView>;
export type HostConfigView = z.output<typeof hostConfigView>;
export type ContextView = z.output<typeof contextView>;
export type MappingView = z.output<typeof mappingView>;
export type ObjectView = z.output<typeof objectView>;
export type EventView = z.output<typeof eventView>;
export type TranslationView = z.output<typeof translationView>;
export type SmmuStateView = z.output<typeof smmuStateView>;
export type AuditEntryView = z.output<typeof auditEntryView>;
export type HwInfoView = z.output<typeof hwInfoView>;
export type ArmEventView = z.output<typeof armEventView>;
export type HwQueueView = z.output<typeof hwQueueView>;
export type QueueRunView = z.output<typeof queueRunView>;

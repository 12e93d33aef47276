/**
 * The GraphQL schema: the same objects as REST (api.md "GraphQL"). Ids (objects, SMMUs, devices,
 * contexts: one space of u32 ≥ 1) are GraphQL `ID`s, since they reach 2^32 − 1, beyond `Int`;
 * other u32 values are Float. 64-bit values are "0x…" strings, as in REST's JSON.
 */

/** The HW queue's own fields (GET /v1/hw-queues/{id}), shared by `HwQueue` and `HwQueueWithRun`. */
const HW_QUEUE_FIELDS = /* GraphQL */ `
    id: ID!
    type: String!
    contextId: ID!
    viommuId: ID!
    queueType: String!
    index: Int!
    nestingParentIova: String!
    length: String!
    base: String!
    log2Size: Int!
    prod: Float!
    cons: Float!
    consIndex: Int!
    enabled: Boolean!
    gerror: Float!
    gerrorn: Float!
    stopped: Boolean!
    "CONS.ERR by name (CERROR_ILL, CERROR_ABT, CERROR_ATC_INV_SYNC), or null."
    error: String
`;

export const typeDefs = /* GraphQL */ `
  interface IommufdObject {
    id: ID!
    type: String!
    contextId: ID!
    context: Context!
  }

  type SmmuFeatures {
    s1p: Boolean!
    s2p: Boolean!
    nesting: Boolean!
    ats: Boolean!
    pri: Boolean!
    vmidBits: Int!
    asidBits: Int!
    sidBits: Int!
    ssidBits: Int!
    oasBits: Int!
    granules: [String!]!
    ril: Boolean!
    cmdqs: Int!
    eventqs: Int!
  }

  type Cmdqv {
    version: Int!
    vintfs: Int!
    vcmdqsPerVintf: Int!
    sidsPerVintf: Int!
  }

  type OpcodeCount {
    opcode: String!
    count: Float!
  }

  type TlbStats {
    entries: Int!
    hits: Float!
    misses: Float!
    evictions: Float!
  }

  type AtcStats {
    entries: Int!
  }

  type InvalidationStats {
    requests: Float!
    entries: Float!
    batches: Float!
    errors: Float!
    "Commands the SMMU refused inside an issued batch, which the host driver skipped."
    skipped: Float!
    byOpcode: [OpcodeCount!]!
  }

  type ViommuStats {
    invalidations: InvalidationStats!
    tlb: TlbStats!
    atc: AtcStats!
  }

  type CommandStats {
    executed: Float!
    byOpcode: [OpcodeCount!]!
    errors: [OpcodeCount!]!
  }

  type CmdqState {
    log2Size: Int!
    prod: Float!
    cons: Float!
    err: Int!
    stopped: Boolean!
    enabled: Boolean!
    pending: Int!
  }

  type ConfigCacheStats {
    entries: Int!
    hits: Float!
    misses: Float!
  }

  type SmmuState {
    commands: CommandStats!
    tlb: TlbStats!
    atc: AtcStats!
    configCache: ConfigCacheStats!
    cmdq: CmdqState!
    streamTableEntries: Int!
  }

  type Smmu {
    state: SmmuState!
    id: ID!
    name: String!
    idr: [Float!]!
    iidr: Float!
    aidr: Float!
    iotlbSize: Int!
    features: SmmuFeatures!
    cmdqv: Cmdqv
    devices: [Device!]!
    viommus: [Viommu!]!
  }

  type Device {
    id: ID!
    name: String!
    smmuId: ID!
    smmu: Smmu!
    streamId: Float!
    ats: Boolean!
    pasidBits: Int!
    contextId: ID
    context: Context
    attachedTo: ID
    attachment: Hwpt
    "PASIDs attached to HWPTs (PUT /v1/devices/{id}/pasids/{pasid}/attachment)."
    pasids: [PasidAttachment!]!
    "What the host driver programmed: the STE and the CD table."
    host: HostConfig!
    vdevice: Vdevice
  }

  type HwptPasid {
    deviceId: ID!
    pasid: Float!
  }

  type PasidAttachment {
    pasid: Float!
    hwptId: ID!
    hwpt: Hwpt
  }

  type HostConfig {
    "The 8 STE words, 16-digit hex."
    ste: [String!]!
    "STE.Config: abort, bypass, s1_translate, s2_translate or nested."
    config: String!
    cdTable: CdTable
  }

  type CdTable {
    base: String!
    "linear or 64k_l2."
    s1fmt: String!
    s1cdmax: Int!
    "terminate, bypass or ssid0: what a transaction without a PASID does."
    s1dss: String!
    cds: [ContextDescriptor!]!
  }

  type ContextDescriptor {
    ssid: Float!
    hwptId: ID!
    asid: Int!
    words: [String!]!
  }

  type Context {
    id: ID!
    name: String!
    createdAt: String!
    devices: [Device!]!
    objects: [IommufdObject!]!
    ioas: [Ioas!]!
    hwpts: [Hwpt!]!
    viommus: [Viommu!]!
    vdevices: [Vdevice!]!
    hwQueues: [HwQueue!]!
    eventqs: [Eventq!]!
  }

  type Mapping {
    iova: String!
    length: String!
    hostAddress: String!
    read: Boolean!
    write: Boolean!
  }

  type Ioas implements IommufdObject {
    id: ID!
    type: String!
    contextId: ID!
    context: Context!
    mappings: [Mapping!]!
    hwpts: [Hwpt!]!
  }

  type Vste {
    ste: [String!]!
    valid: Boolean!
    config: String!
    s1ContextPtr: String!
    s1Fmt: Int!
    s1CdMax: Int!
    s1Dss: Int!
    eats: Int!
  }

  type Hwpt implements IommufdObject {
    id: ID!
    type: String!
    contextId: ID!
    context: Context!
    nestParent: Boolean!
    dirtyTracking: Boolean
    auto: Boolean
    ioasId: ID
    ioas: Ioas
    viommuId: ID
    viommu: Viommu
    smmuId: ID
    smmu: Smmu
    "Paging HWPT: 1 (a CD with an ASID) or 2 (an S2 STE with a VMID)."
    stage: Int
    vmid: Int
    asid: Int
    "Paging HWPT allocated with the pasid flag."
    pasid: Boolean
    "Paging HWPT: the device PASIDs attached to it."
    pasidDevices: [HwptPasid!]
    vste: Vste
    devices: [Device!]!
  }

  type Viommu implements IommufdObject {
    id: ID!
    type: String!
    contextId: ID!
    context: Context!
    viommuType: String!
    smmuId: ID!
    smmu: Smmu!
    hwptId: ID!
    nestParent: Hwpt!
    vmid: Int!
    vintf: Int
    vdevices: [Vdevice!]!
    nestedHwpts: [Hwpt!]!
    eventqs: [Eventq!]!
    hwQueues: [HwQueue!]!
    stats: ViommuStats!
  }

  "A Tegra241 VCMDQ the guest owns (IOMMU_HW_QUEUE_ALLOC), with its guest-visible registers."
  type HwQueue implements IommufdObject {
${HW_QUEUE_FIELDS}
    context: Context!
    viommu: Viommu!
  }

  "What a queue consumed, its pointers, and the error that stopped it (POST /v1/hw-queues/{id}/commands)."
  type QueueRun {
    consumed: Float!
    prod: Float!
    cons: Float!
    error: QueueError
  }

  type QueueError {
    "CERROR_ILL, CERROR_ABT or CERROR_ATC_INV_SYNC."
    code: String!
    index: Float!
    opcode: Int
  }

  "The HW queue and what enabling it ran (PATCH /v1/hw-queues/{id})."
  type HwQueueWithRun {
${HW_QUEUE_FIELDS}
    run: QueueRun!
  }

  "A 32-byte SMMUv3 event record's fields (smmuv3.md §4.7); addresses as hex strings."
  type ArmEventFields {
    SSV: Float!
    SSID: Float!
    SID: Float!
    STAG: Float!
    STALL: Float!
    PNU: Float!
    IND: Float!
    RNW: Float!
    S2: Float!
    CLASS: Float!
    TTRNW: Float!
    ADDR: String!
    ADDR2: String!
    FETCH_ADDR: String!
    IPA: String!
  }

  "A 32-byte SMMUv3 event record, decoded."
  type ArmSmmuv3Event {
    "The event ID."
    type: Int!
    name: String
    fields: ArmEventFields!
  }

  "A tegra241_cmdqv vEVENTQ item: the LVCMDQ_ERR_MAP words."
  type Tegra241Event {
    lvcmdqErrMap: [String!]!
  }

  union DecodedEvent = ArmSmmuv3Event | Tegra241Event

  "One vEVENTQ item as read(2) returns it (POST /v1/eventqs/{id}/read)."
  type Event {
    sequence: Int!
    flags: Float!
    "The LOST_EVENTS marker (flags bit 0)."
    lostEvents: Boolean!
    record: [String!]!
    "arm_smmuv3: the record decoded; tegra241_cmdqv: the LVCMDQ_ERR_MAP words; null for the marker."
    decoded: DecodedEvent
  }

  "The items read (and removed), oldest first."
  type EventList {
    records: [Event!]!
  }

  "IOMMU_HWPT_INVALIDATE's answer: entries handled (all of them on success)."
  type InvalidationResult {
    entriesProcessed: Int!
  }

  type MemoryWritten {
    iova: String!
    length: Int!
  }

  type Permission {
    read: Boolean!
    write: Boolean!
  }

  "The DMA translated."
  type TranslationOk {
    pa: String!
    perm: Permission!
    tlbHit: Boolean!
    atcHit: Boolean!
    pageSize: Float!
  }

  type Fault {
    "The event name (F_TRANSLATION, C_BAD_STE, …) or ABORT."
    type: String!
    code: Int!
    stage: Int!
    "CD, TT or IN."
    class: String
    inputAddr: String!
    ipa: String
  }

  type FaultEvent {
    record: [String!]!
    decoded: ArmSmmuv3Event!
  }

  "Where the device's vmaster forwarded the record (eventqId null: dropped)."
  type Forwarded {
    viommuId: ID!
    virtId: Float!
    eventqId: ID
    sequence: Int
    lostEvents: Boolean!
  }

  "The DMA faulted (the fault is the outcome, not an error)."
  type TranslationFault {
    fault: Fault!
    event: FaultEvent
    forwarded: Forwarded
  }

  "POST /v1/devices/{id}/translate: TranslationOk or TranslationFault."
  union Translation = TranslationOk | TranslationFault

  type Vdevice implements IommufdObject {
    id: ID!
    type: String!
    contextId: ID!
    context: Context!
    viommuId: ID!
    viommu: Viommu!
    deviceId: ID!
    device: Device!
    virtId: Float!
    physicalStreamId: Float
    sidSlot: Int
  }

  type HwInfo {
    type: String!
    data: String!
    maxPasidLog2: Int!
    capabilities: [String!]!
  }

  type ContextTeardown {
    destroyedObjects: [ID!]!
    unboundDevices: [ID!]!
  }

  type VEvent {
    eventqId: ID!
    sequence: Int!
    flags: Int!
    lostEvents: Boolean!
    record: [String!]!
  }

  type ObjectChange {
    id: ID!
    type: String!
    contextId: ID!
    change: String!
  }

  type Eventq implements IommufdObject {
    id: ID!
    type: String!
    contextId: ID!
    context: Context!
    viommuId: ID!
    viommu: Viommu!
    eventqType: String!
    depth: Float!
    pending: Int!
    nextSequence: Int!
  }

"One accepted write (GET /v1/audit): who, what, when."
  type AuditEntry {
    seq: Float!
    at: String!
    requestId: String
    "The token's name; anonymous without API_TOKENS; system for the service's own writes."
    actor: String!
    method: String
    "The route pattern (/v1/hwpts, /graphql)."
    route: String!
    path: String
    "The GraphQL mutation field, or the service's own operation."
    operation: String
    contextIds: [ID!]!
    created: [ID!]!
    changed: [ID!]!
    destroyed: [ID!]!
  }

  type AuditPage {
    items: [AuditEntry!]!
    nextCursor: String
  }

  type Subscription {
    vevents(eventqId: ID!): VEvent!
    objectChanged(contextId: ID!): ObjectChange!
  }

  type Query {
    eventq(id: ID!): Eventq!
    smmus: [Smmu!]!
    smmu(id: ID!): Smmu!
    devices(smmuId: ID, contextId: ID): [Device!]!
    device(id: ID!): Device!
    hwInfo(deviceId: ID!, type: String): HwInfo!
    contexts: [Context!]!
    context(id: ID!): Context!
    object(id: ID!): IommufdObject!
    ioas(id: ID!): Ioas!
    hwpt(id: ID!): Hwpt!
    viommu(id: ID!): Viommu!
    viommus(contextId: ID): [Viommu!]!
    vdevice(id: ID!): Vdevice!
    hwQueue(id: ID!): HwQueue!
    "HW queues (GET /v1/hw-queues), by id; contextId filters."
    hwQueues(contextId: ID): [HwQueue!]!
    "vEVENTQs (GET /v1/eventqs), by id; contextId filters."
    eventqs(contextId: ID): [Eventq!]!
    "HWPTs, paging and nested (GET /v1/hwpts), by id; contextId filters."
    hwpts(contextId: ID): [Hwpt!]!
    "vDEVICEs (GET /v1/vdevices), by id; contextId filters."
    vdevices(contextId: ID): [Vdevice!]!
    "Guest memory through the IOAS mappings (GET /v1/ioas/{id}/memory): length bytes (decimal or 0x hex, at most 1 MiB), base64."
    guestMemory(ioasId: ID!, iova: String!, length: String!): String!
    "Accepted writes, oldest first (admin only, as GET /v1/audit)."
    audit(contextId: ID, objectId: ID, token: String, limit: Int, cursor: String): AuditPage!
  }

  input CmdqvInput {
    vintfs: Int!
    vcmdqsPerVintf: Int!
    sidsPerVintf: Int!
    version: Int
  }

  input HwptDataInput {
    type: String!
    ste: [String!]
  }

  type Mutation {
    createSmmu(name: String!, idr: [Float!], iidr: Float, aidr: Float, iotlbSize: Int, cmdqv: CmdqvInput): Smmu!
    deleteSmmu(id: ID!): Boolean!
    createDevice(name: String!, smmuId: ID!, streamId: Float!, ats: Boolean, pasidBits: Int): Device!
    deleteDevice(id: ID!): Boolean!
    createContext(name: String!): Context!
    deleteContext(id: ID!): ContextTeardown!
    bindDevice(contextId: ID!, deviceId: ID!): Device!
    unbindDevice(contextId: ID!, deviceId: ID!): Device!
    createIoas(contextId: ID!): Ioas!
    mapIoas(ioasId: ID!, iova: String!, length: String!, read: Boolean, write: Boolean): Mapping!
    unmapIoas(ioasId: ID!, iova: String, length: String): String!
    allocHwpt(deviceId: ID!, ptId: ID!, flags: [String!], data: HwptDataInput): Hwpt!
    attachDevice(deviceId: ID!, ptId: ID!): Device!
    detachDevice(deviceId: ID!): Device!
    attachDevicePasid(deviceId: ID!, pasid: Float!, ptId: ID!): Device!
    detachDevicePasid(deviceId: ID!, pasid: Float!): Device!
    allocViommu(deviceId: ID!, hwptId: ID!, type: String!): Viommu!
    allocVdevice(viommuId: ID!, deviceId: ID!, virtId: Float!): Vdevice!
    destroy(id: ID!): Boolean!
    "IOMMU_VEVENTQ_ALLOC (POST /v1/eventqs)."
    allocEventq(viommuId: ID!, type: String!, depth: Float!): Eventq!
    "read(2) on the vEVENTQ: removes and returns up to max items, default 64 (POST /v1/eventqs/{id}/read)."
    readEventq(id: ID!, max: Int): EventList!
    "IOMMU_HW_QUEUE_ALLOC (POST /v1/hw-queues)."
    allocHwQueue(viommuId: ID!, type: String!, index: Float!, nestingParentIova: String!, length: String!): HwQueue!
    "The guest enabling or disabling its queue (PATCH /v1/hw-queues/{id}); enabling runs what is queued."
    setHwQueueEnabled(id: ID!, enabled: Boolean!): HwQueueWithRun!
    "The guest writing commands at PROD, each two 64-bit words (POST /v1/hw-queues/{id}/commands)."
    pushHwQueueCommands(id: ID!, entries: [[String!]!]!): QueueRun!
    "Acknowledge the queue's error, GERRORN (POST /v1/hw-queues/{id}/error/ack)."
    ackHwQueueError(id: ID!, replaceWithSync: Boolean): QueueRun!
    "IOMMU_HWPT_INVALIDATE dispatched on the id's type (POST /v1/objects/{id}/invalidate); a failure's extensions carry entriesProcessed."
    invalidate(id: ID!, dataType: String!, entries: [[String!]!]!): InvalidationResult!
    "IOMMU_HWPT_INVALIDATE through a vIOMMU only (POST /v1/viommus/{id}/invalidate)."
    invalidateViommu(id: ID!, dataType: String!, entries: [[String!]!]!): InvalidationResult!
    "The guest writing its own memory through the IOAS mappings (PUT /v1/ioas/{id}/memory): data is base64, at most 1 MiB."
    writeGuestMemory(ioasId: ID!, iova: String!, data: String!): MemoryWritten!
    "A DMA by the device through its SMMU (POST /v1/devices/{id}/translate)."
    translate(deviceId: ID!, iova: String!, ssid: Int, access: String!): Translation!
    "Queue a raw record on the vIOMMU's vEVENTQ of that type (POST /v1/viommus/{id}/events; admin)."
    injectEvent(viommuId: ID!, type: String!, record: [String!]!): Event!
  }
`;

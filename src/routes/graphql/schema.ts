/** The GraphQL schema: the same objects as REST (api.md "GraphQL"). u32 values are Float. */
export const typeDefs = /* GraphQL */ `
  interface IommufdObject {
    id: Int!
    type: String!
    contextId: Int!
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
    id: Int!
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
    id: Int!
    name: String!
    smmuId: Int!
    smmu: Smmu!
    streamId: Float!
    ats: Boolean!
    pasidBits: Int!
    contextId: Int
    context: Context
    attachedTo: Int
    attachment: Hwpt
    "PASIDs attached to HWPTs (PUT /v1/devices/{id}/pasids/{pasid}/attachment)."
    pasids: [PasidAttachment!]!
    "What the host driver programmed: the STE and the CD table."
    host: HostConfig!
    vdevice: Vdevice
  }

  type HwptPasid {
    deviceId: Int!
    pasid: Float!
  }

  type PasidAttachment {
    pasid: Float!
    hwptId: Int!
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
    hwptId: Int!
    asid: Int!
    words: [String!]!
  }

  type Context {
    id: Int!
    name: String!
    createdAt: String!
    devices: [Device!]!
    objects: [IommufdObject!]!
    ioas: [Ioas!]!
    hwpts: [Hwpt!]!
    viommus: [Viommu!]!
    vdevices: [Vdevice!]!
  }

  type Mapping {
    iova: String!
    length: String!
    hostAddress: String!
    read: Boolean!
    write: Boolean!
  }

  type Ioas implements IommufdObject {
    id: Int!
    type: String!
    contextId: Int!
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
    id: Int!
    type: String!
    contextId: Int!
    context: Context!
    nestParent: Boolean!
    dirtyTracking: Boolean
    auto: Boolean
    ioasId: Int
    ioas: Ioas
    viommuId: Int
    viommu: Viommu
    smmuId: Int
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
    id: Int!
    type: String!
    contextId: Int!
    context: Context!
    viommuType: String!
    smmuId: Int!
    smmu: Smmu!
    hwptId: Int!
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
    id: Int!
    type: String!
    contextId: Int!
    context: Context!
    viommuId: Int!
    viommu: Viommu!
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
    error: String
  }

  type Vdevice implements IommufdObject {
    id: Int!
    type: String!
    contextId: Int!
    context: Context!
    viommuId: Int!
    viommu: Viommu!
    deviceId: Int!
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
    destroyedObjects: [Int!]!
    unboundDevices: [Int!]!
  }

  type VEvent {
    eventqId: Int!
    sequence: Int!
    flags: Int!
    lostEvents: Boolean!
    record: [String!]!
  }

  type ObjectChange {
    id: Int!
    type: String!
    contextId: Int!
    change: String!
  }

  type Eventq implements IommufdObject {
    id: Int!
    type: String!
    contextId: Int!
    context: Context!
    viommuId: Int!
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
    contextIds: [Int!]!
    created: [Int!]!
    changed: [Int!]!
    destroyed: [Int!]!
  }

  type AuditPage {
    items: [AuditEntry!]!
    nextCursor: String
  }

  type Subscription {
    vevents(eventqId: Int!): VEvent!
    objectChanged(contextId: Int!): ObjectChange!
  }

  type Query {
    eventq(id: Int!): Eventq!
    smmus: [Smmu!]!
    smmu(id: Int!): Smmu!
    devices(smmuId: Int, contextId: Int): [Device!]!
    device(id: Int!): Device!
    hwInfo(deviceId: Int!, type: String): HwInfo!
    contexts: [Context!]!
    context(id: Int!): Context!
    object(id: Int!): IommufdObject!
    ioas(id: Int!): Ioas!
    hwpt(id: Int!): Hwpt!
    viommu(id: Int!): Viommu!
    viommus(contextId: Int): [Viommu!]!
    vdevice(id: Int!): Vdevice!
    hwQueue(id: Int!): HwQueue!
    "Accepted writes, oldest first (admin only, as GET /v1/audit)."
    audit(contextId: Int, objectId: Int, token: String, limit: Int, cursor: String): AuditPage!
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
    deleteSmmu(id: Int!): Boolean!
    createDevice(name: String!, smmuId: Int!, streamId: Float!, ats: Boolean, pasidBits: Int): Device!
    deleteDevice(id: Int!): Boolean!
    createContext(name: String!): Context!
    deleteContext(id: Int!): ContextTeardown!
    bindDevice(contextId: Int!, deviceId: Int!): Device!
    unbindDevice(contextId: Int!, deviceId: Int!): Device!
    createIoas(contextId: Int!): Ioas!
    mapIoas(ioasId: Int!, iova: String!, length: String!, read: Boolean, write: Boolean): Mapping!
    unmapIoas(ioasId: Int!, iova: String, length: String): String!
    allocHwpt(deviceId: Int!, ptId: Int!, flags: [String!], data: HwptDataInput): Hwpt!
    attachDevice(deviceId: Int!, ptId: Int!): Device!
    detachDevice(deviceId: Int!): Device!
    attachDevicePasid(deviceId: Int!, pasid: Float!, ptId: Int!): Device!
    detachDevicePasid(deviceId: Int!, pasid: Float!): Device!
    allocViommu(deviceId: Int!, hwptId: Int!, type: String!): Viommu!
    allocVdevice(viommuId: Int!, deviceId: Int!, virtId: Float!): Vdevice!
    destroy(id: Int!): Boolean!
  }
`;

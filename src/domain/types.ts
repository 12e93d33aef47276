/** Records of the in-memory object graph; each mirrors one row of prisma/schema.prisma. */
import type { IdrRegisters } from '../hw/idr.js';

export const OBJECT_TYPES = ['ioas', 'hwpt_paging', 'hwpt_nested', 'viommu', 'vdevice', 'hw_queue', 'veventq'] as const;
export type ObjectType = (typeof OBJECT_TYPES)[number];

export const VIOMMU_TYPES = ['arm_smmuv3', 'tegra241_cmdqv'] as const;
export type ViommuType = (typeof VIOMMU_TYPES)[number];

export interface CmdqvParams {
  version: number;
  vintfs: number;
  vcmdqsPerVintf: number;
  sidsPerVintf: number;
}

export interface SmmuRec {
  id: number;
  name: string;
  idr: IdrRegisters;
  iidr: number;
  aidr: number;
  iotlbSize: number;
  cmdqv: CmdqvParams | null;
  createdAt: Date;
}

export interface DeviceRec {
  id: number;
  name: string;
  smmuId: number;
  streamId: number;
  ats: boolean;
  pasidBits: number;
  contextId: number | null;
  attachedTo: number | null;
  createdAt: Date;
}

export interface ContextRec {
  id: number;
  name: string;
  createdAt: Date;
}

/** One row of the object table; which columns a type uses is declared in objects.ts. */
export interface ObjectRec {
  id: number;
  contextId: number;
  type: ObjectType;
  ioasId: number | null;
  hwptId: number | null;
  viommuId: number | null;
  deviceId: number | null;
  smmuId: number | null;
  nestParent: boolean;
  dirtyTracking: boolean;
  auto: boolean;
  vste0: bigint | null;
  vste1: bigint | null;
  enableAts: boolean;
  viommuType: ViommuType | null;
  vmid: number | null;
  vintf: number | null;
  virtId: number | null;
  sidSlot: number | null;
  eventqType: EventqType | null;
  depth: number | null;
  nextSequence: number | null;
  nextOrd: number | null;
  queueType: 'tegra241_cmdqv' | null;
  queueIndex: number | null;
  queueIova: bigint | null;
  queueLength: number | null;
  queueBase: bigint | null;
  prevQueueId: number | null;
  qProd: number | null;
  qCons: number | null;
  qEnabled: boolean;
  qGerror: number | null;
  qGerrorn: number | null;
  createdAt: Date;
}

export const EVENTQ_TYPES = ['arm_smmuv3', 'tegra241_cmdqv'] as const;
export type EventqType = (typeof EVENTQ_TYPES)[number];

/** One 4 KiB page of simulated host memory. */
export interface PageRec {
  page: bigint;
  data: Uint8Array;
}

/** One item queued on a vEVENTQ: a record, or the payload-less LOST_EVENTS marker (flags 1). */
export interface EventRec {
  eventqId: number;
  ord: number;
  sequence: number;
  flags: number;
  payload: bigint[];
}

export interface MappingRec {
  ioasId: number;
  iova: bigint;
  length: bigint;
  hostAddress: bigint;
  readable: boolean;
  writable: boolean;
}

export interface TableRecords {
  meta: { key: string; value: string };
  smmus: SmmuRec;
  devices: DeviceRec;
  contexts: ContextRec;
  objects: ObjectRec;
  mappings: MappingRec;
  pages: PageRec;
  events: EventRec;
}
export type TableName = keyof TableRecords;

/** Parent-first order: creates and updates run in this order, deletes in the reverse. */
export const TABLE_ORDER: readonly TableName[] = ['meta', 'smmus', 'contexts', 'devices', 'objects', 'mappings', 'pages', 'events'];

export function recordKey<T extends TableName>(table: T, rec: TableRecords[T]): string {
  switch (table) {
    case 'meta':
      return (rec as TableRecords['meta']).key;
    case 'mappings': {
      const m = rec as MappingRec;
      return `${m.ioasId}:${m.iova}`;
    }
    case 'pages':
      return (rec as PageRec).page.toString(16);
    case 'events': {
      const e = rec as EventRec;
      return `${e.eventqId}:${e.ord}`;
    }
    default:
      return String((rec as { id: number }).id);
  }
}

export function newObject(partial: Pick<ObjectRec, 'id' | 'contextId' | 'type'> & Partial<ObjectRec>): ObjectRec {
  return {
    ioasId: null,
    hwptId: null,
    viommuId: null,
    deviceId: null,
    smmuId: null,
    nestParent: false,
    dirtyTracking: false,
    auto: false,
    vste0: null,
    vste1: null,
    enableAts: false,
    viommuType: null,
    vmid: null,
    vintf: null,
    virtId: null,
    sidSlot: null,
    eventqType: null,
    depth: null,
    nextSequence: null,
    nextOrd: null,
    queueType: null,
    queueIndex: null,
    queueIova: null,
    queueLength: null,
    queueBase: null,
    prevQueueId: null,
    qProd: null,
    qCons: null,
    qEnabled: false,
    qGerror: null,
    qGerrorn: null,
    createdAt: new Date(),
    ...partial,
  };
}

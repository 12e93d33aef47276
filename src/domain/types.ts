/** Records of the in-memory object graph; each mirrors one row of prisma/schema.prisma. */
import type { IdrRegisters } from '../hw/idr.js';
import type { ObjectRec } from './objects/index.js';

export { EVENTQ_TYPES, OBJECT_TYPES, VIOMMU_TYPES } from './objects/index.js';
export type { EventqType, ObjectRec, ObjectType, RecOf, ViommuType } from './objects/index.js';

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
  /** PASID attachments (VFIO attach with a PASID), ascending by PASID. */
  pasids: PasidAttachment[];
  createdAt: Date;
}

/** One PASID of a device attached to a HWPT (the kernel's igroup->pasid_attach entry). */
export interface PasidAttachment {
  pasid: number;
  hwptId: number;
}

export interface ContextRec {
  id: number;
  name: string;
  createdAt: Date;
}


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

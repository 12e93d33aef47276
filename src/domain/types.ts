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

/**
 * The stored answer to a request made with an Idempotency-Key (IETF draft), per caller: written in
 * the same transaction as the write it answers (store.ts), or alone for an answer no write made.
 */
export interface IdempotencyRec {
  /** Who made the request: the token's name, or "anonymous" without API_TOKENS. */
  caller: string;
  key: string;
  /** sha256 of method, path and body: a reuse with another request is refused. */
  fingerprint: string;
  method: string;
  path: string;
  status: number;
  /** The answer's body as sent (JSON text), or null for an empty one (204). */
  body: string | null;
  contentType: string | null;
  createdAt: Date;
  expiresAt: Date;
}

/** Who asked for the write, and through what (audit: who, what, when). */
export interface WriteOrigin {
  requestId: string | null;
  /** The token's name, "anonymous" without API_TOKENS, "system" for the service's own writes. */
  actor: string;
  method: string | null;
  /** The route pattern ("/v1/hwpts", "/graphql"), or what the service does ("startup"). */
  route: string;
  path: string | null;
  /** A GraphQL mutation's field name; the service's own operation. */
  operation: string | null;
}

/** One accepted write: who and through what (WriteOrigin), what, when (store.ts). */
export interface AuditRec extends WriteOrigin {
  seq: number;
  at: Date;
  /** Contexts whose objects or devices the write touched (or the contexts it created/deleted). */
  contextIds: number[];
  /** SMMUs, devices, contexts and objects the write created, changed (including an IOAS's mappings, a vEVENTQ's records) and destroyed. */
  created: number[];
  changed: number[];
  destroyed: number[];
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
  idempotency: IdempotencyRec;
  audit: AuditRec;
}
export type TableName = keyof TableRecords;

/** Parent-first order: creates and updates run in this order, deletes in the reverse. */
export const TABLE_ORDER: readonly TableName[] = ['meta', 'smmus', 'contexts', 'devices', 'objects', 'mappings', 'pages', 'events', 'idempotency', 'audit'];

/** The tables of the iommufd state: what an audit entry reports (not the bookkeeping tables). */
export const STATE_TABLES: ReadonlySet<TableName> = new Set(['smmus', 'contexts', 'devices', 'objects', 'mappings', 'pages', 'events']);

/** The key of an idempotency record: the key is scoped per caller. */
export const idempotencyKeyOf = (caller: string, key: string): string => `${caller}\n${key}`;

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
    case 'idempotency': {
      const i = rec as IdempotencyRec;
      return idempotencyKeyOf(i.caller, i.key);
    }
    case 'audit':
      return String((rec as AuditRec).seq);
    default:
      return String((rec as { id: number }).id);
  }
}

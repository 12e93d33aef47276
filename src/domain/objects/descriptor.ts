/**
 * What every object type declares about itself, as the kernel's `iommufd_object_ops` does,
 * widened: its record shape (a member of the ObjectRec union, objects/index.ts), what it holds a
 * users reference on, what it pins, whether it changes STEs, what it owns in other tables, its
 * REST view, its GraphQL type and its storage columns. Everything that would otherwise be a
 * hand-kept list elsewhere (GraphQL resolveType, views, column maps, the STE trigger, names in
 * messages) is derived from the registry of these descriptors (objects/index.ts).
 */

/** The columns every object has (one id space, one context). */
export interface ObjectBase {
  id: number;
  contextId: number;
  /**
   * Creation time, milliseconds since the epoch (stored as DateTime). A number, not a Date: a
   * host holds 100,000s of object records, and a Date is ~96 bytes of heap where a number is
   * 16 (bench/RESULTS.md, rss_100k_mb: 7.5 MB of Dates in the 100,000-object host's heap).
   */
  createdAt: number;
}

/**
 * How a column of the one object table (prisma/schema.prisma `IommufdObject`) stores a record
 * field: `int`, `bool`, `text`; `u32` an unsigned 32-bit number as its signed image in an `Int`
 * column (Prisma's Int is signed 32-bit); `hex64` a bigint as "0x" + 16 hex digits; `bigint` a
 * number in a SQLite 64-bit integer. A column two types share must have one kind (checked at start).
 */
export type ColumnKind = 'int' | 'u32' | 'bool' | 'text' | 'hex64' | 'bigint';

/** What a view may ask of the graph beyond the record itself (answered by object-table.ts). */
export interface ViewContext {
  /** Ids of the devices attached to `hwptId`, ascending. */
  attachedDevices(hwptId: number): number[];
  /** The PASID attachments to `hwptId` ({ deviceId, pasid }), by device then PASID. */
  pasidAttachments(hwptId: number): Array<{ deviceId: number; pasid: number }>;
  /** Items queued on the vEVENTQ. */
  pendingEvents(eventqId: number): number;
  /** The device's physical StreamID, or null when it is gone. */
  streamIdOf(deviceId: number): number | null;
}

/** A range of guest IOVA in an IOAS that an object pins (IOAS_UNMAP of it is EBUSY). */
export interface PinnedSpan {
  ioasId: number;
  start: bigint;
  /** Exclusive. */
  end: bigint;
}

export interface ObjectDescriptor<R extends ObjectBase & { type: string }> {
  type: R['type'];
  /** The name messages use ("vIOMMU 7 is in use by ..."). */
  name: string;
  /** The GraphQL type implementing IommufdObject (src/routes/graphql/schema.ts). */
  graphqlType: string;
  /** Storage: the type's own columns of the object table, beyond id, contextId, type, createdAt. */
  columns: { readonly [K in Exclude<keyof R, keyof ObjectBase | 'type'>]-?: ColumnKind };
  /** Ids this object holds a users reference on (kernel: refcount_inc at allocation). */
  refs(o: R): number[];
  /** The IOAS range it pins, if any (iommufd_access pinning, e.g. a HW queue's memory). */
  pins?(o: R): PinnedSpan | null;
  /** Whether creating, changing or destroying it can change a device's STE (hardware.ts re-derives). */
  changesStes: boolean;
  /** Rows of other tables that go with it on destroy. */
  owns?: ReadonlyArray<'mappings' | 'events'>;
  /** Its REST view (GET /v1/objects/{id}), also served by GraphQL. */
  view(o: R, ctx: ViewContext): Record<string, unknown>;
}

/** The ids among `ids` that are set. */
export const present = (...ids: Array<number | null>): number[] => ids.filter((id): id is number => id !== null);

/** The fields every view starts with. */
export const baseView = (o: ObjectBase & { type: string }) => ({ id: o.id, type: o.type, contextId: o.contextId, createdAt: new Date(o.createdAt).toISOString() });

/**
 * A view: the base fields, then the type's own, in that order. Not `{ ...baseView(o), ... }`:
 * spreading an object and then adding properties takes V8's slow path on Node 20 (~8 µs a view
 * against ~0.1 µs), which a list page or a dashboard of 10,000 objects pays per object.
 */
export const withBase = <V extends object>(o: ObjectBase & { type: string }, own: V): ReturnType<typeof baseView> & V => Object.assign(baseView(o), own);

/**
 * The registry of object types: one descriptor per type (its own file in this folder), and
 * everything derived from them. Adding a type: its file here, its entry below, its migration,
 * its schema and route, its GraphQL type (docs/architecture.md, "Adding an object type").
 */
import type { ColumnKind, ObjectDescriptor } from './descriptor.js';
import { hwQueue, type HwQueueRec } from './hw-queue.js';
import { hwptNested, type HwptNestedRec } from './hwpt-nested.js';
import { hwptPaging, type HwptPagingRec } from './hwpt-paging.js';
import { ioas, type IoasRec } from './ioas.js';
import { vdevice, type VdeviceRec } from './vdevice.js';
import { veventq, type VeventqRec } from './veventq.js';
import { viommu, type ViommuRec } from './viommu.js';

export type { ColumnKind, ObjectBase, ObjectDescriptor, PinnedSpan, ViewContext } from './descriptor.js';
export type { HwQueueRec, HwptNestedRec, HwptPagingRec, IoasRec, VdeviceRec, VeventqRec, ViommuRec };
export { EVENTQ_TYPES, type EventqType } from './veventq.js';
export { VIOMMU_TYPES, type ViommuType } from './viommu.js';
export { log2SizeOf, pinnedSpan } from './hw-queue.js';
export { vsteView, type VsteView } from './hwpt-nested.js';

/** One record of the object table: a member per type. */
export type ObjectRec = IoasRec | HwptPagingRec | HwptNestedRec | ViommuRec | VdeviceRec | HwQueueRec | VeventqRec;
export type ObjectType = ObjectRec['type'];
/** The record of type T. */
export type RecOf<T extends ObjectType> = Extract<ObjectRec, { type: T }>;

/** The registry, in the order of the kernel's enum iommufd_object_type where it has the type. */
export const OBJECTS: { readonly [T in ObjectType]: ObjectDescriptor<RecOf<T>> } = {
  ioas,
  hwpt_paging: hwptPaging,
  hwpt_nested: hwptNested,
  viommu,
  vdevice,
  hw_queue: hwQueue,
  veventq,
};

export const OBJECT_TYPES = Object.keys(OBJECTS) as ObjectType[];

/** The descriptor of `o`'s type. */
export function descriptorOf<R extends ObjectRec>(o: R): ObjectDescriptor<R> {
  return OBJECTS[o.type] as unknown as ObjectDescriptor<R>;
}

/** "IOAS or paging HWPT": the names of these types, for messages. */
export function describeTypes(types: readonly ObjectType[]): string {
  return types.map((t) => OBJECTS[t].name).join(' or ');
}

/**
 * The object table's type-specific columns, each with its one kind: the union of every type's
 * columns. A column two types declare with different kinds is a programming error, caught here
 * at start rather than as a silently converted value.
 */
export const OBJECT_COLUMNS: ReadonlyMap<string, ColumnKind> = (() => {
  const columns = new Map<string, ColumnKind>();
  for (const d of Object.values(OBJECTS) as Array<ObjectDescriptor<ObjectRec>>) {
    for (const [col, kind] of Object.entries(d.columns) as Array<[string, ColumnKind]>) {
      const known = columns.get(col);
      if (known !== undefined && known !== kind) throw new Error(`object column ${col}: ${d.type} declares ${kind}, another type ${known}`);
      columns.set(col, kind);
    }
  }
  return columns;
})();

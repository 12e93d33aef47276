/**
 * The object table, as the kernel's iommufd_object_ops table does it: each type's descriptor
 * (objects/) declares what it holds a users reference on and what it owns, and one generic path
 * does lookup by id and type (wrong type or another context's id → ENOENT), destroy with EBUSY +
 * blockedBy, and leaf-first teardown.
 */
import { fail } from './errors.js';
import { freeHostRange } from './memory.js';
import { ObjectGraph, type WriteTx } from './graph.js';
import { descriptorOf, describeTypes, OBJECTS, type ObjectRec, type ObjectType, type RecOf, type ViewContext } from './objects/index.js';
import type { Reader } from './reader.js';
import type { DeviceRec, EventRec, TableName } from './types.js';

export { describeTypes };

/** "an IOAS", "a vIOMMU": the article as the name is read aloud. */
const article = (name: string): string => (/^([aeiou]|IOAS|HWPT)/i.test(name) ? 'an' : 'a');

export interface Blocker {
  id: number;
  type: ObjectType | 'device';
}

/** Everything holding a users reference on `id`: objects that reference it, attached devices. */
export function usersOf(r: Reader, target: ObjectRec): Blocker[] {
  const users: Blocker[] = [];
  // References never cross a context (an fd's objects name its own): the context's indexes hold them all.
  for (const o of r.indexed('objects', 'context', target.contextId) as Iterable<ObjectRec>) {
    if (o.id !== target.id && descriptorOf(o).refs(o).includes(target.id)) {
      users.push({ id: o.id, type: o.type });
    }
  }
  for (const d of r.indexed('devices', 'context', target.contextId) as Iterable<DeviceRec>) {
    // A device holds a users reference per attachment: its RID and each of its PASIDs.
    if (d.attachedTo === target.id || d.pasids.some((a) => a.hwptId === target.id)) users.push({ id: d.id, type: 'device' });
  }
  return users.sort((a, b) => a.id - b.id);
}

/**
 * iommufd_get_object(): the object `id` of one of `types` in `contextId`. A missing id, a wrong
 * type and another context's id are all ENOENT (unless the caller maps it, as HWPT_ALLOC does).
 */
export function lookupObject<T extends ObjectType>(r: Reader, contextId: number | null, id: number, types: readonly T[], what = 'object'): RecOf<T> {
  const o = r.get('objects', id) as ObjectRec | undefined;
  // Another context's object "does not exist" (a token limited to contexts must not learn its type).
  if (!o || (contextId !== null && o.contextId !== contextId)) {
    fail('ENOENT', `${what} ${id} does not exist${contextId !== null ? ` in context ${contextId}` : ''}`);
  }
  if (!(types as readonly ObjectType[]).includes(o.type)) {
    fail('ENOENT', `object ${id} is ${article(OBJECTS[o.type].name)} ${OBJECTS[o.type].name}, not ${article(describeTypes(types))} ${describeTypes(types)}`);
  }
  return o as RecOf<T>;
}

export function findObject(r: Reader, contextId: number, id: number): ObjectRec | undefined {
  const o = r.get('objects', id) as ObjectRec | undefined;
  return o && o.contextId === contextId ? o : undefined;
}

/**
 * Whether `id` names a device bound to `contextId` (any context when null): in the kernel a bound
 * device is an object of the fd (IOMMUFD_OBJ_DEVICE, iommufd_device_bind), so an IOMMUFD_OBJ_ANY
 * lookup finds it and the caller's type switch refuses it as EINVAL, not ENOENT.
 */
export function isBoundDevice(r: Reader, contextId: number | null, id: number): boolean {
  const d = r.get('devices', id) as DeviceRec | undefined;
  return d !== undefined && d.contextId !== null && (contextId === null || d.contextId === contextId);
}

/** A bound device of `contextId` (the kernel's idev lookup by dev_id); ENOENT otherwise. */
export function lookupBoundDevice(r: Reader, contextId: number | null, deviceId: number): DeviceRec {
  const d = r.get('devices', deviceId) as DeviceRec | undefined;
  if (!d || d.contextId === null || (contextId !== null && d.contextId !== contextId)) {
    fail('ENOENT', `device ${deviceId} is not bound to ${contextId !== null ? `context ${contextId}` : 'a context'}`);
  }
  return d;
}

/** Removes the object's row and the rows its type owns (no checks). */
function removeObject(tx: WriteTx, o: ObjectRec): void {
  for (const table of descriptorOf(o).owns ?? []) {
    if (table === 'mappings') {
      for (const m of [...tx.indexed('mappings', 'ioas', o.id)]) {
        tx.delete('mappings', `${m.ioasId}:${m.iova}`);
        freeHostRange(tx, m.hostAddress, m.length);
      }
    } else {
      for (const e of [...tx.indexed('events', 'eventq', o.id)]) tx.delete('events', `${e.eventqId}:${e.ord}`);
    }
  }
  tx.delete('objects', o.id);
}

/** IOMMU_DESTROY: EBUSY (with the blocking ids) while anything holds a reference. */
export function destroyObject(tx: WriteTx, o: ObjectRec): void {
  const users = usersOf(tx, o);
  if (users.length > 0) {
    fail('EBUSY', `${OBJECTS[o.type].name} ${o.id} is in use by ${users.map((u) => `${u.type} ${u.id}`).join(', ')}`, {
      blockedBy: users.map((u) => u.id),
    });
  }
  removeObject(tx, o);
}

/** Releases an auto HWPT (created by attaching to an IOAS) once its last device has left. */
export function releaseAutoHwpt(tx: WriteTx, hwptId: number | null): void {
  if (hwptId === null) return;
  const hwpt = tx.get('objects', hwptId);
  if (hwpt && hwpt.type === 'hwpt_paging' && hwpt.auto && usersOf(tx, hwpt).length === 0) removeObject(tx, hwpt);
}

/**
 * iommufd_fops_release: destroy every object whose only reference is its own, repeatedly,
 * until none is left (leaf-first). Devices must have been detached before.
 */
export function destroyAllObjects(tx: WriteTx, contextId: number): number[] {
  const destroyed: number[] = [];
  for (;;) {
    const remaining = [...tx.indexed('objects', 'context', contextId)];
    if (remaining.length === 0) return destroyed;
    const leaves = remaining.filter((o) => usersOf(tx, o).length === 0);
    if (leaves.length === 0) throw new Error(`context ${contextId}: reference cycle among ${remaining.map((o) => o.id).join(',')}`);
    for (const o of leaves.sort((a, b) => b.id - a.id)) {
      removeObject(tx, o);
      destroyed.push(o.id);
    }
  }
}

/** The objects pinning a range of `ioasId` that overlaps [start, end). */
export function pinnersOf(r: Reader, ioasId: number, start: bigint, end: bigint): ObjectRec[] {
  const pinners: ObjectRec[] = [];
  const ioas = r.get('objects', ioasId) as ObjectRec | undefined;
  if (!ioas) return pinners;
  for (const o of r.indexed('objects', 'context', ioas.contextId) as Iterable<ObjectRec>) {
    const span = descriptorOf(o).pins?.(o);
    if (span && span.ioasId === ioasId && span.start < end && start < span.end) pinners.push(o);
  }
  return pinners;
}

/**
 * The table each question of a view reads (beyond the viewed record): a view of the committed
 * graph is kept while those tables have not changed. pasidAttachments also reads the HWPT's
 * record for its context, which is the viewed record itself (views ask it of their own id).
 */
const VIEW_READS: { readonly [Q in keyof ViewContext]: TableName } = {
  attachedDevices: 'devices',
  pasidAttachments: 'devices',
  pendingEvents: 'events',
  streamIdOf: 'devices',
};

/** What views may ask of the graph (objects/descriptor.ts ViewContext); `reads` collects the tables asked. */
export function viewContext(r: Reader, reads?: Set<TableName>): ViewContext {
  const read = reads ? (q: keyof ViewContext) => reads.add(VIEW_READS[q]) : () => undefined;
  return {
    attachedDevices(hwptId) {
      read('attachedDevices');
      const ids: number[] = [];
      for (const d of r.indexed('devices', 'attachedTo', hwptId) as Iterable<DeviceRec>) ids.push(d.id);
      return ids.sort((a, b) => a - b);
    },
    pasidAttachments(hwptId) {
      read('pasidAttachments');
      const out: Array<{ deviceId: number; pasid: number }> = [];
      const hwpt = r.get('objects', hwptId) as ObjectRec | undefined;
      if (!hwpt) return out;
      for (const d of r.indexed('devices', 'context', hwpt.contextId) as Iterable<DeviceRec>) {
        for (const a of d.pasids) if (a.hwptId === hwptId) out.push({ deviceId: d.id, pasid: a.pasid });
      }
      return out.sort((a, b) => a.deviceId - b.deviceId || a.pasid - b.pasid);
    },
    pendingEvents(eventqId) {
      read('pendingEvents');
      let pending = 0;
      for (const _ of r.indexed('events', 'eventq', eventqId) as Iterable<EventRec>) pending++;
      return pending;
    },
    streamIdOf(deviceId) {
      read('streamIdOf');
      return (r.get('devices', deviceId) as DeviceRec | undefined)?.streamId ?? null;
    },
  };
}

/** A view of a committed record, with the version of each table it read. */
interface KeptView {
  view: Readonly<Record<string, unknown>>;
  reads: ReadonlyArray<readonly [TableName, number]>;
}
/**
 * Views kept, at most KEPT_VIEWS (the oldest kept goes first): ~450 bytes each, so ~7 MB. A
 * dashboard over 1,000 VMs of 11 objects reads 11,000. List pages (`keep: 'scan'`) keep a view
 * while there is room, and once full only for an object a list asked for before (among the last
 * KEPT_VIEWS a list did not find kept, `scannedOnce`): a walk of every page of a 100,000-object
 * host would otherwise turn ~84,000 kept views into old garbage (they had lived long enough to be
 * promoted, ~45 MB of heap per walk until the next full collection, bench/RESULTS.md), while a
 * page asked for again is kept as before. A page's view that is not kept dies young.
 */
export const KEPT_VIEWS = 16_384;
const keptViews = new Map<ObjectRec, KeptView>();
const scannedOnce = new Set<ObjectRec>();

/** Whether no table the kept view read has changed since. */
function isCurrent(graph: ObjectGraph, kept: KeptView): boolean {
  for (const [table, version] of kept.reads) if (graph.tableVersion(table) !== version) return false;
  return true;
}

/**
 * GET /v1/objects/{id}: `{ id, type, contextId, ... }` with the type's own fields. Records are
 * replaced whole, never changed in place, so a view of the committed graph is kept beside its
 * record (frozen: every reader shares it) until the record is replaced or a table it read
 * changes: lists and dashboards that ask again cost a lookup per object. `keep: 'scan'` (list
 * pages) pushes another kept view out only for an object a list asked for before (KEPT_VIEWS).
 */
export function objectView(r: Reader, o: ObjectRec, keep: 'always' | 'scan' = 'always'): Record<string, unknown> {
  // A transaction's reader (an idempotent answer shaped before the commit) reads staged changes.
  if (!(r instanceof ObjectGraph) || r.get('objects', o.id) !== o) return descriptorOf(o).view(o, viewContext(r));
  const kept = keptViews.get(o);
  if (kept && isCurrent(r, kept)) return kept.view;
  const reads = new Set<TableName>();
  const built = descriptorOf(o).view(o, viewContext(r, reads));
  if (!kept && keptViews.size >= KEPT_VIEWS) {
    if (keep === 'scan' && !scannedOnce.delete(o)) {
      scannedOnce.add(o);
      if (scannedOnce.size > KEPT_VIEWS) scannedOnce.delete(scannedOnce.keys().next().value as ObjectRec);
      return Object.freeze(built);
    }
    keptViews.delete(keptViews.keys().next().value as ObjectRec);
  }
  // What is kept is a copy: the descriptors' view literals then only ever make objects that die
  // young. Kept themselves, they survived often enough for V8 to allocate every later view of
  // those sites in the old generation (allocation-site pretenuring), where the views of a list
  // walk — built, sent, dropped — piled up as old garbage until the next full collection.
  const view = Object.freeze(structuredClone(built));
  keptViews.set(o, { view, reads: [...reads].map((table) => [table, r.tableVersion(table)] as const) });
  return view;
}

/** Whether a committed change to this object can change a device's STE. */
export function changesStes(o: ObjectRec): boolean {
  return OBJECTS[o.type].changesStes;
}

/**
 * vEVENTQ (IOMMU_VEVENTQ_ALLOC, iommufd.md §2.7): allocation rules, and the kernel's queueing
 * rules (iommufd_viommu_report_event + iommufd_vevent_handler): every queued item takes the
 * current sequence number, which then advances as (seq + 1) & INT_MAX; when `depth` real events
 * are pending, no payload is stored and the single LOST_EVENTS marker is (re)queued at the tail
 * with a fresh sequence number; reading the marker does not count as reading an event.
 */
import { fail } from './errors.js';
import type { WriteTx } from './graph.js';
import { allocId } from './ids.js';
import { lookupObject } from './object-table.js';
import type { Reader } from './reader.js';
import type { VeventqRec } from './objects/index.js';
import type { EventRec, EventqType, ObjectRec } from './types.js';

export const INT_MAX = 0x7fffffff;
export const IOMMU_VEVENTQ_FLAG_LOST_EVENTS = 1;
export const VEVENTQ_ALLOC_TYPES = ['default', 'arm_smmuv3', 'tegra241_cmdqv'] as const;
export type VeventqAllocType = (typeof VEVENTQ_ALLOC_TYPES)[number];
/** Payload size per type in 64-bit words: ARM evt[4], Tegra241 lvcmdq_err_map[2]. */
export const PAYLOAD_WORDS: Record<EventqType, number> = { arm_smmuv3: 4, tegra241_cmdqv: 2 };

export interface AllocEventqInput {
  viommuId: number;
  type: VeventqAllocType;
  depth: number;
}

/** iommufd_veventq_alloc: type DEFAULT → EOPNOTSUPP, depth 0 → EINVAL, vIOMMU → ENOENT, same type → EEXIST. */
export function allocEventq(tx: WriteTx, input: AllocEventqInput): VeventqRec {
  if (input.type === 'default') fail('EOPNOTSUPP', 'vEVENTQ type default is reserved');
  if (input.depth === 0) fail('EINVAL', 'veventq depth must be at least 1');
  const viommu = lookupObject(tx, null, input.viommuId, ['viommu'], 'viommuId');
  const clash = eventqOf(tx, viommu.id, input.type);
  if (clash) fail('EEXIST', `vIOMMU ${viommu.id} already has ${input.type} vEVENTQ ${clash.id}`);
  const eventq: VeventqRec = {
    id: allocId(tx),
    contextId: viommu.contextId,
    type: 'veventq',
    viommuId: viommu.id,
    eventqType: input.type,
    depth: input.depth,
    nextSequence: 0,
    nextOrd: 1,
    createdAt: Date.now(),
  };
  return tx.put('objects', eventq);
}

export function pendingEvents(r: Reader, eventqId: number): EventRec[] {
  return ([...r.indexed('events', 'eventq', eventqId)] as EventRec[]).sort((a, b) => a.ord - b.ord);
}

/** The vIOMMU's vEVENTQ of `type`, if any (iommufd_viommu_find_veventq). */
export function eventqOf(r: Reader, viommuId: number, type: EventqType): VeventqRec | undefined {
  for (const o of r.indexed('objects', 'viommuType', `${viommuId}:veventq`) as Iterable<ObjectRec>) if (o.type === 'veventq' && o.eventqType === type) return o;
  return undefined;
}

/** iommufd_viommu_report_event on `eventq`; returns the item queued (a record or the marker). */
export function queueEvent(tx: WriteTx, eventq: VeventqRec, payload: bigint[]): EventRec {
  const pending = pendingEvents(tx, eventq.id);
  const real = pending.filter((e) => e.flags === 0).length;
  const sequence = eventq.nextSequence;
  const ord = eventq.nextOrd;
  // iommufd_vevent_handler: a lost-events marker at the tail is removed before anything is
  // appended, a real event or the marker again — so there is at most one, and it is always last.
  const last = pending[pending.length - 1];
  if (last?.flags === IOMMU_VEVENTQ_FLAG_LOST_EVENTS) tx.delete('events', `${last.eventqId}:${last.ord}`);
  const item: EventRec =
    real >= eventq.depth
      ? { eventqId: eventq.id, ord, sequence, flags: IOMMU_VEVENTQ_FLAG_LOST_EVENTS, payload: [] }
      : { eventqId: eventq.id, ord, sequence, flags: 0, payload };
  tx.put('events', item);
  tx.put('objects', { ...eventq, nextSequence: (sequence + 1) & INT_MAX, nextOrd: ord + 1 });
  return item;
}

/** The type of the vEVENTQ `id` (the layout of its records); arm_smmuv3 once it is gone. */
export function eventqTypeOf(r: Reader, id: number): EventqType {
  const q = r.get('objects', id);
  return q?.type === 'veventq' ? q.eventqType : 'arm_smmuv3';
}

/** read(2): removes and returns up to `max` items in order. */
export function readEvents(tx: WriteTx, eventqId: number, max: number): EventRec[] {
  lookupObject(tx, null, eventqId, ['veventq'], 'vEVENTQ');
  const items = pendingEvents(tx, eventqId).slice(0, max);
  for (const e of items) tx.delete('events', `${e.eventqId}:${e.ord}`);
  return items;
}

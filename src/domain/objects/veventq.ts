/**
 * vEVENTQ (IOMMU_VEVENTQ_ALLOC): a vIOMMU's queue of events for the guest, with the kernel's
 * sequence numbers; its queued records go with it. Rules: ../eventq.ts.
 */
import { withBase, type ObjectBase, type ObjectDescriptor } from './descriptor.js';

export const EVENTQ_TYPES = ['arm_smmuv3', 'tegra241_cmdqv'] as const;
export type EventqType = (typeof EVENTQ_TYPES)[number];

export interface VeventqRec extends ObjectBase {
  type: 'veventq';
  viommuId: number;
  eventqType: EventqType;
  /** Any non-zero u32 (iommufd_veventq_alloc). */
  depth: number;
  /** The sequence number the next queued item gets (wraps at INT_MAX). */
  nextSequence: number;
  /** The delivery position of the next queued item (never wraps; SSE event ids). */
  nextOrd: number;
}

export const veventq: ObjectDescriptor<VeventqRec> = {
  type: 'veventq',
  name: 'vEVENTQ',
  graphqlType: 'Eventq',
  columns: { viommuId: 'int', eventqType: 'text', depth: 'u32', nextSequence: 'int', nextOrd: 'bigint' },
  // iommufd_veventq_alloc: holds the vIOMMU.
  refs: (o) => [o.viommuId],
  changesStes: false,
  owns: ['events'],
  view: (o, ctx) =>
    withBase(o, {
      viommuId: o.viommuId,
      eventqType: o.eventqType,
      depth: o.depth,
      pending: ctx.pendingEvents(o.id),
      nextSequence: o.nextSequence,
    }),
};

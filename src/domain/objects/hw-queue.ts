/**
 * HW queue (IOMMU_HW_QUEUE_ALLOC): a Tegra241 VCMDQ the guest owns, in its own memory, pinned in
 * the nest parent's IOAS, with the guest's VCMDQ registers. Rules: ../hwqueue.ts.
 */
import { addr64 } from '../format.js';
import { present, withBase, type ObjectBase, type ObjectDescriptor } from './descriptor.js';

const PAGE = 0x1000n;

export interface HwQueueRec extends ObjectBase {
  type: 'hw_queue';
  viommuId: number;
  /** The nest parent's IOAS, where the queue memory lives and is pinned. */
  ioasId: number;
  smmuId: number;
  queueType: 'tegra241_cmdqv';
  /** Its logical index in the VINTF. */
  queueIndex: number;
  /** The guest range it lives in: nesting-parent IOVA and length in bytes. */
  queueIova: bigint;
  queueLength: number;
  /** The pinned host physical address. */
  queueBase: bigint;
  /** The queue of the previous index it depends on (destroy in descending order). */
  prevQueueId: number | null;
  /** The guest's VCMDQ registers: PROD, CONS (with ERR), CONFIG.EN, GERROR, GERRORN. */
  qProd: number;
  qCons: number;
  qEnabled: boolean;
  qGerror: number;
  qGerrorn: number;
}

/** LOG2SIZE of the queue (entries of 16 bytes). */
export const log2SizeOf = (q: Pick<HwQueueRec, 'queueLength'>): number => Math.log2(q.queueLength) - 4;

/** The page-aligned span a queue pins (iommufd_hw_queue_alloc_phys). */
export function pinnedSpan(q: { queueIova: bigint; queueLength: number | bigint }): { start: bigint; end: bigint } {
  const start = q.queueIova & ~(PAGE - 1n);
  const end = (q.queueIova + BigInt(q.queueLength) + PAGE - 1n) & ~(PAGE - 1n);
  return { start, end };
}

const CERROR_NAMES = ['CERROR_NONE', 'CERROR_ILL', 'CERROR_ABT', 'CERROR_ATC_INV_SYNC'];

export const hwQueue: ObjectDescriptor<HwQueueRec> = {
  type: 'hw_queue',
  name: 'HW queue',
  graphqlType: 'HwQueue',
  columns: {
    viommuId: 'int',
    ioasId: 'int',
    smmuId: 'int',
    queueType: 'text',
    queueIndex: 'int',
    queueIova: 'hex64',
    queueLength: 'int',
    queueBase: 'hex64',
    prevQueueId: 'int',
    qProd: 'int',
    qCons: 'int',
    qEnabled: 'bool',
    qGerror: 'int',
    qGerrorn: 'int',
  },
  // iommufd_hw_queue_alloc_ioctl: holds the vIOMMU, the internal access pinning the queue memory
  // in the parent IOAS, and the queue of the previous index.
  refs: (o) => present(o.viommuId, o.ioasId, o.prevQueueId),
  pins: (o) => ({ ioasId: o.ioasId, ...pinnedSpan(o) }),
  changesStes: false,
  view: (o) => {
    const log2Size = log2SizeOf(o);
    const err = (o.qCons >>> 24) & 0x7f;
    return withBase(o, {
      viommuId: o.viommuId,
      queueType: o.queueType,
      index: o.queueIndex,
      nestingParentIova: addr64(o.queueIova),
      length: addr64(BigInt(o.queueLength)),
      // The guest's VCMDQ page: BASE (ADDR [47:5] | LOG2SIZE), PROD, CONS (ERR [30:24]),
      // CONFIG.EN, STATUS.ENABLED, GERROR, GERRORN.
      base: addr64(o.queueBase | BigInt(log2Size)),
      log2Size,
      prod: o.qProd,
      cons: o.qCons,
      consIndex: o.qCons & ((1 << log2Size) - 1),
      enabled: o.qEnabled,
      status: { enabled: o.qEnabled },
      gerror: o.qGerror,
      gerrorn: o.qGerrorn,
      stopped: ((o.qGerror ^ o.qGerrorn) & 1) === 1,
      error: err === 0 ? null : (CERROR_NAMES[err] ?? `CERROR_${err}`),
    });
  },
};

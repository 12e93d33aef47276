/**
 * The JSON shapes of api.md, built from graph records. Both REST and GraphQL serve these, so
 * the two can never disagree on a field.
 */
import { decodeFeatures, type SmmuFeatures } from '../hw/idr.js';
import type { Reader } from './reader.js';
import type { ContextRec, DeviceRec, MappingRec, ObjectRec, SmmuRec } from './types.js';
import { decodeVste } from './vste.js';
import { decodeEvent, type TranslateResult } from '../hw/index.js';
import type { EventRec, EventqType } from './types.js';

/** 64-bit words (STE, commands): "0x" + 16 lowercase hex digits. */
export const word64 = (v: bigint): string => '0x' + v.toString(16).padStart(16, '0');
/** Addresses and lengths: "0x" + lowercase hex digits. */
export const addr64 = (v: bigint): string => '0x' + v.toString(16);

export interface SmmuView {
  id: number;
  name: string;
  idr: number[];
  iidr: number;
  aidr: number;
  iotlbSize: number;
  features: SmmuFeatures;
  cmdqv: { version: number; vintfs: number; vcmdqsPerVintf: number; sidsPerVintf: number } | null;
  createdAt: string;
}

export function smmuView(s: SmmuRec): SmmuView {
  return {
    id: s.id,
    name: s.name,
    idr: [...s.idr],
    iidr: s.iidr,
    aidr: s.aidr,
    iotlbSize: s.iotlbSize,
    features: decodeFeatures(s.idr),
    cmdqv: s.cmdqv ? { ...s.cmdqv } : null,
    createdAt: s.createdAt.toISOString(),
  };
}

export function deviceView(d: DeviceRec) {
  return {
    id: d.id,
    name: d.name,
    smmuId: d.smmuId,
    streamId: d.streamId,
    ats: d.ats,
    pasidBits: d.pasidBits,
    contextId: d.contextId,
    attachedTo: d.attachedTo,
    createdAt: d.createdAt.toISOString(),
  };
}
export type DeviceView = ReturnType<typeof deviceView>;

export function contextView(c: ContextRec) {
  return { id: c.id, name: c.name, createdAt: c.createdAt.toISOString() };
}
export type ContextView = ReturnType<typeof contextView>;

export function mappingView(m: MappingRec) {
  return { iova: addr64(m.iova), length: addr64(m.length), hostAddress: addr64(m.hostAddress), read: m.readable, write: m.writable };
}
export type MappingView = ReturnType<typeof mappingView>;

export function vsteView(o: ObjectRec) {
  const ste0 = o.vste0 ?? 0n;
  const ste1 = o.vste1 ?? 0n;
  const d = decodeVste(ste0, ste1);
  return {
    ste: [word64(ste0), word64(ste1)],
    valid: d.valid,
    config: d.config,
    s1ContextPtr: addr64(d.s1ContextPtr),
    s1Fmt: d.s1Fmt,
    s1CdMax: d.s1CdMax,
    s1Dss: d.s1Dss,
    eats: d.eats,
  };
}
export type VsteView = ReturnType<typeof vsteView>;

/** GET /v1/objects/{id}: `{ id, type, contextId, ... }` with the type's own fields. */
export function objectView(r: Reader, o: ObjectRec): Record<string, unknown> {
  const base = { id: o.id, type: o.type, contextId: o.contextId, createdAt: o.createdAt.toISOString() };
  switch (o.type) {
    case 'ioas':
      return base;
    case 'hwpt_paging':
      return {
        ...base,
        ioasId: o.ioasId,
        nestParent: o.nestParent,
        dirtyTracking: o.dirtyTracking,
        auto: o.auto,
        smmuId: o.smmuId,
        vmid: o.vmid,
        deviceId: o.deviceId,
        devices: attachedDevices(r, o.id),
      };
    case 'hwpt_nested':
      return {
        ...base,
        nestParent: false,
        viommuId: o.viommuId,
        smmuId: o.smmuId,
        deviceId: o.deviceId,
        enableAts: o.enableAts,
        vste: vsteView(o),
        devices: attachedDevices(r, o.id),
      };
    case 'viommu':
      return {
        ...base,
        viommuType: o.viommuType,
        smmuId: o.smmuId,
        hwptId: o.hwptId,
        deviceId: o.deviceId,
        vmid: o.vmid,
        ...(o.viommuType === 'tegra241_cmdqv' ? { vintf: o.vintf } : {}),
      };
    case 'vdevice': {
      const device = r.get('devices', o.deviceId as number) as DeviceRec | undefined;
      return {
        ...base,
        viommuId: o.viommuId,
        deviceId: o.deviceId,
        virtId: o.virtId,
        physicalStreamId: device?.streamId ?? null,
        ...(o.sidSlot !== null ? { sidSlot: o.sidSlot } : {}),
      };
    }
    case 'hw_queue': {
      const log2Size = Math.log2(o.queueLength as number) - 4;
      const err = ((o.qCons ?? 0) >>> 24) & 0x7f;
      const stopped = (((o.qGerror ?? 0) ^ (o.qGerrorn ?? 0)) & 1) === 1;
      return {
        ...base,
        viommuId: o.viommuId,
        queueType: o.queueType,
        index: o.queueIndex,
        nestingParentIova: addr64(o.queueIova as bigint),
        length: addr64(BigInt(o.queueLength as number)),
        // The guest's VCMDQ page: BASE (ADDR [47:5] | LOG2SIZE), PROD, CONS (ERR [30:24]),
        // CONFIG.EN, STATUS.ENABLED, GERROR, GERRORN.
        base: addr64((o.queueBase as bigint) | BigInt(log2Size)),
        log2Size,
        prod: o.qProd,
        cons: o.qCons,
        consIndex: (o.qCons ?? 0) & ((1 << log2Size) - 1),
        enabled: o.qEnabled,
        status: { enabled: o.qEnabled },
        gerror: o.qGerror,
        gerrorn: o.qGerrorn,
        stopped,
        error: err === 0 ? null : (['CERROR_NONE', 'CERROR_ILL', 'CERROR_ABT', 'CERROR_ATC_INV_SYNC'][err] ?? `CERROR_${err}`),
      };
    }
    case 'veventq': {
      let pending = 0;
      for (const e of r.values('events') as Iterable<EventRec>) if (e.eventqId === o.id) pending++;
      return { ...base, viommuId: o.viommuId, eventqType: o.eventqType, depth: o.depth, pending, nextSequence: o.nextSequence };
    }
    default:
      return { ...base, viommuId: o.viommuId };
  }
}

/** One vEVENTQ item as read(2) returns it: header { flags, sequence } + payload, decoded. */
export function eventView(e: EventRec, type: EventqType) {
  const lostEvents = (e.flags & 1) === 1;
  let decoded: Record<string, unknown> | null = null;
  if (!lostEvents && type === 'arm_smmuv3' && e.payload.length === 4) {
    decoded = decodedEvent(e.payload);
  } else if (!lostEvents && type === 'tegra241_cmdqv') {
    decoded = { lvcmdqErrMap: e.payload.map(word64) };
  }
  return { sequence: e.sequence, flags: e.flags, lostEvents, record: e.payload.map(word64), decoded };
}
export type EventView = ReturnType<typeof eventView>;

function attachedDevices(r: Reader, hwptId: number): number[] {
  const ids: number[] = [];
  for (const d of r.values('devices') as Iterable<DeviceRec>) if (d.attachedTo === hwptId) ids.push(d.id);
  return ids.sort((a, b) => a - b);
}

/** POST /v1/devices/{id}/translate: the DMA's outcome as api.md shapes it. */
export function translationView(
  result: TranslateResult,
  forwarded: { viommuId: number; virtId: number; eventqId: number | null; sequence: number | null; lostEvents: boolean } | null,
) {
  if (result.ok) {
    return {
      pa: addr64(result.pa),
      perm: result.perm,
      tlbHit: result.tlbHit,
      atcHit: result.atcHit ?? false,
      pageSize: Number(result.pageSize),
    };
  }
  const f = result.fault;
  return {
    fault: { type: f.type, code: f.code, stage: f.stage, class: f.class, inputAddr: addr64(f.inputAddr), ipa: f.ipa === null ? null : addr64(f.ipa) },
    event: result.event === null ? null : { record: result.event.map(word64), decoded: decodedEvent(result.event) },
    forwarded,
  };
}

function decodedEvent(words: bigint[]) {
  const d = decodeEvent(words);
  return { type: d.type, name: d.name, fields: Object.fromEntries(Object.entries(d.fields).map(([k, v]) => [k, typeof v === 'bigint' ? addr64(v) : v])) };
}

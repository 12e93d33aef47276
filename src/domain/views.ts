/**
 * The JSON shapes of api.md, built from graph records. Both REST and GraphQL serve these, so
 * the two can never disagree on a field.
 */
import { decodeFeatures, type SmmuFeatures } from '../hw/idr.js';
import type { ContextRec, DeviceRec, MappingRec, SmmuRec } from './types.js';
import { decodeEvent, type TranslateResult } from '../hw/index.js';
import type { EventRec, EventqType } from './types.js';

import { addr64, word64 } from './format.js';

export { addr64, word64 };

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

export { objectView } from './object-table.js';
export { vsteView, type VsteView } from './objects/index.js';

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

/**
 * The JSON shapes of api.md, built from the records the domain answers with. Both REST and
 * GraphQL serve these, so the two can never disagree on a field. An object's own view is
 * declared by its type's descriptor (src/domain/objects/) and built by `objectView`.
 */
import { decodeFeatures } from '../hw/idr.js';
import { decodeEvent, steGet, type TranslateResult } from '../hw/index.js';
import type { HostConfig } from '../domain/hardware.js';
import type { HwInfo } from '../domain/inventory.js';
import { objectView as describeObject } from '../domain/object-table.js';
import type { Iommufd, Page } from '../domain/service.js';
import type { ContextRec, DeviceRec, EventRec, EventqType, MappingRec, ObjectRec, ObjectType, SmmuRec } from '../domain/types.js';
import type { ArmEventView, EventView, HostConfigView, HwInfoView, ObjectView, SmmuStateView, SmmuView, TranslationView } from '../schema/views.js';

import { addr64, word64 } from '../domain/format.js';

export { addr64, word64 };
export type { EventView, SmmuView };

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
    pasids: d.pasids.map((a) => ({ pasid: a.pasid, hwptId: a.hwptId })),
    createdAt: d.createdAt.toISOString(),
  };
}
export type DeviceView = ReturnType<typeof deviceView>;

type HostCdTable = NonNullable<HostConfigView['cdTable']>;
const STE_CONFIGS: Record<number, HostConfigView['config']> = { 4: 'bypass', 5: 's1_translate', 6: 's2_translate', 7: 'nested' };
const S1FMTS: Record<number, HostCdTable['s1fmt']> = { 0: 'linear', 1: '4k_l2', 2: '64k_l2' };
const S1DSS_NAMES: Record<number, HostCdTable['s1dss']> = { 0: 'terminate', 1: 'bypass', 2: 'ssid0' };

/** What the host driver programmed for a device: its STE and CD table (hardware.ts deriveHost). */
export function hostConfigView(h: HostConfig): HostConfigView {
  return {
    ste: h.ste.map(word64),
    config: STE_CONFIGS[steGet(h.ste, 'CONFIG')] ?? 'abort',
    cdTable: h.cdTable
      ? {
          base: addr64(h.cdTable.base),
          s1fmt: S1FMTS[h.cdTable.s1fmt],
          s1cdmax: h.cdTable.s1cdmax,
          s1dss: S1DSS_NAMES[h.cdTable.s1dss],
          cds: h.cdTable.cds.map((cd) => ({ ssid: cd.ssid, hwptId: cd.hwptId, asid: cd.asid, words: cd.words.map(word64) })),
        }
      : null,
  };
}

/** GET /v1/devices/{id} and attachment replies: the device with what its SMMU was programmed with. */
export function deviceDetailView(service: Iommufd, d: DeviceRec) {
  return { ...deviceView(d), host: hostConfigView(service.hostConfig(d.id)) };
}

export function contextView(c: ContextRec) {
  return { id: c.id, name: c.name, createdAt: c.createdAt.toISOString() };
}
export type ContextView = ReturnType<typeof contextView>;

export function mappingView(m: MappingRec) {
  return { iova: addr64(m.iova), length: addr64(m.length), hostAddress: addr64(m.hostAddress), read: m.readable, write: m.writable };
}
export type MappingView = ReturnType<typeof mappingView>;

/**
 * An object as GET /v1/objects/{id} shows it, against the committed graph. The descriptors
 * (src/domain/objects/) declare their views as plain records; that each matches its schema of
 * src/schema/views.ts is what the tests check on every answer (test/helper.ts).
 */
export function objectView<R extends ObjectRec>(service: Iommufd, o: R, keep: 'always' | 'scan' = 'always'): ViewOf<R['type']> {
  return describeObject(service.graph, o, keep) as ViewOf<R['type']>;
}

/** The view of an object of type T. */
export type ViewOf<T extends ObjectType> = Extract<ObjectView, { type: T }>;

/**
 * IOMMU_GET_HW_INFO: `data` is the one of `type` (inventory.ts builds them in pairs; the record
 * type does not say so, the schema does).
 */
export function hwInfoView(info: HwInfo): HwInfoView {
  return info as HwInfoView;
}

/** A list page of objects (of types T, when the list was filtered by type). */
export function objectPageView<T extends ObjectType = ObjectType>(service: Iommufd, page: Page<ObjectRec>): { items: Array<ViewOf<T>>; nextCursor: string | null } {
  // A page pushes another kept view out only for an object a list asked for before: a walk of
  // every page would churn them all (domain/object-table.ts KEPT_VIEWS).
  return pageView(page, (o) => objectView(service, o, 'scan') as ViewOf<T>);
}

/** A list page of api.md "Lists". */
export function pageView<T, V>(page: Page<T>, view: (item: T) => V): { items: V[]; nextCursor: string | null } {
  return { items: page.items.map(view), nextCursor: page.nextCursor };
}

/** One vEVENTQ item as read(2) returns it: header { flags, sequence } + payload, decoded. */
export function eventView(e: EventRec, type: EventqType): EventView {
  const lostEvents = (e.flags & 1) === 1;
  let decoded: EventView['decoded'] = null;
  if (!lostEvents && type === 'arm_smmuv3' && e.payload.length === 4) {
    decoded = decodedEvent(e.payload);
  } else if (!lostEvents && type === 'tegra241_cmdqv') {
    decoded = { lvcmdqErrMap: e.payload.map(word64) };
  }
  return { sequence: e.sequence, flags: e.flags, lostEvents, record: e.payload.map(word64), decoded };
}

/** POST /v1/devices/{id}/translate: the DMA's outcome as api.md shapes it. */
export function translationView(
  result: TranslateResult,
  forwarded: { viommuId: number; virtId: number; eventqId: number | null; sequence: number | null; lostEvents: boolean } | null,
): TranslationView {
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

/** An event record decoded: its fields by name, 64-bit ones (the addresses) as hex strings. */
function decodedEvent(words: bigint[]): ArmEventView {
  const d = decodeEvent(words);
  const fields = Object.fromEntries(Object.entries(d.fields).map(([k, v]) => [k, typeof v === 'bigint' ? addr64(v) : v])) as ArmEventView['fields'];
  return { type: d.type, name: d.name, fields };
}

/** GET /v1/smmus/{id}/state: 64-bit command words as api.md writes them. */
export function smmuStateView(state: ReturnType<Iommufd['smmuState']>): SmmuStateView {
  return { ...state, commands: { ...state.commands, byOpcode: { ...state.commands.byOpcode } as Record<string, number> }, recentCommands: state.recentCommands.map(([w0, w1]) => [word64(w0), word64(w1)]) };
}

/** POST /v1/devices/{id}/translate. */
export function translateView(out: Awaited<ReturnType<Iommufd['translate']>>) {
  return translationView(out.result, out.forwarded);
}

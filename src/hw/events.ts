/**
 * Event records (smmuv3.md §4.6-§4.7): event IDs, the 32-byte record's field table and an
 * encoder/decoder by field names; the `Fault` every stage of a translation returns (QEMU
 * `SMMUEventInfo`) and the one helper that turns it into its record (`smmuv3_record_event`).
 */
import { addrField, bigField, decodeFields, encodeFields, numField, wordGet, type FieldTable } from './fields.js';

/** An event record is 32 bytes = 4 DWs (§4.7). */
export const EVT_DWORDS = 4;
export const EVT_BYTES = 32;

/** Event record field table (§4.7; QEMU `EVT_SET_*`, Linux `EVTQ_*`). */
export const EVT = {
  TYPE: numField(0, 7, 0),
  SSV: numField(0, 11),
  SSID: numField(0, 31, 12),
  SID: numField(0, 63, 32),
  STAG: numField(1, 15, 0),
  STALL: numField(1, 31),
  PNU: numField(1, 33),
  IND: numField(1, 34),
  RNW: numField(1, 35),
  S2: numField(1, 39),
  CLASS: numField(1, 41, 40),
  TTRNW: numField(1, 44),
  /** InputAddr, DW2[63:0]. */
  ADDR: bigField(2, 63, 0),
  /** IPA / FetchAddr: QEMU writes the full DW3 (EVT_SET_ADDR2). */
  ADDR2: bigField(3, 63, 0),
  /** Linux `EVTQ_3_FETCH_ADDR` DW3[51:3], in place. */
  FETCH_ADDR: addrField(3, 51, 3),
  /** Linux `EVTQ_3_IPA` DW3[51:12], in place. */
  IPA: addrField(3, 51, 12),
} as const satisfies FieldTable;

/** Event IDs (§4.6). */
export const EVT_ID = {
  F_UUT: 0x01,
  C_BAD_STREAMID: 0x02,
  F_STE_FETCH: 0x03,
  C_BAD_STE: 0x04,
  F_BAD_ATS_TREQ: 0x05,
  F_STREAM_DISABLED: 0x06,
  F_TRANSL_FORBIDDEN: 0x07,
  C_BAD_SUBSTREAMID: 0x08,
  F_CD_FETCH: 0x09,
  C_BAD_CD: 0x0a,
  F_WALK_EABT: 0x0b,
  F_TRANSLATION: 0x10,
  F_ADDR_SIZE: 0x11,
  F_ACCESS: 0x12,
  F_PERMISSION: 0x13,
  F_TLB_CONFLICT: 0x20,
  F_CFG_CONFLICT: 0x21,
  E_PAGE_REQUEST: 0x24,
  F_VMS_FETCH: 0x25,
} as const;
export type EventName = keyof typeof EVT_ID;

/** Event Class (§4.5 fault recording; QEMU `SMMUEventInfo.u.*.class`). */
export const EVT_CLASS = { CD: 0, TT: 1, IN: 2 } as const;
export type FaultClassName = keyof typeof EVT_CLASS;

const EVENT_NAME_BY_ID: ReadonlyMap<number, EventName> = new Map(
  Object.entries(EVT_ID).map(([name, id]) => [id, name as EventName]),
);

type EventFieldName = Exclude<keyof typeof EVT, 'TYPE'>;
export type EventWords = [bigint, bigint, bigint, bigint];

/**
 * Encodes an event record by field names. ADDR2 and FETCH_ADDR/IPA overlap (DW3); name only
 * one of them.
 */
export function encodeEvent(type: EventName, fields: Partial<Record<EventFieldName, number | bigint>> = {}): EventWords {
  const [w0, w1, w2, w3] = encodeFields(EVT, EVT_DWORDS, { ...fields, TYPE: EVT_ID[type] }, `event ${type}`);
  return [w0, w1, w2, w3];
}

export interface DecodedEvent {
  type: number;
  /** null for an ID not in §4.6. */
  name: EventName | null;
  fields: Record<EventFieldName, number | bigint>;
}

/** Decodes an event record (every field of the table except TYPE). */
export function decodeEvent(words: ArrayLike<bigint>): DecodedEvent {
  const { TYPE: _type, ...fields } = decodeFields(EVT, words);
  const type = wordGet(words, EVT.TYPE);
  return { type, name: EVENT_NAME_BY_ID.get(type) ?? null, fields };
}

// ---------------------------------------------------------------------------------------------
// Faults (QEMU `SMMUEventInfo`): what config decode and the walks return instead of a result.

/** A fault of one DMA access; 'ABORT' is the silent abort of an abort STE (no record). */
export interface Fault {
  readonly kind: 'fault';
  readonly type: EventName | 'ABORT';
  readonly stage: 0 | 1 | 2;
  readonly cls: FaultClassName | null;
  /** Faulting IPA of a stage-2 fault. */
  readonly ipa: bigint | null;
  /** Address whose read failed (F_WALK_EABT, F_STE_FETCH, F_CD_FETCH). */
  readonly fetchAddr?: bigint;
  /** Recording already decided where the fault arose (a stage-2 fault of the CD fetch). */
  readonly record?: boolean;
}

export function fault(
  type: EventName | 'ABORT',
  stage: 0 | 1 | 2 = 0,
  cls: FaultClassName | null = null,
  ipa: bigint | null = null,
  fetchAddr?: bigint,
): Fault {
  return fetchAddr === undefined ? { kind: 'fault', type, stage, cls, ipa } : { kind: 'fault', type, stage, cls, ipa, fetchAddr };
}

export function isFault(x: unknown): x is Fault {
  return typeof x === 'object' && x !== null && (x as { kind?: unknown }).kind === 'fault';
}

/** Faults recorded only with CD.R (stage 1) or STE.S2R (stage 2) (`PTW_RECORD_FAULT`, §4.5). */
export const RECORDABLE_FAULTS: ReadonlySet<string> = new Set<EventName>(['F_TRANSLATION', 'F_ADDR_SIZE', 'F_ACCESS', 'F_PERMISSION']);

/** The access a fault is reported for. */
export interface FaultingAccess {
  sid: number;
  ssid?: number;
  /** Input address (ADDR of walk faults, `smmuv3_fixup_event`). */
  iova: bigint;
  write: boolean;
}

/**
 * `smmuv3_record_event` (§4.7): the 32-byte record of a recorded fault, with the fields IHI0070
 * §7.3 gives each event. SSV and SubstreamID are filled for a transaction with a SubstreamID in
 * every record that has them; C_BAD_SUBSTREAMID has a SubstreamID but no SSV (always valid: the
 * one input, or 0 when a transaction without one reached CD 0 through STE.S1DSS=SSID0, §7.3.9);
 * F_STREAM_DISABLED has only the StreamID (§7.3.7), F_TRANSL_FORBIDDEN no SubstreamID (§7.3.8).
 */
export function faultRecord(f: Fault & { type: EventName }, access: FaultingAccess): EventWords {
  const ssv = access.ssid !== undefined ? { SSV: 1, SSID: access.ssid } : {};
  const sid = BigInt(access.sid >>> 0);
  switch (f.type) {
    case 'C_BAD_SUBSTREAMID':
      return encodeEvent(f.type, { SID: sid, SSID: access.ssid ?? 0 });
    case 'F_STREAM_DISABLED':
      return encodeEvent(f.type, { SID: sid });
    case 'F_TRANSL_FORBIDDEN':
      return encodeEvent(f.type, { SID: sid, RNW: access.write ? 0 : 1, ADDR: access.iova });
    case 'C_BAD_STREAMID':
    case 'C_BAD_STE':
    case 'C_BAD_CD':
    case 'F_CFG_CONFLICT':
      return encodeEvent(f.type, { SID: sid, ...ssv });
    case 'F_STE_FETCH':
      return encodeEvent(f.type, { SID: sid, ...ssv, ADDR2: f.fetchAddr ?? 0n });
    case 'F_CD_FETCH':
      // QEMU puts the fetch address in ADDR (word4/5), vector 36.
      return encodeEvent(f.type, { SID: sid, ...ssv, ADDR: f.fetchAddr ?? 0n });
    default:
      return encodeEvent(f.type, {
        SID: sid,
        ...ssv,
        S2: f.stage === 2 ? 1 : 0,
        CLASS: EVT_CLASS[f.cls ?? 'IN'],
        RNW: access.write ? 0 : 1,
        ADDR: access.iova,
        ADDR2: f.type === 'F_WALK_EABT' ? (f.fetchAddr ?? 0n) : f.stage === 2 ? (f.ipa ?? 0n) : 0n,
      });
  }
}

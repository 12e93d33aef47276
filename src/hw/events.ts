/**
 * Event records (smmuv3.md §4.6-§4.7): event IDs, the 32-byte record's field table and an
 * encoder/decoder by field names. Recording events into a queue comes with the walk.
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

/** Event Class (§4.5 fault recording; Q-INT L36-40). */
export const EVT_CLASS = { CD: 0, TT: 1, IN: 2 } as const;

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

/**
 * SMMUv3 commands (smmuv3.md §1): opcodes, the QEMU-style generic field table (`CMD_*`), one
 * field table per command layout (§1.3), an encoder/decoder by field names and the hot-path
 * accessors the invalidation path uses to rewrite commands in place.
 */
import {
  addrField,
  bytesToWords,
  decodeFields,
  encodeFields,
  getNum,
  numField,
  setNum,
  wordGet,
  wordsToBytes,
  type FieldTable,
} from './fields.js';

/** Size of one command-queue entry in bytes (§1.1). */
export const CMD_BYTES = 16;
/** Number of 64-bit words in a command (§1.1). */
export const CMD_DWORDS = 2;

// Opcodes (§1.2; Linux `CMDQ_OP_*`, QEMU `SMMUCommandType`).
export const CMDQ_OP_PREFETCH_CFG = 0x01;
export const CMDQ_OP_PREFETCH_ADDR = 0x02;
export const CMDQ_OP_CFGI_STE = 0x03;
/** CFGI_STE_RANGE; Linux's CMDQ_OP_CFGI_ALL is this opcode with Range = 31 (§1.3). */
export const CMDQ_OP_CFGI_STE_RANGE = 0x04;
export const CMDQ_OP_CFGI_ALL = 0x04;
export const CMDQ_OP_CFGI_CD = 0x05;
export const CMDQ_OP_CFGI_CD_ALL = 0x06;
export const CMDQ_OP_TLBI_NH_ALL = 0x10;
export const CMDQ_OP_TLBI_NH_ASID = 0x11;
export const CMDQ_OP_TLBI_NH_VA = 0x12;
export const CMDQ_OP_TLBI_NH_VAA = 0x13;
export const CMDQ_OP_TLBI_EL3_ALL = 0x18;
export const CMDQ_OP_TLBI_EL3_VA = 0x1a;
export const CMDQ_OP_TLBI_EL2_ALL = 0x20;
export const CMDQ_OP_TLBI_EL2_ASID = 0x21;
export const CMDQ_OP_TLBI_EL2_VA = 0x22;
export const CMDQ_OP_TLBI_EL2_VAA = 0x23;
export const CMDQ_OP_TLBI_S12_VMALL = 0x28;
export const CMDQ_OP_TLBI_S2_IPA = 0x2a;
export const CMDQ_OP_TLBI_NSNH_ALL = 0x30;
export const CMDQ_OP_ATC_INV = 0x40;
export const CMDQ_OP_PRI_RESP = 0x41;
export const CMDQ_OP_RESUME = 0x44;
export const CMDQ_OP_STALL_TERM = 0x45;
export const CMDQ_OP_CMD_SYNC = 0x46;

/** `CMDQ_ATC_0_SIZE_ALL`: an ATC_INV of Size 52 covers every address (§1.3). */
export const ATC_INV_SIZE_ALL = 52;
/** CMD_SYNC completion signal (§1.3): NONE, IRQ, SEV. */
export const CMD_SYNC_CS = { NONE: 0, IRQ: 1, SEV: 2 } as const;
/** RESUME action (§1.3). */
export const CMD_RESUME_ACTION = { TERM: 0, RETRY: 1, ABORT: 2 } as const;
/** PRI_RESP response codes (Linux enum, §1.3). */
export const CMD_PRI_RESP = { DENY: 0, FAIL: 1, SUCC: 2 } as const;

/**
 * QEMU's generic command extractors (§1.1 table, QEMU smmuv3-internal.h). The per-command layouts
 * below are the authority on which of these a given opcode uses.
 */
export const CMD = {
  TYPE: numField(0, 7, 0),
  SSEC: numField(0, 10),
  SSV: numField(0, 11),
  NUM: numField(0, 16, 12),
  SCALE: numField(0, 24, 20),
  RESUME_AC: numField(0, 12),
  RESUME_AB: numField(0, 13),
  SYNC_CS: numField(0, 13, 12),
  SSID: numField(0, 31, 12),
  SID: numField(0, 63, 32),
  VMID: numField(0, 47, 32),
  ASID: numField(0, 63, 48),
  RESUME_STAG: numField(1, 15, 0),
  RESP: numField(1, 12, 11),
  LEAF: numField(1, 0),
  TTL: numField(1, 9, 8),
  TG: numField(1, 11, 10),
  STE_RANGE: numField(1, 4, 0),
  ADDR: addrField(1, 63, 12),
} as const satisfies FieldTable;

// Shared pieces of the per-command layouts (§1.3).
const OP = { OP: CMD.TYPE };
const SID = { SID: CMD.SID };
const SSV_SSID = { SSV: CMD.SSV, SSID: CMD.SSID };
const RANGE_DW0 = { NUM: CMD.NUM, SCALE: CMD.SCALE };
const TLBI_DW1 = { LEAF: CMD.LEAF, TTL: CMD.TTL, TG: CMD.TG, ADDR: CMD.ADDR };

/** Field table of every command (§1.3), keyed by the command name of §1.2. `OP` is DW0[7:0]. */
export const COMMAND_LAYOUTS = {
  PREFETCH_CONFIG: { ...OP, ...SSV_SSID, ...SID },
  PREFETCH_ADDR: { ...OP, ...SSV_SSID, ...SID, SIZE: numField(1, 4, 0), ADDR: addrField(1, 63, 12) },
  CFGI_STE: { ...OP, SSEC: CMD.SSEC, ...SID, LEAF: numField(1, 0) },
  CFGI_STE_RANGE: { ...OP, SSEC: CMD.SSEC, ...SID, RANGE: numField(1, 4, 0) },
  CFGI_CD: { ...OP, SSEC: CMD.SSEC, SSID: CMD.SSID, ...SID, LEAF: numField(1, 0) },
  CFGI_CD_ALL: { ...OP, SSEC: CMD.SSEC, ...SID },
  TLBI_NH_ALL: { ...OP, VMID: CMD.VMID },
  TLBI_NH_ASID: { ...OP, VMID: CMD.VMID, ASID: CMD.ASID },
  TLBI_NH_VA: { ...OP, ...RANGE_DW0, VMID: CMD.VMID, ASID: CMD.ASID, ...TLBI_DW1 },
  TLBI_NH_VAA: { ...OP, ...RANGE_DW0, VMID: CMD.VMID, ...TLBI_DW1 },
  TLBI_EL3_ALL: { ...OP },
  TLBI_EL3_VA: { ...OP, ...RANGE_DW0, ...TLBI_DW1 },
  TLBI_EL2_ALL: { ...OP },
  TLBI_EL2_ASID: { ...OP, ASID: CMD.ASID },
  TLBI_EL2_VA: { ...OP, ...RANGE_DW0, ASID: CMD.ASID, ...TLBI_DW1 },
  TLBI_EL2_VAA: { ...OP, ...RANGE_DW0, ...TLBI_DW1 },
  TLBI_S12_VMALL: { ...OP, VMID: CMD.VMID },
  /** ADDR is the IPA, DW1[51:12] (`CMDQ_TLBI_1_IPA_MASK`); bits [63:52] are RES0 and ignored. */
  TLBI_S2_IPA: { ...OP, ...RANGE_DW0, VMID: CMD.VMID, LEAF: CMD.LEAF, TTL: CMD.TTL, TG: CMD.TG, ADDR: addrField(1, 51, 12) },
  TLBI_NSNH_ALL: { ...OP },
  ATC_INV: { ...OP, GLOBAL: numField(0, 9), ...SSV_SSID, ...SID, SIZE: numField(1, 5, 0), ADDR: addrField(1, 63, 12) },
  PRI_RESP: { ...OP, ...SSV_SSID, ...SID, GRPID: numField(1, 8, 0), RESP: numField(1, 13, 12) },
  RESUME: { ...OP, ACTION: numField(0, 13, 12), ...SID, STAG: numField(1, 15, 0) },
  STALL_TERM: { ...OP, ...SID },
  CMD_SYNC: {
    ...OP,
    CS: numField(0, 13, 12),
    MSH: numField(0, 23, 22),
    MSIATTR: numField(0, 27, 24),
    MSIDATA: numField(0, 63, 32),
    MSIADDR: addrField(1, 51, 2),
  },
} as const satisfies Record<string, FieldTable>;

export type CommandName = keyof typeof COMMAND_LAYOUTS;
export type CommandFieldName<N extends CommandName> = Exclude<keyof (typeof COMMAND_LAYOUTS)[N], 'OP'> & string;

/** Opcode of every command name (§1.2). */
export const CMDQ_OP: Readonly<Record<CommandName, number>> = {
  PREFETCH_CONFIG: CMDQ_OP_PREFETCH_CFG,
  PREFETCH_ADDR: CMDQ_OP_PREFETCH_ADDR,
  CFGI_STE: CMDQ_OP_CFGI_STE,
  CFGI_STE_RANGE: CMDQ_OP_CFGI_STE_RANGE,
  CFGI_CD: CMDQ_OP_CFGI_CD,
  CFGI_CD_ALL: CMDQ_OP_CFGI_CD_ALL,
  TLBI_NH_ALL: CMDQ_OP_TLBI_NH_ALL,
  TLBI_NH_ASID: CMDQ_OP_TLBI_NH_ASID,
  TLBI_NH_VA: CMDQ_OP_TLBI_NH_VA,
  TLBI_NH_VAA: CMDQ_OP_TLBI_NH_VAA,
  TLBI_EL3_ALL: CMDQ_OP_TLBI_EL3_ALL,
  TLBI_EL3_VA: CMDQ_OP_TLBI_EL3_VA,
  TLBI_EL2_ALL: CMDQ_OP_TLBI_EL2_ALL,
  TLBI_EL2_ASID: CMDQ_OP_TLBI_EL2_ASID,
  TLBI_EL2_VA: CMDQ_OP_TLBI_EL2_VA,
  TLBI_EL2_VAA: CMDQ_OP_TLBI_EL2_VAA,
  TLBI_S12_VMALL: CMDQ_OP_TLBI_S12_VMALL,
  TLBI_S2_IPA: CMDQ_OP_TLBI_S2_IPA,
  TLBI_NSNH_ALL: CMDQ_OP_TLBI_NSNH_ALL,
  ATC_INV: CMDQ_OP_ATC_INV,
  PRI_RESP: CMDQ_OP_PRI_RESP,
  RESUME: CMDQ_OP_RESUME,
  STALL_TERM: CMDQ_OP_STALL_TERM,
  CMD_SYNC: CMDQ_OP_CMD_SYNC,
};

/** Opcode → name, `undefined` for opcodes that are illegal (CERROR_ILL, incl. 0x00 and 0x07). */
const NAME_BY_OPCODE: ReadonlyArray<CommandName | undefined> = (() => {
  const table = new Array<CommandName | undefined>(256).fill(undefined);
  for (const [name, op] of Object.entries(CMDQ_OP)) table[op] = name as CommandName;
  return table;
})();

/** The command name of an opcode, or null for an opcode that decodes to CERROR_ILL (§1.2). */
export function commandName(opcode: number): CommandName | null {
  return NAME_BY_OPCODE[opcode & 0xff] ?? null;
}

/** A command as its two 64-bit words (DW0, DW1), §1.1. */
export type CommandWords = [bigint, bigint];
export type CommandFields = Record<string, number | bigint>;

/**
 * Encodes a command by field names (§1.3). `CFGI_ALL` is accepted as Linux emits it: opcode
 * CFGI_STE_RANGE with Range = 31 (§1.4). Fields not named are zero; unknown names and values
 * that do not fit throw RangeError.
 */
export function encodeCommand(name: CommandName | 'CFGI_ALL', fields: CommandFields = {}): CommandWords {
  const layoutName: CommandName = name === 'CFGI_ALL' ? 'CFGI_STE_RANGE' : name;
  const layout: FieldTable = COMMAND_LAYOUTS[layoutName];
  if (!(layoutName in COMMAND_LAYOUTS)) throw new RangeError(`unknown command ${String(name)}`);
  if ('OP' in fields) throw new RangeError(`${name}: OP is implied by the command name`);
  const values: CommandFields = { ...(name === 'CFGI_ALL' ? { RANGE: 31 } : {}), ...fields, OP: CMDQ_OP[layoutName] };
  const [dw0, dw1] = encodeFields(layout, CMD_DWORDS, values, name);
  return [dw0, dw1];
}

/** Writes an encoded command into `bytes` at `offset` (16 bytes, little-endian, §1.1). */
export function writeCommand(
  bytes: Uint8Array,
  offset: number,
  name: CommandName | 'CFGI_ALL',
  fields: CommandFields = {},
): void {
  wordsToBytes(encodeCommand(name, fields), bytes, offset);
}

/** Packs command words into a fresh buffer of 16-byte entries. */
export function commandsToBytes(commands: ReadonlyArray<readonly [bigint, bigint]>): Uint8Array {
  const bytes = new Uint8Array(commands.length * CMD_BYTES);
  commands.forEach((c, i) => wordsToBytes(c, bytes, i * CMD_BYTES));
  return bytes;
}

/** A command decoded by the layout of its opcode (§1.3). */
export interface DecodedCommand {
  opcode: number;
  /** null for an illegal opcode (CERROR_ILL, §1.2). */
  name: CommandName | null;
  /** The fields of the command's layout (without OP); empty for an illegal opcode. */
  fields: CommandFields;
}

/** Decodes command words by the layout of their opcode (§1.3). RES0 bits are not reported. */
export function decodeCommand(words: readonly [bigint, bigint]): DecodedCommand {
  const opcode = wordGet(words, CMD.TYPE);
  const name = commandName(opcode);
  if (name === null) return { opcode, name, fields: {} };
  const fields: CommandFields = decodeFields(COMMAND_LAYOUTS[name], words);
  delete fields.OP;
  return { opcode, name, fields };
}

/** Decodes the command stored at `offset` in `bytes`. */
export function decodeCommandAt(bytes: Uint8Array, offset: number): DecodedCommand {
  const [dw0, dw1] = bytesToWords(bytes, offset, CMD_DWORDS);
  return decodeCommand([dw0, dw1]);
}

// ---------------------------------------------------------------------------------------------
// Hot-path accessors on a DataView (no allocation), for in-place rewriting of command buffers.

/** Opcode, DW0[7:0] (`CMDQ_0_OP`). */
export function cmdOpcode(view: DataView, offset: number): number {
  // CMD.TYPE is DW0[7:0], the first byte of the little-endian entry: one byte read (the generic
  // getNum costs several ns per command on the consumer's hot path).
  return view.getUint8(offset);
}

/** VMID of a TLBI command, DW0[47:32] (`CMDQ_TLBI_0_VMID`). */
export function cmdGetVmid(view: DataView, offset: number): number {
  // CMD.VMID is DW0[47:32]: the little-endian 16 bits at byte 4 (one read, no generic getNum).
  return view.getUint16(offset + 4, true);
}

/** Overwrites the VMID of a TLBI command in place (arm_vsmmu_convert_user_cmd, iommufd.md §3.4). */
export function cmdSetVmid(view: DataView, offset: number, vmid: number): void {
  setNum(view, offset, CMD.VMID, vmid);
}

/** StreamID, DW0[63:32] (`CMDQ_CFGI_0_SID`, `CMDQ_ATC_0_SID`, ...). */
export function cmdGetSid(view: DataView, offset: number): number {
  return getNum(view, offset, CMD.SID);
}

/** Overwrites the StreamID in place (vSID → pSID rewrite, iommufd.md §3.4). */
export function cmdSetSid(view: DataView, offset: number, sid: number): void {
  setNum(view, offset, CMD.SID, sid);
}

/** ASID of a TLBI command, DW0[63:48]. */
export function cmdGetAsid(view: DataView, offset: number): number {
  // CMD.ASID is DW0[63:48]: the little-endian 16 bits at byte 6.
  return view.getUint16(offset + 6, true);
}

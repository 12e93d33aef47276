import { describe, expect, it } from 'vitest';
import {
  CMD,
  CMDQ_OP,
  COMMAND_LAYOUTS,
  cmdGetAsid,
  cmdGetSid,
  cmdGetVmid,
  cmdOpcode,
  cmdSetSid,
  cmdSetVmid,
  commandName,
  commandsToBytes,
  decodeCommand,
  decodeCommandAt,
  encodeCommand,
  writeCommand,
  type CommandName,
} from '../../src/hw/commands.js';
import { CD, decodeCd, encodeCd } from '../../src/hw/cd.js';
import { decodeEvent, encodeEvent, EVT_CLASS } from '../../src/hw/events.js';
import {
  addrField,
  bigField,
  getBig,
  getField,
  getNum,
  numField,
  setBig,
  setNum,
  wordGet,
  wordSet,
  type Field,
} from '../../src/hw/fields.js';
import { buildAbortSte, buildBypassSte, buildNestedSte, buildS2Ste } from '../../src/domain/driver/arm-smmu-v3.js';
import { decodeSte, encodeSte, STE, steGet } from '../../src/hw/ste.js';

/** A value that fills a field with an alternating pattern (addr fields: in place). */
function patternFor(f: Field): number | bigint {
  const ones = (1n << BigInt(f.width)) - 1n;
  const v = ones & 0x5a5a5a5a5a5a5a5an ? ones & 0x5a5a5a5a5a5a5a5an : ones;
  if (f.kind === 'num') return Number(v);
  return f.kind === 'addr' ? v << BigInt(f.lo) : v;
}

describe('field machinery (fields.ts)', () => {
  it('reads and writes ≤32-bit fields in either half and across the 32-bit boundary', () => {
    const bytes = new Uint8Array(16);
    const view = new DataView(bytes.buffer);
    const low = numField(0, 11, 4);
    const high = numField(0, 47, 32);
    const cross = numField(1, 39, 20);
    const full = numField(1, 31, 0);
    setNum(view, 0, low, 0xab);
    setNum(view, 0, high, 0xbeef);
    setNum(view, 0, cross, 0xfedcb);
    expect(getNum(view, 0, low)).toBe(0xab);
    expect(getNum(view, 0, high)).toBe(0xbeef);
    expect(getNum(view, 0, cross)).toBe(0xfedcb);
    expect(view.getBigUint64(0, true)).toBe(0x0000_beef_0000_0ab0n);
    expect(view.getBigUint64(8, true)).toBe(0x0000_00fe_dcb0_0000n);
    setNum(view, 0, full, 0xffffffff);
    expect(getNum(view, 0, full)).toBe(0xffffffff);
    expect(getNum(view, 0, cross)).toBe(0xfedcb - (0xfedcb & 0xfff) + 0xfff);
    setNum(view, 0, low, 0x1ff); // truncated to 8 bits, neighbours untouched
    expect(getNum(view, 0, low)).toBe(0xff);
    expect(getNum(view, 0, high)).toBe(0xbeef);
  });

  it('address fields are kept in place and wide fields are shifted down', () => {
    const bytes = new Uint8Array(16);
    const view = new DataView(bytes.buffer);
    const addr = addrField(1, 63, 12);
    const wide = bigField(0, 59, 8);
    setBig(view, 0, addr, 0xffff_ffff_ffff_f123n);
    expect(getBig(view, 0, addr)).toBe(0xffff_ffff_ffff_f000n);
    expect(getField(view, 0, addr)).toBe(0xffff_ffff_ffff_f000n);
    setBig(view, 0, wide, 0xabc_def0_1234n);
    expect(getBig(view, 0, wide)).toBe(0xabc_def0_1234n);
    const words = [0n, 0n];
    wordSet(words, addr, 0x1234_5000n);
    wordSet(words, numField(0, 63, 48), 0x1234);
    expect(words).toEqual([0x1234_0000_0000_0000n, 0x1234_5000n]);
    expect(wordGet(words, numField(0, 63, 48))).toBe(0x1234);
  });

  it('numField refuses fields wider than 32 bits', () => {
    expect(() => numField(0, 40, 0)).toThrow(RangeError);
    expect(() => numField(0, 3, 4)).toThrow(RangeError);
  });
});

describe('commands: field tables, encoder and decoder (§1)', () => {
  const names = Object.keys(COMMAND_LAYOUTS) as CommandName[];

  it('every opcode of §1.2 has a name, and everything else decodes as illegal', () => {
    expect(names).toHaveLength(24);
    const legal = new Set(Object.values(CMDQ_OP));
    for (let op = 0; op < 256; op++) {
      expect(commandName(op) !== null).toBe(legal.has(op));
    }
    expect(commandName(0x07)).toBeNull();
    expect(commandName(0x00)).toBeNull();
    expect(decodeCommand([0x47n, 0xffffn])).toEqual({ opcode: 0x47, name: null, fields: {} });
  });

  it('a command built by field names is read back by the same names, for every opcode', () => {
    for (const name of names) {
      const layout = COMMAND_LAYOUTS[name] as Record<string, Field>;
      const fields: Record<string, number | bigint> = {};
      for (const [field, f] of Object.entries(layout)) if (field !== 'OP') fields[field] = patternFor(f);
      const words = encodeCommand(name, fields);
      const decoded = decodeCommand(words);
      expect(decoded.name).toBe(name);
      expect(decoded.opcode).toBe(CMDQ_OP[name]);
      expect(decoded.fields).toEqual(fields);
      // and through the byte path
      const bytes = new Uint8Array(32);
      writeCommand(bytes, 16, name, fields);
      expect(decodeCommandAt(bytes, 16)).toEqual(decoded);
    }
  });

  it('Linux CMD_SYNC without MSI is DW0 0x0FC02046 and CFGI_ALL is (0x4, 0x1F) (§1.4)', () => {
    expect(encodeCommand('CMD_SYNC', { CS: 2, MSH: 3, MSIATTR: 0xf })).toEqual([0x0fc02046n, 0n]);
    expect(encodeCommand('CFGI_ALL')).toEqual([0x4n, 0x1fn]);
    expect(encodeCommand('CFGI_STE', { SID: 5 })).toEqual([0x0000_0005_0000_0003n, 0n]);
  });

  it('unknown field names and values that do not fit are rejected by the encoder', () => {
    expect(() => encodeCommand('TLBI_NH_ALL', { ASID: 1 })).toThrow(/unknown field ASID/);
    expect(() => encodeCommand('TLBI_NH_ASID', { ASID: 0x10000 })).toThrow(RangeError);
    expect(() => encodeCommand('TLBI_NH_VA', { ADDR: 0x1001n })).toThrow(RangeError);
    expect(() => encodeCommand('TLBI_S2_IPA', { ADDR: 1n << 52n })).toThrow(RangeError);
    expect(() => encodeCommand('CMD_SYNC', { OP: 1 })).toThrow(RangeError);
  });

  it('decode ignores RES0 bits (only layout fields are reported)', () => {
    const d = decodeCommand([0xffff_ffff_ffff_ff10n, 0xffff_ffff_ffff_ffffn]);
    expect(d).toEqual({ opcode: 0x10, name: 'TLBI_NH_ALL', fields: { VMID: 0xffff } });
  });

  it('hot-path accessors rewrite VMID (DW0[47:32]) and SID (DW0[63:32]) in place in a buffer', () => {
    const bytes = commandsToBytes([
      encodeCommand('TLBI_NH_VA', { VMID: 0x1234, ASID: 7, NUM: 3, TG: 1, ADDR: 0x10000n }),
      encodeCommand('ATC_INV', { SID: 0x99, SSV: 1, SSID: 5, SIZE: 3, ADDR: 0x8000n }),
    ]);
    const view = new DataView(bytes.buffer);
    expect(cmdOpcode(view, 0)).toBe(0x12);
    expect(cmdGetVmid(view, 0)).toBe(0x1234);
    cmdSetVmid(view, 0, 5);
    expect(decodeCommandAt(bytes, 0).fields).toEqual({ NUM: 3, SCALE: 0, VMID: 5, ASID: 7, LEAF: 0, TTL: 0, TG: 1, ADDR: 0x10000n });
    expect(cmdGetAsid(view, 0)).toBe(7);
    expect(cmdGetSid(view, 16)).toBe(0x99);
    cmdSetSid(view, 16, 0x8010);
    expect(decodeCommandAt(bytes, 16).fields).toEqual({ GLOBAL: 0, SSV: 1, SSID: 5, SID: 0x8010, SIZE: 3, ADDR: 0x8000n });
    cmdSetSid(view, 16, 0xffffffff);
    expect(getNum(view, 16, CMD.SID)).toBe(0xffffffff);
    expect(getNum(view, 16, CMD.SSID)).toBe(5);
  });
});

describe('STE builders (§3.1, iommufd.md §3.3)', () => {
  const s2 = buildS2Ste({ vmid: 3, s2ttb: 0x8_0000_1000n });

  it('abort and bypass STEs', () => {
    expect(buildAbortSte()[0]).toBe(0x1n);
    expect(buildBypassSte().slice(0, 2)).toEqual([0x9n, 1n << 44n]);
  });

  it('S2-only STE carries Config 6, VMID, VTCR, S2AA64/S2PTW/S2R and S2TTB', () => {
    expect(decodeSte(s2)).toMatchObject({
      V: 1,
      CONFIG: 6,
      S2VMID: 3,
      S2T0SZ: 16,
      S2SL0: 2,
      S2TG: 0,
      S2PS: 5,
      S2AA64: 1,
      S2PTW: 1,
      S2R: 1,
      EATS: 0,
      S2TTB: 0x8_0000_1000n,
    });
    expect(steGet(buildS2Ste({ vmid: 1, s2ttb: 0n, ats: true }), 'EATS')).toBe(1);
  });

  it('nested STE: Config forced to 7, guest DW0 (not Config) and DW1 OR-ed in, MEV on, EATS from the vSTE', () => {
    const cdPtr = 0x4000_0000n;
    const vste: [bigint, bigint] = [0xbn | cdPtr | (2n << 4n) | (1n << 59n), (1n << 28n) | 0x5n];
    const ste = buildNestedSte(vste, s2);
    expect(decodeSte(ste)).toMatchObject({
      V: 1,
      CONFIG: 7,
      S1FMT: 2,
      S1CONTEXTPTR: cdPtr,
      S1CDMAX: 1,
      S1DSS: 1,
      S1CIR: 1,
      MEV: 1,
      EATS: 1,
      S2VMID: 3,
      S2TTB: 0x8_0000_1000n,
    });
    expect(steGet(buildNestedSte(vste, s2, { ats: false }), 'EATS')).toBe(0);
    // Bits outside STRTAB_STE_*_NESTING_ALLOWED never reach the physical STE.
    const sneaky = buildNestedSte([0xbn | (1n << 52n), 1n << 8n], s2);
    expect(sneaky[0] & (1n << 52n)).toBe(0n);
    expect(sneaky[1] & (1n << 8n)).toBe(0n);
  });

  it('nested STE: V=0 or abort → abort STE; bypass → the S2 parent STE', () => {
    expect(buildNestedSte([0x0n, 0n], s2)).toEqual(buildAbortSte());
    expect(buildNestedSte([0x1n, 0n], s2)).toEqual(buildAbortSte());
    expect(buildNestedSte([0x9n, 0n], s2)).toEqual(s2);
  });

  it('encodeSte validates names and widths', () => {
    expect(encodeSte({ V: 1, CONFIG: 5, S1CONTEXTPTR: 0x1000n })[0]).toBe(0x1000n | 0xbn);
    expect(() => encodeSte({ CONFIG: 8 })).toThrow(RangeError);
    expect(() => encodeSte({ S1CONTEXTPTR: 0x1001n })).toThrow(RangeError);
    expect(STE.S2TTB.dw).toBe(3);
  });
});

describe('CD and event record tables (§3.2, §4.7)', () => {
  it('CD fields round-trip by name', () => {
    const fields = { T0SZ: 25, TG0: 0, V: 1, IPS: 4, AA64: 1, R: 1, A: 1, ASID: 0x1234, TTB0: 0x8_0000_0000n, MAIR: 0xff44n };
    const words = encodeCd(fields);
    expect(decodeCd(words)).toMatchObject(fields);
    expect(wordGet(words, CD.ASID)).toBe(0x1234);
  });

  it('event records round-trip by name (F_PERMISSION, Class IN)', () => {
    const words = encodeEvent('F_PERMISSION', { SID: 8, CLASS: EVT_CLASS.IN, ADDR: 0x4020_1000n });
    expect(words[0]).toBe(0x0000_0008_0000_0013n);
    expect(wordGet(words, numField(1, 63, 32))).toBe(0x200); // QEMU word3 of vector E39
    const d = decodeEvent(words);
    expect(d.name).toBe('F_PERMISSION');
    expect(d.fields).toMatchObject({ SID: 8, CLASS: 2, RNW: 0, S2: 0, ADDR: 0x4020_1000n });
    expect(decodeEvent([0xffn, 0n, 0n, 0n]).name).toBeNull();
  });
});

/**
 * Generic field tables over little-endian 64-bit words (QEMU `registerfields.h` / Linux
 * `FIELD_PREP` style, see style.md). Every SMMUv3 structure (command, STE, CD, event record) is
 * an array of 64-bit "DW"s; a field is (DW index, hi bit, lo bit) inside one DW.
 *
 * Representation, chosen deliberately:
 * - `NumField`: the value fits in 32 bits. Read and written on a `DataView` as 32-bit halves with
 *   plain numbers, so the command hot path never allocates.
 * - `BigField` (`kind: 'big'`): a wider raw value, returned as `bigint` shifted down to bit 0.
 * - `BigField` (`kind: 'addr'`): an address field kept *in place* (low bits zero), as Linux's
 *   `*_MASK` macros and QEMU's `CMD_ADDR` use it, e.g. TLBI VA = DW1[63:12] → `addr & ~0xfff`.
 * - `RegField`: a `NumField` below bit 32, for 32-bit registers held as plain numbers (QEMU
 *   `REG32`/`FIELD`): CR0, IDRn, PROD/CONS, STRTAB_BASE_CFG (src/hw/registers.ts, src/hw/idr.ts).
 * - One 64-bit word held as a bigint (a page-table descriptor, a 64-bit register) is read with
 *   `dwGet`/`dwSet`, the same fields as a word array.
 *
 * No code outside the field tables shifts or masks structure or register words by hand.
 */

export interface NumField {
  readonly kind: 'num';
  readonly dw: number;
  readonly hi: number;
  readonly lo: number;
  readonly width: number;
  /** Byte offset of the 32-bit half holding `lo`, relative to the structure. */
  readonly byte: number;
  /** Shift of `lo` inside that 32-bit half. */
  readonly shift: number;
  /** Bits of the value held in the first half (the rest, if any, sit in the next half). */
  readonly lowBits: number;
  /** Mask of the field in its 64-bit word, in place. */
  readonly inPlaceMask: bigint;
  /** Mask of the bits held in the first 32-bit half, in place there (a register field's GENMASK). */
  readonly halfMask: number;
}

export interface BigField {
  readonly kind: 'big' | 'addr';
  readonly dw: number;
  readonly hi: number;
  readonly lo: number;
  readonly width: number;
  /** Mask of the field in its 64-bit word, in place. */
  readonly inPlaceMask: bigint;
}

export type Field = NumField | BigField;
export type FieldTable = Readonly<Record<string, Field>>;
export type FieldValue<F extends Field> = F extends NumField ? number : bigint;
export type FieldValues<T extends FieldTable> = { [K in keyof T]: FieldValue<T[K]> };

const U64_MASK = (1n << 64n) - 1n;

function checkRange(dw: number, hi: number, lo: number): void {
  if (!Number.isInteger(dw) || dw < 0 || lo < 0 || hi > 63 || hi < lo) {
    throw new RangeError(`bad field DW${dw}[${hi}:${lo}]`);
  }
}

/** A field of at most 32 bits, DW`dw`[hi:lo]. */
export function numField(dw: number, hi: number, lo: number = hi): NumField {
  checkRange(dw, hi, lo);
  if (hi - lo + 1 > 32) throw new RangeError(`numField DW${dw}[${hi}:${lo}] is wider than 32 bits`);
  return numFieldOf(dw, lo, hi - lo + 1);
}

/** The NumField of `width` bits from bit `lo` of DW`dw` (width 0: an empty field, always 0). */
function numFieldOf(dw: number, lo: number, width: number): NumField {
  const half = lo >= 32 ? 1 : 0;
  const shift = lo - 32 * half;
  return Object.freeze({
    kind: 'num',
    dw,
    hi: lo + width - 1,
    lo,
    width,
    byte: dw * 8 + half * 4,
    shift,
    lowBits: Math.min(width, 32 - shift),
    inPlaceMask: ((1n << BigInt(width)) - 1n) << BigInt(lo),
    halfMask: (mask32(Math.min(width, 32 - shift)) << shift) >>> 0,
  });
}

function bigFieldOf(kind: 'big' | 'addr', dw: number, hi: number, lo: number): BigField {
  checkRange(dw, hi, lo);
  const width = hi - lo + 1;
  return Object.freeze({
    kind,
    dw,
    hi,
    lo,
    width,
    inPlaceMask: ((1n << BigInt(width)) - 1n) << BigInt(lo),
  });
}

/** A wide raw field, DW`dw`[hi:lo], read as a bigint shifted to bit 0. */
export function bigField(dw: number, hi: number, lo: number = hi): BigField {
  return bigFieldOf('big', dw, hi, lo);
}

/** An address field, DW`dw`[hi:lo], read and written in place (bits below `lo` are zero). */
export function addrField(dw: number, hi: number, lo: number): BigField {
  return bigFieldOf('addr', dw, hi, lo);
}

function mask32(bits: number): number {
  return bits >= 32 ? 0xffffffff : (1 << bits) - 1;
}

// ---------------------------------------------------------------------------------------------
// DataView accessors (hot path): `base` is the byte offset of the structure in the view.

/** Reads a ≤32-bit field without allocating. */
export function getNum(view: DataView, base: number, f: NumField): number {
  const low = view.getUint32(base + f.byte, true) >>> f.shift;
  if (f.lowBits === f.width) {
    return f.width === 32 ? low : low & mask32(f.width);
  }
  const highBits = f.width - f.lowBits;
  const high = view.getUint32(base + f.byte + 4, true) & mask32(highBits);
  return low + high * 2 ** f.lowBits;
}

/** Writes a ≤32-bit field in place; the value is truncated to the field width. */
export function setNum(view: DataView, base: number, f: NumField, value: number): void {
  const v = value >>> 0;
  const lowMask = mask32(f.lowBits);
  const w0 = view.getUint32(base + f.byte, true);
  const m0 = (lowMask << f.shift) >>> 0;
  view.setUint32(base + f.byte, ((w0 & ~m0) | (((v & lowMask) << f.shift) & m0)) >>> 0, true);
  if (f.lowBits !== f.width) {
    const highBits = f.width - f.lowBits;
    const hm = mask32(highBits);
    const w1 = view.getUint32(base + f.byte + 4, true);
    const high = Math.floor(v / 2 ** f.lowBits) & hm;
    view.setUint32(base + f.byte + 4, ((w1 & ~hm) | high) >>> 0, true);
  }
}

/** Reads one 64-bit DW of a structure. */
export function getDw(view: DataView, base: number, dw: number): bigint {
  return view.getBigUint64(base + dw * 8, true);
}

/** Writes one 64-bit DW of a structure. */
export function setDw(view: DataView, base: number, dw: number, value: bigint): void {
  view.setBigUint64(base + dw * 8, value & U64_MASK, true);
}

/** Reads a wide or address field as a bigint (allocates: used only where an address is needed). */
export function getBig(view: DataView, base: number, f: BigField): bigint {
  return extractBig(getDw(view, base, f.dw), f);
}

/** Writes a wide or address field; bits outside the field are discarded. */
export function setBig(view: DataView, base: number, f: BigField, value: bigint): void {
  setDw(view, base, f.dw, depositBig(getDw(view, base, f.dw), f, value));
}

/** Reads any field, typed by its kind. */
export function getField<F extends Field>(view: DataView, base: number, f: F): FieldValue<F> {
  return (f.kind === 'num' ? getNum(view, base, f) : getBig(view, base, f)) as FieldValue<F>;
}

/** Writes any field (number or bigint accepted), truncated to the field. */
export function setField(view: DataView, base: number, f: Field, value: number | bigint): void {
  if (f.kind === 'num') setNum(view, base, f, Number(BigInt(value) & 0xffffffffn));
  else setBig(view, base, f, BigInt(value));
}

// ---------------------------------------------------------------------------------------------
// bigint word-array accessors (builders, tests, the service's STE/command words).

function extractBig(word: bigint, f: BigField): bigint {
  return f.kind === 'addr' ? word & f.inPlaceMask : (word & f.inPlaceMask) >> BigInt(f.lo);
}

function depositBig(word: bigint, f: BigField, value: bigint): bigint {
  const placed = f.kind === 'addr' ? value & f.inPlaceMask : (value << BigInt(f.lo)) & f.inPlaceMask;
  return ((word & ~f.inPlaceMask) | placed) & U64_MASK;
}

/** Reads a field from an array of 64-bit words. */
export function wordGet<F extends Field>(words: ArrayLike<bigint>, f: F): FieldValue<F> {
  return dwGet(words[f.dw] ?? 0n, f);
}

/** Writes a field into an array of 64-bit words (truncated to the field). */
export function wordSet(words: bigint[], f: Field, value: number | bigint): void {
  words[f.dw] = dwSet(words[f.dw] ?? 0n, f, value);
}

/** Reads a field from `word`, the 64-bit word DW`f.dw` of its structure (a descriptor, a register). */
export function dwGet<F extends Field>(word: bigint, f: F): FieldValue<F> {
  if (f.kind === 'num') return Number((word & f.inPlaceMask) >> BigInt(f.lo)) as FieldValue<F>;
  return extractBig(word, f) as FieldValue<F>;
}

/** `word` (DW`f.dw` of its structure) with the field replaced by `value`, truncated to the field. */
export function dwSet(word: bigint, f: Field, value: number | bigint): bigint {
  if (f.kind !== 'num') return depositBig(word, f, BigInt(value));
  return ((word & ~f.inPlaceMask) | ((BigInt(value) << BigInt(f.lo)) & f.inPlaceMask)) & U64_MASK;
}

/** True when `value` is representable in `f` without loss (addr fields: no bits below `lo`). */
export function fieldFits(f: Field, value: number | bigint): boolean {
  if (typeof value === 'number' && !Number.isInteger(value)) return false;
  const v = BigInt(value);
  if (v < 0n) return false;
  if (f.kind === 'addr') return (v & ~f.inPlaceMask) === 0n;
  return v < 1n << BigInt(f.width);
}

/**
 * Builds `dwords` 64-bit words from named field values; unknown names or values that do not fit
 * throw (builders are for tests and the service, where a bad value is a programming error).
 */
export function encodeFields<T extends FieldTable>(
  table: T,
  dwords: number,
  values: Partial<Record<keyof T & string, number | bigint>>,
  what: string,
): bigint[] {
  const words: bigint[] = new Array<bigint>(dwords).fill(0n);
  for (const [name, value] of Object.entries(values)) {
    if (value === undefined) continue;
    const f = table[name];
    if (f === undefined) throw new RangeError(`${what}: unknown field ${name}`);
    if (!fieldFits(f, value)) {
      throw new RangeError(`${what}: value ${String(value)} does not fit ${name} DW${f.dw}[${f.hi}:${f.lo}]`);
    }
    wordSet(words, f, value);
  }
  return words;
}

/** Decodes every field of `table` from 64-bit words. */
export function decodeFields<T extends FieldTable>(table: T, words: ArrayLike<bigint>): FieldValues<T> {
  const out: Record<string, number | bigint> = {};
  for (const [name, f] of Object.entries(table)) out[name] = wordGet(words, f);
  return out as FieldValues<T>;
}

// ---------------------------------------------------------------------------------------------
// 32-bit registers held as numbers (QEMU `REG32` + `FIELD`, Linux `GENMASK` + `FIELD_GET`).

/** A field of a 32-bit register: a NumField of DW0 that ends at or below bit 31. */
export type RegField = NumField;
export type RegFieldTable = Readonly<Record<string, RegField>>;

/** A field [hi:lo] of a 32-bit register. */
export function regField(hi: number, lo: number = hi): RegField {
  if (hi > 31) throw new RangeError(`register field [${hi}:${lo}] is beyond bit 31`);
  return numField(0, hi, lo);
}

/**
 * The `width` bits from bit `lo` of a 32-bit register, for a field whose position depends on a
 * parameter (a queue's index: log2 of its size bits). Width 0 is an empty field that reads 0.
 */
export function regFieldOfWidth(lo: number, width: number): RegField {
  if (!Number.isInteger(lo) || !Number.isInteger(width) || lo < 0 || width < 0 || lo + width > 32) {
    throw new RangeError(`register field of ${width} bits at ${lo} is not inside 32 bits`);
  }
  return numFieldOf(0, lo, width);
}

/** The field's bits in place (Linux `GENMASK(hi, lo)`), as an unsigned 32-bit number. */
export function regMask(f: RegField): number {
  return f.halfMask;
}

/** Reads a register field (`FIELD_EX32`). */
export function regGet(value: number, f: RegField): number {
  return (value & f.halfMask) >>> f.shift;
}

/** `value` with the field replaced by `v`, truncated to the field (`FIELD_DP32`). */
export function regSet(value: number, f: RegField, v: number): number {
  return ((value & ~f.halfMask) | ((v << f.shift) & f.halfMask)) >>> 0;
}

/** Builds a 32-bit register value from named field values; unknown names or values that do not fit throw. */
export function encodeReg<T extends RegFieldTable>(table: T, values: Partial<Record<keyof T & string, number>>, what: string): number {
  let reg = 0;
  for (const [name, value] of Object.entries(values)) {
    if (value === undefined) continue;
    const f = table[name];
    if (f === undefined) throw new RangeError(`${what}: unknown field ${name}`);
    if (!fieldFits(f, value)) throw new RangeError(`${what}: value ${String(value)} does not fit ${name} [${f.hi}:${f.lo}]`);
    reg = regSet(reg, f, value);
  }
  return reg;
}

/** Reads `dwords` little-endian 64-bit words from `bytes` at `offset`. */
export function bytesToWords(bytes: Uint8Array, offset: number, dwords: number): bigint[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: bigint[] = [];
  for (let i = 0; i < dwords; i++) out.push(getDw(view, offset, i));
  return out;
}

/** Writes 64-bit words little-endian into `bytes` at `offset`. */
export function wordsToBytes(words: readonly bigint[], bytes: Uint8Array, offset = 0): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  words.forEach((w, i) => setDw(view, offset, i, w));
  return bytes;
}

/** A DataView over the whole of `bytes` (one per batch, never per command). */
export function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * The fast path's write-ahead journal: an append-only file next to the database
 * (`<database>-fastlog`) that takes the fast path's commits (a guest's PROD write with its queue
 * page, a queued event) in one `write(2)` each instead of one SQLite transaction each. Its
 * records are folded into SQLite later in one transaction (fast-path.ts) and the file is then
 * emptied; at start every whole record left in it is folded before anything is read.
 *
 * Record: u32 LE body length, u32 LE CRC-32 of the salt and body, u64 LE salt, body. Body: u32
 * LE length of a JSON array of entries, the JSON, then the bytes of each written page in entry
 * order. The file is reused rather than truncated (overwriting allocated blocks costs half of
 * appending): emptying it starts a new epoch, a record with no entries and a fresh random salt
 * at offset 0, made durable (fdatasync) before anything else is written, and records follow it.
 * Reading starts at offset 0 and stops at the first record that is cut short, fails its CRC or
 * has another salt than the first (an older pass over the file, or a write torn by a crash,
 * which was never acknowledged); nothing after it is read. The salt is secret and random, so
 * guest-controlled bytes inside an older record (a guest's page) can never pass for a record of
 * the current epoch.
 *
 * Durability is SQLite's `synchronous=NORMAL` in WAL mode, which the database runs with: a
 * returned write survives the process dying; the last writes may roll back on power loss.
 */
import fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';

/** A value as SQLite stores it (64-bit integers as bigint). */
export type SqlValue = string | number | bigint | null;

/** One row-level change, in the form it is written to SQLite. */
export type JournalEntry =
  | { t: 'o'; id: number; cols: Record<string, SqlValue> }
  | { t: 'p'; page: string; data: Uint8Array | null }
  | { t: 'e'; eventqId: number; ord: bigint; row: { sequence: number; flags: number; payload: string } | null }
  | { t: 'm'; key: string; value: string };

const HEADER = 16;

// bigint has no JSON form: written as {"$n":"<decimal>"} and read back as bigint. Entries are
// converted before JSON.stringify (a replacer function would cost more than the rest of it).
const big = (v: bigint) => ({ $n: v.toString() });
const reviver = (_k: string, v: unknown) =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && typeof (v as { $n?: unknown }).$n === 'string' && Object.keys(v).length === 1
    ? BigInt((v as { $n: string }).$n)
    : v;

function jsonSafe(e: JournalEntry): unknown {
  switch (e.t) {
    case 'p':
      return { t: 'p', page: e.page, length: e.data ? e.data.byteLength : null };
    case 'e':
      return { ...e, ord: big(e.ord) };
    case 'o': {
      let cols: Record<string, unknown> | null = null;
      for (const k in e.cols) {
        const v = e.cols[k];
        if (typeof v === 'bigint') (cols ??= { ...e.cols })[k] = big(v);
      }
      return cols ? { ...e, cols } : e;
    }
    default:
      return e;
  }
}

/** A fresh epoch salt: random, never 0, never `not`. */
export function newSalt(not?: bigint): bigint {
  for (;;) {
    const salt = randomBytes(8).readBigUInt64LE();
    if (salt !== 0n && salt !== not) return salt;
  }
}

/**
 * Encodes one commit's entries as a journal record of the epoch with `salt`, into `scratch` when
 * it is large enough (the returned buffer is then a view of it, valid until the next call).
 */
export function encodeRecord(entries: readonly JournalEntry[], salt: bigint, scratch?: Buffer): Buffer {
  let pageBytes = 0;
  for (const e of entries) if (e.t === 'p' && e.data) pageBytes += e.data.byteLength;
  const json = JSON.stringify(entries.map(jsonSafe));
  const jsonLength = Buffer.byteLength(json);
  const body = 4 + jsonLength + pageBytes;
  const out = scratch && scratch.length >= HEADER + body ? scratch.subarray(0, HEADER + body) : Buffer.allocUnsafe(HEADER + body);
  out.writeUInt32LE(body, 0);
  out.writeBigUInt64LE(salt, 8);
  out.writeUInt32LE(jsonLength, HEADER);
  out.write(json, HEADER + 4, 'utf8');
  let at = HEADER + 4 + jsonLength;
  for (const e of entries) {
    if (e.t !== 'p' || !e.data) continue;
    out.set(e.data, at);
    at += e.data.byteLength;
  }
  out.writeUInt32LE(crc32(out.subarray(HEADER), crc32(out.subarray(8, 16))), 4);
  return out;
}

/**
 * The records of the epoch that starts `buf`, up to the first that is cut short, fails its CRC
 * or has another salt; `salt` is null when not even the first record is whole.
 */
export function decodeRecords(buf: Buffer): { records: JournalEntry[][]; validBytes: number; salt: bigint | null } {
  const records: JournalEntry[][] = [];
  let salt: bigint | null = null;
  let at = 0;
  while (buf.length - at >= HEADER) {
    const body = buf.readUInt32LE(at);
    if (body < 4 || buf.length - at - HEADER < body) break;
    const recSalt = buf.readBigUInt64LE(at + 8);
    if (salt !== null && recSalt !== salt) break;
    const bytes = buf.subarray(at + HEADER, at + HEADER + body);
    if (crc32(bytes, crc32(buf.subarray(at + 8, at + 16))) !== buf.readUInt32LE(at + 4)) break;
    const jsonLength = bytes.readUInt32LE(0);
    if (jsonLength > body - 4) break;
    const list = JSON.parse(bytes.subarray(4, 4 + jsonLength).toString('utf8'), reviver) as Array<JournalEntry | { t: 'p'; page: string; length: number | null }>;
    let blob = 4 + jsonLength;
    records.push(
      list.map((e) => {
        if (e.t !== 'p') return e;
        const length = (e as { length: number | null }).length;
        if (length === null) return { t: 'p', page: e.page, data: null };
        const data = new Uint8Array(bytes.subarray(blob, blob + length));
        blob += length;
        return { t: 'p', page: e.page, data };
      }),
    );
    salt = recSalt;
    at += HEADER + body;
  }
  return { records, validBytes: at, salt };
}

/** Beyond this size the file is cut back when it is emptied. */
const KEEP_BYTES = 64 * 1024 * 1024;

export class Journal {
  private readonly fd: number;
  private salt = 0n;
  /** Where the next record goes: the end of the current epoch's records. */
  private position = 0;
  /** Bytes of records (beyond the epoch's opening record) waiting to be folded. */
  private waiting = 0;
  private extent = 0;
  /** Records are encoded here (writes are synchronous, so one buffer serves them all). */
  private scratch: Buffer = Buffer.allocUnsafe(64 * 1024);

  constructor(readonly file: string) {
    this.fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
  }

  /** The records left in the file by the last run (call once, before the first append). */
  readAll(): JournalEntry[][] {
    const buf = fs.readFileSync(this.file);
    const { records, validBytes, salt } = decodeRecords(buf);
    this.extent = buf.length;
    if (salt === null) {
      // Not even an opening record: whatever is there is no epoch's, so it can go.
      if (buf.length > 0) fs.ftruncateSync(this.fd, 0);
      this.extent = 0;
      this.begin();
      return [];
    }
    this.salt = salt;
    this.position = validBytes;
    this.waiting = records.length > 1 || records[0].length > 0 ? validBytes : 0;
    return records.filter((r) => r.length > 0);
  }

  /** Bytes waiting to be folded. */
  get bytes(): number {
    return this.waiting;
  }

  /**
   * Writes one record after the last; returns once the kernel has it. A failed write is not
   * counted, but part of it may be in the file: the caller opens a new epoch (`reset`, after
   * folding) before the next append, so it is never read (fast-path.ts does).
   */
  append(entries: readonly JournalEntry[]): void {
    const rec = encodeRecord(entries, this.salt, this.scratch);
    if (rec.buffer !== this.scratch.buffer && rec.length <= 16 * 1024 * 1024) this.scratch = rec;
    this.writeAt(rec, this.position);
    this.position += rec.length;
    this.waiting += rec.length;
  }

  /**
   * Empties the journal (its records are in SQLite): a new epoch opens at offset 0, durable
   * before this returns, so a later SQLite write can never outlive it on disk and have the old
   * records replayed over it after a power loss.
   */
  reset(): void {
    if (this.extent > KEEP_BYTES) {
      fs.ftruncateSync(this.fd, 0);
      this.extent = 0;
    }
    this.begin();
  }

  close(): void {
    fs.closeSync(this.fd);
  }

  private begin(): void {
    const salt = newSalt(this.salt);
    const opening = encodeRecord([], salt);
    this.writeAt(opening, 0);
    fs.fdatasyncSync(this.fd);
    this.salt = salt;
    this.position = opening.length;
    this.waiting = 0;
  }

  private writeAt(buf: Buffer, at: number): void {
    let done = 0;
    while (done < buf.length) done += fs.writeSync(this.fd, buf, done, buf.length - done, at + done);
    this.extent = Math.max(this.extent, at + buf.length);
  }
}

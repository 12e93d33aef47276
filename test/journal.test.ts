/**
 * The fast path's write-ahead journal (src/storage/journal.ts, fast-path.ts): its record format,
 * and, on the real app, that a process crash loses no acknowledged write, that a torn record is
 * dropped, and that the journal is folded into SQLite before any other write, at its size limit,
 * at close, and at the next start.
 */
import fs, { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { journalFile } from '../src/storage/fast-path.js';
import { Journal, decodeRecords, encodeRecord, type JournalEntry } from '../src/storage/journal.js';
import { buildViommu, must, startApp, type TestApp } from './helper.js';

const dirs: string[] = [];
const apps: TestApp[] = [];
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tempDir = () => {
  const d = mkdtempSync(path.join(os.tmpdir(), 'vsmmu-journal-'));
  dirs.push(d);
  return d;
};

const page = (fill: number) => new Uint8Array(4096).fill(fill);
const ENTRIES: JournalEntry[] = [
  { t: 'o', id: 7, cols: { qProd: 3, qCons: 2, qEnabled: 1, virtId: 2n ** 40n, vste0: '0x0000000000000001', hwptId: null } },
  { t: 'p', page: '0x0000000040000000', data: page(0xab) },
  { t: 'p', page: '0x0000000040001000', data: null },
  { t: 'e', eventqId: 9, ord: 12n, row: { sequence: 4, flags: 0, payload: '0x0000000000000001,0x0000000000000002' } },
  { t: 'e', eventqId: 9, ord: 11n, row: null },
  { t: 'm', key: 'nextId', value: '42' },
];

describe('journal record format', () => {
  it('journal: every kind of entry reads back as written (bigints, page bytes, deletes)', () => {
    const rec = Buffer.from(encodeRecord(ENTRIES, 5n));
    const { records, validBytes, salt } = decodeRecords(rec);
    expect(salt).toBe(5n);
    expect(validBytes).toBe(rec.length);
    expect(records).toEqual([ENTRIES]);
  });

  it('journal: a record cut short anywhere ends the journal; the records before it are kept', () => {
    const first = Buffer.from(encodeRecord(ENTRIES.slice(0, 1), 1n));
    const second = Buffer.from(encodeRecord(ENTRIES, 1n));
    for (let cut = 0; cut < second.length; cut += cut < 64 ? 1 : 97) {
      const { records, validBytes } = decodeRecords(Buffer.concat([first, second.subarray(0, cut)]));
      expect(records).toEqual([ENTRIES.slice(0, 1)]);
      expect(validBytes).toBe(first.length);
    }
  });

  it('journal: a record whose CRC fails, or with another salt (another epoch), ends the journal', () => {
    const a = Buffer.from(encodeRecord(ENTRIES.slice(0, 1), 3n));
    const b = Buffer.from(encodeRecord(ENTRIES.slice(5), 3n));
    const c = Buffer.from(encodeRecord(ENTRIES.slice(3), 3n));
    const flipped = Buffer.from(b);
    flipped[flipped.length - 1] ^= 1;
    expect(decodeRecords(Buffer.concat([a, flipped, c])).records).toEqual([ENTRIES.slice(0, 1)]);
    const older = Buffer.from(encodeRecord(ENTRIES.slice(5), 2n));
    expect(decodeRecords(Buffer.concat([a, older, c])).records).toEqual([ENTRIES.slice(0, 1)]);
    expect(decodeRecords(Buffer.concat([a, b, c])).records).toHaveLength(3);
  });

  it('journal: emptying opens a new epoch at offset 0, so the longer records of the last pass are never read again', () => {
    const file = path.join(tempDir(), 'j');
    const j = new Journal(file);
    expect(j.readAll()).toEqual([]);
    for (let i = 0; i < 5; i++) j.append(ENTRIES);
    j.close();
    const again = new Journal(file);
    expect(again.readAll()).toEqual([ENTRIES, ENTRIES, ENTRIES, ENTRIES, ENTRIES]);
    expect(again.bytes).toBeGreaterThan(5 * 4096);
    again.reset();
    expect(again.bytes).toBe(0);
    again.append(ENTRIES.slice(5));
    again.close();
    // The file still holds the old records past the new ones.
    expect(statSync(file).size).toBeGreaterThan(5 * 4096);
    const third = new Journal(file);
    expect(third.readAll()).toEqual([ENTRIES.slice(5)]);
    third.reset();
    third.close();
    const fourth = new Journal(file);
    expect(fourth.readAll()).toEqual([]);
    expect(fourth.bytes).toBe(0);
    fourth.close();
  });

  it('journal: guest bytes inside an older record never pass for a record of the new epoch (its salt is random and secret)', () => {
    const file = path.join(tempDir(), 'j');
    const j = new Journal(file);
    j.readAll();
    const oldSalt = decodeRecords(readFileSync(file)).salt as bigint;
    const next: JournalEntry[] = [{ t: 'm', key: 'x', value: 'innocent'.repeat(20) }];
    const opening = encodeRecord([], 1n).length;
    const nextLength = encodeRecord(next, 1n).length;
    // A guest page, journaled in this epoch, holding records forged for the next epoch with every
    // salt the guest could know or guess, placed where the next epoch's second record would start.
    const probe = encodeRecord([{ t: 'p', page: '0x0000000040000000', data: new Uint8Array(4096) }], oldSalt);
    const pageStart = opening + 16 + probe.readUInt32LE(16);
    const forgedAt = opening + nextLength - pageStart;
    for (const guess of [oldSalt, oldSalt + 1n, 1n, 2n, 0n]) {
      const guestPage = new Uint8Array(4096);
      guestPage.set(encodeRecord([{ t: 'o', id: 1234, cols: { vmid: 666 } }], guess), forgedAt);
      j.append([{ t: 'p', page: '0x0000000040000000', data: guestPage }]);
      j.reset(); // folded: a new epoch opens at 0
      j.append(next);
      const crashed = new Journal(file);
      expect(crashed.readAll()).toEqual([next]);
      crashed.close();
      j.reset();
    }
    const salts = new Set<bigint>();
    for (let i = 0; i < 8; i++) {
      j.reset();
      salts.add(decodeRecords(readFileSync(file)).salt as bigint);
    }
    expect(salts.size).toBe(8);
    expect(salts.has(oldSalt)).toBe(false);
    j.close();
  });

  it('journal: a file that does not open with a whole record is no journal and is emptied', () => {
    const file = path.join(tempDir(), 'j');
    writeFileSync(file, Buffer.concat([Buffer.from([1, 2, 3]), Buffer.from(encodeRecord(ENTRIES, 1n))]));
    const j = new Journal(file);
    expect(j.readAll()).toEqual([]);
    j.append(ENTRIES.slice(5));
    j.close();
    const again = new Journal(file);
    expect(again.readAll()).toEqual([ENTRIES.slice(5)]);
    again.close();
  });
});

describe('fast path journal in the service', () => {
  const A = 0x40000000;
  const hex = (n: number) => `0x${n.toString(16)}`;

  /** A tegra241 vIOMMU with a 16-entry VCMDQ, a vEVENTQ, and guest RAM at A. */
  async function setup(env: Record<string, string> = {}) {
    const dir = tempDir();
    const t = await startApp({ dir, env });
    apps.push(t);
    const g = await buildViommu(t, { device: 'nic1', type: 'tegra241_cmdqv' });
    must(await t.req('POST', `/v1/ioas/${g.ioas}/mappings`, { iova: hex(A), length: '0x10000' }), 201);
    const q = must(await t.req('POST', '/v1/hw-queues', { viommuId: g.viommu, type: 'tegra241_cmdqv', index: 0, nestingParentIova: hex(A), length: '0x100' }), 201);
    const eq = must(await t.req('POST', '/v1/eventqs', { viommuId: g.viommu, type: 'arm_smmuv3', depth: 8 }), 201);
    return { t, g, q, eq, dir };
  }

  /** The guest's writes: commands at PROD, a word of guest memory, an event queued. */
  async function guestWrites(t: TestApp, g: { ioas: number; viommu: number }, q: { id: number }, round: number) {
    must(await t.req('POST', `/v1/hw-queues/${q.id}/commands`, { entries: [[hex(0x46 + round * 0x100), '0x0'], ['0x46', '0x0']] }), 200);
    const word = Buffer.alloc(8);
    word.writeBigUInt64LE(0x1122334455667700n + BigInt(round));
    must(await t.req('PUT', `/v1/ioas/${g.ioas}/memory?iova=${hex(A + 0x2000)}&length=8`, word, { 'content-type': 'application/octet-stream' }), 200);
    must(await t.req('POST', `/v1/viommus/${g.viommu}/events`, { type: 'arm_smmuv3', record: [hex(round + 1), '0x0', '0x0', '0x0'] }), 201);
  }

  /** What a caller can see of the guest's writes. */
  async function observed(t: TestApp, g: { ioas: number }, q: { id: number }, eq: { id: number }) {
    const queue = must(await t.req('GET', `/v1/hw-queues/${q.id}`), 200);
    const mem = await t.app.inject({ method: 'GET', url: `/v1/ioas/${g.ioas}/memory?iova=${hex(A)}&length=${0x3000}` });
    const eventq = must(await t.req('GET', `/v1/eventqs/${eq.id}`), 200);
    return { queue, memory: mem.rawPayload.toString('hex'), eventq };
  }

  /** The files a kill -9 leaves behind, copied while the service runs. */
  function crashCopy(dir: string): string {
    const to = tempDir();
    for (const f of ['vsmmu.db', 'vsmmu.db-wal', journalFile('vsmmu.db')]) {
      if (existsSync(path.join(dir, f))) copyFileSync(path.join(dir, f), path.join(to, f));
    }
    return to;
  }

  /** qProd of the queue as the SQLite file alone has it (without the journal). */
  function sqliteProd(dir: string, queueId: number): number {
    const db = new Database(path.join(dir, 'vsmmu.db'));
    try {
      return (db.prepare('SELECT "qProd" FROM "IommufdObject" WHERE "id" = ?').get(queueId) as { qProd: number }).qProd;
    } finally {
      db.close();
    }
  }

  it('journal: a process crash loses no acknowledged write; the next start folds the journal before reading', async () => {
    const { t, g, q, eq, dir } = await setup();
    for (let r = 0; r < 3; r++) await guestWrites(t, g, q, r);
    const before = await observed(t, g, q, eq);
    expect(before.queue.prod).toBe(6);
    expect(t.fastPath.stats().journalBytes).toBeGreaterThan(0);
    const copy = crashCopy(dir);
    // The SQLite file alone is behind: what follows really comes from the journal.
    expect(sqliteProd(copy, q.id)).toBe(0);
    const t2 = await startApp({ dir: copy });
    apps.push(t2);
    expect(await observed(t2, g, q, eq)).toEqual(before);
    expect(t2.fastPath.stats().journalBytes).toBe(0);
    expect(sqliteProd(copy, q.id)).toBe(6);
    const snap = await t2.snapshot();
    expect(snap.db).toBe(snap.graph);
  });

  it('journal: a record torn by the crash is dropped and everything acknowledged before it is kept', async () => {
    const { t, g, q, eq, dir } = await setup();
    await guestWrites(t, g, q, 0);
    const before = await observed(t, g, q, eq);
    const copy = crashCopy(dir);
    const jf = path.join(copy, journalFile('vsmmu.db'));
    const salt = decodeRecords(readFileSync(jf)).salt as bigint;
    const torn = Buffer.from(encodeRecord([{ t: 'o', id: q.id, cols: { qProd: 9 } }, { t: 'p', page: '0x0000000000000000', data: page(1) }], salt));
    const valid = decodeRecords(readFileSync(jf)).validBytes;
    const file = readFileSync(jf);
    writeFileSync(jf, Buffer.concat([file.subarray(0, valid), torn.subarray(0, torn.length - 100)]));
    const t2 = await startApp({ dir: copy });
    apps.push(t2);
    expect(await observed(t2, g, q, eq)).toEqual(before);
  });

  it('journal: a write that is not the fast path\'s folds the journal first (destroying the queue after its commands)', async () => {
    const { t, g, q, eq, dir } = await setup();
    await guestWrites(t, g, q, 0);
    const folds = t.fastPath.stats().folds;
    expect(t.fastPath.stats().journalBytes).toBeGreaterThan(0);
    const res = await t.req('DELETE', `/v1/objects/${q.id}`);
    expect(res.status).toBe(204);
    expect(t.fastPath.stats()).toEqual({ folds: folds + 1, journalBytes: 0 });
    expect((await t.req('GET', `/v1/hw-queues/${q.id}`)).status).toBe(404);
    // The vEVENTQ's queued record was only in the journal; its queue goes with it.
    must(await t.req('POST', `/v1/viommus/${g.viommu}/events`, { type: 'arm_smmuv3', record: ['0x2', '0x0', '0x0', '0x0'] }), 201);
    expect(t.fastPath.stats().journalBytes).toBeGreaterThan(0);
    expect((await t.req('DELETE', `/v1/objects/${eq.id}`)).status).toBe(204);
    expect(t.fastPath.stats()).toEqual({ folds: folds + 2, journalBytes: 0 });
    const copy = crashCopy(dir);
    const t2 = await startApp({ dir: copy });
    apps.push(t2);
    expect((await t2.req('GET', `/v1/hw-queues/${q.id}`)).status).toBe(404);
    expect((await t2.req('GET', `/v1/eventqs/${eq.id}`)).status).toBe(404);
    const memory = await t2.app.inject({ method: 'GET', url: `/v1/ioas/${g.ioas}/memory?iova=${hex(A)}&length=16` });
    expect(memory.rawPayload.readBigUInt64LE(0)).toBe(0x46n);
    const snap = await t2.snapshot();
    expect(snap.db).toBe(snap.graph);
  });

  it('journal: it is folded into SQLite when it reaches JOURNAL_FOLD_BYTES, and at close', async () => {
    const { t, g, q, eq, dir } = await setup({ JOURNAL_FOLD_BYTES: '10000' });
    for (let r = 0; r < 6; r++) {
      await guestWrites(t, g, q, r % 2);
      expect(t.fastPath.stats().journalBytes).toBeLessThan(10000 + 3 * 4200);
      if (r % 2 === 1) must(await t.req('POST', `/v1/hw-queues/${q.id}/commands`, { entries: [['0x46', '0x0']] }), 200);
    }
    expect(t.fastPath.stats().folds).toBeGreaterThan(0);
    const before = await observed(t, g, q, eq);
    const copy = crashCopy(dir);
    const t2 = await startApp({ dir: copy });
    apps.push(t2);
    expect(await observed(t2, g, q, eq)).toEqual(before);
    // A clean stop leaves everything in SQLite and nothing waiting in the journal.
    await apps.shift()!.close();
    expect(sqliteProd(dir, q.id)).toBe(before.queue.prod);
    expect(decodeRecords(readFileSync(path.join(dir, journalFile('vsmmu.db')))).records.flat()).toEqual([]);
  });

  it('journal: JOURNAL_FOLD_BYTES=0 commits straight to SQLite, after folding a journal a previous run left', async () => {
    const { t, g, q, eq, dir } = await setup();
    await guestWrites(t, g, q, 0);
    const before = await observed(t, g, q, eq);
    const copy = crashCopy(dir);
    const t2 = await startApp({ dir: copy, env: { JOURNAL_FOLD_BYTES: '0' } });
    apps.push(t2);
    expect(await observed(t2, g, q, eq)).toEqual(before);
    expect(existsSync(path.join(copy, journalFile('vsmmu.db')))).toBe(false);
    await guestWrites(t2, g, q, 1);
    expect(t2.fastPath.stats()).toEqual({ folds: 1, journalBytes: 0 });
    expect(sqliteProd(copy, q.id)).toBe(4);
  });

  it('journal: a journal write that fails part-way fails its request, closes the epoch, and is not replayed after a crash', async () => {
    const { t, g, q, eq, dir } = await setup();
    await guestWrites(t, g, q, 0);
    const before = await observed(t, g, q, eq);
    const folds = t.fastPath.stats().folds;
    const real = fs.writeSync;
    let failed = 0;
    const spy = vi.spyOn(fs, 'writeSync').mockImplementation(((fd: number, buf: Buffer, off: number, len: number, pos: number) => {
      if (failed === 0 && len > 4096) {
        failed++;
        real(fd, buf, off, 64, pos); // the kernel took 64 bytes, then the device failed
        throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
      }
      return real(fd, buf, off, len, pos);
    }) as typeof fs.writeSync);
    try {
      const res = await t.req('POST', `/v1/hw-queues/${q.id}/commands`, { entries: [['0x46', '0x0']] });
      expect(res.status).toBe(500);
      expect(res.body.errno).toBe('EINTERNAL');
    } finally {
      spy.mockRestore();
    }
    expect(failed).toBe(1);
    // What was acknowledged was folded and a new epoch opened over the torn bytes.
    expect(t.fastPath.stats()).toEqual({ folds: folds + 1, journalBytes: 0 });
    expect(await observed(t, g, q, eq)).toEqual(before);
    const copy = crashCopy(dir);
    const t2 = await startApp({ dir: copy });
    apps.push(t2);
    expect(await observed(t2, g, q, eq)).toEqual(before);
    // The service goes on taking writes.
    must(await t.req('POST', `/v1/hw-queues/${q.id}/commands`, { entries: [['0x46', '0x0']] }), 200);
  });

  it('journal: JOURNAL_FOLD_BYTES must be a number of bytes up to 1 GiB', () => {
    expect(loadConfig({}).journalFoldBytes).toBe(4 * 1024 * 1024);
    expect(loadConfig({ JOURNAL_FOLD_BYTES: '0' }).journalFoldBytes).toBe(0);
    expect(() => loadConfig({ JOURNAL_FOLD_BYTES: '-1' })).toThrow(ConfigError);
    expect(() => loadConfig({ JOURNAL_FOLD_BYTES: '2000000000' })).toThrow(/^JOURNAL_FOLD_BYTES: /);
  });
});

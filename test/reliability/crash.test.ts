/**
 * Crash safety (issue 12, "Proof"): the real service runs in a child process on a SQLite file;
 * the test streams acknowledged writes of every kind at it and kills it with SIGKILL at
 * KILL_POINTS.length points — after varying numbers of acknowledged writes while several lanes
 * write concurrently, and in the middle of bursts of concurrent creates. After each kill the
 * service is started again on the same file (that child then takes the next stream of writes),
 * and the test checks:
 *
 * - every acknowledged write is there: contexts, devices, SMMUs and objects with the fields
 *   their 201 answered, mappings, guest-memory bytes, HW queue PROD/CONS (and the commands in
 *   the queue's guest memory), vEVENTQ records not yet read (read back over SSE, which removes
 *   nothing), destroyed objects and contexts still gone;
 * - a write that was in flight at the kill is either wholly there or wholly absent (each one is
 *   resolved: an object it created is found in its context or not at all, a memory write reads
 *   back the old or the new bytes, a queue push moved PROD by its count or not at all);
 * - nothing is half-created: the ids the API lists are exactly the acknowledged ones and the
 *   rows of the database; every id an object, device or row references exists; GraphQL shows the
 *   same graph as REST; SQLite's integrity and foreign-key checks pass;
 * - the hardware model agrees with the database: each SMMU's stream table has one entry per
 *   device, each device's STE is the one its last attachment answered, and a DMA through the
 *   guest's own page tables (written with memory writes) translates to the acknowledged target.
 *
 * Lanes write sequentially each (so at most one write per lane is in flight at a kill) and
 * concurrently with each other: arm_smmuv3 VMs (device, context, IOAS, mapping, CD and page
 * tables, attach, nest parent, vIOMMU, vDEVICE, nested HWPT, vEVENTQ; then event injections and
 * reads, memory writes, PTE changes with invalidations and a translate, extra IOAS and
 * mappings, destroys), tegra241_cmdqv VMs (… HW queue, enable, command pushes) and a churn lane
 * (contexts created, bound, populated, unbound and deleted). CRASH_SEED=<n> replays the random
 * choices (the timing of a kill is the machine's).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeCd, encodeCommand, type CommandName } from '../../src/hw/index.js';
import { listAll, readDatabase, type Res } from '../helper.js';
import { ServiceProcess, type HttpRes } from './service-process.js';

// ---------------------------------------------------------------------------------------------
// The plan

interface KillPoint {
  /** Kill after this many acknowledged writes of the lanes (all lanes writing concurrently). */
  after?: number;
  /** Or: fire `size` concurrent creates and writes at once, kill after `killAfter` of them are acknowledged. */
  burst?: { size: number; killAfter: number };
}

const KILL_POINTS: KillPoint[] = [
  { after: 6 },
  { after: 35 },
  { burst: { size: 24, killAfter: 8 } },
  { after: 80 },
  { after: 1 },
  { after: 50 },
  { burst: { size: 32, killAfter: 1 } },
  { after: 120 },
  { after: 15 },
  { burst: { size: 20, killAfter: 19 } },
  { after: 90 },
  { after: 160 },
];

const SEED = Number(process.env.CRASH_SEED ?? Date.now() % 1_000_000);

// ---------------------------------------------------------------------------------------------
// Small things

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  weighted<T>(entries: Array<[number, T]>): T {
    const total = entries.reduce((s, [w]) => s + w, 0);
    let r = this.next() * total;
    for (const [w, v] of entries) {
      if ((r -= w) < 0) return v;
    }
    return entries[entries.length - 1][1];
  }
}

const hex = (n: bigint | number) => `0x${n.toString(16)}`;
const word = (n: bigint) => `0x${n.toString(16).padStart(16, '0')}`;
const sortedIds = (xs: Iterable<number>) => [...xs].sort((a, b) => a - b);

function wordsToBytes(words: bigint[]): Buffer {
  const b = Buffer.alloc(words.length * 8);
  words.forEach((w, i) => b.writeBigUInt64LE(w, i * 8));
  return b;
}

/** Fields of an object's view that later writes change; the rest is fixed at creation. */
const MUTABLE_FIELDS = new Set(['devices', 'pasidDevices', 'pending', 'nextSequence', 'prod', 'cons', 'consIndex', 'enabled', 'status', 'gerror', 'gerrorn', 'stopped', 'error']);
function fixedFields(view: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(view).filter(([k]) => !MUTABLE_FIELDS.has(k)));
}

// ---------------------------------------------------------------------------------------------
// What was acknowledged

interface DevEntry {
  name: string;
  smmuId: number;
  streamId: number;
  contextId: number | null;
  attachedTo: number | null;
  /** The STE the last acknowledged attachment answered with (null: not tracked). */
  hostSte: string[] | null;
}
interface ObjEntry {
  type: string;
  contextId: number;
  fields: Record<string, unknown>;
}
interface EqEntry {
  queued: Array<{ sequence: number; record: string[] }>;
  nextSequence: number;
}
interface HwqEntry {
  ioas: number;
  iova: bigint;
  log2Size: number;
  prod: number;
  cons: number;
  enabled: boolean;
  /** Ring slot → the command the guest wrote there. */
  ring: Map<number, [string, string]>;
}

class Ledger {
  smmus = new Map<number, string>();
  devices = new Map<number, DevEntry>();
  contexts = new Map<number, string>();
  objects = new Map<number, ObjEntry>();
  /** Contexts and objects acknowledged destroyed (ids are never reused). */
  destroyed = new Set<number>();
  /** IOAS → iova → the mapping as answered. */
  mappings = new Map<number, Map<string, Record<string, unknown>>>();
  /** `${ioas}@${iova}` → the bytes last written there (regions never overlap). */
  memory = new Map<string, { ioas: number; iova: bigint; bytes: Buffer }>();
  eventqs = new Map<number, EqEntry>();
  hwqs = new Map<number, HwqEntry>();
  /** Acknowledged writes by kind, over the whole run. */
  counts: Record<string, number> = {};

  destroyObject(id: number): void {
    this.objects.delete(id);
    this.destroyed.add(id);
    this.mappings.delete(id);
    this.eventqs.delete(id);
    this.hwqs.delete(id);
    for (const [k, m] of this.memory) if (m.ioas === id) this.memory.delete(k);
  }

  known(id: number): boolean {
    return this.objects.has(id) || this.contexts.has(id) || this.devices.has(id) || this.smmus.has(id) || this.destroyed.has(id);
  }
}

const LOST = Symbol('lost');
const UNSENT = Symbol('unsent');
type WriteResult = HttpRes | typeof LOST | typeof UNSENT;

class World {
  readonly L = new Ledger();
  readonly srv: ServiceProcess;
  killed = false;
  killAt: number | null = null;
  /** Acknowledged writes in this child's run. */
  acked = 0;
  ackedTotal = 0;
  lostTotal = 0;
  /** Recoveries of writes that were in flight at a kill, not owned by a lane. */
  recovers: Array<() => Promise<void>> = [];
  smmu = 0;
  nextStreamId = 0x10;
  uniq = 0;

  constructor(dbFile: string) {
    this.srv = new ServiceProcess(dbFile);
  }

  /** One write; LOST when its connection died with the child (the outcome is unknown). */
  async write(kind: string, method: string, url: string, body: unknown, status: number): Promise<WriteResult> {
    if (this.killed) return UNSENT;
    let res: HttpRes;
    try {
      res = await this.srv.req(method, url, body);
    } catch (err) {
      if (this.killed) {
        this.lostTotal++;
        return LOST;
      }
      throw new Error(`${method} ${url}: ${(err as Error).message}\n${this.srv.log}`);
    }
    if (res.status !== status) throw new Error(`${kind}: ${method} ${url} → ${res.status} (expected ${status}): ${res.raw.toString('utf8').slice(0, 500)}`);
    this.acked++;
    this.ackedTotal++;
    this.L.counts[kind] = (this.L.counts[kind] ?? 0) + 1;
    if (this.killAt !== null && this.acked >= this.killAt) this.killNow();
    return res;
  }

  killNow(): void {
    if (this.killed) return;
    this.killed = true;
    this.srv.killNow();
  }

  async get(url: string): Promise<any> {
    return this.srv.must(200, 'GET', url);
  }

  /** Objects of `contextId` the ledger does not know (a create that was in flight at a kill). */
  async unknownObjects(contextId: number, type: string): Promise<any[]> {
    const items = await listAll(adapter(this.srv), `/v1/objects?contextId=${contextId}`);
    const unknown = items.filter((o) => !this.L.known(o.id));
    for (const o of unknown) expect(o.type, `an unacknowledged object ${o.id} in context ${contextId}: ${JSON.stringify(o)}`).toBe(type);
    return unknown;
  }

  adoptObject(view: any): void {
    this.L.objects.set(view.id, { type: view.type, contextId: view.contextId, fields: fixedFields(view) });
  }

  // -- writes shared by the lanes, each with its recovery --

  /** PUT guest memory; the region is the ledger's key (regions never overlap). */
  async putMemory(ioas: number, iova: bigint, bytes: Buffer, onLost: (recover: () => Promise<void>) => void): Promise<boolean> {
    const res = await this.write('guest-memory write', 'PUT', `/v1/ioas/${ioas}/memory?iova=${hex(iova)}&length=${bytes.length}`, bytes, 200);
    const key = `${ioas}@${iova}`;
    if (res === UNSENT) return false;
    if (res === LOST) {
      const old = this.L.memory.get(key)?.bytes ?? Buffer.alloc(bytes.length);
      onLost(async () => {
        const now = (await this.srv.req('GET', `/v1/ioas/${ioas}/memory?iova=${hex(iova)}&length=${bytes.length}`)).raw;
        expect([old.toString('hex'), bytes.toString('hex')], `memory ${key} after an interrupted write: old or new bytes`).toContain(now.toString('hex'));
        this.L.memory.set(key, { ioas, iova, bytes: now });
      });
      return false;
    }
    expect(res.body).toEqual({ iova: hex(iova), length: bytes.length });
    this.L.memory.set(key, { ioas, iova, bytes });
    return true;
  }

  async createObject(kind: string, url: string, body: Record<string, unknown>, contextId: number, type: string, onLost: (recover: () => Promise<any>) => void): Promise<any | null> {
    const res = await this.write(kind, 'POST', url, body, 201);
    if (res === UNSENT) return null;
    if (res === LOST) {
      onLost(async () => {
        const found = await this.unknownObjects(contextId, type);
        expect(found.length, `${kind} in flight at the kill made at most one object`).toBeLessThanOrEqual(1);
        for (const o of found) this.adoptObject(o);
        return found[0] ?? null;
      });
      return null;
    }
    expect(res.body).toMatchObject({ type, contextId });
    this.adoptObject(res.body);
    return res.body;
  }
}

/** The helper's listAll over the child's HTTP. */
function adapter(srv: ServiceProcess): { req: (m: any, u: string, b?: unknown, h?: Record<string, string>) => Promise<Res> } {
  return {
    req: async (m, u, b, h) => {
      const r = await srv.req(String(m), u, b, h);
      return { status: r.status, body: r.body, headers: {}, raw: r.raw.toString('utf8') };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Lanes

abstract class Lane {
  stage = 0;
  /** Set when this lane's write was in flight at a kill: finds out whether it happened. */
  recover: (() => Promise<void>) | null = null;
  constructor(
    readonly name: string,
    readonly w: World,
    readonly rng: Rng,
  ) {}
  abstract step(): Promise<void>;

  /** A stage that creates one object: on an ack or a found object, `done` and the next stage. */
  protected async createStage(kind: string, url: string, body: Record<string, unknown>, contextId: number, type: string, done: (view: any) => void): Promise<void> {
    const view = await this.w.createObject(kind, url, body, contextId, type, (find) => {
      this.recover = async () => {
        const found = await find();
        if (found) {
          done(found);
          this.stage++;
        }
      };
    });
    if (view) {
      done(view);
      this.stage++;
    }
  }

  protected async createDevice(smmuId: number, done: (id: number) => void): Promise<void> {
    const name = `${this.name}-dev`;
    const streamId = this.w.nextStreamId++;
    const body = { name, smmuId, streamId };
    const res = await this.w.write('device create', 'POST', '/v1/devices', body, 201);
    const adopt = (d: any) => {
      expect(d).toMatchObject({ name, smmuId, streamId, contextId: null, attachedTo: null });
      this.w.L.devices.set(d.id, { name, smmuId, streamId, contextId: null, attachedTo: null, hostSte: null });
      done(d.id);
      this.stage++;
    };
    if (res === UNSENT) return;
    if (res === LOST) {
      this.recover = async () => {
        const found = (await listAll(adapter(this.w.srv), `/v1/devices?smmuId=${smmuId}`)).filter((d) => d.name === name);
        expect(found.length).toBeLessThanOrEqual(1);
        if (found[0]) adopt(found[0]);
      };
      return;
    }
    adopt(res.body);
  }

  protected async createContext(name: string, done: (id: number) => void): Promise<void> {
    const res = await this.w.write('context create', 'POST', '/v1/contexts', { name }, 201);
    const adopt = (c: any) => {
      expect(c.name).toBe(name);
      this.w.L.contexts.set(c.id, name);
      done(c.id);
      this.stage++;
    };
    if (res === UNSENT) return;
    if (res === LOST) {
      this.recover = async () => {
        const found = (await listAll(adapter(this.w.srv), '/v1/contexts')).filter((c) => c.name === name);
        expect(found.length).toBeLessThanOrEqual(1);
        if (found[0]) adopt(found[0]);
      };
      return;
    }
    adopt(res.body);
  }

  protected async bind(ctx: number, dev: number): Promise<void> {
    const res = await this.w.write('device bind', 'POST', `/v1/contexts/${ctx}/devices`, { deviceId: dev }, 201);
    const apply = () => {
      Object.assign(this.w.L.devices.get(dev) as DevEntry, { contextId: ctx, attachedTo: null });
      this.stage++;
    };
    if (res === UNSENT) return;
    if (res === LOST) {
      this.recover = async () => {
        const d = await this.w.get(`/v1/devices/${dev}`);
        expect([null, ctx]).toContain(d.contextId);
        if (d.contextId === ctx) apply();
      };
      return;
    }
    expect(res.body).toMatchObject({ id: dev, contextId: ctx });
    apply();
  }

  protected async map(ioas: number, iova: bigint, length: bigint, done?: (m: any) => void): Promise<void> {
    const res = await this.w.write('IOAS map', 'POST', `/v1/ioas/${ioas}/mappings`, { iova: hex(iova), length: hex(length) }, 201);
    const apply = (m: Record<string, unknown>) => {
      const maps = this.w.L.mappings.get(ioas) ?? new Map();
      maps.set(hex(iova), m);
      this.w.L.mappings.set(ioas, maps);
      done?.(m);
      this.stage++;
    };
    if (res === UNSENT) return;
    if (res === LOST) {
      this.recover = async () => {
        const items = (await this.w.get(`/v1/ioas/${ioas}/mappings`)).items as any[];
        const m = items.find((x) => x.iova === hex(iova));
        if (m) {
          expect(m.length).toBe(hex(length));
          apply(m);
        }
      };
      return;
    }
    expect(res.body).toMatchObject({ iova: hex(iova), length: hex(length) });
    apply(res.body);
  }

  /** PUT attachment; `onDone` gets the device view (its attachedTo and host STE). */
  protected async attach(dev: number, ptId: number, onDone: (d: any) => void): Promise<void> {
    const res = await this.w.write('attach', 'PUT', `/v1/devices/${dev}/attachment`, { ptId }, 200);
    const previous = this.w.L.devices.get(dev)?.attachedTo ?? null;
    const apply = (d: any) => {
      Object.assign(this.w.L.devices.get(dev) as DevEntry, { attachedTo: d.attachedTo, hostSte: d.host.ste });
      onDone(d);
      this.stage++;
    };
    if (res === UNSENT) return;
    if (res === LOST) {
      this.recover = async () => {
        const d = await this.w.get(`/v1/devices/${dev}`);
        if (d.attachedTo !== previous) apply(d);
      };
      return;
    }
    apply(res.body);
  }

  protected async memoryStage(ioas: number, iova: bigint, bytes: Buffer): Promise<void> {
    let recover: (() => Promise<void>) | null = null;
    const ok = await this.w.putMemory(ioas, iova, bytes, (r) => (recover = r));
    if (ok) this.stage++;
    if (recover) {
      const r: () => Promise<void> = recover;
      this.recover = async () => {
        await r();
        if ((this.w.L.memory.get(`${ioas}@${iova}`)?.bytes ?? Buffer.alloc(0)).equals(bytes)) this.stage++;
      };
    }
  }

  /** A loop operation's memory write: no stage moves. */
  protected async memoryOp(ioas: number, iova: bigint, bytes: Buffer): Promise<void> {
    await this.w.putMemory(ioas, iova, bytes, (r) => (this.recover = r));
  }
}

const CD_IPA = 0x10000n;
const L1 = 0x20000n;
const L2 = 0x21000n;
const L3 = 0x22000n;
const DMA_IOVA = 0x4020_1000n;
const RAM = 0x100000n;
const AF = 1n << 10n;
const DATA = 0x30000n;
function command(name: CommandName, fields: Record<string, number | bigint>): [string, string] {
  const [w0, w1] = encodeCommand(name, fields);
  return [word(w0 as bigint), word(w1 as bigint)];
}
/** Guest invalidations a vIOMMU accepts (a guest may not issue CMD_SYNC: EIO). */
const SAFE_INVALIDATIONS: Array<(asid: number) => [string, string]> = [
  () => command('TLBI_NH_ALL', {}),
  (asid) => command('TLBI_NH_ASID', { ASID: asid }),
  (asid) => command('TLBI_NH_VA', { ASID: asid, TG: 1, ADDR: DMA_IOVA }),
];

/** An arm_smmuv3 VM whose device DMAs through its own stage-1 tables (guest memory) and the nest parent. */
class ArmLane extends Lane {
  dev = 0;
  ctx = 0;
  ioas = 0;
  hostBase = 0n;
  parent = 0;
  viommu = 0;
  nested = 0;
  eventq = 0;
  auto = 0;
  spares = { ioas: [] as number[], viommu: [] as number[], hwpt_nested: [] as number[] };
  extraMaps = 0;
  constructor(
    name: string,
    w: World,
    rng: Rng,
    readonly asid: number,
    readonly vsid: number,
  ) {
    super(name, w, rng);
  }

  /** The IPA the L3 PTE points at, from the acknowledged memory. */
  target(): bigint | null {
    const pte = this.w.L.memory.get(`${this.ioas}@${L3 + 8n}`)?.bytes;
    return pte ? pte.readBigUInt64LE(0) & 0xffffffff000n : null;
  }

  get ready(): boolean {
    return this.stage >= 16;
  }

  async step(): Promise<void> {
    const w = this.w;
    switch (this.stage) {
      case 0:
        return this.createDevice(w.smmu, (id) => (this.dev = id));
      case 1:
        return this.createContext(this.name, (id) => (this.ctx = id));
      case 2:
        return this.bind(this.ctx, this.dev);
      case 3:
        return this.createStage('IOAS create', '/v1/ioas', { contextId: this.ctx }, this.ctx, 'ioas', (v) => (this.ioas = v.id));
      case 4:
        return this.map(this.ioas, 0n, RAM, (m) => (this.hostBase = BigInt(m.hostAddress as string)));
      case 5:
        return this.memoryStage(this.ioas, CD_IPA, wordsToBytes(encodeCd({ T0SZ: 25, TG0: 0, EPD1: 1, V: 1, IPS: 4, AA64: 1, A: 1, R: 1, ASID: this.asid, TTB0: L1 })));
      case 6:
        return this.memoryStage(this.ioas, L1 + 8n, wordsToBytes([L2 | 3n]));
      case 7:
        return this.memoryStage(this.ioas, L2 + 8n, wordsToBytes([L3 | 3n]));
      case 8:
        return this.memoryStage(this.ioas, L3 + 8n, wordsToBytes([0x80000n | AF | 3n]));
      case 9:
        return this.attach(this.dev, this.ioas, (d) => {
          this.auto = d.attachedTo;
          w.L.objects.set(d.attachedTo, { type: 'hwpt_paging', contextId: this.ctx, fields: { id: d.attachedTo, type: 'hwpt_paging', contextId: this.ctx, ioasId: this.ioas, auto: true } });
        });
      case 10:
        return this.createStage('HWPT create (nest parent)', '/v1/hwpts', { deviceId: this.dev, ptId: this.ioas, flags: ['nest_parent'] }, this.ctx, 'hwpt_paging', (v) => (this.parent = v.id));
      case 11:
        return this.createStage('vIOMMU create', '/v1/viommus', { deviceId: this.dev, hwptId: this.parent, type: 'arm_smmuv3' }, this.ctx, 'viommu', (v) => (this.viommu = v.id));
      case 12:
        return this.createStage('vDEVICE create', '/v1/vdevices', { viommuId: this.viommu, deviceId: this.dev, virtId: this.vsid }, this.ctx, 'vdevice', () => undefined);
      case 13:
        return this.createStage(
          'HWPT create (nested)',
          '/v1/hwpts',
          { deviceId: this.dev, ptId: this.viommu, data: { type: 'arm_smmuv3', ste: [hex(CD_IPA | 0xbn), '0x0'] } },
          this.ctx,
          'hwpt_nested',
          (v) => (this.nested = v.id),
        );
      case 14:
        return this.attach(this.dev, this.nested, (d) => {
          expect(d.attachedTo).toBe(this.nested);
          expect(d.host.config).toBe('nested');
          // The auto HWPT's last device left: it is released (releaseAutoHwpt).
          w.L.destroyObject(this.auto);
        });
      case 15:
        return this.createStage('vEVENTQ create', '/v1/eventqs', { viommuId: this.viommu, type: 'arm_smmuv3', depth: 64 }, this.ctx, 'veventq', (v) => {
          w.L.eventqs.set(v.id, { queued: [], nextSequence: v.nextSequence });
          this.eventq = v.id;
        });
      default:
        return this.loop();
    }
  }

  private async loop(): Promise<void> {
    const op = this.rng.weighted<() => Promise<void>>([
      [3, () => this.inject()],
      [2, () => this.read()],
      [3, () => this.memoryOp(this.ioas, DATA + BigInt(this.rng.int(16)) * 0x100n, this.rng.bytes(0x100))],
      [1, () => this.retarget()],
      [2, () => this.invalidate()],
      [2, () => this.spareOp()],
      [1, () => (this.extraMaps < 40 ? this.map(this.ioas, 0x1000000n + BigInt(this.extraMaps++) * 0x10000n, 0x1000n) : this.invalidate())],
    ]);
    await op();
    // map() moves the stage; a loop has none.
    if (this.stage > 16) this.stage = 16;
  }

  private async inject(): Promise<void> {
    const q = this.w.L.eventqs.get(this.eventq) as EqEntry;
    if (q.queued.length >= 40) return this.read();
    const record = [word((BigInt(this.vsid) << 32n) | 0x10n), word(0n), word(BigInt(this.rng.int(1 << 20)) << 12n), word(0n)];
    const res = await this.w.write('event inject', 'POST', `/v1/viommus/${this.viommu}/events`, { type: 'arm_smmuv3', record }, 201);
    if (res === UNSENT) return;
    if (res === LOST) {
      const before = q.nextSequence;
      this.recover = async () => {
        const eq = await this.w.get(`/v1/eventqs/${this.eventq}`);
        expect([before, before + 1], `vEVENTQ ${this.eventq} nextSequence after an interrupted injection`).toContain(eq.nextSequence);
        if (eq.nextSequence === before + 1) {
          q.queued.push({ sequence: before, record });
          q.nextSequence = before + 1;
        }
      };
      return;
    }
    expect(res.body).toMatchObject({ sequence: q.nextSequence, record, lostEvents: false });
    q.queued.push({ sequence: res.body.sequence, record });
    q.nextSequence = res.body.sequence + 1;
  }

  private async read(): Promise<void> {
    const q = this.w.L.eventqs.get(this.eventq) as EqEntry;
    const max = 1 + this.rng.int(3);
    const res = await this.w.write('event read', 'POST', `/v1/eventqs/${this.eventq}/read`, { max }, 200);
    if (res === UNSENT) return;
    if (res === LOST) {
      this.recover = async () => {
        const eq = await this.w.get(`/v1/eventqs/${this.eventq}`);
        const removed = q.queued.length - eq.pending;
        expect(removed, `vEVENTQ ${this.eventq}: an interrupted read removes 0..${max} records`).toBeGreaterThanOrEqual(0);
        expect(removed).toBeLessThanOrEqual(Math.min(max, q.queued.length));
        q.queued.splice(0, removed);
      };
      return;
    }
    const expected = q.queued.slice(0, max);
    expect(res.body.records.map((r: any) => ({ sequence: r.sequence, record: r.record }))).toEqual(expected);
    q.queued.splice(0, expected.length);
  }

  /** The guest repoints its PTE, invalidates its TLB through the vIOMMU, and its device DMAs to the new page. */
  private async retarget(): Promise<void> {
    const ipa = 0x40000n + BigInt(this.rng.int(64)) * 0x1000n;
    let lost = false;
    const ok = await this.w.putMemory(this.ioas, L3 + 8n, wordsToBytes([ipa | AF | 3n]), (r) => {
      this.recover = r;
      lost = true;
    });
    if (!ok || lost) return;
    const inv = await this.w.write('invalidate', 'POST', `/v1/viommus/${this.viommu}/invalidate`, { dataType: 'arm_smmuv3', entries: [command('TLBI_NH_ALL', {})] }, 200);
    if (inv === UNSENT || inv === LOST) return;
    expect(inv.body).toEqual({ entriesProcessed: 1 });
    if (this.w.killed) return;
    const off = BigInt(this.rng.int(0x1000));
    let tr: HttpRes;
    try {
      tr = await this.w.srv.req('POST', `/v1/devices/${this.dev}/translate`, { iova: hex(DMA_IOVA + off), access: 'read' });
    } catch (err) {
      if (this.w.killed) return;
      throw err;
    }
    expect(tr.body, JSON.stringify(tr.body)).toMatchObject({ pa: hex(this.hostBase + ipa + off) });
  }

  private async invalidate(): Promise<void> {
    const n = 1 + this.rng.int(4);
    const entries = Array.from({ length: n }, () => this.rng.pick(SAFE_INVALIDATIONS)(this.asid));
    const res = await this.w.write('invalidate', 'POST', `/v1/viommus/${this.viommu}/invalidate`, { dataType: 'arm_smmuv3', entries }, 200);
    if (res !== UNSENT && res !== LOST) expect(res.body).toEqual({ entriesProcessed: n });
  }

  /** A spare IOAS, vIOMMU (another VMID on the nest parent) or nested HWPT (abort vSTE): created, or one destroyed. */
  private async spareOp(): Promise<void> {
    const kind = this.rng.pick(['ioas', 'viommu', 'hwpt_nested'] as const);
    const create = {
      ioas: () => ({ kind: 'IOAS create', url: '/v1/ioas', body: { contextId: this.ctx } }),
      viommu: () => ({ kind: 'vIOMMU create', url: '/v1/viommus', body: { deviceId: this.dev, hwptId: this.parent, type: 'arm_smmuv3' } }),
      hwpt_nested: () => ({ kind: 'HWPT create (nested)', url: '/v1/hwpts', body: { deviceId: this.dev, ptId: this.viommu, data: { type: 'arm_smmuv3', ste: ['0x1', '0x0'] } } }),
    }[kind]();
    await spare(this, this.spares[kind], 3, create.kind, create.url, create.body, this.ctx, kind);
  }
}

/**
 * Creates an object into `pool` (up to `max`), or destroys the oldest with IOMMU_DESTROY; both
 * recover from a kill in flight.
 */
async function spare(lane: Lane, pool: number[], max: number, kind: string, url: string, body: Record<string, unknown>, ctx: number, type: string): Promise<void> {
  const w = lane.w;
  if (pool.length === 0 || (pool.length < max && lane.rng.int(2) === 0)) {
    const v = await w.createObject(kind, url, body, ctx, type, (find) => {
      lane.recover = async () => {
        const found = await find();
        if (found) pool.push(found.id);
      };
    });
    if (v) pool.push(v.id);
    return;
  }
  const id = pool.shift() as number;
  const res = await w.write('destroy', 'DELETE', `/v1/objects/${id}`, undefined, 204);
  if (res === UNSENT) {
    pool.unshift(id);
    return;
  }
  if (res === LOST) {
    lane.recover = async () => {
      const r = await w.srv.req('GET', `/v1/objects/${id}`);
      expect([200, 404]).toContain(r.status);
      if (r.status === 404) w.L.destroyObject(id);
      else pool.unshift(id);
    };
    return;
  }
  w.L.destroyObject(id);
}

const TQ_IOVA = 0x40000000n;
const TQ_DATA = 0x40008000n;
/** Commands a guest VCMDQ accepts (tegra241_guest_vcmdq_supports_cmd): CMD_SYNC, TLBI_NH_ASID, TLBI_NH_VA. */
const QUEUE_COMMANDS: Array<() => [string, string]> = [() => [word(0x46n), word(0n)], () => [word(0x0000000100000011n), word(0n)], () => [word(0x0007123400000012n), word(0x5000n)]];

/** A tegra241_cmdqv VM: its own VCMDQ, enabled, into which the guest pushes commands. */
class TegraLane extends Lane {
  dev = 0;
  ctx = 0;
  ioas = 0;
  parent = 0;
  viommu = 0;
  hwq = 0;
  spareQueues: number[] = [];

  async step(): Promise<void> {
    const w = this.w;
    switch (this.stage) {
      case 0:
        return this.createDevice(w.smmu, (id) => (this.dev = id));
      case 1:
        return this.createContext(this.name, (id) => (this.ctx = id));
      case 2:
        return this.bind(this.ctx, this.dev);
      case 3:
        return this.createStage('IOAS create', '/v1/ioas', { contextId: this.ctx }, this.ctx, 'ioas', (v) => (this.ioas = v.id));
      case 4:
        return this.map(this.ioas, TQ_IOVA, 0x10000n);
      case 5:
        return this.attach(this.dev, this.ioas, (d) => {
          w.L.objects.set(d.attachedTo, { type: 'hwpt_paging', contextId: this.ctx, fields: { id: d.attachedTo, type: 'hwpt_paging', contextId: this.ctx, ioasId: this.ioas, auto: true } });
        });
      case 6:
        return this.createStage('HWPT create (nest parent)', '/v1/hwpts', { deviceId: this.dev, ptId: this.ioas, flags: ['nest_parent'] }, this.ctx, 'hwpt_paging', (v) => (this.parent = v.id));
      case 7:
        return this.createStage('vIOMMU create', '/v1/viommus', { deviceId: this.dev, hwptId: this.parent, type: 'tegra241_cmdqv' }, this.ctx, 'viommu', (v) => (this.viommu = v.id));
      case 8:
        return this.createStage('vDEVICE create', '/v1/vdevices', { viommuId: this.viommu, deviceId: this.dev, virtId: 0x10 }, this.ctx, 'vdevice', () => undefined);
      case 9:
        return this.createStage(
          'HW queue create',
          '/v1/hw-queues',
          { viommuId: this.viommu, type: 'tegra241_cmdqv', index: 0, nestingParentIova: hex(TQ_IOVA), length: '0x1000' },
          this.ctx,
          'hw_queue',
          (v) => {
            this.hwq = v.id;
            w.L.hwqs.set(v.id, { ioas: this.ioas, iova: TQ_IOVA, log2Size: v.log2Size, prod: v.prod, cons: v.cons, enabled: v.enabled, ring: new Map() });
          },
        );
      case 10:
        return this.enable();
      case 11:
        return this.createStage('vEVENTQ create', '/v1/eventqs', { viommuId: this.viommu, type: 'tegra241_cmdqv', depth: 16 }, this.ctx, 'veventq', (v) => {
          w.L.eventqs.set(v.id, { queued: [], nextSequence: v.nextSequence });
        });
      default: {
        const op = this.rng.weighted<() => Promise<void>>([
          [4, () => this.push()],
          [1, () => this.spareQueue()],
          [2, () => this.memoryOp(this.ioas, TQ_DATA + BigInt(this.rng.int(16)) * 0x100n, this.rng.bytes(0x100))],
        ]);
        return op();
      }
    }
  }

  private async enable(): Promise<void> {
    const q = this.w.L.hwqs.get(this.hwq) as HwqEntry;
    const res = await this.w.write('HW queue enable', 'PATCH', `/v1/hw-queues/${this.hwq}`, { enabled: true }, 200);
    if (res === UNSENT) return;
    if (res === LOST) {
      this.recover = async () => {
        const v = await this.w.get(`/v1/hw-queues/${this.hwq}`);
        if (v.enabled) {
          q.enabled = true;
          this.stage++;
        }
      };
      return;
    }
    expect(res.body).toMatchObject({ enabled: true });
    q.enabled = true;
    this.stage++;
  }

  /** A second VCMDQ (index 1, after index 0) is allocated, or destroyed again. */
  private async spareQueue(): Promise<void> {
    const body = { viommuId: this.viommu, type: 'tegra241_cmdqv', index: 1, nestingParentIova: hex(TQ_IOVA + 0x1000n), length: '0x1000' };
    await spare(this, this.spareQueues, 1, 'HW queue create', '/v1/hw-queues', body, this.ctx, 'hw_queue');
  }

  /** Where PROD is after `n` more commands: index and wrap bit of a 2^log2Size queue. */
  static advance(prod: number, n: number, log2Size: number): number {
    return (prod + n) % (1 << (log2Size + 1));
  }

  private async push(): Promise<void> {
    const q = this.w.L.hwqs.get(this.hwq) as HwqEntry;
    const n = 1 + this.rng.int(5);
    const entries = Array.from({ length: n }, () => this.rng.pick(QUEUE_COMMANDS)());
    const next = TegraLane.advance(q.prod, n, q.log2Size);
    const apply = () => {
      const size = 1 << q.log2Size;
      entries.forEach((e, i) => q.ring.set((q.prod + i) % size, e));
      q.prod = next;
      q.cons = next;
    };
    const res = await this.w.write('HW queue command push', 'POST', `/v1/hw-queues/${this.hwq}/commands`, { entries }, 200);
    if (res === UNSENT) return;
    if (res === LOST) {
      const before = q.prod;
      this.recover = async () => {
        const v = await this.w.get(`/v1/hw-queues/${this.hwq}`);
        expect([before, next], `HW queue ${this.hwq} PROD after an interrupted push of ${n}`).toContain(v.prod);
        if (v.prod === next) apply();
      };
      return;
    }
    expect(res.body).toEqual({ consumed: n, prod: next, cons: next, error: null });
    apply();
  }
}

/** Contexts that come and go: bind, IOAS, mapping, memory, attach, destroy, unbind, context delete. */
class ChurnLane extends Lane {
  dev = 0;
  round = 0;
  ctx = 0;
  a = 0;
  b = 0;
  auto = 0;

  async step(): Promise<void> {
    const w = this.w;
    switch (this.stage) {
      case 0:
        return this.createDevice(w.smmu, (id) => (this.dev = id));
      case 1:
        return this.createContext(`${this.name}-${this.round}`, (id) => (this.ctx = id));
      case 2:
        return this.bind(this.ctx, this.dev);
      case 3:
        return this.createStage('IOAS create', '/v1/ioas', { contextId: this.ctx }, this.ctx, 'ioas', (v) => (this.a = v.id));
      case 4:
        return this.createStage('IOAS create', '/v1/ioas', { contextId: this.ctx }, this.ctx, 'ioas', (v) => (this.b = v.id));
      case 5:
        return this.map(this.a, 0n, 0x10000n);
      case 6:
        return this.memoryStage(this.a, 0x100n, this.rng.bytes(0x100));
      case 7:
        return this.attach(this.dev, this.a, (d) => {
          this.auto = d.attachedTo;
          w.L.objects.set(d.attachedTo, { type: 'hwpt_paging', contextId: this.ctx, fields: { id: d.attachedTo, type: 'hwpt_paging', contextId: this.ctx, ioasId: this.a, auto: true } });
        });
      case 8: {
        const res = await w.write('destroy', 'DELETE', `/v1/objects/${this.b}`, undefined, 204);
        if (res === UNSENT) return;
        if (res === LOST) {
          this.recover = async () => {
            const r = await w.srv.req('GET', `/v1/objects/${this.b}`);
            if (r.status === 404) {
              w.L.destroyObject(this.b);
              this.stage++;
            }
          };
          return;
        }
        w.L.destroyObject(this.b);
        this.stage++;
        return;
      }
      case 9: {
        if (this.round % 2 === 0) {
          this.stage++;
          return;
        }
        const res = await w.write('device unbind', 'DELETE', `/v1/contexts/${this.ctx}/devices/${this.dev}`, undefined, 200);
        const apply = () => {
          Object.assign(w.L.devices.get(this.dev) as DevEntry, { contextId: null, attachedTo: null, hostSte: null });
          w.L.destroyObject(this.auto);
          this.stage++;
        };
        if (res === UNSENT) return;
        if (res === LOST) {
          this.recover = async () => {
            if ((await w.get(`/v1/devices/${this.dev}`)).contextId === null) apply();
          };
          return;
        }
        apply();
        return;
      }
      case 10: {
        const res = await w.write('context delete', 'DELETE', `/v1/contexts/${this.ctx}`, undefined, 200);
        const owned = [...w.L.objects].filter(([, o]) => o.contextId === this.ctx).map(([id]) => id);
        const apply = () => {
          for (const id of owned) w.L.destroyObject(id);
          w.L.contexts.delete(this.ctx);
          w.L.destroyed.add(this.ctx);
          Object.assign(w.L.devices.get(this.dev) as DevEntry, { contextId: null, attachedTo: null, hostSte: null });
          this.round++;
          this.stage = 1;
        };
        if (res === UNSENT) return;
        if (res === LOST) {
          this.recover = async () => {
            const r = await w.srv.req('GET', `/v1/contexts/${this.ctx}`);
            expect([200, 404]).toContain(r.status);
            if (r.status === 404) apply();
          };
          return;
        }
        expect(sortedIds(res.body.destroyedObjects)).toEqual(sortedIds(owned));
        apply();
        return;
      }
      default:
        throw new Error(`churn stage ${this.stage}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Bursts: many independent creates and writes at once

class Burst {
  ctx = 0;
  ioas = 0;
  constructor(
    readonly w: World,
    readonly rng: Rng,
  ) {}

  /** The burst's own context and IOAS with 1 MiB mapped (written without a kill). */
  async setup(): Promise<void> {
    if (this.ctx) return;
    const w = this.w;
    this.ctx = (await w.srv.must(201, 'POST', '/v1/contexts', { name: 'burst' })).id;
    w.L.contexts.set(this.ctx, 'burst');
    const ioas = await w.srv.must(201, 'POST', '/v1/ioas', { contextId: this.ctx });
    w.adoptObject(ioas);
    this.ioas = ioas.id;
    const m = await w.srv.must(201, 'POST', `/v1/ioas/${this.ioas}/mappings`, { iova: '0x0', length: hex(RAM) });
    w.L.mappings.set(this.ioas, new Map([['0x0', m]]));
  }

  /** Fires `size` writes at once; the kill comes after `killAfter` of them are acknowledged. */
  async fire(tag: number, size: number): Promise<void> {
    const w = this.w;
    const ops: Array<Promise<void>> = [];
    let lostIoas = 0;
    for (let i = 0; i < size; i++) {
      const u = w.uniq++;
      switch (i % 5) {
        case 0: {
          const name = `burst-${tag}-${i}`;
          ops.push(
            w.write('context create', 'POST', '/v1/contexts', { name }, 201).then((res) => {
              if (res === LOST) {
                w.recovers.push(async () => {
                  const found = (await listAll(adapter(w.srv), '/v1/contexts')).filter((c) => c.name === name);
                  expect(found.length).toBeLessThanOrEqual(1);
                  if (found[0]) w.L.contexts.set(found[0].id, name);
                });
              } else if (res !== UNSENT) w.L.contexts.set(res.body.id, name);
            }),
          );
          break;
        }
        case 1:
          ops.push(
            w.write('IOAS create', 'POST', '/v1/ioas', { contextId: this.ctx }, 201).then((res) => {
              if (res === LOST) lostIoas++;
              else if (res !== UNSENT) w.adoptObject(res.body);
            }),
          );
          break;
        case 2: {
          const iova = hex(0x10000000n + BigInt(u) * 0x1000n);
          ops.push(
            w.write('IOAS map', 'POST', `/v1/ioas/${this.ioas}/mappings`, { iova, length: '0x1000' }, 201).then((res) => {
              const maps = w.L.mappings.get(this.ioas) as Map<string, Record<string, unknown>>;
              if (res === LOST) {
                w.recovers.push(async () => {
                  const m = ((await w.get(`/v1/ioas/${this.ioas}/mappings`)).items as any[]).find((x) => x.iova === iova);
                  if (m) maps.set(iova, m);
                });
              } else if (res !== UNSENT) maps.set(iova, res.body);
            }),
          );
          break;
        }
        case 3:
          ops.push(
            w
              .putMemory(this.ioas, BigInt(u % 4096) * 0x100n, this.rng.bytes(0x100), (r) => w.recovers.push(r))
              .then(() => undefined),
          );
          break;
        case 4: {
          const name = `burst-dev-${tag}-${i}`;
          const streamId = w.nextStreamId++;
          ops.push(
            w.write('device create', 'POST', '/v1/devices', { name, smmuId: w.smmu, streamId }, 201).then((res) => {
              const adopt = (d: any) => w.L.devices.set(d.id, { name, smmuId: w.smmu, streamId, contextId: null, attachedTo: null, hostSte: null });
              if (res === LOST) {
                w.recovers.push(async () => {
                  const found = (await listAll(adapter(w.srv), `/v1/devices?smmuId=${w.smmu}`)).filter((d) => d.name === name);
                  expect(found.length).toBeLessThanOrEqual(1);
                  if (found[0]) adopt(found[0]);
                });
              } else if (res !== UNSENT) adopt(res.body);
            }),
          );
          break;
        }
      }
    }
    await Promise.all(ops);
    if (lostIoas > 0) {
      w.recovers.push(async () => {
        const found = await w.unknownObjects(this.ctx, 'ioas');
        expect(found.length, `IOAS creates in flight at the kill: ${lostIoas}`).toBeLessThanOrEqual(lostIoas);
        for (const o of found) w.adoptObject(o);
      });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The checks after a restart

/** GraphQL ids are `ID`s (strings, api.md "GraphQL"): the fields of GRAPHQL_QUERY that are ids, as the numbers REST answers. */
const GQL_ID_FIELD = /^(?:[a-z]+_)?(?:id|contextId|smmuId|attachedTo|deviceId|viommuId|hwptId|ioasId)$/;
function gqlIdsAsNumbers(v: any): any {
  if (Array.isArray(v)) return v.map(gqlIdsAsNumbers);
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, GQL_ID_FIELD.test(k) && typeof x === 'string' ? Number(x) : gqlIdsAsNumbers(x)]));
}

const GRAPHQL_QUERY = /* GraphQL */ `
  {
    smmus { id devices { id } state { streamTableEntries } }
    devices { id smmuId contextId attachedTo host { ste config } }
    contexts {
      id
      name
      devices { id }
      objects {
        id
        type
        contextId
        ... on Hwpt { hwpt_ioasId: ioasId hwpt_viommuId: viommuId hwpt_smmuId: smmuId devices { id } }
        ... on Viommu { viommu_hwptId: hwptId viommu_smmuId: smmuId vmid }
        ... on Vdevice { vdevice_viommuId: viommuId deviceId virtId }
        ... on HwQueue { hwq_viommuId: viommuId prod cons enabled }
        ... on Eventq { eventq_viommuId: viommuId pending nextSequence }
      }
    }
  }
`;

/** Object fields that name another entity, and the kinds that entity may be. */
const REFERENCES: Record<string, string[]> = {
  ioasId: ['ioas'],
  hwptId: ['hwpt_paging'],
  viommuId: ['viommu'],
  deviceId: ['device'],
  smmuId: ['smmu'],
  prevQueueId: ['hw_queue'],
};

async function verify(w: World, label: string, lanes: Lane[]): Promise<void> {
  const { srv, L } = w;
  const http = adapter(srv);

  // Every acknowledged entity, and nothing else.
  const [smmus, devices, contexts, objects] = await Promise.all(['/v1/smmus', '/v1/devices', '/v1/contexts', '/v1/objects'].map((u) => listAll(http, u)));
  expect(sortedIds(smmus.map((s) => s.id)), `${label}: SMMUs`).toEqual(sortedIds(L.smmus.keys()));
  expect(sortedIds(devices.map((d) => d.id)), `${label}: devices`).toEqual(sortedIds(L.devices.keys()));
  expect(sortedIds(contexts.map((c) => c.id)), `${label}: contexts`).toEqual(sortedIds(L.contexts.keys()));
  expect(sortedIds(objects.map((o) => o.id)), `${label}: objects (acknowledged, not destroyed)`).toEqual(sortedIds(L.objects.keys()));

  for (const s of smmus) expect(s.name).toBe(L.smmus.get(s.id));
  for (const c of contexts) expect(c.name, `${label}: context ${c.id}`).toBe(L.contexts.get(c.id));
  for (const d of devices) {
    const e = L.devices.get(d.id) as DevEntry;
    expect({ name: d.name, smmuId: d.smmuId, streamId: d.streamId, contextId: d.contextId, attachedTo: d.attachedTo }, `${label}: device ${d.id}`).toEqual({
      name: e.name,
      smmuId: e.smmuId,
      streamId: e.streamId,
      contextId: e.contextId,
      attachedTo: e.attachedTo,
    });
  }
  const byId = new Map<number, any>(objects.map((o) => [o.id, o]));
  for (const [id, e] of L.objects) expect(byId.get(id), `${label}: object ${id}`).toMatchObject(e.fields);
  const TYPE_ROUTE: Record<string, string> = { ioas: 'ioas', hwpt_paging: 'hwpts', hwpt_nested: 'hwpts', viommu: 'viommus', vdevice: 'vdevices', hw_queue: 'hw-queues', veventq: 'eventqs' };
  for (const o of objects) expect(await w.get(`/v1/${TYPE_ROUTE[o.type]}/${o.id}`), `${label}: ${o.type} ${o.id} by its own route`).toEqual(o);
  for (const id of L.destroyed) {
    for (const url of [`/v1/objects/${id}`, `/v1/contexts/${id}`]) expect((await srv.req('GET', url)).status, `${label}: destroyed ${id} stays gone (${url})`).toBe(404);
  }

  // Mappings and guest memory.
  for (const o of objects.filter((x) => x.type === 'ioas')) {
    const items = (await w.get(`/v1/ioas/${o.id}/mappings`)).items as any[];
    const expected = [...(L.mappings.get(o.id)?.values() ?? [])];
    const key = (m: any) => BigInt(m.iova as string);
    const sort = (xs: any[]) => [...xs].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
    expect(sort(items), `${label}: mappings of IOAS ${o.id}`).toEqual(sort(expected));
  }
  for (const [k, m] of L.memory) {
    const r = await srv.req('GET', `/v1/ioas/${m.ioas}/memory?iova=${hex(m.iova)}&length=${m.bytes.length}`);
    expect(r.status).toBe(200);
    expect(r.raw.toString('hex'), `${label}: guest memory ${k}`).toBe(m.bytes.toString('hex'));
  }

  // vEVENTQs: what was queued and not read is still queued, in order, with its sequence.
  for (const [id, q] of L.eventqs) {
    const eq = byId.get(id);
    expect({ pending: eq.pending, nextSequence: eq.nextSequence }, `${label}: vEVENTQ ${id}`).toEqual({ pending: q.queued.length, nextSequence: q.nextSequence });
    const backlog = await srv.sseBacklog(id, q.queued.length);
    expect(backlog.map((b) => ({ sequence: b.data.sequence, record: b.data.record })), `${label}: vEVENTQ ${id} records (SSE backlog)`).toEqual(q.queued);
  }

  // HW queues: registers and the commands in guest memory.
  for (const [id, q] of L.hwqs) {
    const v = byId.get(id);
    expect({ prod: v.prod, cons: v.cons, enabled: v.enabled, error: v.error }, `${label}: HW queue ${id}`).toEqual({ prod: q.prod, cons: q.cons, enabled: q.enabled, error: null });
    const mem = (await srv.req('GET', `/v1/ioas/${q.ioas}/memory?iova=${hex(q.iova)}&length=${16 << q.log2Size}`)).raw;
    for (const [slot, [w0, w1]] of q.ring) {
      expect([word(mem.readBigUInt64LE(slot * 16)), word(mem.readBigUInt64LE(slot * 16 + 8))], `${label}: HW queue ${id} slot ${slot}`).toEqual([w0, w1]);
    }
  }

  // Nothing half-created: every reference names an entity of the right kind.
  const kindOf = new Map<number, string>();
  for (const s of smmus) kindOf.set(s.id, 'smmu');
  for (const d of devices) kindOf.set(d.id, 'device');
  for (const c of contexts) kindOf.set(c.id, 'context');
  for (const o of objects) kindOf.set(o.id, o.type);
  for (const o of objects) {
    expect(kindOf.get(o.contextId), `${label}: ${o.type} ${o.id} context`).toBe('context');
    for (const [field, kinds] of Object.entries(REFERENCES)) {
      if (o[field] === undefined || o[field] === null) continue;
      expect(kinds, `${label}: ${o.type} ${o.id}.${field} = ${o[field]}`).toContain(kindOf.get(o[field]));
    }
    if (Array.isArray(o.devices)) {
      const attached = devices.filter((d) => d.attachedTo === o.id).map((d) => d.id);
      expect(sortedIds(o.devices.map((d: any) => (typeof d === 'number' ? d : d.id))), `${label}: devices of ${o.id}`).toEqual(sortedIds(attached));
    }
  }
  for (const d of devices) {
    expect(kindOf.get(d.smmuId)).toBe('smmu');
    if (d.contextId !== null) expect(kindOf.get(d.contextId), `${label}: device ${d.id} context`).toBe('context');
    if (d.attachedTo !== null) {
      expect(['hwpt_paging', 'hwpt_nested'], `${label}: device ${d.id} attachedTo ${d.attachedTo}`).toContain(kindOf.get(d.attachedTo));
      expect(byId.get(d.attachedTo).contextId).toBe(d.contextId);
    }
  }

  // GraphQL shows the same graph.
  const gql = await srv.must(200, 'POST', '/graphql', { query: GRAPHQL_QUERY });
  expect(gql.errors, JSON.stringify(gql.errors)).toBeUndefined();
  const g = gqlIdsAsNumbers(gql.data);
  expect(sortedIds(g.smmus.map((s: any) => s.id))).toEqual(sortedIds(smmus.map((s) => s.id)));
  expect(sortedIds(g.contexts.map((c: any) => c.id))).toEqual(sortedIds(contexts.map((c) => c.id)));
  const gObjects = g.contexts.flatMap((c: any) => c.objects);
  expect(sortedIds(gObjects.map((o: any) => o.id)), `${label}: GraphQL objects`).toEqual(sortedIds(objects.map((o) => o.id)));
  for (const go of gObjects) {
    const o = byId.get(go.id);
    for (const [alias, v] of Object.entries(go)) {
      // Fields of one name but different nullability in two fragments travel under aliases.
      const k = alias.replace(/^[a-z]+_/, '');
      if (k === 'devices') expect(sortedIds((v as any[]).map((d) => d.id))).toEqual(sortedIds(o.devices.map((d: any) => (typeof d === 'number' ? d : d.id))));
      else if (o[k] !== undefined) expect(v, `${label}: GraphQL ${go.type} ${go.id}.${k}`).toEqual(o[k]);
    }
  }
  const restDevices = new Map<number, any>(devices.map((d) => [d.id, d]));
  for (const gd of g.devices) {
    const d = restDevices.get(gd.id);
    expect({ smmuId: gd.smmuId, contextId: gd.contextId, attachedTo: gd.attachedTo }).toEqual({ smmuId: d.smmuId, contextId: d.contextId, attachedTo: d.attachedTo });
  }
  for (const c of g.contexts) expect(sortedIds(c.devices.map((d: any) => d.id))).toEqual(sortedIds(devices.filter((d) => d.contextId === c.id).map((d) => d.id)));

  // The database holds exactly these rows, and nothing dangling.
  const rows = readDatabase(srv.dbFile).tables;
  const num = (v: unknown) => (v === null || v === undefined ? null : Number(String(v).replace(/n$/, '')));
  const idsOf = (table: string) => sortedIds((rows[table] ?? []).map((r) => num(r.id) as number));
  expect(idsOf('Smmu'), `${label}: Smmu rows`).toEqual(sortedIds(smmus.map((s) => s.id)));
  expect(idsOf('Device'), `${label}: Device rows`).toEqual(sortedIds(devices.map((d) => d.id)));
  expect(idsOf('Context'), `${label}: Context rows`).toEqual(sortedIds(contexts.map((c) => c.id)));
  expect(idsOf('IommufdObject'), `${label}: IommufdObject rows`).toEqual(sortedIds(objects.map((o) => o.id)));
  for (const m of rows.IoasMapping ?? []) expect(kindOf.get(num(m.ioasId) as number), `${label}: mapping row of ${m.ioasId}`).toBe('ioas');
  const eventRows = new Map<number, number>();
  for (const e of rows.EventRecord ?? []) {
    const q = num(e.eventqId) as number;
    expect(kindOf.get(q), `${label}: event row of ${q}`).toBe('veventq');
    eventRows.set(q, (eventRows.get(q) ?? 0) + 1);
  }
  for (const o of objects.filter((x) => x.type === 'veventq')) expect(eventRows.get(o.id) ?? 0).toBe(o.pending);
  const db = new Database(srv.dbFile, { readonly: true, fileMustExist: true });
  try {
    expect(db.prepare('PRAGMA integrity_check').pluck().all()).toEqual(['ok']);
    expect(db.prepare('PRAGMA foreign_key_check').all()).toEqual([]);
  } finally {
    db.close();
  }

  // The hardware model agrees with the database.
  for (const s of smmus) {
    const state = await w.get(`/v1/smmus/${s.id}/state`);
    const n = devices.filter((d) => d.smmuId === s.id).length;
    expect(state.streamTable.entries, `${label}: SMMU ${s.id} stream table entries = its devices`).toBe(n);
    expect(g.smmus.find((x: any) => x.id === s.id).state.streamTableEntries).toBe(n);
  }
  for (const gd of g.devices) {
    const e = L.devices.get(gd.id) as DevEntry;
    if (e.hostSte) expect(gd.host.ste, `${label}: device ${gd.id} STE as its last attachment answered`).toEqual(e.hostSte);
    if (e.attachedTo !== null && L.objects.get(e.attachedTo)?.type === 'hwpt_nested') expect(gd.host.config).toBe('nested');
  }
  for (const lane of lanes) {
    if (!(lane instanceof ArmLane) || !lane.ready) continue;
    const target = lane.target() as bigint;
    const off = 0x5a8n;
    const tr = await srv.must(200, 'POST', `/v1/devices/${lane.dev}/translate`, { iova: hex(DMA_IOVA + off), access: 'read' });
    expect(tr, `${label}: ${lane.name}'s DMA through its page tables after the restart`).toMatchObject({ pa: hex(lane.hostBase + target + off), tlbHit: false });
  }
}

// ---------------------------------------------------------------------------------------------
// The run

describe('crash safety: SIGKILL during acknowledged writes, then restart on the same database', () => {
  let dir: string;
  let w: World;
  let lanes: Lane[];
  let burst: Burst;
  const started = Date.now();
  let failed = false;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'vsmmu-crash-'));
    w = new World(path.join(dir, 'vsmmu.db'));
    await w.srv.start();
    for (const s of await listAll(adapter(w.srv), '/v1/smmus')) w.L.smmus.set(s.id, s.name);
    for (const d of await listAll(adapter(w.srv), '/v1/devices')) {
      w.L.devices.set(d.id, { name: d.name, smmuId: d.smmuId, streamId: d.streamId, contextId: null, attachedTo: null, hostSte: null });
    }
    // The lanes' SMMU: nesting-capable defaults and a CMDQV with room for every tegra lane.
    const smmu = await w.srv.must(201, 'POST', '/v1/smmus', { name: 'crash-smmu', cmdqv: { vintfs: 16, vcmdqsPerVintf: 2, sidsPerVintf: 16 } });
    w.L.smmus.set(smmu.id, smmu.name);
    w.smmu = smmu.id;
    lanes = [
      new ArmLane('arm-a', w, new Rng(SEED + 1), 1, 0x11),
      new ArmLane('arm-b', w, new Rng(SEED + 2), 2, 0x12),
      new ArmLane('arm-c', w, new Rng(SEED + 3), 3, 0x13),
      new TegraLane('tegra-a', w, new Rng(SEED + 4)),
      new TegraLane('tegra-b', w, new Rng(SEED + 5)),
      new ChurnLane('churn', w, new Rng(SEED + 6)),
    ];
    burst = new Burst(w, new Rng(SEED + 7));
  }, 120_000);

  afterAll(async () => {
    await w?.srv.kill();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  KILL_POINTS.forEach((kp, i) => {
    const what = kp.after !== undefined ? `after ${kp.after} acknowledged writes of 6 concurrent lanes` : `in a burst of ${kp.burst?.size} concurrent writes, after ${kp.burst?.killAfter} acknowledged`;
    it(`crash: kill point ${i + 1} of ${KILL_POINTS.length} (${what}): after the restart every acknowledged write is there, nothing is half-created, the model agrees (seed ${SEED})`, async (ctx) => {
      // The points build on each other: after a failed one the ledger no longer describes the database.
      if (failed) ctx.skip();
      failed = true;
      w.killed = false;
      w.acked = 0;
      if (kp.after !== undefined) {
        w.killAt = kp.after;
        await Promise.all(
          lanes.map(async (lane) => {
            try {
              while (!w.killed && lane.recover === null) await lane.step();
            } catch (err) {
              w.killNow();
              throw err;
            }
          }),
        );
      } else if (kp.burst) {
        w.killAt = null;
        await burst.setup();
        w.acked = 0;
        w.killAt = kp.burst.killAfter;
        await burst.fire(i, kp.burst.size);
      }
      w.killNow();
      await w.srv.kill();
      const acked = w.acked;
      await w.srv.start();
      for (const lane of lanes) {
        const r = lane.recover;
        lane.recover = null;
        await r?.();
      }
      const recovers = w.recovers.splice(0);
      for (const r of recovers) await r();
      await verify(w, `kill ${i + 1} (${acked} acknowledged in this run)`, lanes);
      failed = false;
      // Progress report for docs/reliability.md.
      if (i === KILL_POINTS.length - 1) {
        const summary = { seed: SEED, killPoints: KILL_POINTS.length, acknowledgedWrites: w.ackedTotal, inFlightAtKills: w.lostTotal, starts: w.srv.starts, byKind: w.L.counts, seconds: Math.round((Date.now() - started) / 1000) };
        console.log(`crash summary: ${JSON.stringify(summary)}`);
      }
    }, 120_000);
  });
});

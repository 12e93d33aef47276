/**
 * Hostile and malformed input, endpoint by endpoint (api.md "Conventions": a failed request
 * changes nothing; body validation failures are EINVAL with `errors`; status per errno).
 *
 * The shared harness of test/bad-input/ (not a test file). Each test file builds its own app and
 * graph (`new Fixture()`, `start()` in beforeAll, `close()` in afterAll): an arm_smmuv3 vIOMMU on
 * smmu0 with a nested HWPT, a vDEVICE, a vEVENTQ holding one record and guest memory; a
 * tegra241_cmdqv vIOMMU on smmu1 with a HW queue. Every case then sends one bad request and
 * proves three things: the answer is the problem+json the contract prescribes, the database and
 * the in-memory graph are unchanged (expectUnchanged), and the hardware model is unchanged (SMMU
 * state, vIOMMU stats, the HW queue's registers, the vEVENTQ and guest memory, read before and
 * after).
 *
 * Cases are tables (one `*.cases.ts` module per file of src/routes/rest/): each endpoint gets
 * the generic hostile bodies (malformed JSON, a JSON array, string, number, null, an empty body,
 * unknown fields, a prototype-pollution key, wrong content types, a body over BODY_LIMIT),
 * per-field wrong types / out-of-range values / missing fields / unknown enum values, and
 * hostile path ids (`abc`, `-1`, `1e3`, `0`, 2^32, …). Cases are plain data built at module
 * load: objects of the graph are named, `$name` in JSON bodies and `{name}` in URLs, and
 * resolved against the fixture's `ids` only when the case is sent.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { buildViommu, deviceByName, expectProblem, expectUnchanged, must, startApp, type Res, type TestApp } from '../helper.js';

const CONFIG = loadConfig({});
export const BODY_LIMIT = CONFIG.bodyLimit;
export const MAX_ENTRIES = CONFIG.maxInvalidationEntries;

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** How a case's body travels. `$name` strings (JSON) and `{name}` (URLs) name objects of the graph. */
export type Payload =
  | { kind: 'json'; value: unknown }
  | { kind: 'text'; text: string; type?: string }
  | { kind: 'bytes'; data: Buffer; type: string }
  | { kind: 'oversized-json'; base: Record<string, unknown> }
  | { kind: 'oversized-bytes' };

/**
 * 'strict': the hardware model must be byte-for-byte unchanged. 'counters': the request reached
 * the vIOMMU and failed there, which the model counts (stats.invalidations.requests / errors, as
 * hardware error counters do); everything else must be unchanged.
 */
export type HwMode = 'strict' | 'counters';

export interface Case {
  name: string;
  method: Method;
  url: string;
  payload?: Payload;
  headers?: Record<string, string>;
  errno: string;
  status: number;
  hw?: HwMode;
  /** A validation failure: `errors` must name a path containing this text. */
  errorPath?: string;
  check?: (res: Res) => void;
}

/** Endpoint ("METHOD /path", "GET /path (list)" for list queries) → its cases. */
export type Tables = Record<string, Case[]>;

export const STATUS: Record<string, number> = { EINVAL: 400, E2BIG: 400, EOVERFLOW: 400, ERANGE: 400, EPERM: 403, ENOENT: 404, EEXIST: 409, EBUSY: 409, ENOSPC: 409, EOPNOTSUPP: 422, EIO: 422, EFAULT: 422 };

export const A = 0x40000000;
export const hex = (n: number) => `0x${n.toString(16)}`;
/** An F_TRANSLATION record for vSID 0x10. */
export const RECORD = ['0x0000001000000010', '0x0', '0x1000', '0x0'];

/** Replaces every `pattern` match (its group 1 names an object) by that object's id. */
export function resolveNames(ids: Record<string, number>, s: string, pattern: RegExp): string {
  return s.replace(pattern, (_m, k: string) => {
    if (!(k in ids)) throw new Error(`no object named ${k}`);
    return String(ids[k]);
  });
}

// ---------------------------------------------------------------------------------------------
// The graph, and sending a case against it

export class Fixture {
  t!: TestApp;
  /** Name → id of the graph's objects; filled by start(). */
  readonly ids: Record<string, number> = {};

  async start(): Promise<void> {
    const t = (this.t = await startApp());
    const ids = this.ids;
    const g = await buildViommu(t);
    Object.assign(ids, { ctx: g.ctx, dev: g.dev, ioas: g.ioas, parent: g.parent, viommu: g.viommu });
    ids.dev2 = (await deviceByName(t, 'nvme0')).id;
    ids.freeDev = (await deviceByName(t, 'gpu0')).id;
    ids.smmu0 = (await deviceByName(t, 'nic0')).smmuId;
    ids.smmu1 = (await deviceByName(t, 'nic1')).smmuId;
    must(await t.req('POST', `/v1/contexts/${g.ctx}/devices`, { deviceId: ids.dev2 }), 201);
    must(await t.req('POST', `/v1/ioas/${g.ioas}/mappings`, { iova: hex(A), length: '0x10000' }), 201);
    must(await t.req('PUT', `/v1/ioas/${g.ioas}/memory?iova=${hex(A)}&length=16`, Buffer.alloc(16, 0x5a), { 'content-type': 'application/octet-stream' }), 200);
    ids.nested = must(await t.req('POST', '/v1/hwpts', { deviceId: g.dev, ptId: g.viommu, data: { type: 'arm_smmuv3', ste: ['0x9', '0x0'] } }), 201).id;
    ids.vdev = must(await t.req('POST', '/v1/vdevices', { viommuId: g.viommu, deviceId: g.dev, virtId: 0x10 }), 201).id;
    ids.eventq = must(await t.req('POST', '/v1/eventqs', { viommuId: g.viommu, type: 'arm_smmuv3', depth: 4 }), 201).id;
    must(await t.req('POST', `/v1/viommus/${g.viommu}/events`, { type: 'arm_smmuv3', record: RECORD }), 201);
    // One real invalidation, so the counters and the model's log are not trivially empty.
    must(await t.req('POST', `/v1/viommus/${g.viommu}/invalidate`, { dataType: 'arm_smmuv3', entries: [['0x10', '0x0']] }), 200);

    const g2 = await buildViommu(t, { device: 'nic1', type: 'tegra241_cmdqv' });
    Object.assign(ids, { tctx: g2.ctx, tdev: g2.dev, tioas: g2.ioas, tparent: g2.parent, tviommu: g2.viommu });
    must(await t.req('POST', `/v1/ioas/${g2.ioas}/mappings`, { iova: hex(A), length: '0x10000' }), 201);
    ids.hwq = must(await t.req('POST', '/v1/hw-queues', { viommuId: g2.viommu, type: 'tegra241_cmdqv', index: 0, nestingParentIova: hex(A), length: '0x100' }), 201).id;
  }

  async close(): Promise<void> {
    await this.t?.close();
  }

  resolveText(s: string): string {
    return resolveNames(this.ids, s, /"\$(\w+)"/g);
  }

  resolveUrl(u: string): string {
    return resolveNames(this.ids, u, /\{(\w+)\}/g);
  }

  async send(c: Pick<Case, 'method' | 'url' | 'payload' | 'headers'>): Promise<Res> {
    const t = this.t;
    const url = this.resolveUrl(c.url);
    const p = c.payload;
    const extra = c.headers ?? {};
    if (!p) return t.req(c.method, url, undefined, extra);
    switch (p.kind) {
      case 'json':
        return t.req(c.method, url, this.resolveText(JSON.stringify(p.value)), { 'content-type': 'application/json', ...extra });
      case 'text':
        return t.req(c.method, url, this.resolveText(p.text), { ...(p.type === undefined ? {} : { 'content-type': p.type }), ...extra });
      case 'bytes':
        return t.req(c.method, url, p.data, { 'content-type': p.type, ...extra });
      case 'oversized-json': {
        const text = this.resolveText(JSON.stringify({ ...p.base, pad: 'x'.repeat(BODY_LIMIT) }));
        return t.req(c.method, url, text, { 'content-type': 'application/json', ...extra });
      }
      case 'oversized-bytes':
        return t.req(c.method, url, Buffer.alloc(BODY_LIMIT + 16), { 'content-type': 'application/octet-stream', ...extra });
    }
  }

  /** Everything of the hardware model a request could touch. */
  async hardwareSnapshot(mode: HwMode): Promise<unknown> {
    const { t, ids } = this;
    const out: Record<string, unknown> = {};
    for (const s of [ids.smmu0, ids.smmu1]) out[`smmu${s}`] = must(await t.req('GET', `/v1/smmus/${s}/state?commands=1024`), 200);
    for (const v of [ids.viommu, ids.tviommu]) {
      const stats = must(await t.req('GET', `/v1/viommus/${v}/stats`), 200);
      if (mode === 'counters') {
        delete stats.invalidations.requests;
        delete stats.invalidations.errors;
      }
      out[`stats${v}`] = stats;
    }
    out.hwq = must(await t.req('GET', `/v1/hw-queues/${ids.hwq}`), 200);
    out.eventq = must(await t.req('GET', `/v1/eventqs/${ids.eventq}`), 200);
    out.memArm = (await t.req('GET', `/v1/ioas/${ids.ioas}/memory?iova=${hex(A)}&length=0x1000`)).raw;
    out.memTegra = (await t.req('GET', `/v1/ioas/${ids.tioas}/memory?iova=${hex(A)}&length=0x1000`)).raw;
    out.mappings = must(await t.req('GET', `/v1/ioas/${ids.ioas}/mappings`), 200);
    return out;
  }

  /** Runs `fn` and asserts it changed nothing: database, public state (expectUnchanged) and hardware model. */
  async expectNothingChanged(mode: HwMode, fn: () => Promise<unknown>): Promise<void> {
    const hwBefore = await this.hardwareSnapshot(mode);
    await expectUnchanged(this.t, fn);
    expect(await this.hardwareSnapshot(mode)).toEqual(hwBefore);
  }

  async runCase(c: Case): Promise<void> {
    await this.expectNothingChanged(c.hw ?? 'strict', async () => {
      const res = await this.send(c);
      expect(res.status, `${c.method} ${this.resolveUrl(c.url)} → ${res.status} ${res.raw.slice(0, 400)}`).toBeLessThan(500);
      expectProblem(res, c.errno, c.status);
      if (c.errorPath !== undefined) {
        expect(Array.isArray(res.body.errors), JSON.stringify(res.body)).toBe(true);
        expect(res.body.errors.some((e: { path: string }) => e.path.includes(c.errorPath as string)), JSON.stringify(res.body.errors)).toBe(true);
      }
      c.check?.(res);
    });
  }
}

/** One `describe` per endpoint, one test per case, each run against `fixture` (started in beforeAll). */
export function describeTables(tables: Tables, fixture: Fixture): void {
  describe('bad input (REST): the contract answer, and nothing changes', () => {
    for (const [endpoint, cases] of Object.entries(tables)) {
      describe(endpoint, () => {
        for (const c of cases) it(c.name, async () => fixture.runCase(c));
      });
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Case generators

const describeValue = (v: unknown): string => {
  if (v === undefined) return 'missing';
  const s = JSON.stringify(v);
  return s.length > 90 ? `${s.slice(0, 87)}…` : s;
};

export function mk(method: Method, endpoint: string, url: string, what: string, errno: string, rest: Partial<Case> = {}): Case {
  return { name: `bad input: ${method} ${endpoint} — ${what} is ${errno}`, method, url, errno, status: STATUS[errno], ...rest };
}

export interface BodyOpts {
  /** The endpoint also takes application/octet-stream (invalidation entries, queue commands). */
  octet?: boolean;
  hw?: HwMode;
  /** Extra problem members every body-validation failure carries (invalidation: entriesProcessed 0). */
  check?: (res: Res) => void;
  /** The body is optional (POST …/error/ack): an absent or empty body is acceptable. */
  optionalBody?: boolean;
  /** A domain rule, not body validation: no `errors` member is required. */
  semantic?: boolean;
}

/** Hostile bodies every JSON endpoint must reject: the base body is otherwise valid. */
export function genericBodyCases(method: Method, endpoint: string, url: string, base: Record<string, unknown>, opts: BodyOpts = {}): Case[] {
  const json = JSON.stringify(base);
  const m = (what: string, payload: Payload, errno = 'EINVAL', rest: Partial<Case> = {}) => mk(method, endpoint, url, what, errno, { payload, hw: opts.hw, check: opts.check, ...rest });
  const cases: Case[] = [
    m('malformed JSON `{"a":`', { kind: 'text', text: '{"a":', type: 'application/json' }, 'EINVAL', { errorPath: 'body' }),
    m('a truncated body', { kind: 'text', text: json.slice(0, -1), type: 'application/json' }),
    m('trailing garbage after the JSON', { kind: 'text', text: `${json}}`, type: 'application/json' }),
    m('a single quoted JSON-ish body', { kind: 'text', text: json.replace(/"/g, "'"), type: 'application/json' }),
    m('a JSON array body', { kind: 'json', value: [base] }),
    m('a JSON string body', { kind: 'json', value: 'hello' }),
    m('a JSON number body', { kind: 'json', value: 42 }),
    m('a JSON true body', { kind: 'json', value: true }),
    m('a JSON null body', { kind: 'text', text: 'null', type: 'application/json' }),
    // An optional body (POST …/error/ack) may also be empty when announced as JSON.
    ...(opts.optionalBody ? [] : [m('an empty body announced as JSON', { kind: 'text', text: '', type: 'application/json' })]),
    m('an unknown extra field', { kind: 'json', value: { ...base, bogus: 1 } }),
    m('a __proto__ key', { kind: 'text', text: `{"__proto__":{"polluted":true},${json.slice(1)}`, type: 'application/json' }),
    m('a constructor.prototype key', { kind: 'text', text: `{"constructor":{"prototype":{"polluted":true}},${json.slice(1)}`, type: 'application/json' }),
    m('a deeply nested body', { kind: 'text', text: `${'['.repeat(5000)}${']'.repeat(5000)}`, type: 'application/json' }),
    m('content type application/xml', { kind: 'text', text: json, type: 'application/xml' }),
    m('content type text/plain', { kind: 'text', text: json, type: 'text/plain' }),
    m('content type application/x-www-form-urlencoded', { kind: 'text', text: 'a=1&b=2', type: 'application/x-www-form-urlencoded' }),
    m('a body without a content type', { kind: 'text', text: json }),
    m(`a body over BODY_LIMIT (${BODY_LIMIT} bytes)`, { kind: 'oversized-json', base }, 'E2BIG'),
  ];
  if (!opts.octet) cases.push(m('an application/octet-stream body', { kind: 'bytes', data: Buffer.alloc(16), type: 'application/octet-stream' }));
  else {
    cases.push(
      m('an octet-stream body of 15 bytes', { kind: 'bytes', data: Buffer.alloc(15), type: 'application/octet-stream' }, 'EINVAL', { errorPath: 'body' }),
      m('an octet-stream body of 17 bytes', { kind: 'bytes', data: Buffer.alloc(17, 0x10), type: 'application/octet-stream' }, 'EINVAL', { errorPath: 'body' }),
      m('an octet-stream body of 1 byte', { kind: 'bytes', data: Buffer.alloc(1, 0x10), type: 'application/octet-stream' }, 'EINVAL', { errorPath: 'body' }),
      m(`an octet-stream body over BODY_LIMIT (${BODY_LIMIT} bytes)`, { kind: 'oversized-bytes' }, 'E2BIG'),
    );
  }
  if (!opts.optionalBody) cases.push(m('no body at all', { kind: 'text', text: '', type: undefined }));
  return cases;
}

/** Each value replaces `field` in an otherwise valid body; `undefined` removes the field. */
export function fieldCases(method: Method, endpoint: string, url: string, base: Record<string, unknown>, field: string, values: unknown[], errno = 'EINVAL', opts: BodyOpts = {}): Case[] {
  return values.map((v) => {
    const body: Record<string, unknown> = { ...base };
    if (v === undefined) delete body[field];
    else body[field] = v;
    const what = v === undefined ? `missing ${field}` : `${field} ${describeValue(v)}`;
    return mk(method, endpoint, url, what, errno, {
      payload: { kind: 'json', value: body },
      hw: opts.hw,
      check: opts.check,
      errorPath: errno === 'EINVAL' && !opts.semantic ? field : undefined,
    });
  });
}

/** Hostile path ids. */
const BAD_PATH_IDS = ['abc', '-1', '1e3', '0', '1.5', '0x10', '4294967296', '9999999999', '99999999999', '%20', '+1', '1%00'];
/** A well-formed id that names nothing. */
const ABSENT_ID = '4294967295';

export function pathCases(
  method: Method,
  endpoint: string,
  urlFor: (id: string) => string,
  payload?: Payload,
  opts: { absent?: string | null; hw?: HwMode; check?: (res: Res) => void; override?: Record<string, string> } = {},
): Case[] {
  const cases = BAD_PATH_IDS.map((bad) =>
    mk(method, endpoint, urlFor(bad), `path id ${JSON.stringify(decodeURIComponent(bad))}`, opts.override?.[bad] ?? 'EINVAL', {
      payload,
      hw: opts.hw,
      check: opts.check,
      errorPath: (opts.override?.[bad] ?? 'EINVAL') === 'EINVAL' ? 'params' : undefined,
    }),
  );
  const absent = opts.absent === undefined ? 'ENOENT' : opts.absent;
  if (absent !== null) cases.push(mk(method, endpoint, urlFor(ABSENT_ID), `path id ${ABSENT_ID} (names nothing)`, absent, { payload, hw: opts.hw, check: opts.check }));
  return cases;
}

/** A querystring validation failure names the querystring in `errors`. */
export const Q: Partial<Case> = { errorPath: 'querystring' };

/**
 * The table "GET <ep> (list)" of a list endpoint: bad limit / cursor (and contextId where the
 * list is `scoped` to a context). `{ctx}` in `ep` is named `{id}` in the endpoint.
 */
export function listCases(ep: string, scoped: boolean): Case[] {
  const name = ep.replace('{ctx}', '{id}');
  const cases = [
    ...['0', '501', '-1', 'abc', '1.5', '1000', '', '1e2'].map((v) => mk('GET', name, `${ep}?limit=${v}`, `limit=${v || '(empty)'}`, 'EINVAL', Q)),
    ...['abc', '-1', '12345678901'].map((v) => mk('GET', name, `${ep}?cursor=${v}`, `cursor=${v}`, 'EINVAL', Q)),
    mk('GET', name, `${ep}?limit=1&limit=2`, 'a repeated limit', 'EINVAL', Q),
  ];
  if (scoped) cases.push(...['-1', '0', 'abc', '4294967296'].map((v) => mk('GET', name, `${ep}?contextId=${v}`, `contextId=${v}`, 'EINVAL', Q)));
  return cases;
}

/** The table "GET <prefix>/{id}" of a typed object: hostile path ids, and the id of a context (another type). */
export function typedGetCases(prefix: string): Case[] {
  const ep = `${prefix}/{id}`;
  return [...pathCases('GET', ep, (id) => `${prefix}/${id}`), mk('GET', ep, `${prefix}/{ctx}`, 'a context id (another type)', 'ENOENT')];
}

/** Values an object id field must refuse. */
export const BAD_IDS: unknown[] = [undefined, -1, 0, 2 ** 32, 2 ** 53, 1e21, 1.5, '1', '0x1', null, true, [], {}];
export const BAD_U32: unknown[] = [-1, 2 ** 32, 1.5, '16', null, true, [16]];
export const BAD_HEX: unknown[] = ['0x', `0x${'1'.repeat(17)}`, 'zz', '0X1000', '-0x1000', ' 0x1000', '0x1000 ', '0x1g', '4096', 4096, null, ['0x1000']];
export const BAD_BOOL: unknown[] = ['true', 1, 0, null, 'yes', []];
export const BAD_NAME: unknown[] = [undefined, '', 'x'.repeat(129), 'tab\there', 'naïve', 'new\nline', 42, null, ['a'], {}];
export const ENTRY_OK = ['0x10', '0x0']; // CMD_TLBI_NH_ALL
export const BAD_ENTRIES: unknown[] = [undefined, 'x', {}, null, [ENTRY_OK[0]], [['0x10']], [['0x10', '0x0', '0x0']], [[16, 0]], [['zz', '0x0']], [[`0x${'f'.repeat(17)}`, '0x0']], [null], [{}]];

/**
 * Hostile and malformed input, endpoint by endpoint (api.md "Conventions": a failed request
 * changes nothing; body validation failures are EINVAL with `errors`; status per errno).
 *
 * One realistic graph is built once: an arm_smmuv3 vIOMMU on smmu0 with a nested HWPT, a
 * vDEVICE, a vEVENTQ holding one record and guest memory; a tegra241_cmdqv vIOMMU on smmu1 with a
 * HW queue. Every case then sends one bad request and proves three things: the answer is the
 * problem+json the contract prescribes, the database and the in-memory graph are unchanged
 * (expectUnchanged), and the hardware model is unchanged (SMMU state, vIOMMU stats, the HW
 * queue's registers, the vEVENTQ and guest memory, read before and after).
 *
 * Cases are tables: each endpoint gets the generic hostile bodies (malformed JSON, a JSON array,
 * string, number, null, an empty body, unknown fields, a prototype-pollution key, wrong
 * content types, a body over BODY_LIMIT), per-field wrong types / out-of-range values / missing
 * fields / unknown enum values, and hostile path ids (`abc`, `-1`, `1e3`, `0`, 2^32, …).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { allocEventqBody } from '../src/schema/events.js';
import { allocHwQueueBody, invalidateBody, queueCommandsBody } from '../src/schema/hardware.js';
import { allocHwptBody, allocVdeviceBody, allocViommuBody, bindDeviceBody, createIoasBody, mapBody } from '../src/schema/objects.js';
import { buildViommu, deviceByName, expectProblem, expectUnchanged, must, startApp, type Res, type TestApp } from './helper.js';

const CONFIG = loadConfig({});
const BODY_LIMIT = CONFIG.bodyLimit;
const MAX_ENTRIES = CONFIG.maxInvalidationEntries;

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** How a case's body travels. `$name` strings (JSON) and `{name}` (URLs) name objects of the graph. */
type Payload =
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
type HwMode = 'strict' | 'counters';

interface Case {
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

const STATUS: Record<string, number> = { EINVAL: 400, E2BIG: 400, EOVERFLOW: 400, ERANGE: 400, EPERM: 403, ENOENT: 404, EEXIST: 409, EBUSY: 409, ENOSPC: 409, EOPNOTSUPP: 422, EIO: 422, EFAULT: 422 };

// ---------------------------------------------------------------------------------------------
// The graph

let t: TestApp;
const ids: Record<string, number> = {};
const A = 0x40000000;
const hex = (n: number) => `0x${n.toString(16)}`;
/** An F_TRANSLATION record for vSID 0x10. */
const RECORD = ['0x0000001000000010', '0x0', '0x1000', '0x0'];

beforeAll(async () => {
  t = await startApp();
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
});

afterAll(async () => {
  await t?.close();
});

// ---------------------------------------------------------------------------------------------
// Sending a case and checking it

function resolveText(s: string): string {
  return s.replace(/"\$(\w+)"/g, (_m, k: string) => {
    if (!(k in ids)) throw new Error(`no object named ${k}`);
    return String(ids[k]);
  });
}
function resolveUrl(u: string): string {
  return u.replace(/\{(\w+)\}/g, (_m, k: string) => {
    if (!(k in ids)) throw new Error(`no object named ${k}`);
    return String(ids[k]);
  });
}

async function send(c: Pick<Case, 'method' | 'url' | 'payload' | 'headers'>): Promise<Res> {
  const url = resolveUrl(c.url);
  const p = c.payload;
  const extra = c.headers ?? {};
  if (!p) return t.req(c.method, url, undefined, extra);
  switch (p.kind) {
    case 'json':
      return t.req(c.method, url, resolveText(JSON.stringify(p.value)), { 'content-type': 'application/json', ...extra });
    case 'text':
      return t.req(c.method, url, resolveText(p.text), { ...(p.type === undefined ? {} : { 'content-type': p.type }), ...extra });
    case 'bytes':
      return t.req(c.method, url, p.data, { 'content-type': p.type, ...extra });
    case 'oversized-json': {
      const text = resolveText(JSON.stringify({ ...p.base, pad: 'x'.repeat(BODY_LIMIT) }));
      return t.req(c.method, url, text, { 'content-type': 'application/json', ...extra });
    }
    case 'oversized-bytes':
      return t.req(c.method, url, Buffer.alloc(BODY_LIMIT + 16), { 'content-type': 'application/octet-stream', ...extra });
  }
}

/** Everything of the hardware model a request could touch. */
async function hardwareSnapshot(mode: HwMode): Promise<unknown> {
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

async function runCase(c: Case): Promise<void> {
  const mode = c.hw ?? 'strict';
  const hwBefore = await hardwareSnapshot(mode);
  await expectUnchanged(t, async () => {
    const res = await send(c);
    expect(res.status, `${c.method} ${resolveUrl(c.url)} → ${res.status} ${res.raw.slice(0, 400)}`).toBeLessThan(500);
    expectProblem(res, c.errno, c.status);
    if (c.errorPath !== undefined) {
      expect(Array.isArray(res.body.errors), JSON.stringify(res.body)).toBe(true);
      expect(res.body.errors.some((e: { path: string }) => e.path.includes(c.errorPath as string)), JSON.stringify(res.body.errors)).toBe(true);
    }
    c.check?.(res);
  });
  expect(await hardwareSnapshot(mode)).toEqual(hwBefore);
}

// ---------------------------------------------------------------------------------------------
// Case generators

const describeValue = (v: unknown): string => {
  if (v === undefined) return 'missing';
  const s = JSON.stringify(v);
  return s.length > 90 ? `${s.slice(0, 87)}…` : s;
};

function mk(method: Method, endpoint: string, url: string, what: string, errno: string, rest: Partial<Case> = {}): Case {
  return { name: `bad input: ${method} ${endpoint} — ${what} is ${errno}`, method, url, errno, status: STATUS[errno], ...rest };
}

interface BodyOpts {
  /** The endpoint also takes application/octet-stream (invalidation entries, queue commands). */
  octet?: boolean;
  hw?: HwMode;
  /** Extra problem members every body-validation failure carries (invalidation: entriesProcessed 0). */
  check?: (res: Res) => void;
  /** The body is optional (POST …/error/ack): an absent body is acceptable. */
  optionalBody?: boolean;
  /** A domain rule, not body validation: no `errors` member is required. */
  semantic?: boolean;
}

/** Hostile bodies every JSON endpoint must reject: the base body is otherwise valid. */
function genericBodyCases(method: Method, endpoint: string, url: string, base: Record<string, unknown>, opts: BodyOpts = {}): Case[] {
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
    m('an empty body announced as JSON', { kind: 'text', text: '', type: 'application/json' }),
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
function fieldCases(method: Method, endpoint: string, url: string, base: Record<string, unknown>, field: string, values: unknown[], errno = 'EINVAL', opts: BodyOpts = {}): Case[] {
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

function pathCases(
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

/** Values an object id field must refuse. */
const BAD_IDS: unknown[] = [undefined, -1, 0, 2 ** 32, 2 ** 53, 1e21, 1.5, '1', '0x1', null, true, [], {}];
const BAD_U32: unknown[] = [-1, 2 ** 32, 1.5, '16', null, true, [16]];
const BAD_HEX: unknown[] = ['0x', `0x${'1'.repeat(17)}`, 'zz', '0X1000', '-0x1000', ' 0x1000', '0x1000 ', '0x1g', '4096', 4096, null, ['0x1000']];
const BAD_BOOL: unknown[] = ['true', 1, 0, null, 'yes', []];
const BAD_NAME: unknown[] = [undefined, '', 'x'.repeat(129), 'tab\there', 'naïve', 'new\nline', 42, null, ['a'], {}];
const ENTRY_OK = ['0x10', '0x0']; // CMD_TLBI_NH_ALL
const BAD_ENTRIES: unknown[] = [undefined, 'x', {}, null, [ENTRY_OK[0]], [['0x10']], [['0x10', '0x0', '0x0']], [[16, 0]], [['zz', '0x0']], [[`0x${'f'.repeat(17)}`, '0x0']], [null], [{}]];

const invalidateCheck = (res: Res) => expect(res.body.entriesProcessed).toBe(0);
/** A querystring validation failure names the querystring in `errors`. */
const Q: Partial<Case> = { errorPath: 'querystring' };

// ---------------------------------------------------------------------------------------------
// The tables

const tables: Record<string, Case[]> = {};
function table(endpoint: string, cases: Case[]): void {
  tables[endpoint] = [...(tables[endpoint] ?? []), ...cases];
}

// ---- inventory ----
{
  const ep = '/v1/smmus';
  const base = { name: 'hostile-smmu' };
  table(`POST ${ep}`, [
    ...genericBodyCases('POST', ep, ep, base),
    ...fieldCases('POST', ep, ep, base, 'name', BAD_NAME),
    ...fieldCases('POST', ep, ep, base, 'idr', [[1, 2, 3], [0, 0, 0, 0, 0, 0, 0], [-1, 0, 0, 0, 0, 0], [2 ** 32, 0, 0, 0, 0, 0], [1.5, 0, 0, 0, 0, 0], ['0', 0, 0, 0, 0, 0], 'abc', null]),
    ...fieldCases('POST', ep, ep, base, 'iidr', BAD_U32),
    ...fieldCases('POST', ep, ep, base, 'aidr', BAD_U32),
    ...fieldCases('POST', ep, ep, base, 'iotlbSize', [0, -1, 65537, 1.5, '8', null]),
    ...fieldCases('POST', ep, ep, base, 'cmdqv', [
      {},
      { vintfs: 0, vcmdqsPerVintf: 1, sidsPerVintf: 1 },
      { vintfs: 65, vcmdqsPerVintf: 1, sidsPerVintf: 1 },
      { vintfs: 1, vcmdqsPerVintf: 129, sidsPerVintf: 1 },
      { vintfs: 1, vcmdqsPerVintf: 1, sidsPerVintf: 257 },
      { vintfs: 1, vcmdqsPerVintf: 1, sidsPerVintf: 1, version: 16 },
      { vintfs: 1, vcmdqsPerVintf: 1, sidsPerVintf: 1, bogus: 1 },
      { vintfs: '1', vcmdqsPerVintf: 1, sidsPerVintf: 1 },
      'yes',
      [],
    ]),
  ]);
  table('GET /v1/smmus/{id}', pathCases('GET', '/v1/smmus/{id}', (id) => `/v1/smmus/${id}`));
  table('DELETE /v1/smmus/{id}', pathCases('DELETE', '/v1/smmus/{id}', (id) => `/v1/smmus/${id}`));
  table('GET /v1/smmus/{id}/state', [
    ...pathCases('GET', '/v1/smmus/{id}/state', (id) => `/v1/smmus/${id}/state`),
    ...['1025', '-1', 'abc', '1.5', '99999', ''].map((v) => mk('GET', '/v1/smmus/{id}/state', `/v1/smmus/{smmu0}/state?commands=${v}`, `commands=${v || '(empty)'}`, 'EINVAL', Q)),
    mk('GET', '/v1/smmus/{id}/state', '/v1/smmus/{smmu0}/state?commands=1&bogus=1', 'an unknown query parameter', 'EINVAL', Q),
  ]);
}
{
  const ep = '/v1/devices';
  const base = { name: 'hostile-dev', smmuId: '$smmu0', streamId: 0x777, ats: false, pasidBits: 0 };
  table(`POST ${ep}`, [
    ...genericBodyCases('POST', ep, ep, base),
    ...fieldCases('POST', ep, ep, base, 'name', BAD_NAME),
    ...fieldCases('POST', ep, ep, base, 'smmuId', BAD_IDS),
    ...fieldCases('POST', ep, ep, base, 'streamId', [undefined, ...BAD_U32]),
    ...fieldCases('POST', ep, ep, base, 'ats', BAD_BOOL),
    ...fieldCases('POST', ep, ep, base, 'pasidBits', [-1, 21, 1.5, '4', null]),
    ...fieldCases('POST', ep, ep, base, 'smmuId', [4294967295, '$ioas'], 'ENOENT'),
    ...fieldCases('POST', ep, ep, base, 'streamId', [0x100], 'EEXIST'),
    ...fieldCases('POST', ep, ep, base, 'streamId', [0x10000, 0xffffffff], 'EINVAL', { semantic: true }),
  ]);
  table('GET /v1/devices/{id}', pathCases('GET', '/v1/devices/{id}', (id) => `/v1/devices/${id}`));
  table('DELETE /v1/devices/{id}', pathCases('DELETE', '/v1/devices/{id}', (id) => `/v1/devices/${id}`));
  table('GET /v1/devices/{id}/hw-info', [
    ...pathCases('GET', '/v1/devices/{id}/hw-info', (id) => `/v1/devices/${id}/hw-info`),
    ...['bogus', 'ARM_SMMUV3', '', '1'].map((v) => mk('GET', '/v1/devices/{id}/hw-info', `/v1/devices/{dev}/hw-info?type=${v}`, `type=${v || '(empty)'}`, 'EINVAL', Q)),
    mk('GET', '/v1/devices/{id}/hw-info', '/v1/devices/{dev}/hw-info?type=arm_smmuv3&bogus=1', 'an unknown query parameter', 'EINVAL', Q),
    mk('GET', '/v1/devices/{id}/hw-info', '/v1/devices/{dev}/hw-info?type=intel_vtd', 'type=intel_vtd on an ARM SMMU', 'EOPNOTSUPP'),
  ]);
}

// ---- list queries ----
{
  const lists: Array<[string, boolean]> = [
    ['/v1/smmus', false],
    ['/v1/devices', true],
    ['/v1/contexts', false],
    ['/v1/objects', true],
    ['/v1/ioas', true],
    ['/v1/hwpts', true],
    ['/v1/viommus', true],
    ['/v1/vdevices', true],
    ['/v1/hw-queues', true],
    ['/v1/eventqs', true],
    ['/v1/contexts/{ctx}/devices', false],
  ];
  for (const [ep, scoped] of lists) {
    const name = ep.replace('{ctx}', '{id}');
    const cases = [
      ...['0', '501', '-1', 'abc', '1.5', '1000', '', '1e2'].map((v) => mk('GET', name, `${ep}?limit=${v}`, `limit=${v || '(empty)'}`, 'EINVAL', Q)),
      ...['abc', '-1', '12345678901'].map((v) => mk('GET', name, `${ep}?cursor=${v}`, `cursor=${v}`, 'EINVAL', Q)),
      mk('GET', name, `${ep}?limit=1&limit=2`, 'a repeated limit', 'EINVAL', Q),
    ];
    if (scoped) cases.push(...['-1', '0', 'abc', '4294967296'].map((v) => mk('GET', name, `${ep}?contextId=${v}`, `contextId=${v}`, 'EINVAL', Q)));
    table(`GET ${name} (list)`, cases);
  }
  table('GET /v1/objects (list)', ['bogus', 'IOAS', 'hwpt', ''].map((v) => mk('GET', '/v1/objects', `/v1/objects?type=${v}`, `type=${v || '(empty)'}`, 'EINVAL', Q)));
  table('GET /v1/devices (list)', ['-1', 'abc', '4294967296'].map((v) => mk('GET', '/v1/devices', `/v1/devices?smmuId=${v}`, `smmuId=${v}`, 'EINVAL', Q)));
  table('GET /v1/contexts/{id}/devices', pathCases('GET', '/v1/contexts/{id}/devices', (id) => `/v1/contexts/${id}/devices`));
}

// ---- contexts ----
{
  const ep = '/v1/contexts';
  const base = { name: 'hostile' };
  table(`POST ${ep}`, [...genericBodyCases('POST', ep, ep, base), ...fieldCases('POST', ep, ep, base, 'name', BAD_NAME)]);
  table('GET /v1/contexts/{id}', pathCases('GET', '/v1/contexts/{id}', (id) => `/v1/contexts/${id}`));
  table('DELETE /v1/contexts/{id}', pathCases('DELETE', '/v1/contexts/{id}', (id) => `/v1/contexts/${id}`));
  const bep = '/v1/contexts/{id}/devices';
  const burl = '/v1/contexts/{ctx}/devices';
  const bbase = { deviceId: '$freeDev' };
  table(`POST ${bep}`, [
    ...genericBodyCases('POST', bep, burl, bbase),
    ...fieldCases('POST', bep, burl, bbase, 'deviceId', BAD_IDS),
    ...fieldCases('POST', bep, burl, bbase, 'deviceId', [4294967295, '$ioas'], 'ENOENT'),
    ...fieldCases('POST', bep, burl, bbase, 'deviceId', ['$tdev'], 'EBUSY'),
    ...pathCases('POST', bep, (id) => `/v1/contexts/${id}/devices`, { kind: 'json', value: bbase }),
    mk('POST', bep, '/v1/contexts/{ioas}/devices', 'an IOAS id as the context', 'ENOENT', { payload: { kind: 'json', value: bbase } }),
  ]);
  const uep = '/v1/contexts/{id}/devices/{deviceId}';
  table(`DELETE ${uep}`, [
    ...pathCases('DELETE', uep, (id) => `/v1/contexts/${id}/devices/{dev}`),
    ...pathCases('DELETE', uep, (id) => `/v1/contexts/{ctx}/devices/${id}`).map((c) => ({ ...c, name: c.name.replace('path id', 'path deviceId') })),
  ]);
}

// ---- objects ----
{
  table('GET /v1/objects/{id}', pathCases('GET', '/v1/objects/{id}', (id) => `/v1/objects/${id}`));
  // IOMMU_DESTROY takes any u32: id 0 is well-formed and names nothing (ENOENT), as in the kernel.
  table('DELETE /v1/objects/{id}', pathCases('DELETE', '/v1/objects/{id}', (id) => `/v1/objects/${id}`, undefined, { override: { '0': 'ENOENT' } }));
  for (const [ep, prefix] of [
    ['/v1/ioas/{id}', '/v1/ioas'],
    ['/v1/hwpts/{id}', '/v1/hwpts'],
    ['/v1/viommus/{id}', '/v1/viommus'],
    ['/v1/vdevices/{id}', '/v1/vdevices'],
    ['/v1/hw-queues/{id}', '/v1/hw-queues'],
    ['/v1/eventqs/{id}', '/v1/eventqs'],
  ] as const) {
    table(`GET ${ep}`, [...pathCases('GET', ep, (id) => `${prefix}/${id}`), mk('GET', ep, `${prefix}/{ctx}`, 'a context id (another type)', 'ENOENT')]);
  }

  const ep = '/v1/ioas';
  const base = { contextId: '$ctx' };
  table(`POST ${ep}`, [
    ...genericBodyCases('POST', ep, ep, base),
    ...fieldCases('POST', ep, ep, base, 'contextId', BAD_IDS),
    ...fieldCases('POST', ep, ep, base, 'contextId', [4294967295, '$ioas'], 'ENOENT'),
  ]);

  const mep = '/v1/ioas/{id}/mappings';
  const murl = '/v1/ioas/{ioas}/mappings';
  const mbase = { iova: '0x80000000', length: '0x1000', read: true, write: true };
  table(`POST ${mep}`, [
    ...genericBodyCases('POST', mep, murl, mbase),
    ...fieldCases('POST', mep, murl, mbase, 'iova', [undefined, ...BAD_HEX]),
    ...fieldCases('POST', mep, murl, mbase, 'length', [undefined, ...BAD_HEX]),
    ...fieldCases('POST', mep, murl, mbase, 'read', BAD_BOOL),
    ...fieldCases('POST', mep, murl, mbase, 'write', BAD_BOOL),
    ...fieldCases('POST', mep, murl, mbase, 'iova', ['0x80000800', '0x1'], 'EINVAL', { semantic: true }),
    ...fieldCases('POST', mep, murl, mbase, 'length', ['0x800', '0x0', '0x1001'], 'EINVAL', { semantic: true }),
    ...fieldCases('POST', mep, murl, mbase, 'iova', [hex(A)], 'EEXIST'),
    ...pathCases('POST', mep, (id) => `/v1/ioas/${id}/mappings`, { kind: 'json', value: mbase }),
    mk('POST', mep, '/v1/ioas/{viommu}/mappings', 'a vIOMMU id as the IOAS', 'ENOENT', { payload: { kind: 'json', value: mbase } }),
  ]);
  table(`GET ${mep}`, pathCases('GET', mep, (id) => `/v1/ioas/${id}/mappings`));
  const q = `iova=${hex(A)}&length=0x10000`;
  table(`DELETE ${mep}`, [
    ...pathCases('DELETE', mep, (id) => `/v1/ioas/${id}/mappings?${q}`),
    ...[
      [`iova=${hex(A)}`, 'iova without length'],
      ['length=0x10000', 'length without iova'],
      ['iova=zz&length=0x10000', 'iova=zz'],
      [`iova=0x${'1'.repeat(17)}&length=0x10000`, 'an iova of 17 hex digits'],
      [`iova=${A}&length=0x10000`, 'a decimal iova'],
      [`iova=${hex(A)}&length=-1`, 'length=-1'],
      [`${q}&bogus=1`, 'an unknown query parameter'],
      [`${q}&iova=0x50000000`, 'a repeated iova'],
    ].map(([query, what]) => mk('DELETE', mep, `${murl}?${query}`, what, 'EINVAL', Q)),
  ]);
}

// ---- HWPTs and attachment ----
{
  const ep = '/v1/hwpts';
  const base = { deviceId: '$dev', ptId: '$ioas', flags: ['nest_parent'] };
  const nbase = { deviceId: '$dev', ptId: '$viommu', data: { type: 'arm_smmuv3', ste: ['0x9', '0x0'] } };
  table(`POST ${ep}`, [
    ...genericBodyCases('POST', ep, ep, base),
    ...fieldCases('POST', ep, ep, base, 'deviceId', BAD_IDS),
    ...fieldCases('POST', ep, ep, base, 'ptId', BAD_IDS),
    ...fieldCases('POST', ep, ep, base, 'flags', [['bogus'], ['NEST_PARENT'], 'nest_parent', [1], [null], {}, null, ['nest_parent', 'nest_parent', 'nest_parent', 'nest_parent']]),
    ...fieldCases('POST', ep, ep, base, 'deviceId', [4294967295, '$ioas'], 'ENOENT'),
    // IOMMU_HWPT_ALLOC maps a pt_id that names nothing to EINVAL (iommufd.md §2, "pt_id not found").
    ...fieldCases('POST', ep, ep, base, 'ptId', [4294967295, '$ctx'], 'EINVAL', { semantic: true }),
    ...fieldCases('POST', ep, ep, nbase, 'data', [
      { type: 'bogus', ste: ['0x9', '0x0'] },
      { type: 'ARM_SMMUV3', ste: ['0x9', '0x0'] },
      'arm_smmuv3',
      { type: 'arm_smmuv3', ste: ['0x9'] },
      { type: 'arm_smmuv3', ste: ['0x9', '0x0', '0x0'] },
      { type: 'arm_smmuv3', ste: ['zz', '0x0'] },
      { type: 'arm_smmuv3', ste: [9, 0] },
      { type: 'arm_smmuv3', ste: [`0x${'1'.repeat(17)}`, '0x0'] },
      { type: 'arm_smmuv3', ste: '0x9' },
      { type: 'arm_smmuv3', ste: ['0x9', '0x0'], bogus: 1 },
      { ste: ['0x9', '0x0'] },
      null,
    ]),
  ]);
  const aep = '/v1/devices/{id}/attachment';
  const abase = { ptId: '$parent' };
  table(`PUT ${aep}`, [
    ...genericBodyCases('PUT', aep, '/v1/devices/{dev}/attachment', abase),
    ...fieldCases('PUT', aep, '/v1/devices/{dev}/attachment', abase, 'ptId', BAD_IDS),
    ...fieldCases('PUT', aep, '/v1/devices/{dev}/attachment', abase, 'ptId', [4294967295, '$ctx'], 'ENOENT'),
    ...pathCases('PUT', aep, (id) => `/v1/devices/${id}/attachment`, { kind: 'json', value: abase }),
  ]);
  table(`DELETE ${aep}`, pathCases('DELETE', aep, (id) => `/v1/devices/${id}/attachment`));
}

// ---- DMA translation ----
{
  const tep = '/v1/devices/{id}/translate';
  const tbase = { iova: hex(A), access: 'read' };
  table(`POST ${tep}`, [
    ...genericBodyCases('POST', tep, '/v1/devices/{dev}/translate', tbase),
    ...fieldCases('POST', tep, '/v1/devices/{dev}/translate', tbase, 'iova', [undefined, ...BAD_HEX]),
    ...fieldCases('POST', tep, '/v1/devices/{dev}/translate', tbase, 'access', [undefined, 'exec', 'READ', '', 1, null, ['read']]),
    ...fieldCases('POST', tep, '/v1/devices/{dev}/translate', tbase, 'ssid', [-1, 2 ** 20, 1.5, '1', null, true]),
    ...pathCases('POST', tep, (id) => `/v1/devices/${id}/translate`, { kind: 'json', value: tbase }),
  ]);
}

// ---- vIOMMUs and vDEVICEs ----
{
  const ep = '/v1/viommus';
  const base = { deviceId: '$dev', hwptId: '$parent', type: 'arm_smmuv3' };
  table(`POST ${ep}`, [
    ...genericBodyCases('POST', ep, ep, base),
    ...fieldCases('POST', ep, ep, base, 'deviceId', BAD_IDS),
    ...fieldCases('POST', ep, ep, base, 'hwptId', BAD_IDS),
    ...fieldCases('POST', ep, ep, base, 'type', [undefined, 'bogus', 'ARM_SMMUV3', 'intel_vtd', '', 1, null, ['arm_smmuv3']]),
    ...fieldCases('POST', ep, ep, base, 'hwptId', [4294967295], 'ENOENT'),
    ...fieldCases('POST', ep, ep, base, 'deviceId', [4294967295], 'ENOENT'),
  ]);
  const vep = '/v1/vdevices';
  const vbase = { viommuId: '$viommu', deviceId: '$dev2', virtId: 0x20 };
  table(`POST ${vep}`, [
    ...genericBodyCases('POST', vep, vep, vbase),
    ...fieldCases('POST', vep, vep, vbase, 'viommuId', BAD_IDS),
    ...fieldCases('POST', vep, vep, vbase, 'deviceId', BAD_IDS),
    ...fieldCases('POST', vep, vep, vbase, 'virtId', [undefined, ...BAD_U32]),
    ...fieldCases('POST', vep, vep, vbase, 'viommuId', [4294967295, '$ioas'], 'ENOENT'),
    ...fieldCases('POST', vep, vep, vbase, 'deviceId', [4294967295], 'ENOENT'),
    ...fieldCases('POST', vep, vep, vbase, 'virtId', [0x10], 'EEXIST'),
    ...fieldCases('POST', vep, vep, vbase, 'deviceId', ['$dev'], 'EEXIST'),
  ]);
  table('GET /v1/viommus/{id}/stats', [...pathCases('GET', '/v1/viommus/{id}/stats', (id) => `/v1/viommus/${id}/stats`), mk('GET', '/v1/viommus/{id}/stats', '/v1/viommus/{ioas}/stats', 'an IOAS id', 'ENOENT')]);
}

// ---- invalidation ----
{
  const base = { dataType: 'arm_smmuv3', entries: [ENTRY_OK] };
  const opts: BodyOpts = { octet: true, check: invalidateCheck };
  for (const [ep, url] of [
    ['/v1/viommus/{id}/invalidate', '/v1/viommus/{viommu}/invalidate'],
    ['/v1/hwpts/{id}/invalidate', '/v1/hwpts/{viommu}/invalidate'],
    ['/v1/objects/{id}/invalidate', '/v1/objects/{viommu}/invalidate'],
  ] as const) {
    const prefix = ep.replace('/{id}/invalidate', '');
    // Generic bodies: oversized and content-type failures happen before the route runs, so only
    // the route's own failures carry entriesProcessed.
    const generic = genericBodyCases('POST', ep, url, base, { octet: true, check: invalidateCheck });
    table(`POST ${ep}`, [
      ...generic,
      ...fieldCases('POST', ep, url, base, 'dataType', [undefined, 'bogus', 'ARM_SMMUV3', '', 1, null], 'EINVAL', opts),
      ...fieldCases('POST', ep, url, base, 'entries', BAD_ENTRIES, 'EINVAL', opts),
      ...fieldCases('POST', ep, url, base, 'dataType', ['vtd_s1'], 'EINVAL', { ...opts, semantic: true }),
      ...fieldCases('POST', ep, url, base, 'entries', [[]], 'EINVAL', { ...opts, hw: 'counters', semantic: true }),
      mk('POST', ep, url, `${MAX_ENTRIES + 1} JSON entries (over MAX_INVALIDATION_ENTRIES)`, 'EINVAL', {
        payload: { kind: 'json', value: { dataType: 'arm_smmuv3', entries: Array.from({ length: MAX_ENTRIES + 1 }, () => ENTRY_OK) } },
        hw: 'counters',
        check: invalidateCheck,
      }),
      mk('POST', ep, url, `${MAX_ENTRIES + 1} octet-stream entries (over MAX_INVALIDATION_ENTRIES)`, 'EINVAL', {
        payload: { kind: 'bytes', data: Buffer.alloc((MAX_ENTRIES + 1) * 16, 0).fill(0x10, 0, 1), type: 'application/octet-stream' },
        hw: 'counters',
        check: invalidateCheck,
      }),
      mk('POST', ep, url, 'an empty octet-stream body', 'EINVAL', { payload: { kind: 'bytes', data: Buffer.alloc(0), type: 'application/octet-stream' }, hw: 'counters', check: invalidateCheck }),
      ...[
        [['0xff', '0x0'], 'an unknown opcode 0xff as entry 0'],
        [['0x46', '0x0'], 'CMD_SYNC as entry 0'],
        [['0x3', '0x0'], 'CMD_CFGI_STE as entry 0'],
        [['0x0000099900000005', '0x0'], 'CFGI_CD for a vSID without a vDEVICE'],
      ].map(([entry, what]) =>
        mk('POST', ep, url, what as string, 'EIO', { payload: { kind: 'json', value: { dataType: 'arm_smmuv3', entries: [entry] } }, hw: 'counters', check: invalidateCheck }),
      ),
      ...pathCases('POST', ep, (id) => `${prefix}/${id}/invalidate`, { kind: 'json', value: base }, { check: invalidateCheck }),
    ]);
  }
  const okBody: Payload = { kind: 'json', value: base };
  table('POST /v1/viommus/{id}/invalidate', [
    mk('POST', '/v1/viommus/{id}/invalidate', '/v1/viommus/{nested}/invalidate', 'a nested HWPT id', 'ENOENT', { payload: okBody, check: invalidateCheck }),
    mk('POST', '/v1/viommus/{id}/invalidate', '/v1/viommus/{ioas}/invalidate', 'an IOAS id', 'ENOENT', { payload: okBody, check: invalidateCheck }),
  ]);
  table('POST /v1/hwpts/{id}/invalidate', [
    mk('POST', '/v1/hwpts/{id}/invalidate', '/v1/hwpts/{nested}/invalidate', 'an ARM nested HWPT', 'EOPNOTSUPP', { payload: okBody, check: invalidateCheck }),
    mk('POST', '/v1/hwpts/{id}/invalidate', '/v1/hwpts/{parent}/invalidate', 'a paging HWPT', 'EINVAL', { payload: okBody, check: invalidateCheck }),
  ]);
  table('POST /v1/objects/{id}/invalidate', [
    mk('POST', '/v1/objects/{id}/invalidate', '/v1/objects/{ioas}/invalidate', 'an IOAS', 'EINVAL', { payload: okBody, check: invalidateCheck }),
    mk('POST', '/v1/objects/{id}/invalidate', '/v1/objects/{vdev}/invalidate', 'a vDEVICE', 'EINVAL', { payload: okBody, check: invalidateCheck }),
    mk('POST', '/v1/objects/{id}/invalidate', '/v1/objects/{ctx}/invalidate', 'a context id', 'ENOENT', { payload: okBody, check: invalidateCheck }),
  ]);
}

// ---- HW queues ----
{
  const ep = '/v1/hw-queues';
  const base = { viommuId: '$tviommu', type: 'tegra241_cmdqv', index: 1, nestingParentIova: hex(A + 0x1000), length: '0x100' };
  table(`POST ${ep}`, [
    ...genericBodyCases('POST', ep, ep, base),
    ...fieldCases('POST', ep, ep, base, 'viommuId', BAD_IDS),
    ...fieldCases('POST', ep, ep, base, 'type', [undefined, 'bogus', 'TEGRA241_CMDQV', 'arm_smmuv3', '', null, 1]),
    ...fieldCases('POST', ep, ep, base, 'index', [undefined, -1, 2 ** 32, 1.5, '1', null, true]),
    ...fieldCases('POST', ep, ep, base, 'nestingParentIova', [undefined, ...BAD_HEX]),
    ...fieldCases('POST', ep, ep, base, 'length', [undefined, ...BAD_HEX]),
    ...fieldCases('POST', ep, ep, base, 'type', ['default'], 'EOPNOTSUPP'),
    ...fieldCases('POST', ep, ep, base, 'length', ['0x0', '0x30', '0x10'], 'EINVAL', { semantic: true }),
    ...fieldCases('POST', ep, ep, base, 'index', [2, 0xffffffff], 'EINVAL', { semantic: true }),
    ...fieldCases('POST', ep, ep, base, 'index', [0], 'EEXIST'),
    ...fieldCases('POST', ep, ep, base, 'nestingParentIova', ['0xffffffffffffff80'], 'EOVERFLOW'),
    ...fieldCases('POST', ep, ep, base, 'nestingParentIova', ['0x70000000'], 'ENOENT'),
    ...fieldCases('POST', ep, ep, base, 'viommuId', [4294967295, '$tioas'], 'ENOENT'),
    ...fieldCases('POST', ep, ep, base, 'viommuId', ['$viommu'], 'EOPNOTSUPP'),
  ]);
  const pep = '/v1/hw-queues/{id}';
  const pbase = { enabled: true };
  table(`PATCH ${pep}`, [
    ...genericBodyCases('PATCH', pep, '/v1/hw-queues/{hwq}', pbase),
    ...fieldCases('PATCH', pep, '/v1/hw-queues/{hwq}', pbase, 'enabled', [undefined, ...BAD_BOOL]),
    ...pathCases('PATCH', pep, (id) => `/v1/hw-queues/${id}`, { kind: 'json', value: pbase }),
    mk('PATCH', pep, '/v1/hw-queues/{viommu}', 'a vIOMMU id', 'ENOENT', { payload: { kind: 'json', value: pbase } }),
  ]);
  const cep = '/v1/hw-queues/{id}/commands';
  const curl = '/v1/hw-queues/{hwq}/commands';
  const cbase = { entries: [ENTRY_OK] };
  table(`POST ${cep}`, [
    ...genericBodyCases('POST', cep, curl, cbase, { octet: true }),
    ...fieldCases('POST', cep, curl, cbase, 'entries', BAD_ENTRIES),
    mk('POST', cep, curl, 'a dataType member (invalidation only)', 'EINVAL', { payload: { kind: 'json', value: { dataType: 'arm_smmuv3', entries: [ENTRY_OK] } } }),
    mk('POST', cep, curl, 'no entries', 'EINVAL', { payload: { kind: 'json', value: { entries: [] } } }),
    mk('POST', cep, curl, 'an empty octet-stream body', 'EINVAL', { payload: { kind: 'bytes', data: Buffer.alloc(0), type: 'application/octet-stream' } }),
    mk('POST', cep, curl, 'more commands than the 16-entry queue holds', 'ENOSPC', { payload: { kind: 'json', value: { entries: Array.from({ length: 40 }, () => ENTRY_OK) } } }),
    ...pathCases('POST', cep, (id) => `/v1/hw-queues/${id}/commands`, { kind: 'json', value: cbase }),
    mk('POST', cep, '/v1/hw-queues/{tviommu}/commands', 'a vIOMMU id', 'ENOENT', { payload: { kind: 'json', value: cbase } }),
  ]);
  const kep = '/v1/hw-queues/{id}/error/ack';
  const kurl = '/v1/hw-queues/{hwq}/error/ack';
  const kbase = { replaceWithSync: false };
  table(`POST ${kep}`, [
    ...genericBodyCases('POST', kep, kurl, kbase, { optionalBody: true }),
    ...fieldCases('POST', kep, kurl, kbase, 'replaceWithSync', BAD_BOOL),
    ...pathCases('POST', kep, (id) => `/v1/hw-queues/${id}/error/ack`, { kind: 'json', value: kbase }),
  ]);
}

// ---- vEVENTQs, event injection, guest memory ----
{
  const ep = '/v1/eventqs';
  const base = { viommuId: '$viommu', type: 'tegra241_cmdqv', depth: 4 };
  table(`POST ${ep}`, [
    ...genericBodyCases('POST', ep, ep, base),
    ...fieldCases('POST', ep, ep, base, 'viommuId', BAD_IDS),
    ...fieldCases('POST', ep, ep, base, 'type', [undefined, 'bogus', 'ARM_SMMUV3', '', null, 3]),
    ...fieldCases('POST', ep, ep, base, 'depth', [undefined, -1, 65537, 1.5, '4', null, true]),
    ...fieldCases('POST', ep, ep, base, 'type', ['arm_smmuv3'], 'EEXIST'),
    ...fieldCases('POST', ep, ep, base, 'type', ['default'], 'EOPNOTSUPP'),
    ...fieldCases('POST', ep, ep, base, 'depth', [0], 'EINVAL', { semantic: true }),
    ...fieldCases('POST', ep, ep, base, 'viommuId', [4294967295, '$ioas'], 'ENOENT'),
  ]);
  const rep = '/v1/eventqs/{id}/read';
  const rurl = '/v1/eventqs/{eventq}/read';
  const rbase = { max: 1 };
  table(`POST ${rep}`, [
    ...genericBodyCases('POST', rep, rurl, rbase),
    ...fieldCases('POST', rep, rurl, rbase, 'max', [0, -1, 4097, 1.5, '1', null, true]),
    ...pathCases('POST', rep, (id) => `/v1/eventqs/${id}/read`, { kind: 'json', value: rbase }),
    mk('POST', rep, '/v1/eventqs/{viommu}/read', 'a vIOMMU id', 'ENOENT', { payload: { kind: 'json', value: rbase } }),
  ]);
  table('GET /v1/eventqs/{id}/stream', [
    ...pathCases('GET', '/v1/eventqs/{id}/stream', (id) => `/v1/eventqs/${id}/stream`),
    ...['abc', '-1', '1.5', '1234567890123456'].map((v) =>
      mk('GET', '/v1/eventqs/{id}/stream', '/v1/eventqs/{eventq}/stream', `Last-Event-ID ${v}`, 'EINVAL', { headers: { 'last-event-id': v } }),
    ),
  ]);
  const iep = '/v1/viommus/{id}/events';
  const iurl = '/v1/viommus/{viommu}/events';
  const ibase = { type: 'arm_smmuv3', record: RECORD };
  table(`POST ${iep}`, [
    ...genericBodyCases('POST', iep, iurl, ibase),
    ...fieldCases('POST', iep, iurl, ibase, 'type', [undefined, 'bogus', 'default', 'ARM_SMMUV3', null, 1]),
    ...fieldCases('POST', iep, iurl, ibase, 'record', [undefined, [], 'x', [...RECORD, '0x0'], ['zz'], [1, 2, 3, 4], [`0x${'1'.repeat(17)}`], null, {}]),
    ...pathCases('POST', iep, (id) => `/v1/viommus/${id}/events`, { kind: 'json', value: ibase }),
    mk('POST', iep, '/v1/viommus/{ioas}/events', 'an IOAS id', 'ENOENT', { payload: { kind: 'json', value: ibase } }),
  ]);

  const mep = '/v1/ioas/{id}/memory';
  const q = `iova=${hex(A)}&length=16`;
  const bytes = (n: number): Payload => ({ kind: 'bytes', data: Buffer.alloc(n, 0xa5), type: 'application/octet-stream' });
  const badQueries: Array<[string, string]> = [
    ['length=16', 'no iova'],
    [`iova=${hex(A)}`, 'no length'],
    ['iova=zz&length=16', 'iova=zz'],
    [`iova=0x${'1'.repeat(17)}&length=16`, 'an iova of 17 hex digits'],
    [`iova=${A}&length=16`, 'a decimal iova'],
    [`iova=${hex(A)}&length=0`, 'length=0'],
    [`iova=${hex(A)}&length=-1`, 'length=-1'],
    [`iova=${hex(A)}&length=abc`, 'length=abc'],
    [`iova=${hex(A)}&length=1048577`, 'length over 1 MiB'],
    [`iova=${hex(A)}&length=1.5`, 'length=1.5'],
    [`${q}&bogus=1`, 'an unknown query parameter'],
    [`${q}&iova=0x50000000`, 'a repeated iova'],
  ];
  table(`PUT ${mep}`, [
    ...pathCases('PUT', mep, (id) => `/v1/ioas/${id}/memory?${q}`, bytes(16)),
    ...badQueries.map(([query, what]) => mk('PUT', mep, `/v1/ioas/{ioas}/memory?${query}`, what, 'EINVAL', { payload: bytes(16), ...Q })),
    mk('PUT', mep, `/v1/ioas/{ioas}/memory?${q}`, 'a 15-byte body for length 16', 'EINVAL', { payload: bytes(15) }),
    mk('PUT', mep, `/v1/ioas/{ioas}/memory?${q}`, 'a 17-byte body for length 16', 'EINVAL', { payload: bytes(17) }),
    mk('PUT', mep, `/v1/ioas/{ioas}/memory?${q}`, 'an empty body', 'EINVAL', { payload: bytes(0) }),
    mk('PUT', mep, `/v1/ioas/{ioas}/memory?${q}`, 'a JSON body', 'EINVAL', { payload: { kind: 'json', value: { data: 'AAAA' } } }),
    mk('PUT', mep, `/v1/ioas/{ioas}/memory?${q}`, 'a malformed JSON body', 'EINVAL', { payload: { kind: 'text', text: '{"a":', type: 'application/json' } }),
    mk('PUT', mep, `/v1/ioas/{ioas}/memory?${q}`, 'a text/plain body', 'EINVAL', { payload: { kind: 'text', text: '0123456789abcdef', type: 'text/plain' } }),
    mk('PUT', mep, `/v1/ioas/{ioas}/memory?${q}`, 'content type application/xml', 'EINVAL', { payload: { kind: 'text', text: '0123456789abcdef', type: 'application/xml' } }),
    mk('PUT', mep, `/v1/ioas/{ioas}/memory?iova=${hex(A)}&length=1048576`, `a body over BODY_LIMIT (${BODY_LIMIT} bytes)`, 'E2BIG', { payload: { kind: 'oversized-bytes' } }),
    mk('PUT', mep, '/v1/ioas/{viommu}/memory?' + q, 'a vIOMMU id as the IOAS', 'ENOENT', { payload: bytes(16) }),
  ]);
  table(`GET ${mep}`, [
    ...pathCases('GET', mep, (id) => `/v1/ioas/${id}/memory?${q}`),
    ...badQueries.map(([query, what]) => mk('GET', mep, `/v1/ioas/{ioas}/memory?${query}`, what, 'EINVAL', Q)),
  ]);
}

// ---------------------------------------------------------------------------------------------
// The tests

const ALL_CASES = Object.values(tables).flat();

describe('bad input (REST): the contract answer, and nothing changes', () => {
  it('every route in /openapi.json has a table here', async () => {
    const doc = must(await t.req('GET', '/openapi.json'), 200);
    const missing: string[] = [];
    for (const [p, ops] of Object.entries(doc.paths as Record<string, Record<string, unknown>>)) {
      for (const m of Object.keys(ops)) {
        const key = `${m.toUpperCase()} ${p}`;
        const covered = Object.keys(tables).some((k) => k === key || k === `${key} (list)`);
        // Plain collection GETs without parameters are covered by their list-query tables.
        if (!covered) missing.push(key);
      }
    }
    expect(missing).toEqual([]);
  });

  it('case names are unique', () => {
    const names = ALL_CASES.map((c) => c.name);
    expect(names.filter((n, i) => names.indexOf(n) !== i).join('\n')).toBe('');
  });

  for (const [endpoint, cases] of Object.entries(tables)) {
    describe(endpoint, () => {
      for (const c of cases) it(c.name, async () => runCase(c));
    });
  }
});

// ---------------------------------------------------------------------------------------------
// GraphQL mutations: the same rules, reported as GraphQL errors with extensions.errno

interface GqlCase {
  what: string;
  query: string;
  variables?: Record<string, unknown>;
  errno: string;
}

/** `@name` in a query or a variable names an object of the graph. */
const resolveGql = (s: string): string =>
  s.replace(/@(\w+)/g, (_m, k: string) => {
    if (!(k in ids)) throw new Error(`no object named ${k}`);
    return String(ids[k]);
  });

const GQL_CASES: GqlCase[] = [
  { what: 'createIoas contextId "abc" (a String for an Int)', query: 'mutation { createIoas(contextId: "abc") { id } }', errno: 'EINVAL' },
  { what: 'createIoas contextId through a variable of the wrong type', query: 'mutation($c: Int!) { createIoas(contextId: $c) { id } }', variables: { c: 'abc' }, errno: 'EINVAL' },
  { what: 'createIoas contextId variable an object', query: 'mutation($c: Int!) { createIoas(contextId: $c) { id } }', variables: { c: { a: 1 } }, errno: 'EINVAL' },
  { what: 'createIoas contextId variable null', query: 'mutation($c: Int!) { createIoas(contextId: $c) { id } }', variables: { c: null }, errno: 'EINVAL' },
  { what: 'createIoas contextId -1', query: 'mutation { createIoas(contextId: -1) { id } }', errno: 'EINVAL' },
  { what: 'createIoas contextId 0', query: 'mutation { createIoas(contextId: 0) { id } }', errno: 'EINVAL' },
  { what: 'createIoas contextId 2^32 (beyond Int)', query: 'mutation { createIoas(contextId: 4294967296) { id } }', errno: 'EINVAL' },
  { what: 'createIoas contextId 1.5', query: 'mutation { createIoas(contextId: 1.5) { id } }', errno: 'EINVAL' },
  { what: 'createIoas contextId that names nothing', query: 'mutation { createIoas(contextId: 2147483647) { id } }', errno: 'ENOENT' },
  { what: 'createIoas without contextId', query: 'mutation { createIoas { id } }', errno: 'EINVAL' },
  { what: 'createIoas with an unknown argument', query: 'mutation { createIoas(contextId: @ctx, bogus: 1) { id } }', errno: 'EINVAL' },
  { what: 'an unknown mutation', query: 'mutation { dropEverything(id: 1) }', errno: 'EINVAL' },
  { what: 'a syntax error', query: 'mutation { createIoas(contextId: @ctx) { id ', errno: 'EINVAL' },
  { what: 'createContext name ""', query: 'mutation { createContext(name: "") { id } }', errno: 'EINVAL' },
  { what: 'createContext name of 129 characters', query: `mutation { createContext(name: "${'x'.repeat(129)}") { id } }`, errno: 'EINVAL' },
  { what: 'createContext name 42', query: 'mutation { createContext(name: 42) { id } }', errno: 'EINVAL' },
  { what: 'bindDevice deviceId 0', query: 'mutation { bindDevice(contextId: @ctx, deviceId: 0) { id } }', errno: 'EINVAL' },
  { what: 'bindDevice a device bound elsewhere', query: 'mutation { bindDevice(contextId: @ctx, deviceId: @tdev) { id } }', errno: 'EBUSY' },
  { what: 'mapIoas iova "zz"', query: 'mutation { mapIoas(ioasId: @ioas, iova: "zz", length: "0x1000") { iova } }', errno: 'EINVAL' },
  { what: 'mapIoas an unaligned iova', query: 'mutation { mapIoas(ioasId: @ioas, iova: "0x80000800", length: "0x1000") { iova } }', errno: 'EINVAL' },
  { what: 'mapIoas length of 17 hex digits', query: `mutation { mapIoas(ioasId: @ioas, iova: "0x80000000", length: "0x${'1'.repeat(17)}") { iova } }`, errno: 'EINVAL' },
  { what: 'mapIoas read "yes"', query: 'mutation { mapIoas(ioasId: @ioas, iova: "0x80000000", length: "0x1000", read: "yes") { iova } }', errno: 'EINVAL' },
  { what: 'mapIoas an existing range', query: `mutation { mapIoas(ioasId: @ioas, iova: "${hex(A)}", length: "0x1000") { iova } }`, errno: 'EEXIST' },
  { what: 'unmapIoas iova "zz"', query: 'mutation { unmapIoas(ioasId: @ioas, iova: "zz", length: "0x1000") }', errno: 'EINVAL' },
  { what: 'unmapIoas iova without length', query: `mutation { unmapIoas(ioasId: @ioas, iova: "${hex(A)}") }`, errno: 'EINVAL' },
  { what: 'allocHwpt an unknown flag', query: 'mutation { allocHwpt(deviceId: @dev, ptId: @ioas, flags: ["bogus"]) { id } }', errno: 'EINVAL' },
  { what: 'allocHwpt an unknown data type', query: 'mutation { allocHwpt(deviceId: @dev, ptId: @viommu, data: { type: "bogus", ste: ["0x9", "0x0"] }) { id } }', errno: 'EINVAL' },
  { what: 'allocHwpt an STE of three words', query: 'mutation { allocHwpt(deviceId: @dev, ptId: @viommu, data: { type: "arm_smmuv3", ste: ["0x9", "0x0", "0x0"] }) { id } }', errno: 'EINVAL' },
  { what: 'allocHwpt deviceId -1', query: 'mutation { allocHwpt(deviceId: -1, ptId: @ioas) { id } }', errno: 'EINVAL' },
  { what: 'attachDevice ptId -1', query: 'mutation { attachDevice(deviceId: @dev, ptId: -1) { id } }', errno: 'EINVAL' },
  { what: 'allocViommu type "bogus"', query: 'mutation { allocViommu(deviceId: @dev, hwptId: @parent, type: "bogus") { id } }', errno: 'EINVAL' },
  { what: 'allocViommu type as an enum literal', query: 'mutation { allocViommu(deviceId: @dev, hwptId: @parent, type: arm_smmuv3) { id } }', errno: 'EINVAL' },
  { what: 'allocVdevice virtId -1', query: 'mutation { allocVdevice(viommuId: @viommu, deviceId: @dev2, virtId: -1) { id } }', errno: 'EINVAL' },
  { what: 'allocVdevice virtId 1.5', query: 'mutation { allocVdevice(viommuId: @viommu, deviceId: @dev2, virtId: 1.5) { id } }', errno: 'EINVAL' },
  { what: 'allocVdevice virtId 2^32', query: 'mutation { allocVdevice(viommuId: @viommu, deviceId: @dev2, virtId: 4294967296) { id } }', errno: 'EINVAL' },
  { what: 'allocVdevice a vSID already used', query: 'mutation { allocVdevice(viommuId: @viommu, deviceId: @dev2, virtId: 16) { id } }', errno: 'EEXIST' },
  { what: 'createSmmu idr of two words', query: 'mutation { createSmmu(name: "s", idr: [1, 2]) { id } }', errno: 'EINVAL' },
  { what: 'createSmmu iotlbSize 0', query: 'mutation { createSmmu(name: "s", iotlbSize: 0) { id } }', errno: 'EINVAL' },
  { what: 'createDevice streamId -5', query: 'mutation { createDevice(name: "d", smmuId: @smmu0, streamId: -5) { id } }', errno: 'EINVAL' },
  { what: 'createDevice a used streamId', query: 'mutation { createDevice(name: "d", smmuId: @smmu0, streamId: 256) { id } }', errno: 'EEXIST' },
  { what: 'destroy id -1', query: 'mutation { destroy(id: -1) }', errno: 'EINVAL' },
  { what: 'destroy id "1"', query: 'mutation { destroy(id: "1") }', errno: 'EINVAL' },
  { what: 'deleteContext id 0', query: 'mutation { deleteContext(id: 0) { destroyedObjects } }', errno: 'EINVAL' },
];

describe('bad input (GraphQL): an error with extensions.errno, and nothing changes', () => {
  for (const c of GQL_CASES) {
    it(`bad input: GraphQL mutation — ${c.what} is ${c.errno}`, async () => {
      const hwBefore = await hardwareSnapshot('strict');
      await expectUnchanged(t, async () => {
        const variables = c.variables === undefined ? undefined : (JSON.parse(resolveGql(JSON.stringify(c.variables))) as Record<string, unknown>);
        const res = await t.gql(resolveGql(c.query), variables);
        expect(Array.isArray(res.errors) && res.errors.length > 0, JSON.stringify(res)).toBe(true);
        expect(res.errors[0].extensions?.errno, JSON.stringify(res.errors)).toBe(c.errno);
        expect(res.errors[0].extensions?.status).toBe(STATUS[c.errno]);
        expect(res.data ?? null).toBeNull();
      });
      expect(await hardwareSnapshot('strict')).toEqual(hwBefore);
    });
  }

  it('bad input: POST /graphql — malformed JSON is a GraphQL error with errno EINVAL', async () => {
    await expectUnchanged(t, async () => {
      const res = await t.req('POST', '/graphql', '{"query":', { 'content-type': 'application/json' });
      expect(res.status).toBe(400);
      expect(res.body.errors?.[0]?.extensions?.errno, res.raw).toBe('EINVAL');
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Property: random JSON never yields a 5xx, and a rejected body changes nothing

describe('bad input (property): random bodies to POST endpoints', () => {
  const ENDPOINTS: Array<{ url: string; schema: { safeParse(v: unknown): { success: boolean } } }> = [
    { url: '/v1/ioas', schema: createIoasBody },
    { url: '/v1/hwpts', schema: allocHwptBody },
    { url: '/v1/viommus', schema: allocViommuBody },
    { url: '/v1/vdevices', schema: allocVdeviceBody },
    { url: '/v1/eventqs', schema: allocEventqBody },
    { url: '/v1/hw-queues', schema: allocHwQueueBody },
    { url: '/v1/contexts/{ctx}/devices', schema: bindDeviceBody },
    { url: '/v1/ioas/{ioas}/mappings', schema: mapBody },
    { url: '/v1/viommus/{viommu}/invalidate', schema: invalidateBody },
    { url: '/v1/hw-queues/{hwq}/commands', schema: queueCommandsBody },
  ];
  const KEYS = ['contextId', 'deviceId', 'ptId', 'flags', 'data', 'hwptId', 'type', 'viommuId', 'virtId', 'depth', 'index', 'nestingParentIova', 'length', 'iova', 'read', 'entries', 'dataType', 'bogus'];

  async function probe(url: string, text: string, isRejected: (res: Res) => boolean): Promise<void> {
    const hwBefore = await hardwareSnapshot('counters');
    const before = await t.snapshot();
    const res = await t.req('POST', resolveUrl(url), text, { 'content-type': 'application/json' });
    expect(res.status, `${url} ${text.slice(0, 200)} → ${res.raw.slice(0, 300)}`).toBeLessThan(500);
    if (isRejected(res)) {
      expectProblem(res, res.body?.errno);
      expect(STATUS[res.body.errno], res.raw).toBe(res.status);
      const after = await t.snapshot();
      expect(after.db).toBe(before.db);
      expect(after.graph).toBe(before.graph);
      // A request that reached the vIOMMU and failed there may count the failure, nothing else.
      expect(await hardwareSnapshot('counters')).toEqual(hwBefore);
    }
  }

  it('bad input: property — random JSON values and random-key objects never 5xx; a rejected body changes nothing; a 2xx only for a schema-valid body', async () => {
    const value = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      fc.integer({ min: -(2 ** 33), max: 2 ** 33 }),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.constantFrom(...Object.values(ids), 0, -1, 2 ** 32, 'arm_smmuv3', 'tegra241_cmdqv', 'default', 'nest_parent', '0x1000', '0x', [['0x10', '0x0']], ['nest_parent']),
    );
    const body = fc.oneof(fc.jsonValue({ maxDepth: 4 }), fc.dictionary(fc.constantFrom(...KEYS), value, { maxKeys: 6 }));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ENDPOINTS), body, async (ep, b) => {
        const text = JSON.stringify(b);
        await probe(ep.url, text, (res) => {
          if (res.status < 300) {
            // Accepted: the body must be one the endpoint's schema accepts.
            expect(ep.schema.safeParse(b).success, `${ep.url} accepted ${text}`).toBe(true);
            return false;
          }
          return true;
        });
      }),
      { numRuns: 200 },
    );
  });

  it('bad input: property — random text announced as JSON never 5xx and changes nothing', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ENDPOINTS), fc.string({ maxLength: 64 }), async (ep, text) => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
        // Only text that is not a valid body (which random text essentially never is).
        fc.pre(parsed === undefined || !ep.schema.safeParse(parsed).success);
        await probe(ep.url, text, () => true);
      }),
      { numRuns: 150 },
    );
  });
});

/**
 * Fuzzing (issue 12, "Proof"): fast-check properties over every write endpoint /openapi.json
 * lists (each POST, PUT, PATCH and DELETE path of the document, walked at load), one property per
 * endpoint family (the operation's tag), each against its own fixture graph (test/bad-input's
 * Fixture: both vIOMMU kinds, nested HWPT, vDEVICE, vEVENTQ with a record, HW queue, guest memory).
 *
 * Requests are random: path ids from the graph and hostile ones (0, 2^31, 2^32, 2^53, -1, text);
 * query values; JSON bodies generated from the operation's documented schema — valid, then
 * mutated (a field dropped, replaced by a hostile value, an unknown key), or any JSON shape at all
 * (nested objects, strings, huge number literals); command words and vSTE words with real
 * opcodes and config values; octet-stream bodies of every length for the endpoints that take raw
 * entries or guest memory (their bodies are not in the document; api.md gives them).
 *
 * Each request must: be answered (no hang: within HANG_MS), never 5xx; an error is
 * application/problem+json with an `errno`, its `status` and the status api.md gives that errno;
 * and a rejected request changes nothing — the database (every table, raw SQL) and the public
 * state (every list, mapping, context's devices and SMMU model state) are compared with the state
 * before it (re-read only after an accepted request). A rejection that reports partial progress
 * (`entriesProcessed` > 0, api.md) may change the SMMU models' state only.
 *
 * FUZZ_SEED=<n> replays a run (fast-check prints the seed and path of a failure);
 * FUZZ_RUNS=<n> changes the number of requests per family.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readDatabase, readPublicState, startApp, type Res, type TestApp } from '../helper.js';
import { A, Fixture, STATUS } from '../bad-input/harness.js';

const NUM_RUNS = Number(process.env.FUZZ_RUNS ?? 150);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
const HANG_MS = 10_000;
const WRITE_METHODS = ['post', 'put', 'patch', 'delete'] as const;

type JsonSchema = Record<string, any>;
interface Operation {
  method: string;
  path: string;
  tag: string;
  pathParams: string[];
  query: Array<{ name: string; schema: JsonSchema }>;
  body: JsonSchema | null;
}

/** Every write operation of the document the app serves. */
async function writeOperations(): Promise<Operation[]> {
  const t = await startApp();
  try {
    const doc = (await t.req('GET', '/openapi.json')).body;
    const ops: Operation[] = [];
    // The REST API (/v1): GraphQL answers its errors in its own shape (test/bad-input/graphql.test.ts).
    for (const [p, item] of Object.entries<any>(doc.paths)) {
      if (!p.startsWith('/v1/')) continue;
      for (const m of WRITE_METHODS) {
        const op = item[m];
        if (!op) continue;
        const params = (op.parameters ?? []) as Array<{ in: string; name: string; schema: JsonSchema }>;
        ops.push({
          method: m.toUpperCase(),
          path: p,
          tag: op.tags?.[0] ?? 'untagged',
          pathParams: params.filter((x) => x.in === 'path').map((x) => x.name),
          query: params.filter((x) => x.in === 'query').map((x) => ({ name: x.name, schema: x.schema })),
          body: op.requestBody?.content?.['application/json']?.schema ?? null,
        });
      }
    }
    return ops;
  } finally {
    await t.close();
  }
}

const OPERATIONS = await writeOperations();
const FAMILIES = [...new Set(OPERATIONS.map((o) => o.tag))];

// ---------------------------------------------------------------------------------------------
// Values

const U64 = (1n << 64n) - 1n;
const hex = (n: bigint) => `0x${n.toString(16)}`;

/** Ids no graph has, at the edges of every integer width the service meets. */
const EDGE_NUMBERS = [0, 1, -1, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, 2 ** 53, 2 ** 63, 1e21, 1.5, -0.5];
const EDGE_ID_TEXT = ['0', '-1', '2147483648', '4294967295', '4294967296', '9007199254740992', '9007199254740993', '18446744073709551616', '1e3', '0x10', '1.5', '', 'abc', '%00', '..', '%2F', ' 1', '１'];
const TOKENS = ['arm_smmuv3', 'tegra241_cmdqv', 'default', 'vtd_s1', 'none', 'nest_parent', 'dirty_tracking', 'pasid', 'read', 'write', '__proto__', 'constructor'];

/** SMMUv3 opcodes a guest or the host may send, and some that do not exist. */
const OPCODES = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x0c, 0x10, 0x11, 0x12, 0x13, 0x18, 0x1a, 0x20, 0x21, 0x28, 0x2a, 0x30, 0x40, 0x41, 0x42, 0x44, 0x46, 0x7f, 0xff, 0x00];

const word64 = fc.oneof(
  fc.bigInt({ min: 0n, max: U64 }),
  fc.constantFrom(0n, 1n, 0xfffn, 0x1000n, BigInt(A), BigInt(A) + 0x1000n, BigInt(A) + 0x10000n, 0x7fffffffn, 0xffffffffn, 1n << 48n, (1n << 52n) - 1n, U64),
  fc.bigInt({ min: 0n, max: (1n << 48n) - 1n }).map((v) => v & ~0xfffn),
);
/** A command's first word: a real opcode in its low byte, random fields above it. */
const commandW0 = fc.tuple(fc.constantFrom(...OPCODES), fc.bigInt({ min: 0n, max: (1n << 56n) - 1n }), fc.boolean()).map(([op, hi, zero]) => (zero ? BigInt(op) : (hi << 8n) | BigInt(op)));
const commandPair = fc.tuple(commandW0, word64);
/** vSTE word 0: V, Config (every value), S1Fmt, S1ContextPtr, S1CDMax bits. */
const vsteW0 = fc
  .tuple(fc.boolean(), fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 3 }), fc.bigInt({ min: 0n, max: (1n << 46n) - 1n }), fc.integer({ min: 0, max: 31 }), fc.bigInt({ min: 0n, max: U64 }), fc.boolean())
  .map(([v, cfg, fmt, ptr, cdmax, noise, noisy]) => (noisy ? noise : BigInt(v ? 1 : 0) | (BigInt(cfg) << 1n) | (BigInt(fmt) << 4n) | ((ptr << 6n) & ((1n << 52n) - 1n)) | (BigInt(cdmax) << 59n)) & U64);
const vsteW1 = fc.oneof(fc.constantFrom(0n, 1n << 28n, 2n << 28n, 3n << 28n, 1n, 3n), word64);

const hexText = fc.oneof(
  word64.map(hex),
  fc.constantFrom('0x', '0x0', `0x${'f'.repeat(17)}`, '0X10', '-0x1', ' 0x1', '0x1g', '4096', '0x00000000000000000001'),
);

/** Guest addresses around the fixture's mappings (4 KiB pages at A), and some that are not. */
const addressText = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 16 }).map((k) => hex(BigInt(A) + BigInt(k) * 0x1000n)) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 0x10000 }).map((off) => hex(BigInt(A) + BigInt(off))) },
  { weight: 1, arbitrary: fc.constantFrom('0x0', '0x1000', hex(U64 - 0xfffn), hex(1n << 48n)) },
);
/** Lengths: whole pages, powers of two (queue sizes), and edges. */
const lengthText = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 16 }).map((k) => hex(BigInt(k) * 0x1000n)) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 24 }).map((n) => hex(1n << BigInt(n))) },
  { weight: 1, arbitrary: fc.constantFrom('0x0', hex(U64), '0x1001') },
);

/** Values nobody should send: edge numbers, wrong types, nesting, long and odd strings. */
const hostile: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>(...EDGE_NUMBERS, null, true, false, '', [], {}, [[]], { a: { b: { c: [[{}]] } } }, 'x'.repeat(300), '\u0000', '\ud800', ...TOKENS),
  fc.string({ unit: 'binary', maxLength: 24 }),
  fc.integer(),
  fc.double(),
  fc.jsonValue({ maxDepth: 3 }),
  hexText,
);

/** The fixture's objects a field or path parameter of this name usually names (by Fixture.ids key). */
const ID_HINTS: Array<[RegExp, string[]]> = [
  [/^contextId$|^\/v1\/contexts\/\{id\}/, ['ctx', 'tctx']],
  [/^deviceId$|^\/v1\/devices\/\{id\}|\{deviceId\}/, ['dev', 'dev2', 'freeDev', 'tdev']],
  [/^ptId$/, ['ioas', 'tioas', 'parent', 'tparent', 'viommu', 'tviommu', 'nested']],
  [/^hwptId$|^\/v1\/hwpts\/\{id\}/, ['parent', 'tparent', 'nested']],
  [/^viommuId$|^\/v1\/viommus\/\{id\}/, ['viommu', 'tviommu']],
  [/^smmuId$|^\/v1\/smmus\/\{id\}/, ['smmu0', 'smmu1']],
  [/^\/v1\/ioas\/\{id\}/, ['ioas', 'tioas']],
  [/^\/v1\/hw-queues\/\{id\}/, ['hwq']],
  [/^\/v1\/eventqs\/\{id\}/, ['eventq']],
  [/^\/v1\/objects\/\{id\}/, ['ioas', 'tioas', 'parent', 'tparent', 'viommu', 'tviommu', 'nested', 'vdev', 'eventq', 'hwq']],
];
type Ids = Record<string, number>;
const allIds = (ids: Ids) => [...new Set(Object.values(ids))];
function hinted(ids: Ids, key: string): number[] {
  const hint = ID_HINTS.find(([re]) => re.test(key));
  return hint ? hint[1].map((k) => ids[k]).filter((v) => v !== undefined) : [];
}

/** A value of `schema`: valid most of the time (ids from the graph), hostile some of the time. */
function fromSchema(schema: JsonSchema | undefined, ids: Ids, name = ''): fc.Arbitrary<unknown> {
  if (!schema || typeof schema !== 'object') return hostile;
  if (schema.anyOf || schema.oneOf) return fc.oneof(...(schema.anyOf ?? schema.oneOf).map((s: JsonSchema) => fromSchema(s, ids, name)));
  if (schema.enum) return fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...schema.enum) }, { weight: 1, arbitrary: fc.constantFrom(...TOKENS) });
  switch (schema.type) {
    case 'integer': {
      const min = schema.minimum ?? 0;
      const max = Math.min(schema.maximum ?? 2 ** 32, Number.MAX_SAFE_INTEGER);
      const idish = /Id$|^id$/.test(name);
      const typed = hinted(ids, name);
      return fc.oneof(
        { weight: typed.length ? 8 : 0, arbitrary: fc.constantFrom(...(typed.length ? typed : [1])) },
        { weight: idish ? 2 : 1, arbitrary: fc.constantFrom(...allIds(ids)) },
        { weight: 3, arbitrary: fc.integer({ min, max }) },
        { weight: 2, arbitrary: fc.constantFrom(min, max, ...EDGE_NUMBERS.filter(Number.isInteger)) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: 64 }) },
      );
    }
    case 'number':
      return fc.oneof(fc.double(), fc.constantFrom(...EDGE_NUMBERS));
    case 'boolean':
      return fc.boolean();
    case 'string':
      if (typeof schema.pattern === 'string' && schema.pattern.includes('0x')) {
        if (/iova|Iova/.test(name)) return fc.oneof({ weight: 4, arbitrary: addressText }, { weight: 1, arbitrary: hexText });
        if (name === 'length') return fc.oneof({ weight: 4, arbitrary: lengthText }, { weight: 1, arbitrary: hexText });
        return hexText;
      }
      if (typeof schema.pattern === 'string') return fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...TOKENS) }, { weight: 1, arbitrary: fc.string({ maxLength: 20 }) });
      return fc.oneof(
        { weight: 2, arbitrary: fc.constantFrom(...TOKENS) },
        { weight: 4, arbitrary: fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 20 }) },
        { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
      );
    case 'array': {
      if (Array.isArray(schema.prefixItems)) {
        // Word pairs (vSTE, command) get words with meaning in them.
        if (name === 'ste') return fc.tuple(vsteW0, vsteW1).map(([a, b]) => [hex(a), hex(b)]);
        return fc.tuple(...schema.prefixItems.map((s: JsonSchema) => fromSchema(s, ids)));
      }
      const item = name === 'record' ? word64.map(hex) : fromSchema(schema.items, ids);
      return fc.array(item, { minLength: schema.minItems ?? 0, maxLength: Math.min(schema.maxItems ?? 6, 6) });
    }
    case 'object': {
      const props = Object.entries<JsonSchema>(schema.properties ?? {});
      const required = new Set<string>(schema.required ?? []);
      const shape: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [k, s] of props) shape[k] = fromSchema(s, ids, k);
      return fc.record(shape, { requiredKeys: props.map(([k]) => k).filter((k) => required.has(k)) });
    }
    default:
      return hostile;
  }
}

/** A body changed in 1..3 places: a key dropped, a value swapped for a hostile one, an unknown key. */
function mutate(body: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  const edit = fc.tuple(fc.constantFrom('drop', 'replace', 'add', 'nest'), fc.nat(), hostile, fc.constantFrom('bogus', '__proto__', 'constructor', 'id', 'contextId', 'data', 'entries'));
  return fc.tuple(body, fc.array(edit, { minLength: 1, maxLength: 3 })).map(([b, edits]) => {
    if (!b || typeof b !== 'object' || Array.isArray(b)) return b;
    const out: Record<string, unknown> = { ...(b as Record<string, unknown>) };
    for (const [kind, n, value, key] of edits) {
      const keys = Object.keys(out);
      const k = keys.length ? keys[n % keys.length] : key;
      if (kind === 'drop') delete out[k];
      else if (kind === 'replace') out[k] = value;
      else if (kind === 'add') Object.defineProperty(out, key, { value, enumerable: true, configurable: true, writable: true });
      else out[k] = { inner: out[k] };
    }
    return out;
  });
}

/** A JSON text with a number literal no double holds exactly. */
const hugeLiteral = fc.tuple(fc.constantFrom('contextId', 'deviceId', 'ptId', 'viommuId', 'virtId', 'depth', 'index', 'max', 'smmuId', 'streamId'), fc.constantFrom('9007199254740993', '18446744073709551617', '1e400', '-0', '4294967296.0000001'));

interface Payload {
  kind: 'json' | 'text' | 'bytes' | 'none';
  value?: unknown;
  text?: string;
  bytes?: Buffer;
  type?: string;
}

const octets = fc.oneof(
  fc.uint8Array({ maxLength: 80 }).map((a) => Buffer.from(a)),
  fc.array(commandPair, { minLength: 0, maxLength: 8 }).map((pairs) => {
    const b = Buffer.alloc(pairs.length * 16);
    pairs.forEach(([w0, w1], i) => {
      b.writeBigUInt64LE(w0, i * 16);
      b.writeBigUInt64LE(w1, i * 16 + 8);
    });
    return b;
  }),
);

function payloadFor(op: Operation, ids: Ids): fc.Arbitrary<Payload> {
  const json = (a: fc.Arbitrary<unknown>): fc.Arbitrary<Payload> => a.map((value) => ({ kind: 'json', value }));
  const anyShape = json(fc.oneof(fc.jsonValue({ maxDepth: 4 }), fc.dictionary(fc.constantFrom('entries', 'dataType', 'ptId', 'type', 'max', 'enabled', 'bogus', 'record'), hostile, { maxKeys: 5 })));
  const text = fc.tuple(fc.string({ maxLength: 40 }), fc.constantFrom('application/json', 'text/plain', 'application/octet-stream', 'application/x-www-form-urlencoded', 'application/json; charset=utf-16', 'multipart/form-data')).map(([t, type]): Payload => ({ kind: 'text', text: t, type }));
  const huge = hugeLiteral.map(([k, lit]): Payload => ({ kind: 'text', text: `{"${k}":${lit}}`, type: 'application/json' }));
  const raw = octets.map((bytes): Payload => ({ kind: 'bytes', bytes, type: 'application/octet-stream' }));
  const none = fc.constant<Payload>({ kind: 'none' });
  const rare = [
    { weight: 1, arbitrary: anyShape },
    { weight: 1, arbitrary: text },
    { weight: 1, arbitrary: huge },
    { weight: 1, arbitrary: none },
  ];
  // Bodies api.md gives but the document does not (raw entries, guest memory).
  if (/\/(invalidate|commands)$/.test(op.path)) {
    const entries = fc.array(fc.oneof({ weight: 5, arbitrary: commandPair.map(([a, b]) => [hex(a), hex(b)]) }, { weight: 1, arbitrary: hostile }), { maxLength: 8 });
    const body = op.path.endsWith('/commands') ? fc.record({ entries }) : fc.record({ dataType: fc.constantFrom('arm_smmuv3', 'vtd_s1', 'none', ''), entries });
    return fc.oneof({ weight: 6, arbitrary: json(body) }, { weight: 2, arbitrary: json(mutate(body)) }, { weight: 4, arbitrary: raw }, ...rare);
  }
  if (op.path.endsWith('/memory')) return fc.oneof({ weight: 6, arbitrary: raw }, ...rare);
  if (op.body) {
    const valid = fromSchema(op.body, ids);
    return fc.oneof({ weight: 8, arbitrary: json(valid) }, { weight: 4, arbitrary: json(mutate(valid)) }, ...rare);
  }
  // No body documented (DELETE): mostly none.
  return fc.oneof({ weight: 6, arbitrary: none }, { weight: 1, arbitrary: raw }, ...rare);
}

function queryFor(op: Operation): fc.Arbitrary<string> {
  if (op.query.length === 0) return fc.oneof({ weight: 6, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.constantFrom('?x=1', '?id=0', '?__proto__=1') });
  const valueFor = (name: string) =>
    fc.oneof(
      { weight: 5, arbitrary: name === 'length' ? lengthText : addressText },
      { weight: 1, arbitrary: hexText },
      { weight: 1, arbitrary: fc.constantFrom(...EDGE_ID_TEXT, '16', '4096') },
    );
  return fc
    .tuple(...op.query.map((q) => fc.option(valueFor(q.name).map((v) => `${q.name}=${encodeURIComponent(v)}`), { freq: 8 })), fc.integer({ min: 0, max: 9 }).map((n) => n === 0))
    .map((parts) => {
      const dup = parts.pop() as boolean;
      const kv = (parts as Array<string | null>).filter((p): p is string => p !== null);
      if (dup && kv.length) kv.push(kv[0]);
      return kv.length ? `?${kv.join('&')}` : '';
    });
}

interface Request {
  op: Operation;
  url: string;
  payload: Payload;
}

/** PUT guest memory: mostly a query that matches the body (an IOVA inside or across the fixture's mapping). */
function memoryRequest(op: Operation, idText: (param: string) => fc.Arbitrary<string>, ids: Ids): fc.Arbitrary<Request> {
  const bytes = fc.uint8Array({ minLength: 0, maxLength: 300 }).map((a) => Buffer.from(a));
  const iova = fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: 0, max: 0x10000 }).map((off) => hex(BigInt(A + off))) },
    { weight: 1, arbitrary: fc.constantFrom(hex(BigInt(A) - 1n), '0x0', hex(U64)) },
    { weight: 1, arbitrary: hexText },
  );
  const matching = fc.tuple(idText('id'), bytes, iova, fc.boolean()).map(([id, b, at, decimal]): Request => ({
    op,
    url: `${op.path.replace('{id}', encodeURIComponent(id))}?iova=${encodeURIComponent(at)}&length=${decimal ? b.length : hex(BigInt(b.length))}`,
    payload: { kind: 'bytes', bytes: b, type: 'application/octet-stream' },
  }));
  return fc.oneof({ weight: 3, arbitrary: matching }, { weight: 1, arbitrary: anyRequest(op, idText, ids) });
}

function anyRequest(op: Operation, idText: (param: string) => fc.Arbitrary<string>, ids: Ids): fc.Arbitrary<Request> {
  return fc.record({ params: fc.tuple(...op.pathParams.map((p) => idText(p))), query: queryFor(op), payload: payloadFor(op, ids) }).map(({ params, query, payload }): Request => {
    let url = op.path;
    op.pathParams.forEach((name, i) => {
      url = url.replace(`{${name}}`, encodeURIComponent(params[i]));
    });
    return { op, url: url + query, payload };
  });
}

function requestFor(ops: Operation[], ids: Ids): fc.Arbitrary<Request> {
  return fc.constantFrom(...ops).chain((op) => {
    const idText = (param: string) => {
      // The path up to this parameter says what it names ({id} of /v1/ioas/{id} is an IOAS).
      const key = param === 'id' ? op.path.slice(0, op.path.indexOf('{id}') + 4) : param === 'pasid' ? 'pasid' : `{${param}}`;
      const typed = hinted(ids, key);
      return fc.oneof(
        { weight: typed.length ? 8 : 0, arbitrary: fc.constantFrom(...(typed.length ? typed : [1])).map(String) },
        { weight: param === 'pasid' ? 8 : 0, arbitrary: fc.oneof(fc.integer({ min: 0, max: 0xfffff }), fc.constantFrom(0, 1, 2 ** 20)).map(String) },
        { weight: 2, arbitrary: fc.constantFrom(...allIds(ids)).map(String) },
        { weight: 2, arbitrary: fc.constantFrom(...EDGE_ID_TEXT) },
        { weight: 1, arbitrary: fc.nat().map(String) },
        { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
      );
    };
    return op.path.endsWith('/memory') ? memoryRequest(op, idText, ids) : anyRequest(op, idText, ids);
  });
}

// ---------------------------------------------------------------------------------------------
// Sending, and the state a rejection must leave alone

function stable(value: unknown): string {
  return JSON.stringify(value, (_k, v) => {
    if (typeof v === 'bigint') return `${v}n`;
    if (v && typeof v === 'object' && !Array.isArray(v)) return Object.fromEntries(Object.keys(v).sort().map((k) => [k, (v as Record<string, unknown>)[k]]));
    return v;
  });
}

interface State {
  db: string;
  objects: string;
  models: string;
}

async function readState(t: TestApp): Promise<State> {
  const db = stable(readDatabase(t.dbFile).tables);
  const { views } = await readPublicState(t);
  const isModel = (url: string) => /^\/v1\/smmus\/\d+\/state/.test(url);
  return {
    db,
    objects: stable(Object.fromEntries(Object.entries(views).filter(([u]) => !isModel(u)))),
    models: stable(Object.fromEntries(Object.entries(views).filter(([u]) => isModel(u)))),
  };
}

async function send(t: TestApp, r: Request): Promise<Res> {
  const p = r.payload;
  let body: unknown = undefined;
  const headers: Record<string, string> = {};
  if (p.kind === 'json') {
    body = JSON.stringify(p.value) ?? 'null';
    headers['content-type'] = 'application/json';
  } else if (p.kind === 'text') {
    body = p.text;
    if (p.type) headers['content-type'] = p.type;
  } else if (p.kind === 'bytes') {
    body = p.bytes;
    headers['content-type'] = p.type ?? 'application/octet-stream';
  }
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${HANG_MS} ms`)), HANG_MS);
  });
  try {
    return await Promise.race([t.req(r.op.method as 'POST', r.url, body, headers), hang]);
  } finally {
    clearTimeout(timer);
  }
}

const describeRequest = (r: Request, res?: Res) => {
  const p = r.payload;
  const body = p.kind === 'json' ? JSON.stringify(p.value) : p.kind === 'text' ? `${p.type}: ${JSON.stringify(p.text)}` : p.kind === 'bytes' ? `octets(${p.bytes?.length}): ${p.bytes?.toString('hex').slice(0, 96)}` : '(no body)';
  return `${r.op.method} ${r.url} ${body.slice(0, 300)}${res ? ` → ${res.status} ${res.raw.slice(0, 300)}` : ''}`;
};

// ---------------------------------------------------------------------------------------------

describe('fuzz: every write endpoint of /openapi.json', () => {
  it('fuzz: the document lists write endpoints of every family (the properties below cover each)', () => {
    expect(OPERATIONS.length).toBeGreaterThan(20);
    expect(FAMILIES.length).toBeGreaterThan(5);
    // Every write path is in exactly one family.
    expect(FAMILIES.flatMap((f) => OPERATIONS.filter((o) => o.tag === f)).length).toBe(OPERATIONS.length);
  });

  for (const family of FAMILIES) {
    const ops = OPERATIONS.filter((o) => o.tag === family);
    it(`fuzz: ${family} (${ops.map((o) => `${o.method} ${o.path}`).join(', ')}) — ${NUM_RUNS} random requests: no 5xx, no hang, every error problem+json with its errno and status, a rejection changes nothing`, async () => {
      const fx = new Fixture();
      await fx.start();
      const t = fx.t;
      const stats: Record<string, number> = {};
      try {
        const ids = fx.ids;
        let before = await readState(t);
        await fc.assert(
          fc.asyncProperty(requestFor(ops, ids), async (r) => {
            const res = await send(t, r);
            const what = describeRequest(r, res);
            const key = res.status < 400 ? `${res.status}` : `${res.status} ${res.body?.errno}`;
            stats[key] = (stats[key] ?? 0) + 1;
            expect(res.status, what).toBeLessThan(500);
            if (res.status < 400) {
              // Accepted: the state moved on; compare the next rejection with the new one.
              before = await readState(t);
              return;
            }
            expect(String(res.headers['content-type']), what).toMatch(/^application\/problem\+json/);
            expect(typeof res.body?.errno, what).toBe('string');
            expect(res.body.errno, what).toMatch(/^E[A-Z0-9_]+$/);
            expect(res.body.status, what).toBe(res.status);
            expect(typeof res.body.requestId, what).toBe('string');
            if (STATUS[res.body.errno] !== undefined) expect(res.status, `${what}: status of ${res.body.errno}`).toBe(STATUS[res.body.errno]);
            const after = await readState(t);
            expect(after.db, `${what}: the database changed`).toBe(before.db);
            expect(after.objects, `${what}: the public state changed`).toBe(before.objects);
            const progress = typeof res.body.entriesProcessed === 'number' && res.body.entriesProcessed > 0;
            if (!progress) expect(after.models, `${what}: the SMMU model changed`).toBe(before.models);
            before = after;
          }),
          { numRuns: NUM_RUNS, ...(SEED === undefined ? {} : { seed: SEED }), endOnFailure: true },
        );
      } finally {
        console.log(`fuzz ${family}: ${JSON.stringify(stats)}`);
        await fx.close();
      }
    }, 300_000);
  }
});

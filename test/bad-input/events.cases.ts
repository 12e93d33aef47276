/** Bad-input tables for src/routes/rest/events.ts: vEVENTQs, event injection, guest memory. */
import { A, BAD_IDS, BODY_LIMIT, RECORD, fieldCases, genericBodyCases, hex, listCases, mk, pathCases, Q, typedGetCases, type Payload, type Tables } from './harness.js';

// ---- vEVENTQs ----
const EVENTQS = '/v1/eventqs';
const eventqBase = { viommuId: '$viommu', type: 'tegra241_cmdqv', depth: 4 };

const rep = '/v1/eventqs/{id}/read';
const rurl = '/v1/eventqs/{eventq}/read';
const rbase = { max: 1 };

// ---- event injection ----
const iep = '/v1/viommus/{id}/events';
const iurl = '/v1/viommus/{viommu}/events';
const ibase = { type: 'arm_smmuv3', record: RECORD };

// ---- guest memory ----
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

export const eventTables: Tables = {
  [`POST ${EVENTQS}`]: [
    ...genericBodyCases('POST', EVENTQS, EVENTQS, eventqBase),
    ...fieldCases('POST', EVENTQS, EVENTQS, eventqBase, 'viommuId', BAD_IDS),
    ...fieldCases('POST', EVENTQS, EVENTQS, eventqBase, 'type', [undefined, 'bogus', 'ARM_SMMUV3', '', null, 3]),
    ...fieldCases('POST', EVENTQS, EVENTQS, eventqBase, 'depth', [undefined, -1, 2 ** 32, 1.5, '4', null, true]),
    ...fieldCases('POST', EVENTQS, EVENTQS, eventqBase, 'type', ['arm_smmuv3'], 'EEXIST'),
    ...fieldCases('POST', EVENTQS, EVENTQS, eventqBase, 'type', ['default'], 'EOPNOTSUPP'),
    ...fieldCases('POST', EVENTQS, EVENTQS, eventqBase, 'depth', [0], 'EINVAL', { semantic: true }),
    ...fieldCases('POST', EVENTQS, EVENTQS, eventqBase, 'viommuId', [4294967295, '$ioas'], 'ENOENT'),
  ],
  [`GET ${EVENTQS} (list)`]: listCases(EVENTQS, true),
  [`GET ${EVENTQS}/{id}`]: typedGetCases(EVENTQS),
  [`POST ${rep}`]: [
    ...genericBodyCases('POST', rep, rurl, rbase),
    ...fieldCases('POST', rep, rurl, rbase, 'max', [0, -1, 4097, 1.5, '1', null, true]),
    ...pathCases('POST', rep, (id) => `/v1/eventqs/${id}/read`, { kind: 'json', value: rbase }),
    mk('POST', rep, '/v1/eventqs/{viommu}/read', 'a vIOMMU id', 'ENOENT', { payload: { kind: 'json', value: rbase } }),
  ],
  'GET /v1/eventqs/{id}/stream': [
    ...pathCases('GET', '/v1/eventqs/{id}/stream', (id) => `/v1/eventqs/${id}/stream`),
    ...['abc', '-1', '1.5', '1234567890123456'].map((v) =>
      mk('GET', '/v1/eventqs/{id}/stream', '/v1/eventqs/{eventq}/stream', `Last-Event-ID ${v}`, 'EINVAL', { headers: { 'last-event-id': v } }),
    ),
  ],

  [`POST ${iep}`]: [
    ...genericBodyCases('POST', iep, iurl, ibase),
    ...fieldCases('POST', iep, iurl, ibase, 'type', [undefined, 'bogus', 'default', 'ARM_SMMUV3', null, 1]),
    ...fieldCases('POST', iep, iurl, ibase, 'record', [undefined, [], 'x', [...RECORD, '0x0'], ['zz'], [1, 2, 3, 4], [`0x${'1'.repeat(17)}`], null, {}]),
    ...pathCases('POST', iep, (id) => `/v1/viommus/${id}/events`, { kind: 'json', value: ibase }),
    mk('POST', iep, '/v1/viommus/{ioas}/events', 'an IOAS id', 'ENOENT', { payload: { kind: 'json', value: ibase } }),
  ],

  [`PUT ${mep}`]: [
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
  ],
  [`GET ${mep}`]: [
    ...pathCases('GET', mep, (id) => `/v1/ioas/${id}/memory?${q}`),
    ...badQueries.map(([query, what]) => mk('GET', mep, `/v1/ioas/{ioas}/memory?${query}`, what, 'EINVAL', Q)),
  ],
};

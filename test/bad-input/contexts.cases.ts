/** Bad-input tables for src/routes/rest/contexts.ts: contexts and their bound devices. */
import { BAD_IDS, BAD_NAME, fieldCases, genericBodyCases, listCases, mk, pathCases, type Tables } from './harness.js';

const CONTEXTS = '/v1/contexts';
const base = { name: 'hostile' };

/** Binding a device: the endpoint, and its URL on the graph's context. */
const bep = '/v1/contexts/{id}/devices';
const burl = '/v1/contexts/{ctx}/devices';
const bbase = { deviceId: '$freeDev' };

/** Unbinding a device. */
const uep = '/v1/contexts/{id}/devices/{deviceId}';

export const contextTables: Tables = {
  [`POST ${CONTEXTS}`]: [...genericBodyCases('POST', CONTEXTS, CONTEXTS, base), ...fieldCases('POST', CONTEXTS, CONTEXTS, base, 'name', BAD_NAME)],
  [`GET ${CONTEXTS} (list)`]: listCases(CONTEXTS, false),
  'GET /v1/contexts/{id}': pathCases('GET', '/v1/contexts/{id}', (id) => `/v1/contexts/${id}`),
  'DELETE /v1/contexts/{id}': pathCases('DELETE', '/v1/contexts/{id}', (id) => `/v1/contexts/${id}`),

  [`POST ${bep}`]: [
    ...genericBodyCases('POST', bep, burl, bbase),
    ...fieldCases('POST', bep, burl, bbase, 'deviceId', BAD_IDS),
    ...fieldCases('POST', bep, burl, bbase, 'deviceId', [4294967295, '$ioas'], 'ENOENT'),
    ...fieldCases('POST', bep, burl, bbase, 'deviceId', ['$tdev'], 'EBUSY'),
    ...pathCases('POST', bep, (id) => `/v1/contexts/${id}/devices`, { kind: 'json', value: bbase }),
    mk('POST', bep, '/v1/contexts/{ioas}/devices', 'an IOAS id as the context', 'ENOENT', { payload: { kind: 'json', value: bbase } }),
  ],
  [`GET ${bep} (list)`]: listCases(burl, false),
  [`GET ${bep}`]: pathCases('GET', bep, (id) => `/v1/contexts/${id}/devices`),
  [`DELETE ${uep}`]: [
    ...pathCases('DELETE', uep, (id) => `/v1/contexts/${id}/devices/{dev}`),
    ...pathCases('DELETE', uep, (id) => `/v1/contexts/{ctx}/devices/${id}`).map((c) => ({ ...c, name: c.name.replace('path id', 'path deviceId') })),
  ],
};

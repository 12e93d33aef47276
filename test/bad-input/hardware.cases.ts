/** Bad-input tables for src/routes/rest/hardware.ts: invalidation, DMA translation, HW queues, vIOMMU stats, SMMU state. */
import { expect } from 'vitest';
import type { Res } from '../helper.js';
import {
  A,
  BAD_BOOL,
  BAD_ENTRIES,
  BAD_HEX,
  BAD_IDS,
  ENTRY_OK,
  MAX_ENTRIES,
  fieldCases,
  genericBodyCases,
  hex,
  listCases,
  mk,
  pathCases,
  Q,
  typedGetCases,
  type BodyOpts,
  type Case,
  type Payload,
  type Tables,
} from './harness.js';

// ---- invalidation ----
const invalidateCheck = (res: Res) => expect(res.body.entriesProcessed).toBe(0);
const invBase = { dataType: 'arm_smmuv3', entries: [ENTRY_OK] };
const invOpts: BodyOpts = { octet: true, check: invalidateCheck };
const okBody: Payload = { kind: 'json', value: invBase };

/** The cases every invalidation endpoint shares; `ep` is "/v1/<prefix>/{id}/invalidate", `url` it on an object of the graph. */
function invalidateCases(ep: string, url: string): Case[] {
  const prefix = ep.replace('/{id}/invalidate', '');
  return [
    // Generic bodies: oversized and content-type failures happen before the route runs; the
    // route's error handler answers them too, with entriesProcessed 0, so every case checks it.
    ...genericBodyCases('POST', ep, url, invBase, invOpts),
    ...fieldCases('POST', ep, url, invBase, 'dataType', [undefined, 'bogus', 'ARM_SMMUV3', '', 1, null], 'EINVAL', invOpts),
    ...fieldCases('POST', ep, url, invBase, 'entries', BAD_ENTRIES, 'EINVAL', invOpts),
    ...fieldCases('POST', ep, url, invBase, 'dataType', ['vtd_s1'], 'EINVAL', { ...invOpts, semantic: true }),
    ...fieldCases('POST', ep, url, invBase, 'entries', [[]], 'EINVAL', { ...invOpts, hw: 'counters', semantic: true }),
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
    ...pathCases('POST', ep, (id) => `${prefix}/${id}/invalidate`, { kind: 'json', value: invBase }, { check: invalidateCheck }),
  ];
}

/** A wrong kind of object as the invalidation target. */
const wrongTarget = (ep: string, url: string, what: string, errno: string): Case => mk('POST', ep, url, what, errno, { payload: okBody, check: invalidateCheck });

// ---- HW queues ----
const HWQS = '/v1/hw-queues';
const hwqBase = { viommuId: '$tviommu', type: 'tegra241_cmdqv', index: 1, nestingParentIova: hex(A + 0x1000), length: '0x100' };

const pep = '/v1/hw-queues/{id}';
const pbase = { enabled: true };

const cep = '/v1/hw-queues/{id}/commands';
const curl = '/v1/hw-queues/{hwq}/commands';
const cbase = { entries: [ENTRY_OK] };

const kep = '/v1/hw-queues/{id}/error/ack';
const kurl = '/v1/hw-queues/{hwq}/error/ack';
const kbase = { replaceWithSync: false };

// ---- DMA translation ----
const tep = '/v1/devices/{id}/translate';
const turl = '/v1/devices/{dev}/translate';
const tbase = { iova: hex(A), access: 'read' };

export const hardwareTables: Tables = {
  'POST /v1/viommus/{id}/invalidate': [
    ...invalidateCases('/v1/viommus/{id}/invalidate', '/v1/viommus/{viommu}/invalidate'),
    wrongTarget('/v1/viommus/{id}/invalidate', '/v1/viommus/{nested}/invalidate', 'a nested HWPT id', 'ENOENT'),
    wrongTarget('/v1/viommus/{id}/invalidate', '/v1/viommus/{ioas}/invalidate', 'an IOAS id', 'ENOENT'),
  ],
  'POST /v1/hwpts/{id}/invalidate': [
    ...invalidateCases('/v1/hwpts/{id}/invalidate', '/v1/hwpts/{viommu}/invalidate'),
    wrongTarget('/v1/hwpts/{id}/invalidate', '/v1/hwpts/{nested}/invalidate', 'an ARM nested HWPT', 'EOPNOTSUPP'),
    wrongTarget('/v1/hwpts/{id}/invalidate', '/v1/hwpts/{parent}/invalidate', 'a paging HWPT', 'EINVAL'),
  ],
  'POST /v1/objects/{id}/invalidate': [
    ...invalidateCases('/v1/objects/{id}/invalidate', '/v1/objects/{viommu}/invalidate'),
    wrongTarget('/v1/objects/{id}/invalidate', '/v1/objects/{ioas}/invalidate', 'an IOAS', 'EINVAL'),
    wrongTarget('/v1/objects/{id}/invalidate', '/v1/objects/{vdev}/invalidate', 'a vDEVICE', 'EINVAL'),
    wrongTarget('/v1/objects/{id}/invalidate', '/v1/objects/{ctx}/invalidate', 'a context id', 'ENOENT'),
  ],

  [`POST ${tep}`]: [
    ...genericBodyCases('POST', tep, turl, tbase),
    ...fieldCases('POST', tep, turl, tbase, 'iova', [undefined, ...BAD_HEX]),
    ...fieldCases('POST', tep, turl, tbase, 'access', [undefined, 'exec', 'READ', '', 1, null, ['read']]),
    ...fieldCases('POST', tep, turl, tbase, 'ssid', [-1, 2 ** 20, 1.5, '1', null, true]),
    ...pathCases('POST', tep, (id) => `/v1/devices/${id}/translate`, { kind: 'json', value: tbase }),
  ],

  [`POST ${HWQS}`]: [
    ...genericBodyCases('POST', HWQS, HWQS, hwqBase),
    ...fieldCases('POST', HWQS, HWQS, hwqBase, 'viommuId', BAD_IDS),
    ...fieldCases('POST', HWQS, HWQS, hwqBase, 'type', [undefined, 'bogus', 'TEGRA241_CMDQV', 'arm_smmuv3', '', null, 1]),
    ...fieldCases('POST', HWQS, HWQS, hwqBase, 'index', [undefined, -1, 2 ** 32, 1.5, '1', null, true]),
    ...fieldCases('POST', HWQS, HWQS, hwqBase, 'nestingParentIova', [undefined, ...BAD_HEX]),
    ...fieldCases('POST', HWQS, HWQS, hwqBase, 'length', [undefined, ...BAD_HEX]),
    ...fieldCases('POST', HWQS, HWQS, hwqBase, 'type', ['default'], 'EOPNOTSUPP'),
    ...fieldCases('POST', HWQS, HWQS, hwqBase, 'length', ['0x0', '0x30', '0x10'], 'EINVAL', { semantic: true }),
    ...fieldCases('POST', HWQS, HWQS, hwqBase, 'index', [2, 0xffffffff], 'EINVAL', { semantic: true }),
    ...fieldCases('POST', HWQS, HWQS, hwqBase, 'index', [0], 'EEXIST'),
    ...fieldCases('POST', HWQS, HWQS, hwqBase, 'nestingParentIova', ['0xffffffffffffff80'], 'EOVERFLOW'),
    ...fieldCases('POST', HWQS, HWQS, hwqBase, 'nestingParentIova', ['0x70000000'], 'ENOENT'),
    ...fieldCases('POST', HWQS, HWQS, hwqBase, 'viommuId', [4294967295, '$tioas'], 'ENOENT'),
    ...fieldCases('POST', HWQS, HWQS, hwqBase, 'viommuId', ['$viommu'], 'EOPNOTSUPP'),
  ],
  [`GET ${HWQS} (list)`]: listCases(HWQS, true),
  [`GET ${HWQS}/{id}`]: typedGetCases(HWQS),
  [`PATCH ${pep}`]: [
    ...genericBodyCases('PATCH', pep, '/v1/hw-queues/{hwq}', pbase),
    ...fieldCases('PATCH', pep, '/v1/hw-queues/{hwq}', pbase, 'enabled', [undefined, ...BAD_BOOL]),
    ...pathCases('PATCH', pep, (id) => `/v1/hw-queues/${id}`, { kind: 'json', value: pbase }),
    mk('PATCH', pep, '/v1/hw-queues/{viommu}', 'a vIOMMU id', 'ENOENT', { payload: { kind: 'json', value: pbase } }),
  ],
  [`POST ${cep}`]: [
    ...genericBodyCases('POST', cep, curl, cbase, { octet: true }),
    ...fieldCases('POST', cep, curl, cbase, 'entries', BAD_ENTRIES),
    mk('POST', cep, curl, 'a dataType member (invalidation only)', 'EINVAL', { payload: { kind: 'json', value: { dataType: 'arm_smmuv3', entries: [ENTRY_OK] } } }),
    mk('POST', cep, curl, 'no entries', 'EINVAL', { payload: { kind: 'json', value: { entries: [] } } }),
    mk('POST', cep, curl, 'an empty octet-stream body', 'EINVAL', { payload: { kind: 'bytes', data: Buffer.alloc(0), type: 'application/octet-stream' } }),
    mk('POST', cep, curl, 'more commands than the 16-entry queue holds', 'ENOSPC', { payload: { kind: 'json', value: { entries: Array.from({ length: 40 }, () => ENTRY_OK) } } }),
    ...pathCases('POST', cep, (id) => `/v1/hw-queues/${id}/commands`, { kind: 'json', value: cbase }),
    mk('POST', cep, '/v1/hw-queues/{tviommu}/commands', 'a vIOMMU id', 'ENOENT', { payload: { kind: 'json', value: cbase } }),
  ],
  [`POST ${kep}`]: [
    ...genericBodyCases('POST', kep, kurl, kbase, { optionalBody: true }),
    ...fieldCases('POST', kep, kurl, kbase, 'replaceWithSync', BAD_BOOL),
    ...pathCases('POST', kep, (id) => `/v1/hw-queues/${id}/error/ack`, { kind: 'json', value: kbase }),
  ],

  'GET /v1/viommus/{id}/stats': [...pathCases('GET', '/v1/viommus/{id}/stats', (id) => `/v1/viommus/${id}/stats`), mk('GET', '/v1/viommus/{id}/stats', '/v1/viommus/{ioas}/stats', 'an IOAS id', 'ENOENT')],
  'GET /v1/smmus/{id}/state': [
    ...pathCases('GET', '/v1/smmus/{id}/state', (id) => `/v1/smmus/${id}/state`),
    ...['1025', '-1', 'abc', '1.5', '99999', ''].map((v) => mk('GET', '/v1/smmus/{id}/state', `/v1/smmus/{smmu0}/state?commands=${v}`, `commands=${v || '(empty)'}`, 'EINVAL', Q)),
    mk('GET', '/v1/smmus/{id}/state', '/v1/smmus/{smmu0}/state?commands=1&bogus=1', 'an unknown query parameter', 'EINVAL', Q),
  ],
};

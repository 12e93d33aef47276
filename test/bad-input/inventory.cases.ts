/** Bad-input tables for src/routes/rest/inventory.ts: SMMUs and devices. */
import { BAD_BOOL, BAD_IDS, BAD_NAME, BAD_U32, fieldCases, genericBodyCases, listCases, mk, pathCases, Q, type Tables } from './harness.js';

const SMMUS = '/v1/smmus';
const smmuBase = { name: 'hostile-smmu' };

const DEVICES = '/v1/devices';
const deviceBase = { name: 'hostile-dev', smmuId: '$smmu0', streamId: 0x777, ats: false, pasidBits: 0 };

export const inventoryTables: Tables = {
  [`POST ${SMMUS}`]: [
    ...genericBodyCases('POST', SMMUS, SMMUS, smmuBase),
    ...fieldCases('POST', SMMUS, SMMUS, smmuBase, 'name', BAD_NAME),
    ...fieldCases('POST', SMMUS, SMMUS, smmuBase, 'idr', [[1, 2, 3], [0, 0, 0, 0, 0, 0, 0], [-1, 0, 0, 0, 0, 0], [2 ** 32, 0, 0, 0, 0, 0], [1.5, 0, 0, 0, 0, 0], ['0', 0, 0, 0, 0, 0], 'abc', null]),
    ...fieldCases('POST', SMMUS, SMMUS, smmuBase, 'iidr', BAD_U32),
    ...fieldCases('POST', SMMUS, SMMUS, smmuBase, 'aidr', BAD_U32),
    ...fieldCases('POST', SMMUS, SMMUS, smmuBase, 'iotlbSize', [0, -1, 65537, 1.5, '8', null]),
    ...fieldCases('POST', SMMUS, SMMUS, smmuBase, 'cmdqv', [
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
  ],
  [`GET ${SMMUS} (list)`]: listCases(SMMUS, false),
  'GET /v1/smmus/{id}': pathCases('GET', '/v1/smmus/{id}', (id) => `/v1/smmus/${id}`),
  'DELETE /v1/smmus/{id}': pathCases('DELETE', '/v1/smmus/{id}', (id) => `/v1/smmus/${id}`),

  [`POST ${DEVICES}`]: [
    ...genericBodyCases('POST', DEVICES, DEVICES, deviceBase),
    ...fieldCases('POST', DEVICES, DEVICES, deviceBase, 'name', BAD_NAME),
    ...fieldCases('POST', DEVICES, DEVICES, deviceBase, 'smmuId', BAD_IDS),
    ...fieldCases('POST', DEVICES, DEVICES, deviceBase, 'streamId', [undefined, ...BAD_U32]),
    ...fieldCases('POST', DEVICES, DEVICES, deviceBase, 'ats', BAD_BOOL),
    ...fieldCases('POST', DEVICES, DEVICES, deviceBase, 'pasidBits', [-1, 21, 1.5, '4', null]),
    ...fieldCases('POST', DEVICES, DEVICES, deviceBase, 'smmuId', [4294967295, '$ioas'], 'ENOENT'),
    ...fieldCases('POST', DEVICES, DEVICES, deviceBase, 'streamId', [0x100], 'EEXIST'),
    ...fieldCases('POST', DEVICES, DEVICES, deviceBase, 'streamId', [0x10000, 0xffffffff], 'EINVAL', { semantic: true }),
  ],
  [`GET ${DEVICES} (list)`]: [
    ...listCases(DEVICES, true),
    ...['-1', 'abc', '4294967296'].map((v) => mk('GET', DEVICES, `${DEVICES}?smmuId=${v}`, `smmuId=${v}`, 'EINVAL', Q)),
  ],
  'GET /v1/devices/{id}': pathCases('GET', '/v1/devices/{id}', (id) => `/v1/devices/${id}`),
  'DELETE /v1/devices/{id}': pathCases('DELETE', '/v1/devices/{id}', (id) => `/v1/devices/${id}`),
  // The audit trail (src/routes/rest/audit.ts): a list with context, object and token filters.
  'GET /v1/audit (list)': [
    ...listCases('/v1/audit', true),
    ...['-1', '0', 'abc', '4294967296'].map((v) => mk('GET', '/v1/audit', `/v1/audit?objectId=${v}`, `objectId=${v}`, 'EINVAL', Q)),
    ...['', 'with%20space'].map((v) => mk('GET', '/v1/audit', `/v1/audit?token=${v}`, `token=${v || '(empty)'}`, 'EINVAL', Q)),
  ],
  'GET /v1/devices/{id}/hw-info': [
    ...pathCases('GET', '/v1/devices/{id}/hw-info', (id) => `/v1/devices/${id}/hw-info`),
    ...['bogus', 'ARM_SMMUV3', '', '1'].map((v) => mk('GET', '/v1/devices/{id}/hw-info', `/v1/devices/{dev}/hw-info?type=${v}`, `type=${v || '(empty)'}`, 'EINVAL', Q)),
    mk('GET', '/v1/devices/{id}/hw-info', '/v1/devices/{dev}/hw-info?type=arm_smmuv3&bogus=1', 'an unknown query parameter', 'EINVAL', Q),
    mk('GET', '/v1/devices/{id}/hw-info', '/v1/devices/{dev}/hw-info?type=intel_vtd', 'type=intel_vtd on an ARM SMMU', 'EOPNOTSUPP'),
  ],
};

/** Bad-input tables for src/routes/rest/objects.ts: objects, IOAS and mappings, HWPTs and attachment, vIOMMUs, vDEVICEs. */
import { A, BAD_BOOL, BAD_HEX, BAD_IDS, BAD_U32, fieldCases, genericBodyCases, hex, listCases, mk, pathCases, Q, typedGetCases, type Tables } from './harness.js';

// ---- IOAS and mappings ----
const IOAS = '/v1/ioas';
const ioasBase = { contextId: '$ctx' };

const mep = '/v1/ioas/{id}/mappings';
const murl = '/v1/ioas/{ioas}/mappings';
const mbase = { iova: '0x80000000', length: '0x1000', read: true, write: true };
const q = `iova=${hex(A)}&length=0x10000`;

// ---- HWPTs and attachment ----
const HWPTS = '/v1/hwpts';
const hwptBase = { deviceId: '$dev', ptId: '$ioas', flags: ['nest_parent'] };
const nestedBase = { deviceId: '$dev', ptId: '$viommu', data: { type: 'arm_smmuv3', ste: ['0x9', '0x0'] } };

const aep = '/v1/devices/{id}/attachment';
const aurl = '/v1/devices/{dev}/attachment';
const abase = { ptId: '$parent' };

const pep = '/v1/devices/{id}/pasids/{pasid}/attachment';
const purl = '/v1/devices/{dev}/pasids/5/attachment';
const pbase = { ptId: '$ioas' };
/** Hostile PASIDs in the path (a PASID is a u32; 0, IOMMU_NO_PASID, is the domain's EINVAL). */
const BAD_PASIDS = ['abc', '-1', '1e3', '1.5', '0x10', '4294967296', '99999999999', '%20', '+1'];
const pasidPathCases = (method: 'PUT' | 'DELETE', payload?: { kind: 'json'; value: unknown }) => [
  ...pathCases(method, pep, (id) => `/v1/devices/${id}/pasids/5/attachment`, payload),
  ...BAD_PASIDS.map((p) => mk(method, pep, `/v1/devices/{dev}/pasids/${p}/attachment`, `PASID ${JSON.stringify(decodeURIComponent(p))}`, 'EINVAL', { payload, errorPath: 'params' })),
];

// ---- vIOMMUs and vDEVICEs ----
const VIOMMUS = '/v1/viommus';
const viommuBase = { deviceId: '$dev', hwptId: '$parent', type: 'arm_smmuv3' };
const VDEVICES = '/v1/vdevices';
const vdevBase = { viommuId: '$viommu', deviceId: '$dev2', virtId: 0x20 };

export const objectTables: Tables = {
  'GET /v1/objects (list)': [
    ...listCases('/v1/objects', true),
    ...['bogus', 'IOAS', 'hwpt', ''].map((v) => mk('GET', '/v1/objects', `/v1/objects?type=${v}`, `type=${v || '(empty)'}`, 'EINVAL', Q)),
  ],
  'GET /v1/objects/{id}': pathCases('GET', '/v1/objects/{id}', (id) => `/v1/objects/${id}`),
  // IOMMU_DESTROY takes any u32: id 0 is well-formed and names nothing (ENOENT), as in the kernel.
  'DELETE /v1/objects/{id}': pathCases('DELETE', '/v1/objects/{id}', (id) => `/v1/objects/${id}`, undefined, { override: { '0': 'ENOENT' } }),

  [`POST ${IOAS}`]: [
    ...genericBodyCases('POST', IOAS, IOAS, ioasBase),
    ...fieldCases('POST', IOAS, IOAS, ioasBase, 'contextId', BAD_IDS),
    ...fieldCases('POST', IOAS, IOAS, ioasBase, 'contextId', [4294967295, '$ioas'], 'ENOENT'),
  ],
  [`GET ${IOAS} (list)`]: listCases(IOAS, true),
  [`GET ${IOAS}/{id}`]: typedGetCases(IOAS),
  [`POST ${mep}`]: [
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
  ],
  [`GET ${mep}`]: pathCases('GET', mep, (id) => `/v1/ioas/${id}/mappings`),
  [`DELETE ${mep}`]: [
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
  ],

  [`POST ${HWPTS}`]: [
    ...genericBodyCases('POST', HWPTS, HWPTS, hwptBase),
    ...fieldCases('POST', HWPTS, HWPTS, hwptBase, 'deviceId', BAD_IDS),
    ...fieldCases('POST', HWPTS, HWPTS, hwptBase, 'ptId', BAD_IDS),
    ...fieldCases('POST', HWPTS, HWPTS, hwptBase, 'flags', [['bogus'], ['NEST_PARENT'], 'nest_parent', [1], [null], {}, null, ['nest_parent', 'nest_parent', 'nest_parent', 'nest_parent']]),
    ...fieldCases('POST', HWPTS, HWPTS, hwptBase, 'deviceId', [4294967295, '$ioas'], 'ENOENT'),
    // IOMMU_HWPT_ALLOC maps a pt_id that names nothing to EINVAL (iommufd.md §2, "pt_id not found").
    ...fieldCases('POST', HWPTS, HWPTS, hwptBase, 'ptId', [4294967295, '$ctx'], 'EINVAL', { semantic: true }),
    ...fieldCases('POST', HWPTS, HWPTS, nestedBase, 'data', [
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
  ],
  [`GET ${HWPTS} (list)`]: listCases(HWPTS, true),
  [`GET ${HWPTS}/{id}`]: typedGetCases(HWPTS),
  [`PUT ${aep}`]: [
    ...genericBodyCases('PUT', aep, aurl, abase),
    ...fieldCases('PUT', aep, aurl, abase, 'ptId', BAD_IDS),
    ...fieldCases('PUT', aep, aurl, abase, 'ptId', [4294967295, '$ctx'], 'ENOENT'),
    ...pathCases('PUT', aep, (id) => `/v1/devices/${id}/attachment`, { kind: 'json', value: abase }),
  ],
  [`DELETE ${aep}`]: pathCases('DELETE', aep, (id) => `/v1/devices/${id}/attachment`),
  [`PUT ${pep}`]: [
    ...genericBodyCases('PUT', pep, purl, pbase),
    ...fieldCases('PUT', pep, purl, pbase, 'ptId', BAD_IDS),
    ...fieldCases('PUT', pep, purl, pbase, 'ptId', [4294967295, '$ctx'], 'ENOENT'),
    ...pasidPathCases('PUT', { kind: 'json', value: pbase }),
    mk('PUT', pep, '/v1/devices/{dev}/pasids/0/attachment', 'PASID 0 (IOMMU_NO_PASID, the RID)', 'EINVAL', { payload: { kind: 'json', value: pbase } }),
  ],
  [`DELETE ${pep}`]: pasidPathCases('DELETE'),

  [`POST ${VIOMMUS}`]: [
    ...genericBodyCases('POST', VIOMMUS, VIOMMUS, viommuBase),
    ...fieldCases('POST', VIOMMUS, VIOMMUS, viommuBase, 'deviceId', BAD_IDS),
    ...fieldCases('POST', VIOMMUS, VIOMMUS, viommuBase, 'hwptId', BAD_IDS),
    ...fieldCases('POST', VIOMMUS, VIOMMUS, viommuBase, 'type', [undefined, '', 'x'.repeat(65), 'arm smmuv3', 1, null, ['arm_smmuv3']]),
    // A type the driver does not know: arm_smmu_get_viommu_size returns 0.
    ...fieldCases('POST', VIOMMUS, VIOMMUS, viommuBase, 'type', ['bogus', 'ARM_SMMUV3', 'intel_vtd'], 'EOPNOTSUPP', { semantic: true }),
    ...fieldCases('POST', VIOMMUS, VIOMMUS, viommuBase, 'hwptId', [4294967295], 'ENOENT'),
    ...fieldCases('POST', VIOMMUS, VIOMMUS, viommuBase, 'deviceId', [4294967295], 'ENOENT'),
  ],
  [`GET ${VIOMMUS} (list)`]: listCases(VIOMMUS, true),
  [`GET ${VIOMMUS}/{id}`]: typedGetCases(VIOMMUS),
  [`POST ${VDEVICES}`]: [
    ...genericBodyCases('POST', VDEVICES, VDEVICES, vdevBase),
    ...fieldCases('POST', VDEVICES, VDEVICES, vdevBase, 'viommuId', BAD_IDS),
    ...fieldCases('POST', VDEVICES, VDEVICES, vdevBase, 'deviceId', BAD_IDS),
    ...fieldCases('POST', VDEVICES, VDEVICES, vdevBase, 'virtId', [undefined, ...BAD_U32]),
    ...fieldCases('POST', VDEVICES, VDEVICES, vdevBase, 'viommuId', [4294967295, '$ioas'], 'ENOENT'),
    ...fieldCases('POST', VDEVICES, VDEVICES, vdevBase, 'deviceId', [4294967295], 'ENOENT'),
    ...fieldCases('POST', VDEVICES, VDEVICES, vdevBase, 'virtId', [0x10], 'EEXIST'),
    ...fieldCases('POST', VDEVICES, VDEVICES, vdevBase, 'deviceId', ['$dev'], 'EEXIST'),
  ],
  [`GET ${VDEVICES} (list)`]: listCases(VDEVICES, true),
  [`GET ${VDEVICES}/{id}`]: typedGetCases(VDEVICES),
};

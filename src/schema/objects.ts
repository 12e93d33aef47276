import { z } from 'zod';
import { HWPT_ALLOC_FLAGS, HWPT_DATA_TYPES } from '../domain/hwpt.js';
import { OBJECT_TYPES } from '../domain/types.js';
import { VIOMMU_ALLOC_TYPES } from '../domain/viommu.js';
import { hex64, idParam, listQuery, name, objectId, optionalIdQuery, u32 } from './common.js';

export const createContextBody = z.strictObject({ name });
export const bindDeviceBody = z.strictObject({ deviceId: objectId });
export const contextDeviceParams = z.object({
  id: z.string().regex(/^[0-9]{1,10}$/).transform(Number).pipe(objectId),
  deviceId: z.string().regex(/^[0-9]{1,10}$/).transform(Number).pipe(objectId),
});

export const createIoasBody = z.strictObject({ contextId: objectId });

/** GET /v1/ioas/{id}/mappings: a list as api.md's ("Lists"), by IOVA; the cursor is the last IOVA returned. */
export const mappingListQuery = z.strictObject({
  limit: listQuery.shape.limit,
  cursor: z.string().regex(/^0x[0-9a-f]{1,16}$/, 'must be a cursor this service returned').optional(),
});

export const mapBody = z.strictObject({
  iova: hex64,
  length: hex64,
  read: z.boolean().optional(),
  write: z.boolean().optional(),
});

export const unmapQuery = z
  .strictObject({
    iova: z.string().regex(/^0x[0-9a-fA-F]{1,16}$/).transform((s) => BigInt(s)).optional(),
    length: z.string().regex(/^0x[0-9a-fA-F]{1,16}$/).transform((s) => BigInt(s)).optional(),
  })
  .refine((q) => (q.iova === undefined) === (q.length === undefined), { message: 'give both iova and length, or neither to unmap everything' });

export const allocHwptBody = z.strictObject({
  deviceId: objectId,
  ptId: objectId,
  flags: z.array(z.enum(HWPT_ALLOC_FLAGS)).max(HWPT_ALLOC_FLAGS.length).optional(),
  data: z
    .strictObject({
      type: z.enum(HWPT_DATA_TYPES),
      // struct iommu_hwpt_arm_smmuv3 is exactly two 64-bit words (data_len 16).
      ste: z.tuple([hex64, hex64]).optional(),
    })
    .optional(),
});

export const attachBody = z.strictObject({ ptId: objectId });
/** `/devices/{id}/pasids/{pasid}`: a PASID is any u32 on the wire (ioasid_t); the device's width is the domain's check. */
/** GraphQL's attachDevicePasid arguments: the same PASID and ptId rules. */
export const pasidBody = z.strictObject({ pasid: u32, ptId: objectId });
export const pasidParams = z.object({
  id: idParam,
  pasid: z
    .string()
    .regex(/^[0-9]{1,10}$/, 'must be a decimal PASID')
    .transform(Number)
    .pipe(u32),
});

export const allocViommuBody = z.strictObject({
  deviceId: objectId,
  hwptId: objectId,
  // A type the SMMU does not know is EOPNOTSUPP from the driver (get_viommu_size returns 0),
  // after the device lookup: any well-formed name is accepted here (VIOMMU_ALLOC_TYPES are known).
  type: z
    .string()
    .regex(/^[A-Za-z0-9_]{1,64}$/, 'must be a vIOMMU type name')
    .describe(`${VIOMMU_ALLOC_TYPES.join(' | ')}; default is reserved and any other name is EOPNOTSUPP`),
});

export const allocVdeviceBody = z.strictObject({
  viommuId: objectId,
  deviceId: objectId,
  // The vSID: a command's SID field is 32 bits, and Tegra241 rejects larger ids (EINVAL).
  virtId: u32,
});

export const objectListQuery = listQuery.extend({
  contextId: optionalIdQuery,
  type: z.enum(OBJECT_TYPES).optional(),
});
export const scopedListQuery = listQuery.extend({ contextId: optionalIdQuery });

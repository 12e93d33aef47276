/** Building blocks shared by every request schema (REST validation, OpenAPI, GraphQL arguments). */
import { z } from 'zod';

export const U32_MAX = 0xffffffff;

/** Object ids: unsigned 32-bit integers ≥ 1 (api.md "Conventions"). */
export const objectId = z.int().min(1).max(U32_MAX);
/** Path parameters arrive as text: decimal digits only, then the same range. */
export const idParam = z
  .string()
  .regex(/^[0-9]{1,10}$/, 'must be a decimal object id')
  .transform(Number)
  .pipe(objectId);
export const idParams = z.object({ id: idParam });
/**
 * IOMMU_DESTROY takes any u32: id 0 is well-formed and names no object, so it is ENOENT
 * (iommufd.md §2.1, §6.1 item 1), not a validation failure.
 */
export const destroyIdParams = z.object({
  id: z
    .string()
    .regex(/^[0-9]{1,10}$/, 'must be a decimal object id')
    .transform(Number)
    .pipe(z.int().min(0).max(U32_MAX)),
});

export const u32 = z.int().min(0).max(U32_MAX);

/** 64-bit values travel as "0x" + 1..16 hex digits. */
export const hex64 = z
  .string()
  .regex(/^0x[0-9a-fA-F]{1,16}$/, 'must be "0x" followed by 1 to 16 hex digits')
  .transform((s) => BigInt(s));

export const name = z.string().min(1).max(128).regex(/^[\x20-\x7e]+$/, 'printable ASCII only');

export const listQuery = z.strictObject({
  limit: z
    .string()
    .regex(/^[0-9]{1,3}$/, 'must be a number from 1 to 500')
    .transform(Number)
    .pipe(z.int().min(1).max(500))
    .optional(),
  cursor: z.string().regex(/^[0-9]{1,10}$/, 'must be a cursor this service returned').optional(),
});

export const optionalIdQuery = z
  .string()
  .regex(/^[0-9]{1,10}$/, 'must be a decimal id')
  .transform(Number)
  .pipe(objectId)
  .optional();

/** A list of objects scoped to one context. */
export const scopedListQueryShape = listQuery.extend({ contextId: optionalIdQuery });

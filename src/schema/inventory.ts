import { z } from 'zod';
import { HW_INFO_TYPES } from '../domain/inventory.js';
import { listQuery, name, objectId, optionalIdQuery, u32 } from './common.js';

export const cmdqvParams = z.strictObject({
  vintfs: z.int().min(1).max(64),
  vcmdqsPerVintf: z.int().min(1).max(128),
  sidsPerVintf: z.int().min(1).max(256),
  version: z.int().min(0).max(15).optional(),
});

export const createSmmuBody = z.strictObject({
  name,
  idr: z.array(u32).length(6).optional(),
  iidr: u32.optional(),
  aidr: u32.optional(),
  iotlbSize: z.int().min(1).max(65536).optional(),
  cmdqv: cmdqvParams.optional(),
});

export const createDeviceBody = z.strictObject({
  name,
  smmuId: objectId,
  streamId: u32,
  ats: z.boolean().optional(),
  pasidBits: z.int().min(0).max(20).optional(),
});

export const deviceListQuery = listQuery.extend({ smmuId: optionalIdQuery, contextId: optionalIdQuery });

export const hwInfoQuery = z.strictObject({ type: z.enum(HW_INFO_TYPES).optional() });

/** The HOST_TOPOLOGY file. */
export const topologyFile = z.strictObject({
  smmus: z.array(
    createSmmuBody.extend({
      devices: z.array(createDeviceBody.omit({ smmuId: true })).optional(),
    }),
  ),
});

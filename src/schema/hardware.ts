import { z } from 'zod';
import { hex64 } from './common.js';

/** One ARM SMMUv3 command as two 64-bit words (struct iommu_viommu_arm_smmuv3_invalidate). */
export const commandWords = z.tuple([hex64, hex64]);

/** POST …/invalidate with application/json. Emptiness and the batch limit are checked after the
 * target lookup, as the kernel orders them (ENOENT before EINVAL). */
export const invalidateBody = z.strictObject({
  dataType: z.enum(['arm_smmuv3', 'vtd_s1']),
  entries: z.array(commandWords).max(65536),
});

export const smmuStateQuery = z.strictObject({
  commands: z
    .string()
    .regex(/^[0-9]{1,4}$/, 'must be a number from 0 to 1024')
    .transform(Number)
    .pipe(z.int().min(0).max(1024))
    .optional(),
});

export const allocHwQueueBody = z.strictObject({
  viommuId: z.int().min(1).max(0xffffffff),
  type: z.enum(['default', 'tegra241_cmdqv']),
  index: z.int().min(0).max(0xffffffff),
  nestingParentIova: hex64,
  length: hex64,
});

export const patchHwQueueBody = z.strictObject({ enabled: z.boolean() });

export const ackHwQueueBody = z.strictObject({ replaceWithSync: z.boolean().optional() }).optional();

/** POST /v1/hw-queues/{id}/commands with application/json. */
export const queueCommandsBody = z.strictObject({
  entries: z.array(commandWords).max(65536),
});

/** POST /v1/devices/{id}/translate: one DMA (SubstreamID up to the architecture's 20 bits). */
export const translateBody = z.strictObject({
  iova: hex64,
  ssid: z.int().min(0).max(0xfffff).optional(),
  access: z.enum(['read', 'write']),
});

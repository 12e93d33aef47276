import { z } from 'zod';
import { VEVENTQ_ALLOC_TYPES } from '../domain/eventq.js';
import { EVENTQ_TYPES } from '../domain/types.js';
import { hex64, objectId, u32 } from './common.js';

export const MAX_MEMORY_IO = 1024 * 1024;

export const memoryQuery = z.strictObject({
  iova: z.string().regex(/^0x[0-9a-fA-F]{1,16}$/, 'must be "0x" followed by 1 to 16 hex digits').transform((s) => BigInt(s)),
  length: z
    .string()
    .regex(/^(0x[0-9a-fA-F]{1,8}|[0-9]{1,8})$/, 'must be a byte count (decimal or 0x hex)')
    .transform((s) => Number(s))
    .pipe(z.int().min(1).max(MAX_MEMORY_IO)),
});

export const allocEventqBody = z.strictObject({
  viommuId: objectId,
  type: z.enum(VEVENTQ_ALLOC_TYPES),
  // iommufd_veventq_alloc takes any non-zero u32 (0 is EINVAL there, after the type check);
  // QEMU asks for 1 << 19. Only queued records cost storage, and the depth bounds them.
  depth: u32,
});

export const readEventqBody = z.strictObject({ max: z.int().min(1).max(4096).optional() });

export const injectEventBody = z.strictObject({
  type: z.enum(EVENTQ_TYPES),
  record: z.array(hex64).min(1).max(4),
});

export const lastEventIdHeader = z.string().regex(/^[0-9]{1,15}$/);

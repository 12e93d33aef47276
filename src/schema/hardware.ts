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

/**
 * `entries` of a JSON invalidation or queue body, written straight into 16-byte little-endian
 * entries — the same acceptance as `invalidateBody` / `queueCommandsBody` (strict keys, the
 * `dataType` enum, at most 65,536 entries, each exactly two strings `^0x[0-9a-fA-F]{1,16}$`), but
 * without zod's per-node results or a BigInt per word. A batch of 256 entries allocated ~5,000
 * short-lived objects through zod; with 8 requests in flight they outlived the young generation's
 * scavenges and were promoted (bench/RESULTS.md, the JSON invalidation figure). Returns null for
 * anything it does not accept outright: the caller then runs the zod schema, which gives the
 * error (or, for an input only zod takes, the result) — so this never decides a rejection.
 * test/schema/command-entries.test.ts holds it to the schemas on valid and hostile input.
 */
export function fastCommandEntries(body: unknown, withDataType: boolean): { dataType: string; buf: Uint8Array; count: number } | null {
  if (typeof body !== 'object' || body === null || Object.getPrototypeOf(body) !== Object.prototype) return null;
  const b = body as Record<string, unknown>;
  let keys = 0;
  for (const k in b) {
    if (!Object.hasOwn(b, k)) return null;
    if (k !== 'entries' && !(withDataType && k === 'dataType')) return null;
    keys++;
  }
  if (keys !== (withDataType ? 2 : 1)) return null;
  const dataType = withDataType ? b.dataType : 'arm_smmuv3';
  if (dataType !== 'arm_smmuv3' && dataType !== 'vtd_s1') return null;
  const entries = b.entries;
  if (!Array.isArray(entries) || entries.length > 65536) return null;
  const buf = new Uint8Array(entries.length * 16);
  const view = new DataView(buf.buffer);
  for (let i = 0; i < entries.length; i++) {
    const e: unknown = entries[i];
    if (!Array.isArray(e) || e.length !== 2 || !hexWord(e[0], view, i * 16) || !hexWord(e[1], view, i * 16 + 8)) return null;
  }
  return { dataType, buf, count: entries.length };
}

/** `hex64` without the BigInt: "0x" and 1–16 hex digits, written little-endian at `offset`. */
function hexWord(s: unknown, view: DataView, offset: number): boolean {
  if (typeof s !== 'string') return false;
  const n = s.length;
  if (n < 3 || n > 18 || s.charCodeAt(0) !== 0x30 || s.charCodeAt(1) !== 0x78) return false;
  let hi = 0;
  let lo = 0;
  for (let i = 2; i < n; i++) {
    const c = s.charCodeAt(i);
    let d: number;
    if (c >= 0x30 && c <= 0x39) d = c - 0x30;
    else if (c >= 0x61 && c <= 0x66) d = c - 0x57;
    else if (c >= 0x41 && c <= 0x46) d = c - 0x37;
    else return false;
    hi = ((hi << 4) | (lo >>> 28)) >>> 0;
    lo = ((lo << 4) | d) >>> 0;
  }
  view.setUint32(offset, lo, true);
  view.setUint32(offset + 4, hi, true);
  return true;
}

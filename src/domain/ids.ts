/**
 * The one id space (api.md "Conventions"): every SMMU, device, context and iommufd object gets
 * its id from one counter, so an id alone names a thing of any type. Ids start at 1, are below
 * 2^31 as the kernel's xa_limit_31b, and are never reused. The counter is staged in the write
 * transaction, so a failed request consumes no id (two-phase allocation, iommufd main.c).
 */
import { fail } from './errors.js';
import type { WriteTx } from './graph.js';

const NEXT_ID = 'nextId';
export const MAX_ID = 0x7fffffff;

export function allocId(tx: WriteTx): number {
  const cur = Number(tx.get('meta', NEXT_ID)?.value ?? '1');
  if (cur > MAX_ID) fail('ENOSPC', 'the id space is exhausted');
  tx.put('meta', { key: NEXT_ID, value: String(cur + 1) });
  return cur;
}

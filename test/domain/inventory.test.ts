/**
 * The host inventory refuses an SMMU no host driver could drive: arm_smmu_device_hw_probe
 * rejects a command queue of CMDQ_BATCH_ENTRIES (64) entries or fewer, because the driver's
 * batches and their CMD_SYNC must fit in it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_IDR, setIdrField } from '../../src/hw/idr.js';
import { expectProblem, expectUnchanged, must, startApp, type TestApp } from '../helper.js';

let t: TestApp;
beforeAll(async () => {
  t = await startApp();
});
afterAll(async () => t?.close());

const idrWithCmdqs = (cmdqs: number) => {
  const idr = [...DEFAULT_IDR] as typeof DEFAULT_IDR;
  return setIdrField(idr, 'CMDQS', cmdqs);
};

describe('inventory: SMMU command queue size', () => {
  it('inventory: IDR1.CMDQS of 6 or less (64 entries or fewer) is EINVAL and creates nothing; 7 is accepted', async () => {
    await expectUnchanged(t, async () => {
      for (const cmdqs of [0, 2, 6]) expectProblem(await t.req('POST', '/v1/smmus', { name: `small${cmdqs}`, idr: [...idrWithCmdqs(cmdqs)] }), 'EINVAL', 400);
    });
    const ok = must(await t.req('POST', '/v1/smmus', { name: 'cmdqs7', idr: [...idrWithCmdqs(7)] }), 201);
    expect(ok.idr[1]).toBe(idrWithCmdqs(7)[1]);
  });
});

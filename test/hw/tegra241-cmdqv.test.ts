/**
 * Tegra241 CMDQV (src/hw/tegra241-cmdqv.ts, smmuv3.md §7): a guest-owned VCMDQ carries only
 * TLBI_NH_ASID, TLBI_NH_VA, ATC_INV and CMD_SYNC; the VINTF's VMID and SID_REPLACE are applied in
 * the consumer's copy, anything else (or an unmatched vSID) stops the queue with CERROR_ILL, and
 * the VINTF's LVCMDQ_ERR_MAP has a bit per queue in error.
 */
import { describe, expect, it } from 'vitest';
import { commandsToBytes, encodeCommand } from '../../src/hw/commands.js';
import { DEFAULT_IDR } from '../../src/hw/idr.js';
import { createQueueState, queueStopped } from '../../src/hw/queue.js';
import { Smmuv3 } from '../../src/hw/smmu.js';
import { consumeVcmdq, lvcmdqErrMap, vcmdqInError, type Vintf } from '../../src/hw/tegra241-cmdqv.js';

const VINTF: Vintf = { vmid: 7, sidReplace: (vsid) => (vsid === 0x10 ? 0x100 : undefined) };

function queueWith(commands: Array<[bigint, bigint]>) {
  const state = createQueueState(4);
  const ring = new Uint8Array(16 * 16);
  ring.set(commandsToBytes(commands), 0);
  state.prod = commands.length;
  return { state, ring };
}

describe('Tegra241 CMDQV: the guest-owned VCMDQ', () => {
  it('cmdqv: the four guest commands run with the VINTF VMID and SID_REPLACE, rewritten in the copy of the ring the consumer reads', () => {
    const smmu = new Smmuv3({ idr: DEFAULT_IDR });
    const { state, ring } = queueWith([
      encodeCommand('TLBI_NH_ASID', { ASID: 3, VMID: 0 }),
      encodeCommand('TLBI_NH_VA', { ASID: 3, VMID: 0, ADDR: 0x1000n }),
      encodeCommand('ATC_INV', { SID: 0x10, SIZE: 52 }),
      encodeCommand('CMD_SYNC'),
    ]);
    const run = consumeVcmdq(smmu, VINTF, state, ring);
    expect(run).toEqual({ consumed: 4, error: null });
    expect(state.cons).toBe(4);
    // The copy handed to the consumer carries the rewrite: VMID [47:32] of slot 0, SID [63:32] of slot 2.
    const view = new DataView(ring.buffer);
    expect(view.getUint16(4, true)).toBe(7);
    expect(view.getUint32(2 * 16 + 4, true)).toBe(0x100);
    // The SMMU executed them with the VINTF's VMID and the physical StreamID.
    const log = smmu.executedCommands(4).commands;
    expect(log.length).toBe(4);
    expect(Number((log[0][0] >> 32n) & 0xffffn)).toBe(7);
    expect(Number((log[2][0] >> 32n) & 0xffffffffn)).toBe(0x100);
  });

  it('cmdqv: any other command, or an ATC_INV whose vSID no slot matches, stops the queue with CERROR_ILL at that slot', () => {
    for (const bad of [encodeCommand('TLBI_NH_ALL', { VMID: 0 }), encodeCommand('CFGI_STE', { SID: 0x10 }), encodeCommand('ATC_INV', { SID: 0x11, SIZE: 52 })]) {
      const smmu = new Smmuv3({ idr: DEFAULT_IDR });
      const { state, ring } = queueWith([encodeCommand('CMD_SYNC'), bad, encodeCommand('CMD_SYNC')]);
      const run = consumeVcmdq(smmu, VINTF, state, ring);
      expect(run.consumed).toBe(1);
      expect(run.error).toMatchObject({ code: 'CERROR_ILL', index: 1 });
      expect(queueStopped(state)).toBe(true);
      expect(vcmdqInError(state)).toBe(true);
      // Until GERRORN acknowledges it, the queue stays stopped and reports the same error.
      expect(consumeVcmdq(smmu, VINTF, state, ring)).toEqual({ consumed: 0, error: { code: 'CERROR_ILL', index: 1, opcode: null } });
    }
  });

  it('cmdqv: LVCMDQ_ERR_MAP has bit i for each logical VCMDQ i whose GERROR differs from GERRORN', () => {
    expect(lvcmdqErrMap([])).toEqual([0n, 0n]);
    expect(
      lvcmdqErrMap([
        { index: 0, gerror: 1, gerrorn: 0 },
        { index: 1, gerror: 1, gerrorn: 1 },
        { index: 65, gerror: 0, gerrorn: 1 },
      ]),
    ).toEqual([1n, 2n]);
  });
});

/**
 * NVIDIA Tegra241 CMDQV (smmuv3.md §7; Linux tegra241-cmdqv.c, QEMU tegra241-cmdqv.c): a second
 * piece of hardware beside the SMMU. A VINTF owned by a guest (HYP_OWN=0) has logical VCMDQs in
 * guest memory, its own VMID and SID_MATCH/SID_REPLACE slots. The SMMU consumes a VCMDQ
 * directly, accepting only TLBI_NH_ASID, TLBI_NH_VA, ATC_INV and CMD_SYNC, with the VINTF's VMID
 * and the vSID of an ATC_INV replaced through the slots; anything else stops the queue with
 * CERROR_ILL. The rewrite happens in the ring handed to the consumer, which is its own copy of
 * the queue memory: the guest's memory stays as the guest wrote it (src/domain/hwqueue.ts).
 */
import { cmdGetSid, cmdSetSid, cmdSetVmid, CMDQ_OP_ATC_INV, CMDQ_OP_CMD_SYNC, CMDQ_OP_TLBI_NH_ASID, CMDQ_OP_TLBI_NH_VA } from './commands.js';
import { CERROR, cerrorName, queueErr, queueIndex, queueStopped, ringMemory, type ConsumeResult, type QueueState } from './queue.js';
import type { Smmuv3 } from './smmu.js';

/** A guest-owned VINTF as its consumer sees it. */
export interface Vintf {
  vmid: number;
  /** SID_MATCH → SID_REPLACE: the physical StreamID of a guest vSID, if a slot matches it. */
  sidReplace(vsid: number): number | undefined;
}

/** One VCMDQ's outcome: what the consumer did, and the error it stopped on (if any). */
export interface VcmdqRun {
  consumed: number;
  error: { code: string; index: number; opcode: number | null } | null;
}

/** The HYP_OWN=0 filter of a VINTF: the four commands a guest queue may carry, rewritten. */
function guestOwnedFilter(vintf: Vintf) {
  return (view: DataView, off: number, opcode: number): number => {
    switch (opcode) {
      case CMDQ_OP_TLBI_NH_ASID:
      case CMDQ_OP_TLBI_NH_VA:
        cmdSetVmid(view, off, vintf.vmid);
        return CERROR.NONE;
      case CMDQ_OP_ATC_INV: {
        const sid = vintf.sidReplace(cmdGetSid(view, off));
        if (sid === undefined) return CERROR.ILL;
        cmdSetSid(view, off, sid);
        return CERROR.NONE;
      }
      case CMDQ_OP_CMD_SYNC:
        return CERROR.NONE;
      default:
        return CERROR.ILL;
    }
  };
}

/**
 * Runs the SMMU's consumer over a VCMDQ whose ring holds `ring` (after a PROD, CONFIG.EN or
 * GERRORN write); `state` (PROD, CONS, EN, GERROR, GERRORN) is updated in place.
 */
export function consumeVcmdq(smmu: Smmuv3, vintf: Vintf, state: QueueState, ring: Uint8Array): VcmdqRun {
  const result: ConsumeResult = smmu.consume(state, ringMemory(ring), guestOwnedFilter(vintf));
  if (result.error) return { consumed: result.consumed, error: { code: result.error.code, index: result.error.index, opcode: result.error.opcode } };
  return { consumed: result.consumed, error: stoppedError(state) };
}

/** A queue still stopped from an earlier error: CONS.ERR at the CONS slot. */
function stoppedError(state: QueueState): VcmdqRun['error'] {
  if (!queueStopped(state)) return null;
  const err = queueErr(state);
  return err === 0 ? null : { code: cerrorName(err), index: queueIndex(state.cons, state.log2Size), opcode: null };
}

/** Whether the VCMDQ's GERROR.CMDQ_ERR is unacknowledged (GERROR ≠ GERRORN in bit 0). */
export const vcmdqInError = (q: Pick<QueueState, 'gerror' | 'gerrorn'>): boolean => ((q.gerror ^ q.gerrorn) & 1) === 1;

/** The VINTF's LVCMDQ_ERR_MAP (§4.5): bit i for each logical VCMDQ i in error, as two 64-bit words. */
export function lvcmdqErrMap(queues: Iterable<{ index: number; gerror: number; gerrorn: number }>): [bigint, bigint] {
  const map: [bigint, bigint] = [0n, 0n];
  for (const q of queues) if (vcmdqInError(q)) map[q.index >> 6] |= 1n << BigInt(q.index & 63);
  return map;
}

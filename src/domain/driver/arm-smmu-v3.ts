/**
 * The host kernel's ARM SMMUv3 driver (Linux drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c and
 * arm-smmu-v3-iommufd.c): what software does *to* the SMMU (src/hw) — the STEs it builds and
 * installs, the CMD_SYNC it ends a batch with, how it gets past a command the SMMU rejected, how
 * it converts a guest's commands, how it encodes range and ATC invalidations. Software, not
 * hardware: it lives beside the iommufd core, as Linux's driver does, and drives src/hw.
 */
import {
  ATC_INV_SIZE_ALL,
  CERROR,
  CMD_BYTES,
  CMDQ_OP_ATC_INV,
  CMDQ_OP_CFGI_CD,
  CMDQ_OP_CFGI_CD_ALL,
  CMDQ_OP_TLBI_NH_ALL,
  CMDQ_OP_TLBI_NH_ASID,
  CMDQ_OP_TLBI_NH_VA,
  CMDQ_OP_TLBI_NH_VAA,
  CMDQ_OP_TLBI_NSNH_ALL,
  cmdGetSid,
  cmdOpcode,
  cmdSetSid,
  cmdSetVmid,
  CMD_SYNC_CS,
  encodeCommand,
  encodeSte,
  queueIndex,
  STE,
  STE_CFG,
  STE_EATS,
  STE_SHCFG_INCOMING,
  steWords,
  wordGet,
  wordSet,
  wordsToBytes,
  type CommandFields,
  type CommandWords,
  type ConsumeResult,
  type Smmuv3,
  type SteWords,
} from '../../hw/index.js';

// ---------------------------------------------------------------------------------------------
// STEs (`arm_smmu_make_*_ste`, `arm_smmu_write_ste`; iommufd.md §3.2-§3.3).

/** The guest-controllable vSTE bits, `STRTAB_STE_{0,1}_NESTING_ALLOWED` (defined once, in ../vste.ts). */
export { STRTAB_STE_0_NESTING_ALLOWED as STE_0_NESTING_ALLOWED, STRTAB_STE_1_NESTING_ALLOWED as STE_1_NESTING_ALLOWED } from '../vste.js';
import { STRTAB_STE_0_NESTING_ALLOWED as STE_0_NESTING_ALLOWED, STRTAB_STE_1_NESTING_ALLOWED as STE_1_NESTING_ALLOWED } from '../vste.js';

/** Abort STE: V=1, Config=abort (`arm_smmu_make_abort_ste`). */
export function buildAbortSte(): SteWords {
  return encodeSte({ V: 1, CONFIG: STE_CFG.ABORT });
}

/** Bypass STE: V=1, Config=bypass, SHCFG=incoming (`arm_smmu_make_bypass_ste`). */
export function buildBypassSte(): SteWords {
  return encodeSte({ V: 1, CONFIG: STE_CFG.BYPASS, SHCFG: STE_SHCFG_INCOMING });
}

/** Inputs of buildS2Ste (§3.1 S2 fields). */
export interface S2SteParams {
  vmid: number;
  /**
   * Stage-2 table base, DW3[51:4]. The service may store a handle of the IOAS that backs
   * stage 2 here (the walk of a later issue resolves it); it must be 16-byte aligned.
   */
  s2ttb: bigint;
  /** VTCR fields (§3.1); defaults are 4 KiB granule, 48-bit IPA, start level 0, WBRA/ISH. */
  t0sz?: number;
  sl0?: number;
  tg?: number;
  ps?: number;
  ir0?: number;
  or0?: number;
  sh0?: number;
  /** EATS=TRANS: ATS enabled for the device (§3.3 attach rules). */
  ats?: boolean;
  /** S2FWB when the SMMU implements IDR3.FWB. */
  s2fwb?: boolean;
}

/**
 * Stage-2-only STE (`arm_smmu_make_s2_domain_ste`): Config=S2 translate, SHCFG incoming,
 * S2VMID, VTCR, S2AA64, S2PTW and S2R set, S2TTB.
 */
export function buildS2Ste(p: S2SteParams): SteWords {
  return encodeSte({
    V: 1,
    CONFIG: STE_CFG.S2_TRANS,
    SHCFG: STE_SHCFG_INCOMING,
    EATS: p.ats ? STE_EATS.TRANS : STE_EATS.ABT,
    S2FWB: p.s2fwb ? 1 : 0,
    S2VMID: p.vmid,
    S2T0SZ: p.t0sz ?? 16,
    S2SL0: p.sl0 ?? 2,
    S2TG: p.tg ?? 0,
    S2PS: p.ps ?? 5,
    S2IR0: p.ir0 ?? 1,
    S2OR0: p.or0 ?? 1,
    S2SH0: p.sh0 ?? 3,
    S2AA64: 1,
    S2PTW: 1,
    S2R: 1,
    S2TTB: p.s2ttb,
  });
}

/**
 * Physical STE for a device attached to a nested domain (`arm_smmu_make_nested_domain_ste`,
 * iommufd.md §3.3), from the guest vSTE (2 DWs) and the S2 STE of the nesting parent:
 * - vSTE V=0 or Config=abort (or any Config other than bypass/S1) → abort STE;
 * - Config=bypass → the parent's S2 STE ("translates the same as the nesting parent");
 * - Config=S1 translate → the parent's S2 STE with Config forced to NESTED (7), the guest's
 *   DW0 fields except Config OR-ed in, the guest's DW1 OR-ed in and MEV forced on.
 * Guest bits are limited to the NESTING_ALLOWED masks (the service rejects others with EIO
 * first). EATS is not taken from the guest: it is TRANS iff `ats` (default: vSTE EATS=TRANS),
 * as Linux strips EATS from the stored vSTE and enables ATS at attach.
 */
export function buildNestedSte(
  vste: readonly [bigint, bigint],
  s2Parent: ArrayLike<bigint>,
  opts: { ats?: boolean } = {},
): SteWords {
  const [v0, v1] = vste;
  const cfg = wordGet(vste, STE.CONFIG);
  if (wordGet(vste, STE.V) === 0 || (cfg !== STE_CFG.BYPASS && cfg !== STE_CFG.S1_TRANS)) return buildAbortSte();
  const out = steWords(s2Parent);
  if (cfg === STE_CFG.BYPASS) return out;
  const ats = opts.ats ?? wordGet(vste, STE.EATS) === STE_EATS.TRANS;
  out[0] |= v0 & STE_0_NESTING_ALLOWED & ~STE.CONFIG.inPlaceMask;
  wordSet(out, STE.CONFIG, STE_CFG.NESTED);
  out[1] |= v1 & STE_1_NESTING_ALLOWED & ~STE.EATS.inPlaceMask;
  wordSet(out, STE.EATS, ats ? STE_EATS.TRANS : STE_EATS.ABT);
  wordSet(out, STE.MEV, 1);
  return out;
}

/**
 * `arm_smmu_write_ste`: writes the STE of `sid` into the stream table, then
 * `arm_smmu_sync_ste_for_sid` issues CFGI_STE (leaf) and a CMD_SYNC through the main command
 * queue, so the SMMU drops its cached copy — visible in its executed commands like any other.
 */
export function installSte(smmu: Smmuv3, sid: number, ste: ArrayLike<bigint>): void {
  smmu.setSte(sid, ste);
  syncSte(smmu, sid);
}

/**
 * A device removed from the host (`arm_smmu_release_device`): its stream-table entry is cleared
 * (V=0) and, as for any STE write, CFGI_STE (leaf) and a CMD_SYNC drop the SMMU's cached copy.
 */
export function clearSte(smmu: Smmuv3, sid: number): void {
  smmu.clearSte(sid);
  syncSte(smmu, sid);
}

/** `arm_smmu_sync_ste_for_sid`: CFGI_STE (leaf) + the CMD_SYNC `issueCmdlist` appends. */
function syncSte(smmu: Smmuv3, sid: number): void {
  const cfgi = new Uint8Array(CMD_BYTES);
  wordsToBytes(encodeCommand('CFGI_STE', { SID: sid, LEAF: 1 }), cfgi, 0);
  issueCmdlist(smmu, cfgi, 0, 1);
}

// ---------------------------------------------------------------------------------------------
// The command queue: the CMD_SYNC `arm_smmu_cmdq_issue_cmdlist` appends, `__arm_smmu_cmdq_skip_err`.

/** `ARM_SMMU_SH_ISH`, `ARM_SMMU_MEMATTR_OIWB`: the MSI attributes Linux writes into CMD_SYNC. */
const ARM_SMMU_SH_ISH = 3;
const ARM_SMMU_MEMATTR_OIWB = 0xf;

/**
 * The CMD_SYNC Linux appends to a batch when the SMMU has no MSI (`arm_smmu_cmdq_build_sync_cmd`):
 * CS=SEV, MSH=ISH, MSIAttr=OIWB, i.e. DW0 0x0FC02046 (§1.4).
 */
export const LINUX_CMD_SYNC: CommandWords = encodeCommand('CMD_SYNC', {
  CS: CMD_SYNC_CS.SEV,
  MSH: ARM_SMMU_SH_ISH,
  MSIATTR: ARM_SMMU_MEMATTR_OIWB,
});

/**
 * `__arm_smmu_cmdq_skip_err` + the GERRORN write of the GERROR handler, on the main queue: for
 * CERROR_ILL the failing command is overwritten with LINUX_CMD_SYNC, then the error is
 * acknowledged and the queue restarts. CERROR_ABT and CERROR_ATC_INV_SYNC are only acknowledged
 * (the entry is retried).
 */
export function skipFailedCommand(smmu: Smmuv3): ConsumeResult {
  const q = smmu.cmdqState();
  if (q.stopped && q.err === CERROR.ILL) wordsToBytes(LINUX_CMD_SYNC, smmu.cmdqRing(), queueIndex(q.cons, q.log2Size) * CMD_BYTES);
  return smmu.acknowledgeError();
}

/** CMDQ_BATCH_ENTRIES − 1 on 64-bit: a batch of commands, leaving room for its CMD_SYNC. */
export const CMDQ_BATCH = 63;

const LINUX_CMD_SYNC_BYTES = (() => {
  const b = new Uint8Array(CMD_BYTES);
  wordsToBytes(LINUX_CMD_SYNC, b, 0);
  return b;
})();

/**
 * `arm_smmu_cmdq_issue_cmdlist(..., sync = true)`: `count` commands of `buf` from entry `start`,
 * then the driver's CMD_SYNC, through the main queue. Each time the SMMU stops on one of them,
 * the driver's GERROR handler skips it (`__arm_smmu_cmdq_skip_err`: CERROR_ILL is overwritten by
 * a CMD_SYNC, the others retried) and the queue goes on, so the batch and its CMD_SYNC always
 * complete. Returns how many times a command was refused.
 */
export function issueCmdlist(smmu: Smmuv3, buf: Uint8Array, start: number, count: number): number {
  let refused = 0;
  let result: { error: unknown } = smmu.submitCommands(buf, start * CMD_BYTES, count);
  // The queue holds the batch and then its CMD_SYNC: they are consumed in that order.
  let syncQueued = result.error === null;
  if (syncQueued) result = smmu.submitCommands(LINUX_CMD_SYNC_BYTES, 0, 1);
  while (result.error !== null && refused < count + 1) {
    refused++;
    result = skipFailedCommand(smmu);
    if (result.error === null && !syncQueued) {
      syncQueued = true;
      result = smmu.submitCommands(LINUX_CMD_SYNC_BYTES, 0, 1);
    }
  }
  // The driver waits for its CMD_SYNC: a queue that did not drain (disabled, still stopped, or a
  // batch that did not fit) is the CMD_SYNC timing out — never an acknowledged, silent no-op.
  const q = smmu.cmdqState();
  if (!syncQueued || q.stopped || q.pending !== 0) {
    throw new Error(`SMMU command queue did not complete the batch (CMD_SYNC timeout): ${JSON.stringify(q)}`);
  }
  return refused;
}

// ---------------------------------------------------------------------------------------------
// A guest's commands (`arm_vsmmu_convert_user_cmd`, arm-smmu-v3-iommufd.c).

/** What converting one guest command found. */
export type UserCmdVerdict = 'ok' | 'unknown-vsid' | 'not-allowed';

/**
 * `arm_vsmmu_convert_user_cmd`: rewrites the guest command at `off` of `view` in place for the
 * physical SMMU — the vIOMMU's VMID into every TLBI, TLBI_NSNH_ALL into TLBI_NH_ALL of that VMID
 * (every other bit cleared), the vSID of ATC_INV/CFGI_CD/CFGI_CD_ALL into the physical StreamID
 * through the vIOMMU's vDEVICEs. Any other opcode, CMD_SYNC and CFGI_STE included, is refused.
 */
export function convertUserCmd(view: DataView, off: number, vmid: number, streamIdOf: (vsid: number) => number | undefined): UserCmdVerdict {
  switch (cmdOpcode(view, off)) {
    case CMDQ_OP_TLBI_NSNH_ALL:
      view.setBigUint64(off, 0n, true);
      view.setBigUint64(off + 8, 0n, true);
      view.setUint8(off, CMDQ_OP_TLBI_NH_ALL);
      cmdSetVmid(view, off, vmid);
      return 'ok';
    case CMDQ_OP_TLBI_NH_VA:
    case CMDQ_OP_TLBI_NH_VAA:
    case CMDQ_OP_TLBI_NH_ALL:
    case CMDQ_OP_TLBI_NH_ASID:
      cmdSetVmid(view, off, vmid);
      return 'ok';
    case CMDQ_OP_ATC_INV:
    case CMDQ_OP_CFGI_CD:
    case CMDQ_OP_CFGI_CD_ALL: {
      const sid = streamIdOf(cmdGetSid(view, off));
      if (sid === undefined) return 'unknown-vsid';
      cmdSetSid(view, off, sid);
      return 'ok';
    }
    default:
      return 'not-allowed';
  }
}

// ---------------------------------------------------------------------------------------------
// How Linux encodes invalidations (§2.7): vector B, and the domain's invalidation path to come.

/** `CMDQ_TLBI_RANGE_NUM_MAX`. */
export const CMDQ_TLBI_RANGE_NUM_MAX = 31;


export interface TlbiRangeParams {
  /** TLBI_NH_VA, TLBI_EL2_VA or TLBI_S2_IPA. */
  command: 'TLBI_NH_VA' | 'TLBI_EL2_VA' | 'TLBI_S2_IPA';
  asid?: number;
  vmid?: number;
  iova: bigint;
  size: bigint;
  /** log2 of the size of the unmapped granule (leaf level size), e.g. 12 for a 4 KiB page. */
  granuleLog2: number;
  /** log2 of the smallest page size of the domain (12, 14 or 16). */
  pageLog2: number;
  leaf: boolean;
  /** IDR3.RIL: range invalidation supported. */
  ril: boolean;
}

/** Commands Linux `__arm_smmu_tlb_inv_range` builds for [iova, iova+size) (§2.7). */
export function buildTlbiRangeCommands(p: TlbiRangeParams): CommandWords[] {
  const out: CommandWords[] = [];
  const base: CommandFields = {};
  if (p.command !== 'TLBI_S2_IPA') base.ASID = p.asid ?? 0;
  if (p.command !== 'TLBI_EL2_VA') base.VMID = p.vmid ?? 0;
  base.LEAF = p.leaf ? 1 : 0;
  const end = p.iova + p.size;
  let iova = p.iova;
  if (!p.ril) {
    const step = 1n << BigInt(p.granuleLog2);
    for (; iova < end; iova += step) out.push(encodeCommand(p.command, { ...base, ADDR: iova }));
    return out;
  }
  const tg = p.pageLog2;
  let numPages = p.size >> BigInt(tg);
  const fields: CommandFields = { ...base, TG: (tg - 10) / 2 };
  if (p.leaf) fields.TTL = 4 - Math.floor((p.granuleLog2 - 3) / (tg - 3));
  else if ((numPages & BigInt(CMDQ_TLBI_RANGE_NUM_MAX)) === 1n) numPages++;
  while (iova < end && numPages > 0n) {
    let scale = 0n;
    while (((numPages >> scale) & 1n) === 0n) scale++;
    const num = (numPages >> scale) & BigInt(CMDQ_TLBI_RANGE_NUM_MAX);
    out.push(encodeCommand(p.command, { ...fields, SCALE: Number(scale), NUM: Number(num - 1n), ADDR: iova }));
    numPages -= num << scale;
    iova += num << (scale + BigInt(tg));
  }
  return out;
}

/**
 * The ATC_INV Linux `arm_smmu_atc_inv_to_cmd` builds (§2.7): 4 KiB pages; size 0 means
 * everything (Size 52); otherwise the smallest aligned power-of-two span covering the range.
 */
export function buildAtcInvCommand(p: { sid: number; ssid?: number; iova: bigint; size: bigint }): CommandWords {
  const fields: CommandFields = { SID: p.sid };
  if (p.ssid !== undefined) {
    fields.SSV = 1;
    fields.SSID = p.ssid;
  }
  if (p.size === 0n) return encodeCommand('ATC_INV', { ...fields, SIZE: ATC_INV_SIZE_ALL });
  const pageStart = p.iova >> 12n;
  const pageEnd = (p.iova + p.size - 1n) >> 12n;
  let log2Span = 0;
  for (let x = pageStart ^ pageEnd; x > 0n; x >>= 1n) log2Span++;
  const start = pageStart & ~((1n << BigInt(log2Span)) - 1n);
  return encodeCommand('ATC_INV', { ...fields, ADDR: start << 12n, SIZE: log2Span });
}

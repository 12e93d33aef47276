/** Shared setup for the hardware-model tests (smmuv3.md §8 common setup). */
import { CMD_BYTES } from '../../src/hw/commands.js';
import { wordsToBytes } from '../../src/hw/fields.js';
import { DEFAULT_IDR, type IdrRegisters } from '../../src/hw/idr.js';
import { encodeSte } from '../../src/hw/ste.js';
import { Smmuv3 } from '../../src/hw/smmu.js';
import { skipFailedCommand } from '../../src/domain/driver/arm-smmu-v3.js';
import type { IotlbEntry } from '../../src/hw/tlb.js';

/**
 * The SMMU as the vectors drive it: the hardware (src/hw/smmu.ts) with two shortcuts — an STE
 * written with the effect of its CFGI_STE but without queuing it (so a vector's command counts
 * are its own), and the host driver's way past a failed command
 * (src/domain/driver/arm-smmu-v3.ts).
 */
export class SmmuModel extends Smmuv3 {
  installSte(sid: number, words: ArrayLike<bigint>): void {
    this.setSte(sid, words);
    this.dropCachedConfig(sid);
  }
  skipFailedCommand() {
    return skipFailedCommand(this);
  }
}

/** QEMU default IDRs (§6.2): stage 1 only. */
export const QEMU_STAGE1_IDR: IdrRegisters = [0x0d44101a, 0x02730010, 0, 0x00001404, 0, 0x00000074];
/** QEMU "stage=2". */
export const QEMU_STAGE2_IDR: IdrRegisters = [0x0d441019, 0x02730010, 0, 0x00001414, 0, 0x00000074];
/** QEMU "nested". */
export const QEMU_NESTED_IDR: IdrRegisters = [0x0d44101b, 0x02730010, 0, 0x00001414, 0, 0x00000074];

/** §8 common setup: CMDQ LOG2SIZE 4 (16 entries), CR0 = 0xD, IRQ_CTRL = 0x5. */
export function vectorSmmu(idr: IdrRegisters = QEMU_STAGE1_IDR, iotlbSize?: number): SmmuModel {
  return new SmmuModel({ idr, cmdqLog2Size: 4, iotlbSize });
}

export function nestedSmmu(iotlbSize?: number): SmmuModel {
  return new SmmuModel({ idr: DEFAULT_IDR, cmdqLog2Size: 4, iotlbSize });
}

/**
 * A well-formed stage-2 STE (4 KiB granule, S2T0SZ 24, start level 1, 44-bit S2PS; §8 F) with
 * `over` applied: the STE decode (src/hw/config.ts) rejects S2 fields left at zero as C_BAD_STE.
 */
export function s2Ste(over: Parameters<typeof encodeSte>[0] = {}): bigint[] {
  return encodeSte({ V: 1, CONFIG: 6, S2TG: 0, S2T0SZ: 24, S2SL0: 1, S2PS: 4, S2AA64: 1, S2R: 1, ...over });
}

/** Packs (DW0, DW1) pairs into 16-byte little-endian entries. */
export function cmds(...words: Array<readonly [bigint, bigint]>): Uint8Array {
  const bytes = new Uint8Array(words.length * CMD_BYTES);
  words.forEach((w, i) => wordsToBytes(w, bytes, i * CMD_BYTES));
  return bytes;
}

/** Writes (DW0, DW1) into slot `index` of the model's main command queue. */
export function putSlot(smmu: SmmuModel, index: number, words: readonly [bigint, bigint]): void {
  wordsToBytes(words, smmu.cmdqRing(), index * CMD_BYTES);
}

/** An IOTLB entry as §8 writes them: (asid, vmid, iova, size), 4 KiB granule (tg 1). */
export function tlbEntry(asid: number, vmid: number, iova: bigint, size: bigint = 0x1000n): IotlbEntry {
  const level = size === 0x1000n ? 3 : size === 0x200000n ? 2 : size === 0x40000000n ? 1 : 3;
  return { asid, vmid, iova, tg: 1, level, addrMask: size - 1n, translatedAddr: iova | 0x80000000n, perm: 3 };
}

/** Entries present as "asid/vmid/iova" strings, sorted. */
export function tlbContents(smmu: SmmuModel): string[] {
  return smmu.iotlb
    .entries()
    .map((e) => `${e.asid}/${e.vmid}/0x${e.iova.toString(16)}`)
    .sort();
}

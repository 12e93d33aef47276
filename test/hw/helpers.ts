/** Shared setup for the hardware-model tests (smmuv3.md §8 common setup). */
import { CMD_BYTES } from '../../src/hw/commands.js';
import { wordsToBytes } from '../../src/hw/fields.js';
import { encodeCd } from '../../src/hw/cd.js';
import { decodeEvent, EVT_ID } from '../../src/hw/events.js';
import { DEFAULT_IDR, setIdrField, type IdrRegisters } from '../../src/hw/idr.js';
import { encodeSte, STE_CFG } from '../../src/hw/ste.js';
import { Smmuv3 } from '../../src/hw/smmu.js';
import { skipFailedCommand } from '../../src/domain/driver/arm-smmu-v3.js';
import type { IotlbEntry } from '../../src/hw/tlb.js';
import type { TranslateResult } from '../../src/hw/translate.js';
import type { WalkMemory } from '../../src/hw/walk.js';

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

// ---------------------------------------------------------------------------------------------
// Memory the SMMU reads, and a page-table writer.

/** Test memory: explicit 64-bit words plus zero-filled backed regions; anything else is unbacked (a bus error). */
export class TestMemory implements WalkMemory {
  readonly words = new Map<bigint, bigint>();
  private readonly regions: Array<[bigint, bigint]> = [];
  reads: bigint[] = [];

  read64(pa: bigint): bigint | null {
    this.reads.push(pa);
    const w = this.words.get(pa);
    if (w !== undefined) return w;
    return this.regions.some(([s, e]) => pa >= s && pa + 8n <= e) ? 0n : null;
  }

  back(start: bigint, size: bigint): void {
    this.regions.push([start, start + size]);
  }

  set(pa: bigint, value: bigint): void {
    this.words.set(pa, value);
  }

  setWords(pa: bigint, words: readonly bigint[]): void {
    words.forEach((w, i) => this.words.set(pa + BigInt(i * 8), w));
  }

  unback(start: bigint, size: bigint): void {
    for (let i = this.regions.length - 1; i >= 0; i--) if (this.regions[i][0] === start && this.regions[i][1] === start + size) this.regions.splice(i, 1);
    for (const k of [...this.words.keys()]) if (k >= start && k < start + size) this.words.delete(k);
  }
}

const TABLE = 3n;

function mask(bits: number): bigint {
  return (1n << BigInt(bits)) - 1n;
}

/**
 * Page-table writer with the start level stated by the vector (not computed from the model):
 * index at the start level uses every bit between the input size and the level's shift
 * (concatenated tables for stage 2), lower levels use `granule − 3` bits.
 */
export class Tables {
  private next: bigint;
  constructor(
    private readonly mem: TestMemory,
    readonly granule: number,
    readonly startLevel: number,
    readonly inputSize: number,
    readonly root: bigint,
    pool: bigint,
  ) {
    this.next = pool;
    const rootBytes = 8n << BigInt(inputSize - this.shift(startLevel));
    mem.back(root, rootBytes < 8n ? 8n : rootBytes);
  }

  shift(level: number): number {
    return this.granule + (3 - level) * (this.granule - 3);
  }

  index(level: number, va: bigint): bigint {
    const bits = level === this.startLevel ? this.inputSize - this.shift(level) : this.granule - 3;
    return (va >> BigInt(this.shift(level))) & mask(bits);
  }

  /** Address of the descriptor for `va` at `level`, creating tables above it. */
  slot(va: bigint, level: number): bigint {
    let table = this.root;
    for (let l = this.startLevel; l < level; l++) {
      const addr = table + this.index(l, va) * 8n;
      const cur = this.mem.words.get(addr);
      if (cur !== undefined && (cur & 3n) === TABLE) {
        table = cur & mask(48) & ~mask(this.granule);
      } else {
        const t = this.next;
        this.next += 1n << BigInt(this.granule);
        this.mem.back(t, 1n << BigInt(this.granule));
        this.mem.set(addr, t | TABLE);
        table = t;
      }
    }
    return table + this.index(level, va) * 8n;
  }

  /** Writes a leaf (page at level 3, block above) for `va`. */
  map(va: bigint, pte: bigint, level = 3): bigint {
    const a = this.slot(va, level);
    this.mem.set(a, pte);
    return a;
  }
}


// ---------------------------------------------------------------------------------------------
// Substreams (test/hw/substream-*.test.ts): CDs that each map one IOVA to their own PA.

/** The default SMMU (SSIDSIZE 20, nesting, ATS) with 2-level CD tables (IDR0.CD2L). */
export const SUBSTREAM_IDR: IdrRegisters = setIdrField(DEFAULT_IDR, 'CD2L', 1);
/** The IOVA every test CD maps (4 KiB, T0SZ 25: start level 1). */
export const CD_IOVA = 0x4020_1000n;
/** Stage-1 leaf bits: AF, page. */
export const S1_PAGE = (1n << 10n) | 3n;

/** The PA the CD tagged `tag` maps CD_IOVA to. */
export function paOfTag(tag: number): bigint {
  return 0xa000_0000n + BigInt(tag) * 0x10_0000n;
}

/** A valid CD (4 KiB, T0SZ 25, IPS 44 bits, R=1, TT1 disabled). */
export function testCd(asid: number, ttb: bigint, over: Parameters<typeof encodeCd>[0] = {}): bigint[] {
  return encodeCd({ T0SZ: 25, TG0: 0, EPD1: 1, V: 1, IPS: 4, AA64: 1, A: 1, R: 1, ASID: asid, TTB0: ttb, ...over });
}

/** The stage-1 tables of tag `tag` (root at 0x100_0000 + tag·64 KiB). */
export function ttbOfTag(tag: number): bigint {
  return 0x100_0000n + BigInt(tag) * 0x1_0000n;
}

/**
 * Writes at `cdAddr` the CD tagged `tag`: ASID `asid` (default 100 + tag), tables at ttbOfTag(tag)
 * mapping CD_IOVA to paOfTag(tag) (unless `ttb` names tables written elsewhere). Returns the leaf's address.
 */
export function putCd(mem: TestMemory, cdAddr: bigint, tag: number, opts: { asid?: number; ttb?: bigint; cd?: Parameters<typeof encodeCd>[0] } = {}): bigint | null {
  const ttb = opts.ttb ?? ttbOfTag(tag);
  mem.setWords(cdAddr, testCd(opts.asid ?? 100 + tag, ttb, opts.cd));
  if (opts.ttb !== undefined) return null;
  return new Tables(mem, 12, 1, 39, ttb, ttb + 0x1000n).map(CD_IOVA, paOfTag(tag) | S1_PAGE);
}

/** Offset from an IPA to its PA in NestedMemory. */
export const IPA_TO_PA = 0x10_0000_0000n;

/**
 * Memory of a nested stream: stage 2 is the `stage2` resolver, mapping the IPA pages listed with
 * `mapIpa` to PA = IPA + IPA_TO_PA (read/write, 4 KiB); any other IPA is a stage-2 translation fault.
 */
export class NestedMemory extends TestMemory {
  readonly ipaPages = new Set<bigint>();
  readonly stage2 = (_s2ttb: bigint, ipa: bigint): { pa: bigint; read: boolean; write: boolean; pageLog2: number } | null =>
    this.ipaPages.has(ipa & ~0xfffn) ? { pa: ipa + IPA_TO_PA, read: true, write: true, pageLog2: 12 } : null;

  mapIpa(ipa: bigint, size = 0x1000n): void {
    for (let p = ipa & ~0xfffn; p < ipa + size; p += 0x1000n) this.ipaPages.add(p);
  }

  /** Writes words at IPA `ipa` (at its PA) and maps their page. */
  setIpaWords(ipa: bigint, words: readonly bigint[]): void {
    this.mapIpa(ipa, BigInt(words.length * 8));
    this.setWords(ipa + IPA_TO_PA, words);
  }

  /** putCd at IPA `cdIpa`, with the stage-1 tables in IPA space (all mapped). */
  putCdAtIpa(cdIpa: bigint, tag: number, opts: { asid?: number; cd?: Parameters<typeof encodeCd>[0] } = {}): void {
    const scratch = new TestMemory();
    putCd(scratch, cdIpa, tag, opts);
    for (const [ipa, w] of scratch.words) this.setIpaWords(ipa, [w]);
  }
}

/** The failure of a translation that must fail with `type` (its record, if any, checked to carry that ID). */
export function expectFault(r: TranslateResult, type: keyof typeof EVT_ID): Extract<TranslateResult, { ok: false }> {
  if (r.ok) throw new Error(`expected ${type}, got success pa=0x${r.pa.toString(16)}`);
  if (r.fault.type !== type) throw new Error(`expected ${type}, got ${r.fault.type}`);
  if (r.event !== null && decodeEvent(r.event).name !== type) throw new Error(`event record is not ${type}`);
  return r;
}

/** The success of a translation that must succeed. */
export function expectOk(r: TranslateResult): Extract<TranslateResult, { ok: true }> {
  if (!r.ok) throw new Error(`expected success, got ${r.fault.type}`);
  return r;
}

// ---------------------------------------------------------------------------------------------
// Substream vectors (substream-vectors-g, substream-cache-vectors-h): one stage-1 stream.

/** The StreamID of the substream vectors. */
export const SUBSTREAM_SID = 8;
/** Its CD table (or level-1 table). */
export const SUBSTREAM_CDT = 0x40_0000n;

/** A valid stage-1 STE of the substream vectors, pointing at SUBSTREAM_CDT, with `f` on top. */
export function substreamSte(f: Parameters<typeof encodeSte>[0]): bigint[] {
  return encodeSte({ V: 1, CONFIG: STE_CFG.S1_TRANS, S1CONTEXTPTR: SUBSTREAM_CDT, ...f });
}

/** One access of the substream stream at CD_IOVA, with or without an SSID. */
export function substreamTranslate(smmu: SmmuModel, mem: WalkMemory, ssid?: number, access: 'read' | 'write' = 'read'): TranslateResult {
  return smmu.translate({ sid: SUBSTREAM_SID, ssid, iova: CD_IOVA, access }, mem);
}


/**
 * Per-device Address Translation Cache for ATS-enabled streams (project decision in smmuv3.md:
 * "An ATC per device is modelled for devices whose STE enables ATS (EATS=1)"). ATC_INV removes
 * by StreamID, SubstreamID (only when SSV=1), Global, Address and Size exactly as the command
 * encodes them (§1.3: Size = log2 of the number of 4 KiB pages, 52 = everything).
 *
 * Global (IHI0070 §4.5.1 CMD_ATC_INV; PCIe ATS Invalidate Request): with SSV=1, G=1 sets the
 * Global Invalidate flag, which also reaches the entries of other PASIDs that their translation
 * completion marked Global; G is IGNORED when SSV=0 (the request has no PASID and hits every
 * entry of the range, whatever its PASID: Linux `arm_smmu_atc_inv_to_cmd`). The SMMU never
 * returns a Global translation for a request with a PASID (IHI0070 §3.9.1), so the entries it
 * fills are never Global and G=1 removes nothing more than G=0 there; only a device's own
 * Global entries (`AtcEntry.global`) make the difference.
 */
import { ATC_INV_SIZE_ALL } from './commands.js';

/** One ATC entry: an ATS translation a device holds (smmuv3.md Decisions). */
export interface AtcEntry {
  sid: number;
  /** SubstreamID the translation was requested with; −1 for a request without PASID. */
  ssid: number;
  /** Start of the translated range (aligned to addrMask + 1). */
  iova: bigint;
  addrMask: bigint;
  translatedAddr: bigint;
  perm: number;
  /** PCIe Global Mapping of a translation with a PASID (valid for every PASID); never set by the SMMU (IHI0070 §3.9.1). */
  global?: boolean;
}

/** ATC counters for the service's stats. */
export interface AtcStats {
  entries: number;
  devices: number;
}

const U64 = (1n << 64n) - 1n;

function key(ssid: number, iova: bigint): string {
  return `${ssid}/${iova.toString(16)}`;
}

/** The ATCs of every ATS-enabled device behind one SMMU, keyed by StreamID. */
export class Atc {
  private readonly devices = new Map<number, Map<string, AtcEntry>>();

  /** Fills the ATC of `entry.sid` (an ATS translation completion). */
  insert(entry: AtcEntry): void {
    const { sid, ssid, iova, addrMask } = entry;
    if (!Number.isInteger(sid) || sid < 0 || sid > 0xffffffff) throw new RangeError('ATC entry: bad sid');
    if (!Number.isInteger(ssid) || ssid < -1 || ssid > 0xfffff) throw new RangeError('ATC entry: ssid must be −1..2^20−1');
    if (addrMask < 0n || (addrMask & (addrMask + 1n)) !== 0n || (iova & addrMask) !== 0n || iova < 0n || iova > U64) {
      throw new RangeError('ATC entry: addrMask must be 2^n − 1 and iova aligned to it');
    }
    let dev = this.devices.get(sid);
    if (dev === undefined) {
      dev = new Map();
      this.devices.set(sid, dev);
    }
    dev.set(key(ssid, iova), { ...entry });
  }

  /** The entry of (sid, ssid) that contains `iova`, if any. */
  lookup(sid: number, ssid: number, iova: bigint): AtcEntry | undefined {
    const dev = this.devices.get(sid);
    if (dev === undefined) return undefined;
    for (const e of dev.values()) {
      if (e.ssid === ssid && (iova & ~e.addrMask) === e.iova) return { ...e };
    }
    return undefined;
  }

  /**
   * ATC_INV semantics: entries of `sid` overlapping [Address, Address + 2^(Size+12)) with Address
   * aligned down to that span; Size ≥ 52 covers everything. With SSV=0 the invalidation carries
   * no PASID and so hits entries of every SSID (PCIe ATS; Linux `arm_smmu_atc_inv_to_cmd`
   * comment), Global ignored; with SSV=1 entries of that SSID, and with Global=1 also the Global
   * entries of any SSID (see the file comment). Returns the number removed.
   */
  invalidate(sid: number, ssv: boolean, ssid: number, address: bigint, size: number, global = false): number {
    const dev = this.devices.get(sid);
    if (dev === undefined) return 0;
    let start = 0n;
    let last = U64;
    if (size < ATC_INV_SIZE_ALL) {
      const spanMask = (1n << BigInt(size + 12)) - 1n;
      start = address & ~spanMask & U64;
      last = start + spanMask;
    }
    let n = 0;
    for (const [k, e] of dev) {
      if (ssv && e.ssid !== ssid && !(global && e.global === true)) continue;
      if (e.iova <= last && e.iova + e.addrMask >= start) {
        dev.delete(k);
        n++;
      }
    }
    if (dev.size === 0) this.devices.delete(sid);
    return n;
  }

  /** Drops every entry of a device (e.g. ATS disabled for it). */
  clearDevice(sid: number): number {
    const n = this.devices.get(sid)?.size ?? 0;
    this.devices.delete(sid);
    return n;
  }

  /** Empties every device's ATC (reset). */
  clear(): void {
    this.devices.clear();
  }

  /** Snapshot of the entries, of one device or of all. */
  entries(sid?: number): AtcEntry[] {
    const devs = sid === undefined ? [...this.devices.values()] : [this.devices.get(sid) ?? new Map<string, AtcEntry>()];
    return devs.flatMap((d) => [...d.values()].map((e) => ({ ...e })));
  }

  stats(): AtcStats {
    let entries = 0;
    for (const d of this.devices.values()) entries += d.size;
    return { entries, devices: this.devices.size };
  }
}

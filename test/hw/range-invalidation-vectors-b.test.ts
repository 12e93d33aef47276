import { describe, expect, it } from 'vitest';
import { decodeCommand, encodeCommand, type CommandWords } from '../../src/hw/commands.js';
import { buildAtcInvCommand, buildTlbiRangeCommands } from '../../src/domain/driver/arm-smmu-v3.js';
import type { SmmuModel } from './helpers.js';
import { encodeSte } from '../../src/hw/ste.js';
import { rangeInvalPieces } from '../../src/hw/range-inval.js';
import { setIdrField } from '../../src/hw/idr.js';
import { cmds, QEMU_STAGE1_IDR, tlbContents, tlbEntry, vectorSmmu } from './helpers.js';

// Section B runs on a stage-1 SMMU, so every IOTLB entry and TLBI uses vmid −1.
const V = -1;

function run(smmu: SmmuModel, ...commands: CommandWords[]): void {
  const r = smmu.submitCommands(cmds(...commands));
  expect(r.error).toBeNull();
  expect(r.consumed).toBe(commands.length);
}

function fill(smmu: SmmuModel, asid: number, from: bigint, count: number, step = 0x1000n): void {
  for (let i = 0; i < count; i++) smmu.iotlbInsert(tlbEntry(asid, V, from + BigInt(i) * step));
}

function hasPage(smmu: SmmuModel, asid: number, iova: bigint, size = 0x1000n): boolean {
  const e = tlbEntry(asid, V, iova, size);
  return smmu.iotlb.has(e);
}

describe('§8 B: range invalidation (stage-1 SMMU, vmid −1)', () => {
  it('B17: TLBI_NH_VA ASID 5 TG=1 NUM=3 SCALE=1 at 0x10000 covers [0x10000, 0x17FFF] in one piece', () => {
    const words: CommandWords = [0x0005_0000_0010_3012n, 0x0000_0000_0001_0701n];
    expect(decodeCommand(words)).toEqual({
      opcode: 0x12,
      name: 'TLBI_NH_VA',
      fields: { NUM: 3, SCALE: 1, VMID: 0, ASID: 5, LEAF: 1, TTL: 3, TG: 1, ADDR: 0x10000n },
    });
    expect(encodeCommand('TLBI_NH_VA', { ASID: 5, TG: 1, NUM: 3, SCALE: 1, TTL: 3, LEAF: 1, ADDR: 0x10000n })).toEqual(words);
    expect(rangeInvalPieces(0x10000n, 1, 3, 1)).toEqual([{ addr: 0x10000n, mask: 0x7fffn }]);

    const smmu = vectorSmmu();
    fill(smmu, 5, 0x10000n, 9); // 0x10000..0x18000
    smmu.iotlbInsert(tlbEntry(5, V, 0x0n, 0x200000n));
    smmu.iotlbInsert(tlbEntry(6, V, 0x10000n));
    run(smmu, words);
    expect(tlbContents(smmu)).toEqual(['5/-1/0x18000', '6/-1/0x10000']);
  });

  it('B18: the same command at 0x11000 splits into 4K, 8K, 16K, 4K pieces covering [0x11000, 0x18FFF]', () => {
    expect(rangeInvalPieces(0x11000n, 1, 3, 1)).toEqual([
      { addr: 0x11000n, mask: 0xfffn },
      { addr: 0x12000n, mask: 0x1fffn },
      { addr: 0x14000n, mask: 0x3fffn },
      { addr: 0x18000n, mask: 0xfffn },
    ]);
    const smmu = vectorSmmu();
    fill(smmu, 5, 0x10000n, 10); // 0x10000..0x19000
    run(smmu, encodeCommand('TLBI_NH_VA', { ASID: 5, TG: 1, NUM: 3, SCALE: 1, TTL: 3, LEAF: 1, ADDR: 0x11000n }));
    expect(tlbContents(smmu)).toEqual(['5/-1/0x10000', '5/-1/0x19000']);
  });

  it('B19: granule/size decode for TG=2, TG=3 NUM=31 and TG=1 SCALE=5', () => {
    const cases: Array<{ tg: number; num: number; scale: number; addr: bigint; last: bigint }> = [
      { tg: 2, num: 0, scale: 0, addr: 0x40000n, last: 0x43fffn },
      { tg: 3, num: 31, scale: 0, addr: 0x200000n, last: 0x3fffffn },
      { tg: 1, num: 0, scale: 5, addr: 0x100000n, last: 0x11ffffn },
    ];
    for (const c of cases) {
      const pieces = rangeInvalPieces(c.addr, c.tg, c.num, c.scale);
      expect(pieces[0].addr).toBe(c.addr);
      const lastPiece = pieces[pieces.length - 1];
      expect(lastPiece.addr + lastPiece.mask).toBe(c.last);

      const smmu = vectorSmmu();
      for (const iova of [c.addr - 0x1000n, c.addr, c.last - 0xfffn, c.last + 1n]) smmu.iotlbInsert(tlbEntry(1, V, iova));
      run(smmu, encodeCommand('TLBI_NH_VA', { ASID: 1, TG: c.tg, NUM: c.num, SCALE: c.scale, ADDR: c.addr }));
      expect(tlbContents(smmu)).toEqual(
        [`1/-1/0x${(c.addr - 0x1000n).toString(16)}`, `1/-1/0x${(c.last + 1n).toString(16)}`].sort(),
      );
    }
  });

  it('B20: TG=0 ignores TTL and removes every ASID-1 entry containing 0x5000 or inside [0x5000, 0x5FFF]', () => {
    const smmu = vectorSmmu();
    smmu.iotlbInsert(tlbEntry(1, V, 0x5000n));
    smmu.iotlbInsert(tlbEntry(1, V, 0x0n, 0x200000n));
    smmu.iotlbInsert(tlbEntry(1, V, 0x6000n));
    smmu.iotlbInsert(tlbEntry(2, V, 0x5000n));
    run(smmu, encodeCommand('TLBI_NH_VA', { ASID: 1, TG: 0, TTL: 3, ADDR: 0x5000n }));
    expect(tlbContents(smmu)).toEqual(['1/-1/0x6000', '2/-1/0x5000']);
  });

  it('B21: TG=1 NUM=0 SCALE=0 TTL=3 removes only the exact level-3 key; a lone 2 MiB block falls to the overlap rule', () => {
    const smmu = vectorSmmu();
    smmu.iotlbInsert(tlbEntry(1, V, 0x5000n));
    smmu.iotlbInsert(tlbEntry(1, V, 0x0n, 0x200000n));
    const cmd = encodeCommand('TLBI_NH_VA', { ASID: 1, TG: 1, NUM: 0, SCALE: 0, TTL: 3, LEAF: 1, ADDR: 0x5000n });
    run(smmu, cmd);
    expect(hasPage(smmu, 1, 0x5000n)).toBe(false);
    expect(hasPage(smmu, 1, 0x0n, 0x200000n)).toBe(true);

    const blockOnly = vectorSmmu();
    blockOnly.iotlbInsert(tlbEntry(1, V, 0x0n, 0x200000n));
    run(blockOnly, cmd);
    expect(blockOnly.iotlb.size).toBe(0);
  });

  it('B22: TLBI_NH_VAA over [0x10000, 0x17FFF] removes entries of every ASID in the range', () => {
    const smmu = vectorSmmu();
    fill(smmu, 5, 0x10000n, 9);
    fill(smmu, 6, 0x14000n, 2);
    smmu.iotlbInsert(tlbEntry(-1, V, 0x12000n));
    smmu.iotlbInsert(tlbEntry(7, V, 0x20000n));
    run(smmu, encodeCommand('TLBI_NH_VAA', { TG: 1, NUM: 3, SCALE: 1, ADDR: 0x10000n }));
    expect(tlbContents(smmu)).toEqual(['5/-1/0x18000', '7/-1/0x20000']);
  });

  it('B23: any 4 KiB TLBI_NH_VA inside a level-2 2 MiB block removes the whole block', () => {
    for (const [tg, ttl] of [
      [0, 0],
      [1, 3],
      [1, 2],
    ]) {
      const smmu = vectorSmmu();
      smmu.iotlbInsert(tlbEntry(3, V, 0x40000000n, 0x200000n));
      run(smmu, encodeCommand('TLBI_NH_VA', { ASID: 3, TG: tg, TTL: ttl, ADDR: 0x40123000n }));
      expect(smmu.iotlb.size).toBe(0);
    }
  });

  it('B24: Linux emission of a 35 × 4 KiB leaf unmap at 0x100000 is two commands covering [0x100000, 0x122FFF]', () => {
    const commands = buildTlbiRangeCommands({
      command: 'TLBI_NH_VA',
      asid: 1,
      vmid: 0,
      iova: 0x100000n,
      size: 35n * 0x1000n,
      granuleLog2: 12,
      pageLog2: 12,
      leaf: true,
      ril: true,
    });
    expect(commands.map((c) => decodeCommand(c).fields)).toEqual([
      { NUM: 2, SCALE: 0, VMID: 0, ASID: 1, LEAF: 1, TTL: 3, TG: 1, ADDR: 0x100000n },
      { NUM: 0, SCALE: 5, VMID: 0, ASID: 1, LEAF: 1, TTL: 3, TG: 1, ADDR: 0x103000n },
    ]);
    const smmu = vectorSmmu();
    fill(smmu, 1, 0xff000n, 37); // 0xFF000..0x123000
    run(smmu, ...commands);
    expect(tlbContents(smmu)).toEqual(['1/-1/0x123000', '1/-1/0xff000']);
  });

  it('B25: Linux non-leaf single-page invalidation is bumped to 2 pages: NUM=0, SCALE=1, TTL=0', () => {
    const commands = buildTlbiRangeCommands({
      command: 'TLBI_NH_VA',
      asid: 1,
      iova: 0x5000n,
      size: 0x1000n,
      granuleLog2: 12,
      pageLog2: 12,
      leaf: false,
      ril: true,
    });
    expect(commands).toHaveLength(1);
    expect(decodeCommand(commands[0]).fields).toMatchObject({ NUM: 0, SCALE: 1, TTL: 0, TG: 1, LEAF: 0, ADDR: 0x5000n });
    // Without RIL Linux sends one non-range command per granule.
    const noRil = buildTlbiRangeCommands({
      command: 'TLBI_NH_VA',
      asid: 1,
      iova: 0x5000n,
      size: 0x2000n,
      granuleLog2: 12,
      pageLog2: 12,
      leaf: true,
      ril: false,
    });
    expect(noRil.map((c) => decodeCommand(c).fields)).toMatchObject([
      { TG: 0, NUM: 0, SCALE: 0, ADDR: 0x5000n },
      { TG: 0, NUM: 0, SCALE: 0, ADDR: 0x6000n },
    ]);
    const smmu = vectorSmmu();
    fill(smmu, 1, 0x4000n, 4); // 0x4000..0x7000
    run(smmu, ...commands);
    expect(tlbContents(smmu)).toEqual(['1/-1/0x4000', '1/-1/0x7000']);
  });

  it('B26: Linux ATC_INV for iova 0x5000 size 0x3000 is Address 0x4000 Size 2 (pages 4..7); size 0 is Size 52', () => {
    const cmd = buildAtcInvCommand({ sid: 8, iova: 0x5000n, size: 0x3000n });
    expect(decodeCommand(cmd)).toEqual({
      opcode: 0x40,
      name: 'ATC_INV',
      fields: { GLOBAL: 0, SSV: 0, SSID: 0, SID: 8, SIZE: 2, ADDR: 0x4000n },
    });
    const all = buildAtcInvCommand({ sid: 8, iova: 0x5000n, size: 0n });
    expect(decodeCommand(all).fields).toMatchObject({ SIZE: 52, ADDR: 0n });

    // A stage-1 SMMU with IDR0.ATS (QEMU's accel "ats" property), so SID 8 has an ATC.
    const smmu = vectorSmmu(setIdrField(QEMU_STAGE1_IDR, 'ATS', 1));
    smmu.installSte(8, encodeSte({ V: 1, CONFIG: 5, EATS: 1 }));
    for (let page = 3n; page <= 8n; page++) {
      expect(smmu.atcInsert({ sid: 8, ssid: -1, iova: page << 12n, addrMask: 0xfffn, translatedAddr: 0n, perm: 3 })).toBe(true);
    }
    run(smmu, cmd);
    expect(smmu.atc.entries(8).map((e) => e.iova)).toEqual([0x3000n, 0x8000n]);
    run(smmu, all);
    expect(smmu.stats().atc).toEqual({ entries: 0, devices: 0 });
  });
});

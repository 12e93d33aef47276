/**
 * Substreams end to end over HTTP (issue 11, "the identity STE with PASID"):
 * - a guest whose vSTE translates PASIDs through its own CD table (S1CDMAX, linear S1FMT) while
 *   transactions without a PASID bypass stage 1 (S1DSS=bypass: stage 2 only); two PASIDs map the
 *   same IOVA through different page tables; a rewritten CD stays stale until CFGI_CD of its SSID
 *   arrives through the vIOMMU (CFGI_CD of another SSID leaves it);
 * - the host's own PASID attach: a DMA with the PASID walks the CD the driver wrote, one without
 *   is terminated by S1DSS.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_IDR, encodeCd, encodeCommand, setIdrField, type CommandName } from '../src/hw/index.js';
import { buildViommu, deviceByName, must, startApp, type TestApp } from './helper.js';

const hex = (v: bigint | number): string => '0x' + v.toString(16);
const RAM_LENGTH = 0x100_0000n; // 16 MiB of guest RAM at IPA 0
const CD_TABLE = 0x1_0000n;
const S1CDMAX = 4; // 16 CDs
const IOVA = 0x4020_1000n; // L1 index 1, L2 index 1, L3 index 1 (T0SZ 25: start level 1)
const IOVA2 = IOVA + 0x1000n; // L3 index 2
const VSID = 0x10;
const AF = 1n << 10n;
const TABLE = 3n;
const PAGE = 3n;
const S1DSS_BYPASS = 1n;

/** One PASID's stage-1 tables: IOVA → ipa, IOVA2 → ipa2. */
interface Tables {
  l1: bigint;
  ipa: bigint;
  ipa2: bigint;
}
const A: Tables = { l1: 0x2_0000n, ipa: 0x10_0000n, ipa2: 0x11_0000n };
const B: Tables = { l1: 0x3_0000n, ipa: 0x20_0000n, ipa2: 0x21_0000n };

function bytesOf(words: bigint[]): Buffer {
  const b = Buffer.alloc(words.length * 8);
  words.forEach((w, i) => b.writeBigUInt64LE(w, i * 8));
  return b;
}

let t: TestApp;
beforeEach(async () => {
  t = await startApp();
});
afterEach(async () => {
  await t.close();
});

async function writeGuest(ioas: number, ipa: bigint, words: bigint[]): Promise<void> {
  const body = bytesOf(words);
  must(await t.req('PUT', `/v1/ioas/${ioas}/memory?iova=${hex(ipa)}&length=${hex(body.length)}`, body, { 'content-type': 'application/octet-stream' }), 200);
}

async function writeTables(ioas: number, tb: Tables): Promise<void> {
  const l2 = tb.l1 + 0x1000n;
  const l3 = tb.l1 + 0x2000n;
  await writeGuest(ioas, tb.l1 + 8n, [l2 | TABLE]);
  await writeGuest(ioas, l2 + 8n, [l3 | TABLE]);
  await writeGuest(ioas, l3 + 8n, [tb.ipa | AF | PAGE, tb.ipa2 | AF | PAGE]);
}

const cd = (asid: number, ttb0: bigint): bigint[] => encodeCd({ T0SZ: 25, TG0: 0, EPD1: 1, V: 1, IPS: 4, AA64: 1, A: 1, R: 1, ASID: asid, TTB0: ttb0 });

function entry(name: CommandName, fields: Record<string, number | bigint>): [string, string] {
  const [w0, w1] = encodeCommand(name, fields);
  return [hex(w0!), hex(w1!)];
}

async function translate(dev: number, iova: bigint, ssid?: number) {
  return must(await t.req('POST', `/v1/devices/${dev}/translate`, { iova: hex(iova), access: 'read', ...(ssid === undefined ? {} : { ssid }) }), 200);
}

/** A guest device whose vSTE has a 16-entry CD table, S1DSS=bypass, CDs 1 (tables A) and 2 (tables B). */
async function guest() {
  const g = await buildViommu(t, { device: 'gpu0' });
  const mapping = must(await t.req('POST', `/v1/ioas/${g.ioas}/mappings`, { iova: '0x0', length: hex(RAM_LENGTH) }), 201);
  const hostBase = BigInt(mapping.hostAddress);
  await writeTables(g.ioas, A);
  await writeTables(g.ioas, B);
  await writeGuest(g.ioas, CD_TABLE + 64n, cd(1, A.l1));
  await writeGuest(g.ioas, CD_TABLE + 128n, cd(2, B.l1));
  must(await t.req('POST', '/v1/vdevices', { viommuId: g.viommu, deviceId: g.dev, virtId: VSID }), 201);
  const ste0 = CD_TABLE | 0xbn | (BigInt(S1CDMAX) << 59n);
  const nested = must(await t.req('POST', '/v1/hwpts', { deviceId: g.dev, ptId: g.viommu, data: { type: 'arm_smmuv3', ste: [hex(ste0), hex(S1DSS_BYPASS)] } }), 201);
  expect(nested.vste).toMatchObject({ config: 's1_translate', s1CdMax: S1CDMAX, s1Dss: 1 });
  must(await t.req('PUT', `/v1/devices/${g.dev}/attachment`, { ptId: nested.id }), 200);
  const eventq = must(await t.req('POST', '/v1/eventqs', { viommuId: g.viommu, type: 'arm_smmuv3', depth: 8 }), 201).id;
  return { ...g, hostBase, eventq };
}

describe('guest substreams: the identity STE with PASID (S1DSS=bypass, two PASIDs)', () => {
  it('PASID 1 and PASID 2 translate the same IOVA through their own CDs and tables; no PASID bypasses stage 1', async () => {
    const vm = await guest();
    expect((await translate(vm.dev, IOVA, 1)).pa).toBe(hex(vm.hostBase + A.ipa));
    expect((await translate(vm.dev, IOVA, 2)).pa).toBe(hex(vm.hostBase + B.ipa));
    // S1DSS=bypass: the IOVA is an IPA, translated by stage 2 only.
    expect((await translate(vm.dev, 0x5123n)).pa).toBe(hex(vm.hostBase + 0x5123n));
  });

  it('a PASID beyond S1CDMAX is C_BAD_SUBSTREAMID and a CD with V=0 is C_BAD_CD, forwarded with the vSID, SSV and SSID', async () => {
    const vm = await guest();
    const beyond = await translate(vm.dev, IOVA, 1 << S1CDMAX);
    expect(beyond.fault.type).toBe('C_BAD_SUBSTREAMID');
    expect(beyond.forwarded).toMatchObject({ viommuId: vm.viommu, virtId: VSID });
    // The host's record has the StreamID (0x102); the one queued for the guest the vSID.
    expect(beyond.event.decoded.fields).toMatchObject({ SID: 0x102, SSID: 1 << S1CDMAX });
    const invalid = await translate(vm.dev, IOVA, 3);
    expect(invalid.fault.type).toBe('C_BAD_CD');
    expect(invalid.event.decoded.fields).toMatchObject({ SID: 0x102, SSV: 1, SSID: 3 });
    const read = must(await t.req('POST', `/v1/eventqs/${vm.eventq}/read`, { max: 8 }), 200);
    expect(read.records.map((r: { decoded: { name: string; fields: Record<string, unknown> } }) => [r.decoded.name, r.decoded.fields.SID, r.decoded.fields.SSID])).toEqual([
      ['C_BAD_SUBSTREAMID', VSID, 1 << S1CDMAX],
      ['C_BAD_CD', VSID, 3],
    ]);
  });

  it('a rewritten CD stays cached until CFGI_CD of its SSID (through the vIOMMU, vSID → StreamID); CFGI_CD of another SSID leaves it', async () => {
    const vm = await guest();
    expect((await translate(vm.dev, IOVA, 1)).pa).toBe(hex(vm.hostBase + A.ipa));
    // The guest points CD 1 at tables B with a new ASID.
    await writeGuest(vm.ioas, CD_TABLE + 64n, cd(3, B.l1));
    expect((await translate(vm.dev, IOVA2, 1)).pa).toBe(hex(vm.hostBase + A.ipa2));
    must(await t.req('POST', `/v1/viommus/${vm.viommu}/invalidate`, { dataType: 'arm_smmuv3', entries: [entry('CFGI_CD', { SID: VSID, SSID: 2, LEAF: 1 })] }), 200);
    expect((await translate(vm.dev, IOVA2 + 0x10n, 1)).pa).toBe(hex(vm.hostBase + A.ipa2 + 0x10n));
    must(await t.req('POST', `/v1/viommus/${vm.viommu}/invalidate`, { dataType: 'arm_smmuv3', entries: [entry('CFGI_CD', { SID: VSID, SSID: 1, LEAF: 1 })] }), 200);
    // The new CD (ASID 3, tables B): a different ASID, so the old IOTLB entry does not answer.
    expect(await translate(vm.dev, IOVA2, 1)).toMatchObject({ pa: hex(vm.hostBase + B.ipa2), tlbHit: false });
    // PASID 2 was not disturbed.
    expect((await translate(vm.dev, IOVA, 2)).pa).toBe(hex(vm.hostBase + B.ipa));
  });

  it('CFGI_CD_ALL of the vSID drops every CD of the stream', async () => {
    const vm = await guest();
    await translate(vm.dev, IOVA, 1);
    await translate(vm.dev, IOVA, 2);
    await writeGuest(vm.ioas, CD_TABLE + 64n, cd(3, B.l1));
    await writeGuest(vm.ioas, CD_TABLE + 128n, cd(4, A.l1));
    must(await t.req('POST', `/v1/viommus/${vm.viommu}/invalidate`, { dataType: 'arm_smmuv3', entries: [entry('CFGI_CD_ALL', { SID: VSID })] }), 200);
    expect((await translate(vm.dev, IOVA2, 1)).pa).toBe(hex(vm.hostBase + B.ipa2));
    expect((await translate(vm.dev, IOVA2, 2)).pa).toBe(hex(vm.hostBase + A.ipa2));
  });
});

describe('host PASIDs: a DMA with the PASID walks the CD the driver wrote', () => {
  it('PASID 5 translates through its stage-1 domain over the IOAS; without a PASID the blocked RID terminates (S1DSS=terminate)', async () => {
    const ctx = must(await t.req('POST', '/v1/contexts', { name: 'vm' }), 201).id;
    const gpu = (await deviceByName(t, 'gpu0')).id;
    must(await t.req('POST', `/v1/contexts/${ctx}/devices`, { deviceId: gpu }), 201);
    const ioas = must(await t.req('POST', '/v1/ioas', { contextId: ctx }), 201).id;
    const m = must(await t.req('POST', `/v1/ioas/${ioas}/mappings`, { iova: '0x100000', length: '0x10000', write: false }), 201);
    const dom = must(await t.req('POST', '/v1/hwpts', { deviceId: gpu, ptId: ioas, flags: ['pasid'] }), 201);
    must(await t.req('PUT', `/v1/devices/${gpu}/pasids/5/attachment`, { ptId: dom.id }), 200);
    const ok = await translate(gpu, 0x100234n, 5);
    expect(ok).toMatchObject({ pa: hex(BigInt(m.hostAddress) + 0x234n), perm: { read: true, write: false } });
    const write = must(await t.req('POST', `/v1/devices/${gpu}/translate`, { iova: '0x100234', ssid: 5, access: 'write' }), 200);
    expect(write.fault).toMatchObject({ type: 'F_PERMISSION', stage: 1 });
    const unmapped = await translate(gpu, 0x200000n, 5);
    expect(unmapped.fault).toMatchObject({ type: 'F_TRANSLATION', stage: 1 });
    const noPasid = await translate(gpu, 0x100234n);
    expect(noPasid.fault).toMatchObject({ type: 'F_STREAM_DISABLED' });
    const otherPasid = await translate(gpu, 0x100234n, 6);
    expect(otherPasid.fault.type).toBe('C_BAD_CD');
  });

  it('an SMMU with two-level CD tables (IDR0.CD2L) and a 20-bit device: a 64K-leaf table (arm_smmu_alloc_cd_tables), walked through its level-1 descriptor', async () => {
    const idr = setIdrField(DEFAULT_IDR, 'CD2L', 1);
    const smmu = must(await t.req('POST', '/v1/smmus', { name: 'cd2l', idr }), 201).id;
    const dev = must(await t.req('POST', '/v1/devices', { name: 'wide', smmuId: smmu, streamId: 9, pasidBits: 20 }), 201).id;
    const ctx = must(await t.req('POST', '/v1/contexts', { name: 'vm' }), 201).id;
    must(await t.req('POST', `/v1/contexts/${ctx}/devices`, { deviceId: dev }), 201);
    const ioas = must(await t.req('POST', '/v1/ioas', { contextId: ctx }), 201).id;
    const m = must(await t.req('POST', `/v1/ioas/${ioas}/mappings`, { iova: '0x100000', length: '0x10000' }), 201);
    const dom = must(await t.req('POST', '/v1/hwpts', { deviceId: dev, ptId: ioas, flags: ['pasid'] }), 201);
    const d = must(await t.req('PUT', `/v1/devices/${dev}/pasids/5000/attachment`, { ptId: dom.id }), 200);
    expect(d.host.cdTable).toMatchObject({ s1fmt: '64k_l2', s1cdmax: 20, s1dss: 'terminate' });
    expect((await translate(dev, 0x100008n, 5000)).pa).toBe(hex(BigInt(m.hostAddress) + 8n));
    // Another leaf table's PASID has no level-1 descriptor yet: C_BAD_SUBSTREAMID.
    expect((await translate(dev, 0x100008n, 3)).fault.type).toBe('C_BAD_SUBSTREAMID');
  });
});

describe('IOAS unmap flushes the TLBs of the domains over it (iotlb_sync)', () => {
  it('stage 1 (TLBI_NH_ASID of its ASID), and a nest parent (TLBI_S12_VMALL of its VMID and of each vIOMMU on it): a cached translation is gone after the unmap', async () => {
    const ctx = must(await t.req('POST', '/v1/contexts', { name: 'vm' }), 201).id;
    const gpu = (await deviceByName(t, 'gpu0')).id;
    must(await t.req('POST', `/v1/contexts/${ctx}/devices`, { deviceId: gpu }), 201);
    const ioas = must(await t.req('POST', '/v1/ioas', { contextId: ctx }), 201).id;
    must(await t.req('POST', `/v1/ioas/${ioas}/mappings`, { iova: '0x100000', length: '0x10000' }), 201);
    const dom = must(await t.req('POST', '/v1/hwpts', { deviceId: gpu, ptId: ioas }), 201);
    must(await t.req('PUT', `/v1/devices/${gpu}/attachment`, { ptId: dom.id }), 200);
    expect((await translate(gpu, 0x100010n)).tlbHit).toBe(false);
    expect((await translate(gpu, 0x100010n)).tlbHit).toBe(true);
    const smmu = (await deviceByName(t, 'gpu0')).smmuId;
    const before = must(await t.req('GET', `/v1/smmus/${smmu}/state?commands=4`), 200);
    must(await t.req('DELETE', `/v1/ioas/${ioas}/mappings?iova=0x100000&length=0x10000`), 200);
    const after = must(await t.req('GET', `/v1/smmus/${smmu}/state?commands=2`), 200);
    expect(after.commands.executed - before.commands.executed).toBe(2);
    expect(after.commands.byOpcode.TLBI_NH_ASID).toBe((before.commands.byOpcode.TLBI_NH_ASID ?? 0) + 1);
    expect((await translate(gpu, 0x100010n)).fault).toMatchObject({ type: 'F_TRANSLATION', stage: 1 });

    const parent = must(await t.req('POST', '/v1/hwpts', { deviceId: gpu, ptId: ioas, flags: ['nest_parent'] }), 201);
    const viommu = must(await t.req('POST', '/v1/viommus', { deviceId: gpu, hwptId: parent.id, type: 'arm_smmuv3' }), 201);
    must(await t.req('POST', `/v1/ioas/${ioas}/mappings`, { iova: '0x0', length: '0x10000' }), 201);
    const bypass = must(await t.req('POST', '/v1/hwpts', { deviceId: gpu, ptId: viommu.id, data: { type: 'arm_smmuv3', ste: ['0x9', '0x0'] } }), 201);
    must(await t.req('PUT', `/v1/devices/${gpu}/attachment`, { ptId: bypass.id }), 200);
    await translate(gpu, 0x20n);
    expect((await translate(gpu, 0x20n)).tlbHit).toBe(true);
    const s0 = must(await t.req('GET', `/v1/smmus/${smmu}/state`), 200);
    must(await t.req('DELETE', `/v1/ioas/${ioas}/mappings?iova=0x0&length=0x10000`), 200);
    const s1 = must(await t.req('GET', `/v1/smmus/${smmu}/state`), 200);
    // TLBI_NH_ASID (the stage-1 domain), TLBI_S12_VMALL ×2 (parent, vIOMMU), CMD_SYNC.
    expect(s1.commands.byOpcode.TLBI_S12_VMALL).toBe((s0.commands.byOpcode.TLBI_S12_VMALL ?? 0) + 2);
    expect((await translate(gpu, 0x20n)).fault).toMatchObject({ type: 'F_TRANSLATION', stage: 2 });
  });
});

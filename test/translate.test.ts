/**
 * DMA translation end to end over HTTP (issue: guest memory, translation, faults and vEVENTQ):
 * the guest's CD and stage-1 tables are written into guest memory through the IOAS, the device
 * is attached to a nested HWPT, and POST /v1/devices/{id}/translate walks STE → CD → S1 → S2 in
 * the model with its IOTLB. A changed PTE stays stale until the right TLBI arrives through the
 * vIOMMU (or a guest vCMDQ); faults reach the vEVENTQ with the vSID (iommufd.md §3.5, A12).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeCd, encodeCommand, type CommandName } from '../src/hw/index.js';
import { buildViommu, deviceByName, expectProblem, expectUnchanged, must, startApp, type Graph, type TestApp } from './helper.js';

const RAM_IOVA = 0x0n;
const RAM_LENGTH = 0x100_0000n; // 16 MiB of guest RAM at IPA 0
const CD_IPA = 0x1_0000n;
const L1 = 0x2_0000n;
const L2 = 0x2_1000n;
const L3 = 0x2_2000n;
const IOVA = 0x4020_1000n; // L1 index 1, L2 index 1, L3 index 1 (4 KiB, T0SZ 25: start level 1)
const OLD_IPA = 0x10_0000n;
const NEW_IPA = 0x20_0000n;
const ASID = 1;
const VSID = 0x10;
const AF = 1n << 10n;
const TABLE = 3n;
const PAGE = 3n;
const hex = (v: bigint | number): string => '0x' + v.toString(16);

function bytesOf(words: bigint[]): Buffer {
  const b = Buffer.alloc(words.length * 8);
  words.forEach((w, i) => b.writeBigUInt64LE(w, i * 8));
  return b;
}

async function writeGuest(t: TestApp, ioas: number, ipa: bigint, words: bigint[]): Promise<void> {
  const body = bytesOf(words);
  must(await t.req('PUT', `/v1/ioas/${ioas}/memory?iova=${hex(ipa)}&length=${hex(body.length)}`, body, { 'content-type': 'application/octet-stream' }), 200);
}

function entry(name: CommandName, fields: Record<string, number | bigint>): [string, string] {
  const [w0, w1] = encodeCommand(name, fields);
  return ['0x' + w0!.toString(16).padStart(16, '0'), '0x' + w1!.toString(16).padStart(16, '0')];
}

interface Vm extends Graph {
  hostBase: bigint;
  nested: number;
  eventq: number;
  smmuId: number;
}

/** A VM whose device translates IOVA 0x4020_1000 through its own S1 tables to IPA 0x10_0000. */
async function buildVm(t: TestApp, opts: { device?: string; type?: string; cdR?: number; eats?: boolean } = {}): Promise<Vm> {
  const g = await buildViommu(t, { device: opts.device, type: opts.type });
  const mapping = must(await t.req('POST', `/v1/ioas/${g.ioas}/mappings`, { iova: hex(RAM_IOVA), length: hex(RAM_LENGTH) }), 201);
  const hostBase = BigInt(mapping.hostAddress);
  await writeGuest(t, g.ioas, CD_IPA, encodeCd({ T0SZ: 25, TG0: 0, EPD1: 1, V: 1, IPS: 4, AA64: 1, A: 1, R: opts.cdR ?? 1, ASID, TTB0: L1 }));
  await writeGuest(t, g.ioas, L1 + 8n, [L2 | TABLE]);
  await writeGuest(t, g.ioas, L2 + 8n, [L3 | TABLE]);
  await writeGuest(t, g.ioas, L3 + 8n, [OLD_IPA | AF | PAGE]);
  must(await t.req('POST', '/v1/vdevices', { viommuId: g.viommu, deviceId: g.dev, virtId: VSID }), 201);
  const nested = must(await t.req('POST', '/v1/hwpts', { deviceId: g.dev, ptId: g.viommu, data: { type: 'arm_smmuv3', ste: [hex(CD_IPA | 0xbn), opts.eats ? '0x10000000' : '0x0'] } }), 201).id;
  must(await t.req('PUT', `/v1/devices/${g.dev}/attachment`, { ptId: nested }), 200);
  const eventq = must(await t.req('POST', '/v1/eventqs', { viommuId: g.viommu, type: 'arm_smmuv3', depth: 8 }), 201).id;
  const smmuId = must(await t.req('GET', `/v1/objects/${g.viommu}`), 200).smmuId;
  return { ...g, hostBase, nested, eventq, smmuId };
}

async function translate(t: TestApp, dev: number, iova: bigint, access: 'read' | 'write' = 'read') {
  return must(await t.req('POST', `/v1/devices/${dev}/translate`, { iova: hex(iova), access }), 200);
}

async function invalidate(t: TestApp, viommu: number, ...entries: [string, string][]) {
  must(await t.req('POST', `/v1/viommus/${viommu}/invalidate`, { dataType: 'arm_smmuv3', entries }), 200);
}

/** Repoints the L3 PTE at NEW_IPA, as a guest does before its TLBI. */
async function changePte(t: TestApp, vm: Vm): Promise<void> {
  await writeGuest(t, vm.ioas, L3 + 8n, [NEW_IPA | AF | PAGE]);
}

describe('translate: DMA through the model over HTTP', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await startApp();
  });
  afterEach(async () => {
    await t.close();
  });

  it('nested: STE → CD → stage 1 → stage 2 gives the host address; the second access hits the IOTLB', async () => {
    const vm = await buildVm(t);
    const first = await translate(t, vm.dev, IOVA + 0x123n);
    expect(first).toEqual({ pa: hex(vm.hostBase + OLD_IPA + 0x123n), perm: { read: true, write: true }, tlbHit: false, atcHit: false, pageSize: 4096 });
    const second = await translate(t, vm.dev, IOVA + 0x456n, 'write');
    expect(second.pa).toBe(hex(vm.hostBase + OLD_IPA + 0x456n));
    expect(second.tlbHit).toBe(true);
    const state = must(await t.req('GET', `/v1/smmus/${vm.smmuId}/state`), 200);
    expect(state.tlb).toMatchObject({ entries: 1, hits: 1, misses: 1 });
  });

  it('stale TLB: a changed PTE translates to the old address until TLBI_NH_VA for its ASID and address arrives through the vIOMMU', async () => {
    const vm = await buildVm(t);
    await translate(t, vm.dev, IOVA);
    await changePte(t, vm);
    expect((await translate(t, vm.dev, IOVA)).pa).toBe(hex(vm.hostBase + OLD_IPA));
    // Another ASID, and another address of the same ASID, leave the entry.
    await invalidate(t, vm.viommu, entry('TLBI_NH_VA', { ASID: 2, TG: 1, ADDR: IOVA }));
    await invalidate(t, vm.viommu, entry('TLBI_NH_VA', { ASID, TG: 1, ADDR: IOVA + 0x1000n }));
    await invalidate(t, vm.viommu, entry('TLBI_NH_ASID', { ASID: 2 }));
    const stale = await translate(t, vm.dev, IOVA);
    expect(stale).toMatchObject({ pa: hex(vm.hostBase + OLD_IPA), tlbHit: true });
    await invalidate(t, vm.viommu, entry('TLBI_NH_VA', { ASID, TG: 1, ADDR: IOVA }));
    expect(await translate(t, vm.dev, IOVA)).toMatchObject({ pa: hex(vm.hostBase + NEW_IPA), tlbHit: false });
  });

  it('stale TLB: TLBI_NH_ASID of the ASID, or TLBI_NH_ALL (and the guest\'s TLBI_NSNH_ALL), removes it', async () => {
    const vm = await buildVm(t);
    for (const cmd of [entry('TLBI_NH_ASID', { ASID }), entry('TLBI_NH_ALL', {}), entry('TLBI_NSNH_ALL', {})]) {
      await writeGuest(t, vm.ioas, L3 + 8n, [OLD_IPA | AF | PAGE]);
      await invalidate(t, vm.viommu, entry('TLBI_NH_ALL', {}));
      expect((await translate(t, vm.dev, IOVA)).pa).toBe(hex(vm.hostBase + OLD_IPA));
      await changePte(t, vm);
      expect((await translate(t, vm.dev, IOVA)).pa).toBe(hex(vm.hostBase + OLD_IPA));
      await invalidate(t, vm.viommu, cmd);
      expect((await translate(t, vm.dev, IOVA)).pa).toBe(hex(vm.hostBase + NEW_IPA));
    }
  });

  it('stale TLB: a TLBI through another vIOMMU of the same SMMU (another VMID) leaves the entry stale', async () => {
    const vm = await buildVm(t);
    const other = await buildViommu(t, { device: 'nvme0' });
    const vmids = [must(await t.req('GET', `/v1/objects/${vm.viommu}`), 200).vmid, must(await t.req('GET', `/v1/objects/${other.viommu}`), 200).vmid];
    expect(vmids[0]).not.toBe(vmids[1]);
    await translate(t, vm.dev, IOVA);
    await changePte(t, vm);
    await invalidate(t, other.viommu, entry('TLBI_NH_VA', { ASID, TG: 1, ADDR: IOVA }), entry('TLBI_NH_ALL', {}));
    expect(await translate(t, vm.dev, IOVA)).toMatchObject({ pa: hex(vm.hostBase + OLD_IPA), tlbHit: true });
    await invalidate(t, vm.viommu, entry('TLBI_NH_ALL', {}));
    expect((await translate(t, vm.dev, IOVA)).pa).toBe(hex(vm.hostBase + NEW_IPA));
  });

  it('stale TLB: a TLBI_NH_VA the guest pushes into its Tegra241 vCMDQ removes the entry, like the invalidate path', async () => {
    const vm = await buildVm(t, { device: 'nic1', type: 'tegra241_cmdqv' });
    const queue = must(
      await t.req('POST', '/v1/hw-queues', { viommuId: vm.viommu, type: 'tegra241_cmdqv', index: 0, nestingParentIova: hex(0x80_0000n), length: '0x1000' }),
      201,
    ).id;
    must(await t.req('PATCH', `/v1/hw-queues/${queue}`, { enabled: true }), 200);
    await translate(t, vm.dev, IOVA);
    await changePte(t, vm);
    expect((await translate(t, vm.dev, IOVA)).pa).toBe(hex(vm.hostBase + OLD_IPA));
    const run = must(await t.req('POST', `/v1/hw-queues/${queue}/commands`, { entries: [entry('TLBI_NH_VA', { ASID, TG: 1, ADDR: IOVA }), entry('CMD_SYNC', {})] }), 200);
    expect(run).toMatchObject({ consumed: 2, error: null });
    expect(await translate(t, vm.dev, IOVA)).toMatchObject({ pa: hex(vm.hostBase + NEW_IPA), tlbHit: false });
  });

  it('ATS: an EATS=1 vSTE on an ATS device fills its ATC; the ATC answers until ATC_INV for its vSID arrives through the vIOMMU', async () => {
    const vm = await buildVm(t, { eats: true });
    expect(await translate(t, vm.dev, IOVA)).toMatchObject({ pa: hex(vm.hostBase + OLD_IPA), atcHit: false });
    expect(await translate(t, vm.dev, IOVA)).toMatchObject({ pa: hex(vm.hostBase + OLD_IPA), atcHit: true });
    await changePte(t, vm);
    // A TLBI removes the IOTLB entry but not the device's ATC copy.
    await invalidate(t, vm.viommu, entry('TLBI_NH_VA', { ASID, TG: 1, ADDR: IOVA }));
    expect(await translate(t, vm.dev, IOVA)).toMatchObject({ pa: hex(vm.hostBase + OLD_IPA), atcHit: true });
    // ATC_INV of everything (SIZE 52) for the guest's vSID: the kernel rewrites it to the StreamID.
    await invalidate(t, vm.viommu, entry('ATC_INV', { SID: VSID, SIZE: 52, ADDR: 0n }));
    expect(await translate(t, vm.dev, IOVA)).toMatchObject({ pa: hex(vm.hostBase + NEW_IPA), atcHit: false });
  });

  it('§3.5 / A12: a translation fault of a device with a vDEVICE is an event on the arm_smmuv3 vEVENTQ with the vSID in word 0 [63:32]', async () => {
    const vm = await buildVm(t);
    const unmapped = 0x8000_0000n; // L1 index 2: an invalid descriptor
    const res = await translate(t, vm.dev, unmapped, 'write');
    expect(res.fault).toEqual({ type: 'F_TRANSLATION', code: 0x10, stage: 1, class: 'IN', inputAddr: hex(unmapped), ipa: null });
    expect(res.forwarded).toMatchObject({ viommuId: vm.viommu, virtId: VSID, eventqId: vm.eventq, sequence: 0, lostEvents: false });
    const physical = (await deviceByName(t, 'nic0')).streamId;
    expect(BigInt(res.event.record[0]) >> 32n).toBe(BigInt(physical)); // the SMMU's own record
    const read = must(await t.req('POST', `/v1/eventqs/${vm.eventq}/read`, { max: 8 }), 200);
    expect(read.records).toHaveLength(1);
    const item = (read.records)[0];
    expect(item.sequence).toBe(0);
    expect(BigInt(item.record[0]) & 0xffn).toBe(0x10n);
    expect(BigInt(item.record[0]) >> 32n).toBe(BigInt(VSID));
    expect(item.record.slice(1)).toEqual(res.event.record.slice(1));
  });

  it('§3.5: a fault with CD.R=0 is not recorded, so nothing reaches the vEVENTQ', async () => {
    const vm = await buildVm(t, { cdR: 0 });
    const res = await translate(t, vm.dev, 0x8000_0000n);
    expect(res.fault.type).toBe('F_TRANSLATION');
    expect(res.event).toBeNull();
    expect(res.forwarded).toBeNull();
    expect(must(await t.req('GET', `/v1/eventqs/${vm.eventq}`), 200).pending).toBe(0);
  });

  it('§3.5: a device without a vmaster (attached to the nest parent, S2 only) faults without forwarding; a vDEVICE alone is not enough', async () => {
    const vm = await buildVm(t);
    // The nest parent is the stage-2 domain (an attach to the IOAS would get a stage-1 auto HWPT).
    expect(must(await t.req('PUT', `/v1/devices/${vm.dev}/attachment`, { ptId: vm.parent }), 200)).toMatchObject({
      attachedTo: vm.parent,
      host: { config: 's2_translate', cdTable: null },
    });
    const res = await translate(t, vm.dev, 0x4000_0000_0000n);
    expect(res.fault).toMatchObject({ stage: 2 });
    expect(res.event).not.toBeNull(); // S2R is set in the host's S2 STE: the host sees it
    expect(res.forwarded).toBeNull();
    expect(must(await t.req('GET', `/v1/eventqs/${vm.eventq}`), 200).pending).toBe(0);
  });

  it('S2 only: a device attached to the nest parent of its IOAS translates IPA = IOVA to the host address of the mapping', async () => {
    const vm = await buildVm(t);
    must(await t.req('PUT', `/v1/devices/${vm.dev}/attachment`, { ptId: vm.parent }), 200);
    expect(await translate(t, vm.dev, OLD_IPA + 8n)).toMatchObject({ pa: hex(vm.hostBase + OLD_IPA + 8n), tlbHit: false });
  });

  it('stage 1: a device attached to its IOAS (a stage-1 auto HWPT) translates IOVA to the host address of the mapping through its CD', async () => {
    const vm = await buildVm(t);
    const attached = must(await t.req('PUT', `/v1/devices/${vm.dev}/attachment`, { ptId: vm.ioas }), 200);
    const auto = must(await t.req('GET', `/v1/hwpts/${attached.attachedTo}`), 200);
    expect(auto).toMatchObject({ auto: true, ioasId: vm.ioas, stage: 1, vmid: null });
    expect(attached.host).toMatchObject({ config: 's1_translate', cdTable: { s1dss: 'ssid0', cds: [{ ssid: 0, hwptId: auto.id, asid: auto.asid }] } });
    expect(await translate(t, vm.dev, OLD_IPA + 8n)).toMatchObject({ pa: hex(vm.hostBase + OLD_IPA + 8n), tlbHit: false });
    expect(await translate(t, vm.dev, OLD_IPA + 0x10n, 'write')).toMatchObject({ pa: hex(vm.hostBase + OLD_IPA + 0x10n), tlbHit: true });
  });

  it('abort: a device attached to nothing answers an abort fault without an event', async () => {
    const dev = (await deviceByName(t, 'gpu0')).id;
    const res = await translate(t, dev, 0x1000n);
    expect(res.fault.type).toBe('ABORT');
    expect(res.event).toBeNull();
  });

  it('bad input: an unknown device is ENOENT, a bad iova, ssid or access EINVAL, and nothing changes', async () => {
    const vm = await buildVm(t);
    const before = must(await t.req('GET', `/v1/smmus/${vm.smmuId}/state`), 200);
    await expectUnchanged(t, async () => {
      expectProblem(await t.req('POST', '/v1/devices/99999/translate', { iova: '0x0', access: 'read' }), 'ENOENT', 404);
      expectProblem(await t.req('POST', `/v1/devices/${vm.dev}/translate`, { iova: '0x10000000000000000', access: 'read' }), 'EINVAL', 400);
      expectProblem(await t.req('POST', `/v1/devices/${vm.dev}/translate`, { iova: 4096, access: 'read' }), 'EINVAL', 400);
      expectProblem(await t.req('POST', `/v1/devices/${vm.dev}/translate`, { iova: '0x0', access: 'exec' }), 'EINVAL', 400);
      expectProblem(await t.req('POST', `/v1/devices/${vm.dev}/translate`, { iova: '0x0', access: 'read', ssid: 1 << 20 }), 'EINVAL', 400);
      expectProblem(await t.req('POST', `/v1/devices/${vm.dev}/translate`, { iova: '0x0' }), 'EINVAL', 400);
      expectProblem(await t.req('POST', `/v1/devices/${vm.dev}/translate`, '{"iova":', { 'content-type': 'application/json' }), 'EINVAL', 400);
    });
    expect(must(await t.req('GET', `/v1/smmus/${vm.smmuId}/state`), 200)).toEqual(before);
  });

  it('restart: a forwarded fault is committed before the answer and survives a restart', async () => {
    const vm = await buildVm(t);
    await translate(t, vm.dev, 0x8000_0000n);
    t = await t.restart();
    const read = must(await t.req('POST', `/v1/eventqs/${vm.eventq}/read`, { max: 8 }), 200);
    const items = read.records;
    expect(items).toHaveLength(1);
    expect(BigInt(items[0].record[0]) >> 32n).toBe(BigInt(VSID));
  });
});

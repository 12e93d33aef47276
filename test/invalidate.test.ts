/**
 * Contract tests of guest invalidation through an ARM SMMUv3 vIOMMU (IOMMU_HWPT_INVALIDATE),
 * over HTTP against the real app: iommufd.md §2.4, §3.4, §6.7, §6.10 A9–A11; smmuv3.md §1;
 * api.md (invalidate endpoints, stats, state). What "the hardware received" is read back through
 * GET /v1/smmus/{id}/state?commands=N (the SMMU model's executed-command log).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandsToBytes, encodeCommand, type CommandFields, type CommandName, type CommandWords } from '../src/hw/index.js';
import { buildViommu, expectProblem, expectUnchanged, must, startApp, type Graph, type Res, type TestApp } from './helper.js';

const hex = (w: bigint): string => `0x${w.toString(16).padStart(16, '0')}`;
const cmd = (name: CommandName | 'CFGI_ALL', fields: CommandFields = {}): CommandWords => encodeCommand(name, fields);
const json = (cmds: CommandWords[], dataType = 'arm_smmuv3') => ({ dataType, entries: cmds.map(([w0, w1]) => [hex(w0), hex(w1)]) });
const octet = (cmds: CommandWords[]): Buffer => Buffer.from(commandsToBytes(cmds));
const OCTET = { 'content-type': 'application/octet-stream' };
/** The kernel's CMD_SYNC without MSI polling: CS=SEV, MSH=ISH, MSIAttr=OIWB (smmuv3.md §1.4). */
const SYNC: CommandWords = [0x0fc02046n, 0n];
const asHex = (cmds: CommandWords[]): string[][] => cmds.map(([w0, w1]) => [hex(w0), hex(w1)]);

interface Fixture extends Graph {
  smmuId: number;
  vmid: number;
  /** The bound device's physical StreamID, and the vSID its vDEVICE gives it. */
  sid: number;
  vsid: number;
  vdevice: number;
  nested: number;
}

async function fixture(t: TestApp, device = 'nic0', vsid = 0x99): Promise<Fixture> {
  const g = await buildViommu(t, { device });
  const v = must(await t.req('GET', `/v1/viommus/${g.viommu}`), 200);
  const vd = must(await t.req('POST', '/v1/vdevices', { viommuId: g.viommu, deviceId: g.dev, virtId: vsid }), 201);
  // An abort vSTE (smmuv3.md §3.1 / iommufd.md A4): a nested HWPT that needs no CD table.
  const nested = must(
    await t.req('POST', '/v1/hwpts', { deviceId: g.dev, ptId: g.viommu, data: { type: 'arm_smmuv3', ste: ['0x1', '0x0'] } }),
    201,
  ).id;
  return { ...g, smmuId: v.smmuId, vmid: v.vmid, sid: vd.physicalStreamId, vsid, vdevice: vd.id, nested };
}

async function smmuState(t: TestApp, smmuId: number, commands = 0): Promise<any> {
  return must(await t.req('GET', `/v1/smmus/${smmuId}/state?commands=${commands}`), 200);
}
async function executed(t: TestApp, smmuId: number): Promise<number> {
  return (await smmuState(t, smmuId)).commands.executed;
}
/** The last `n` commands the SMMU executed, as hex words. */
async function lastCommands(t: TestApp, smmuId: number, n: number): Promise<string[][]> {
  return (await smmuState(t, smmuId, n)).recentCommands;
}

/**
 * Sends `send`, which must fail with `errno` (and `entriesProcessed`), leaving DB and graph
 * unchanged; returns the response and how many commands the SMMU executed meanwhile.
 */
async function rejected(t: TestApp, smmuId: number, send: () => Promise<Res>, errno: string, status: number, entriesProcessed = 0) {
  const before = await executed(t, smmuId);
  let res!: Res;
  await expectUnchanged(t, async () => {
    res = await send();
  });
  expectProblem(res, errno, status);
  expect(res.body.entriesProcessed).toBe(entriesProcessed);
  return { res, ran: (await executed(t, smmuId)) - before };
}

/** Sends `send`, which must be rejected with nothing executed on the SMMU. */
async function rejectedNothingRan(t: TestApp, smmuId: number, send: () => Promise<Res>, errno: string, status: number): Promise<Res> {
  const { res, ran } = await rejected(t, smmuId, send, errno, status, 0);
  expect(ran).toBe(0);
  return res;
}

let t: TestApp;
let f: Fixture;
/** A second VM: another context and vIOMMU (other VMID) on the same SMMU, nvme0 with vSID 0x77. */
let f2: Fixture;
beforeAll(async () => {
  t = await startApp();
  f = await fixture(t, 'nic0', 0x99);
  f2 = await fixture(t, 'nvme0', 0x77);
});
afterAll(async () => t.close());

const inv = (id: number, body: unknown, headers?: Record<string, string>) => t.req('POST', `/v1/viommus/${id}/invalidate`, body, headers);

describe('§6.10 A9 / §3.4: accepted commands are converted as the kernel converts them', () => {
  it('§6.10 A9: TLBI_NH_VA with VMID 0x1234 is 0, entriesProcessed 1, issued with the vIOMMU VMID (ASID, NUM/SCALE, DW1 kept) + CMD_SYNC', async () => {
    expect(f.vmid).not.toBe(0x1234);
    const fields = { ASID: 0x5a5a, NUM: 3, SCALE: 1, LEAF: 1, TTL: 2, TG: 1, ADDR: 0x0000_7fff_1234_5000n };
    const before = await executed(t, f.smmuId);
    const res = await inv(f.viommu, json([cmd('TLBI_NH_VA', { ...fields, VMID: 0x1234 })]));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ entriesProcessed: 1 });
    expect(await executed(t, f.smmuId)).toBe(before + 2);
    expect(await lastCommands(t, f.smmuId, 2)).toEqual(asHex([cmd('TLBI_NH_VA', { ...fields, VMID: f.vmid }), SYNC]));
  });

  it('§3.4: TLBI_NH_VAA, TLBI_NH_ALL and TLBI_NH_ASID get the vIOMMU VMID, every other field kept', async () => {
    const sent = [
      cmd('TLBI_NH_VAA', { VMID: 0xffff, NUM: 31, SCALE: 2, LEAF: 0, TTL: 3, TG: 2, ADDR: 0x40_0000n }),
      cmd('TLBI_NH_ALL', { VMID: 0x1234 }),
      cmd('TLBI_NH_ASID', { VMID: 0, ASID: 0xbeef }),
    ];
    const res = await inv(f.viommu, json(sent));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ entriesProcessed: 3 });
    expect(await lastCommands(t, f.smmuId, 4)).toEqual(
      asHex([
        cmd('TLBI_NH_VAA', { VMID: f.vmid, NUM: 31, SCALE: 2, LEAF: 0, TTL: 3, TG: 2, ADDR: 0x40_0000n }),
        cmd('TLBI_NH_ALL', { VMID: f.vmid }),
        cmd('TLBI_NH_ASID', { VMID: f.vmid, ASID: 0xbeef }),
        SYNC,
      ]),
    );
  });

  it('§6.10 A9: TLBI_NSNH_ALL is 0 and issued as TLBI_NH_ALL + VMID, every other bit of both words cleared', async () => {
    const junk: CommandWords = [0xffff_ffff_ffff_ff00n | 0x30n, 0xdead_beef_cafe_f00dn];
    const res = await inv(f.viommu, json([junk]));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ entriesProcessed: 1 });
    expect(await lastCommands(t, f.smmuId, 2)).toEqual(asHex([cmd('TLBI_NH_ALL', { VMID: f.vmid }), SYNC]));
  });

  it('§6.10 A9: ATC_INV, CFGI_CD and CFGI_CD_ALL with a known vSID are issued with the physical StreamID (SSID, size, address, leaf kept)', async () => {
    expect(f.sid).not.toBe(f.vsid);
    const res = await inv(
      f.viommu,
      json([
        cmd('ATC_INV', { SID: f.vsid, SSV: 1, SSID: 0x12345, SIZE: 4, ADDR: 0x1234_0000n }),
        cmd('CFGI_CD', { SID: f.vsid, SSID: 7, LEAF: 1 }),
        cmd('CFGI_CD_ALL', { SID: f.vsid }),
      ]),
    );
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ entriesProcessed: 3 });
    expect(await lastCommands(t, f.smmuId, 4)).toEqual(
      asHex([
        cmd('ATC_INV', { SID: f.sid, SSV: 1, SSID: 0x12345, SIZE: 4, ADDR: 0x1234_0000n }),
        cmd('CFGI_CD', { SID: f.sid, SSID: 7, LEAF: 1 }),
        cmd('CFGI_CD_ALL', { SID: f.sid }),
        SYNC,
      ]),
    );
  });

  it('§3.4: each vIOMMU uses its own VMID and its own vSID table', async () => {
    expect(f2.vmid).not.toBe(f.vmid);
    expect(f2.smmuId).toBe(f.smmuId);
    const res = await inv(f2.viommu, json([cmd('TLBI_NH_ASID', { VMID: f.vmid, ASID: 1 }), cmd('ATC_INV', { SID: f2.vsid, SIZE: 52 })]));
    expect(res.status).toBe(200);
    expect(await lastCommands(t, f.smmuId, 3)).toEqual(
      asHex([cmd('TLBI_NH_ASID', { VMID: f2.vmid, ASID: 1 }), cmd('ATC_INV', { SID: f2.sid, SIZE: 52 }), SYNC]),
    );
  });
});

describe('§6.10 A10 / §3.4: refused commands are EIO at the first failing entry', () => {
  it('§6.10 A10: ATC_INV with an unknown vSID is EIO, entriesProcessed 0, nothing executed', async () => {
    await rejectedNothingRan(t, f.smmuId, () => inv(f.viommu, json([cmd('ATC_INV', { SID: 0x98, SIZE: 52 })])), 'EIO', 422);
  });

  it('§3.4: CFGI_CD and CFGI_CD_ALL with an unknown vSID are EIO, entriesProcessed 0', async () => {
    await rejectedNothingRan(t, f.smmuId, () => inv(f.viommu, json([cmd('CFGI_CD', { SID: 0x1234, SSID: 1 })])), 'EIO', 422);
    await rejectedNothingRan(t, f.smmuId, () => inv(f.viommu, json([cmd('CFGI_CD_ALL', { SID: 0x1234 })])), 'EIO', 422);
  });

  it('§3.4: a physical StreamID is not a vSID, and another vIOMMU\'s vSID is unknown (EIO)', async () => {
    await rejectedNothingRan(t, f.smmuId, () => inv(f.viommu, json([cmd('ATC_INV', { SID: f.sid, SIZE: 52 })])), 'EIO', 422);
    await rejectedNothingRan(t, f.smmuId, () => inv(f.viommu, json([cmd('CFGI_CD_ALL', { SID: f2.vsid })])), 'EIO', 422);
    await rejectedNothingRan(t, f.smmuId, () => inv(f2.viommu, json([cmd('CFGI_CD_ALL', { SID: f.vsid })])), 'EIO', 422);
  });

  it('§6.10 A10: CFGI_STE is EIO, entriesProcessed 0, nothing executed', async () => {
    await rejectedNothingRan(t, f.smmuId, () => inv(f.viommu, json([cmd('CFGI_STE', { SID: f.vsid, LEAF: 1 })])), 'EIO', 422);
  });

  it('§6.10 A10: CMD_SYNC is EIO, entriesProcessed 0, nothing executed', async () => {
    await rejectedNothingRan(t, f.smmuId, () => inv(f.viommu, json([SYNC])), 'EIO', 422);
  });

  const forbidden: Array<[string, CommandWords]> = [
    ['CFGI_ALL', cmd('CFGI_ALL')],
    ['PREFETCH_CONFIG', cmd('PREFETCH_CONFIG', { SID: 0x99 })],
    ['PREFETCH_ADDR', cmd('PREFETCH_ADDR', { SID: 0x99 })],
    ['TLBI_EL2_ALL', cmd('TLBI_EL2_ALL')],
    ['TLBI_EL2_ASID', cmd('TLBI_EL2_ASID', { ASID: 1 })],
    ['TLBI_EL2_VA', cmd('TLBI_EL2_VA', { ASID: 1, ADDR: 0x1000n })],
    ['TLBI_S12_VMALL', cmd('TLBI_S12_VMALL', { VMID: 1 })],
    ['TLBI_S2_IPA', cmd('TLBI_S2_IPA', { VMID: 1, ADDR: 0x1000n })],
    ['PRI_RESP', cmd('PRI_RESP', { SID: 0x99 })],
    ['RESUME', cmd('RESUME', { SID: 0x99 })],
    ['STALL_TERM', cmd('STALL_TERM', { SID: 0x99 })],
    ['opcode 0x00', [0n, 0n]],
    ['opcode 0x07', [0x07n, 0n]],
    ['opcode 0xff', [0xffn, 0n]],
  ];
  it.each(forbidden)('§3.4: %s (anything not in the accepted list) is EIO, entriesProcessed 0, nothing executed', async (_name, c) => {
    await rejectedNothingRan(t, f.smmuId, () => inv(f.viommu, json([c])), 'EIO', 422);
  });

  it('§6.10 A10: [TLBI_NH_ASID, CFGI_CD_ALL(known vSID), CFGI_ALL] is EIO with entriesProcessed 2; the two before it ran (+ CMD_SYNC), nothing after', async () => {
    const { ran } = await rejected(
      t,
      f.smmuId,
      () => inv(f.viommu, json([cmd('TLBI_NH_ASID', { ASID: 3 }), cmd('CFGI_CD_ALL', { SID: f.vsid }), cmd('CFGI_ALL'), cmd('TLBI_NH_ALL')])),
      'EIO',
      422,
      2,
    );
    expect(ran).toBe(3);
    expect(await lastCommands(t, f.smmuId, 3)).toEqual(asHex([cmd('TLBI_NH_ASID', { VMID: f.vmid, ASID: 3 }), cmd('CFGI_CD_ALL', { SID: f.sid }), SYNC]));
  });

  it('§3.4 / api.md: a failure at entry 70 is EIO with entriesProcessed 70: the full batch of 63 and the pending 7 ran, each with its CMD_SYNC', async () => {
    const good = Array.from({ length: 70 }, (_, i) => cmd('TLBI_NH_ASID', { ASID: i }));
    const { ran } = await rejected(t, f.smmuId, () => inv(f.viommu, json([...good, cmd('ATC_INV', { SID: 0xdead }), cmd('TLBI_NH_ALL')])), 'EIO', 422, 70);
    expect(ran).toBe(72);
    const conv = good.map((_, i) => cmd('TLBI_NH_ASID', { VMID: f.vmid, ASID: i }));
    expect(await lastCommands(t, f.smmuId, 72)).toEqual(asHex([...conv.slice(0, 63), SYNC, ...conv.slice(63), SYNC]));
  });

  it('§3.4: a command the SMMU refuses inside an issued batch (CFGI_CD with SSec=1, CERROR_ILL) is skipped by the driver: 200, every entry counted, the skip in the stats', async () => {
    const before = await smmuState(t, f.smmuId);
    const statsBefore = must(await t.req('GET', `/v1/viommus/${f.viommu}/stats`), 200).invalidations;
    const ranBefore = await executed(t, f.smmuId);
    const res = await inv(f.viommu, json([cmd('TLBI_NH_ASID', { ASID: 1 }), cmd('CFGI_CD', { SSEC: 1, SID: f.vsid }), cmd('TLBI_NH_ALL')]));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ entriesProcessed: 3 });
    // Linux __arm_smmu_cmdq_skip_err replaces the failing command by a CMD_SYNC (CS=SEV form);
    // the rest of the batch and the batch's own CMD_SYNC, queued with it, then execute.
    expect((await executed(t, f.smmuId)) - ranBefore).toBe(4);
    const statsAfter = must(await t.req('GET', `/v1/viommus/${f.viommu}/stats`), 200).invalidations;
    expect(statsAfter.skipped).toBe(statsBefore.skipped + 1);
    expect(statsAfter.errors).toBe(statsBefore.errors);
    expect(statsAfter.entries).toBe(statsBefore.entries + 3);
    expect(await lastCommands(t, f.smmuId, 4)).toEqual(asHex([cmd('TLBI_NH_ASID', { VMID: f.vmid, ASID: 1 }), SYNC, cmd('TLBI_NH_ALL', { VMID: f.vmid }), SYNC]));
    const after = await smmuState(t, f.smmuId);
    expect(after.commands.errors.CERROR_ILL).toBe(before.commands.errors.CERROR_ILL + 1);
    expect(after.cmdq).toMatchObject({ stopped: false, err: 0, pending: 0 });
    expect(after.cmdq.prod).toBe(after.cmdq.cons);
    // The queue was restarted: the next invalidation runs normally.
    const next = await inv(f.viommu, json([cmd('TLBI_NH_ASID', { ASID: 2 })]));
    expect(next.status).toBe(200);
    expect(await lastCommands(t, f.smmuId, 2)).toEqual(asHex([cmd('TLBI_NH_ASID', { VMID: f.vmid, ASID: 2 }), SYNC]));
  });

  it('§3.4: a command the SMMU refuses in the second batch is skipped too: 200 with all 64 entries, both batches applied', async () => {
    const first = Array.from({ length: 63 }, (_, i) => cmd('TLBI_NH_ASID', { ASID: i }));
    const ranBefore = await executed(t, f.smmuId);
    const res = await inv(f.viommu, json([...first, cmd('CFGI_CD', { SSEC: 1, SID: f.vsid })]));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ entriesProcessed: 64 });
    expect((await executed(t, f.smmuId)) - ranBefore).toBe(63 + 1 + 1 + 1);
    const conv = first.map((_, i) => cmd('TLBI_NH_ASID', { VMID: f.vmid, ASID: i }));
    expect(await lastCommands(t, f.smmuId, 66)).toEqual(asHex([...conv, SYNC, SYNC, SYNC]));
  });
});

describe('§6.10 A11 and dispatch on the id type (§2.4)', () => {
  const ok = async (url: string) => {
    const before = await executed(t, f.smmuId);
    const res = await t.req('POST', url, json([cmd('TLBI_NH_ASID', { ASID: 9 })]));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ entriesProcessed: 1 });
    expect(await executed(t, f.smmuId)).toBe(before + 2);
    expect(await lastCommands(t, f.smmuId, 2)).toEqual(asHex([cmd('TLBI_NH_ASID', { VMID: f.vmid, ASID: 9 }), SYNC]));
  };
  const refused = (url: string, errno: string, status: number, body: unknown = json([cmd('TLBI_NH_ASID', { ASID: 9 })])) =>
    rejectedNothingRan(t, f.smmuId, () => t.req('POST', url, body), errno, status);

  it('§2.4: POST /v1/viommus/{id}/invalidate on a vIOMMU invalidates', async () => {
    await ok(`/v1/viommus/${f.viommu}/invalidate`);
  });
  it('§2.4: POST /v1/objects/{id}/invalidate on a vIOMMU invalidates', async () => {
    await ok(`/v1/objects/${f.viommu}/invalidate`);
  });
  it('§2.4: POST /v1/hwpts/{id}/invalidate with a vIOMMU id invalidates (hwpt_id may name a vIOMMU)', async () => {
    await ok(`/v1/hwpts/${f.viommu}/invalidate`);
  });

  it('§6.10 A11: an ARM nested HWPT is EOPNOTSUPP (422), entriesProcessed 0, on /objects and /hwpts', async () => {
    await refused(`/v1/objects/${f.nested}/invalidate`, 'EOPNOTSUPP', 422);
    await refused(`/v1/hwpts/${f.nested}/invalidate`, 'EOPNOTSUPP', 422);
  });

  it('§2.4: a paging HWPT (the nest parent) or an IOAS is EINVAL (400), entriesProcessed 0, on /objects and /hwpts', async () => {
    for (const id of [f.parent, f.ioas]) {
      await refused(`/v1/objects/${id}/invalidate`, 'EINVAL', 400);
      await refused(`/v1/hwpts/${id}/invalidate`, 'EINVAL', 400);
    }
  });

  it('§2.4: any other object type (a vDEVICE) is EINVAL', async () => {
    await refused(`/v1/objects/${f.vdevice}/invalidate`, 'EINVAL', 400);
  });

  it('§2.4: a missing id is ENOENT (404), entriesProcessed 0, on every form', async () => {
    for (const p of ['viommus', 'hwpts', 'objects']) await refused(`/v1/${p}/999999/invalidate`, 'ENOENT', 404);
  });

  it('api.md: /v1/viommus/{id}/invalidate with the id of a non-vIOMMU object is ENOENT', async () => {
    for (const id of [f.nested, f.parent, f.ioas]) await refused(`/v1/viommus/${id}/invalidate`, 'ENOENT', 404);
  });

  it('§6.10 A11: entries [] on a vIOMMU is EINVAL (400), entriesProcessed 0, on every form', async () => {
    for (const p of ['viommus', 'hwpts', 'objects']) await refused(`/v1/${p}/${f.viommu}/invalidate`, 'EINVAL', 400, json([]));
  });

  it('§2.4: the target is checked before the entries: [] on a nested HWPT is EOPNOTSUPP, on a missing id ENOENT', async () => {
    await refused(`/v1/objects/${f.nested}/invalidate`, 'EOPNOTSUPP', 422, json([]));
    await refused(`/v1/objects/999999/invalidate`, 'ENOENT', 404, json([]));
  });
});

describe('batching (§3.4: at most CMDQ_BATCH_ENTRIES − 1 = 63 commands, then the kernel CMD_SYNC)', () => {
  const asids = (n: number, base = 0) => Array.from({ length: n }, (_, i) => cmd('TLBI_NH_ASID', { ASID: base + i }));
  const converted = (n: number, base = 0) => Array.from({ length: n }, (_, i) => cmd('TLBI_NH_ASID', { VMID: f.vmid, ASID: base + i }));

  it('§3.4: 63 commands are one batch: the 63, then one CMD_SYNC', async () => {
    const before = await executed(t, f.smmuId);
    const res = await inv(f.viommu, json(asids(63, 100)));
    expect(res.body).toEqual({ entriesProcessed: 63 });
    expect(await executed(t, f.smmuId)).toBe(before + 64);
    expect(await lastCommands(t, f.smmuId, 64)).toEqual(asHex([...converted(63, 100), SYNC]));
  });

  it('§3.4: 64 commands are 63 + CMD_SYNC, then 1 + CMD_SYNC', async () => {
    const res = await inv(f.viommu, json(asids(64, 200)));
    expect(res.body).toEqual({ entriesProcessed: 64 });
    const c = converted(64, 200);
    expect(await lastCommands(t, f.smmuId, 66)).toEqual(asHex([...c.slice(0, 63), SYNC, c[63], SYNC]));
  });

  it('§3.4: 130 commands are issued as 63 + CMD_SYNC, 63 + CMD_SYNC, 4 + CMD_SYNC (exact sequence received)', async () => {
    const before = await executed(t, f.smmuId);
    const res = await inv(f.viommu, json(asids(130, 1000)));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ entriesProcessed: 130 });
    expect(await executed(t, f.smmuId)).toBe(before + 133);
    const c = converted(130, 1000);
    expect(await lastCommands(t, f.smmuId, 133)).toEqual(asHex([...c.slice(0, 63), SYNC, ...c.slice(63, 126), SYNC, ...c.slice(126), SYNC]));
  });

  it('config: the default MAX_INVALIDATION_ENTRIES is 4096: 4096 entries run (66 batches), 4097 are EINVAL with nothing executed', async () => {
    const before = await executed(t, f.smmuId);
    const res = await inv(f.viommu, octet(asids(4096).map(() => cmd('TLBI_NH_ALL'))), OCTET);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ entriesProcessed: 4096 });
    expect(await executed(t, f.smmuId)).toBe(before + 4096 + 66);
    await rejectedNothingRan(t, f.smmuId, () => inv(f.viommu, octet(Array.from({ length: 4097 }, () => cmd('TLBI_NH_ALL'))), OCTET), 'EINVAL', 400);
  });

  describe('with MAX_INVALIDATION_ENTRIES=8', () => {
    let s: TestApp;
    let g: Fixture;
    beforeAll(async () => {
      s = await startApp({ env: { MAX_INVALIDATION_ENTRIES: '8' } });
      g = await fixture(s);
    });
    afterAll(async () => s.close());

    it('config: 8 entries run; 9 entries are EINVAL (400), entriesProcessed 0, nothing executed (JSON and octet-stream)', async () => {
      const eight = Array.from({ length: 8 }, (_, i) => cmd('TLBI_NH_ASID', { ASID: i }));
      const res = await s.req('POST', `/v1/viommus/${g.viommu}/invalidate`, json(eight));
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ entriesProcessed: 8 });
      const nine = [...eight, cmd('TLBI_NH_ALL')];
      await rejectedNothingRan(s, g.smmuId, () => s.req('POST', `/v1/viommus/${g.viommu}/invalidate`, json(nine)), 'EINVAL', 400);
      await rejectedNothingRan(s, g.smmuId, () => s.req('POST', `/v1/objects/${g.viommu}/invalidate`, octet(nine), OCTET), 'EINVAL', 400);
      const stats = must(await s.req('GET', `/v1/viommus/${g.viommu}/stats`), 200);
      expect(stats.invalidations).toMatchObject({ entries: 8, batches: 1, errors: 2 });
    });

    it('config: the limit is checked after the target (a nested HWPT is still EOPNOTSUPP, a missing id ENOENT)', async () => {
      const nine = Array.from({ length: 9 }, () => cmd('TLBI_NH_ALL'));
      await rejectedNothingRan(s, g.smmuId, () => s.req('POST', `/v1/objects/${g.nested}/invalidate`, json(nine)), 'EOPNOTSUPP', 422);
      await rejectedNothingRan(s, g.smmuId, () => s.req('POST', `/v1/objects/999999/invalidate`, json(nine)), 'ENOENT', 404);
    });
  });
});

describe('framing (api.md: JSON or application/octet-stream of raw little-endian 16-byte entries)', () => {
  const mixed = (): CommandWords[] => [
    cmd('TLBI_NH_VA', { VMID: 0x1234, ASID: 0x77, NUM: 1, SCALE: 3, TG: 1, TTL: 3, LEAF: 1, ADDR: 0xffff_f000n }),
    [0x30n | (0xabcdn << 32n), 0x55n],
    cmd('ATC_INV', { SID: f.vsid, SSV: 1, SSID: 3, SIZE: 52 }),
    cmd('CFGI_CD', { SID: f.vsid, SSID: 0xfffff, LEAF: 1 }),
  ];

  it('api.md: octet-stream entries are executed exactly as the same entries sent as JSON', async () => {
    const b0 = await executed(t, f.smmuId);
    const a = await inv(f.viommu, json(mixed()));
    expect(a.status).toBe(200);
    expect(a.body).toEqual({ entriesProcessed: 4 });
    const viaJson = await lastCommands(t, f.smmuId, 5);
    const b1 = await executed(t, f.smmuId);
    const b = await inv(f.viommu, octet(mixed()), OCTET);
    expect(b.status).toBe(200);
    expect(b.body).toEqual({ entriesProcessed: 4 });
    expect(await lastCommands(t, f.smmuId, 5)).toEqual(viaJson);
    expect(b1 - b0).toBe(5);
    expect((await executed(t, f.smmuId)) - b1).toBe(5);
    expect(viaJson[1]).toEqual(asHex([cmd('TLBI_NH_ALL', { VMID: f.vmid })])[0]);
  });

  it('api.md: octet-stream failures report entriesProcessed as JSON ones do (mixed A10 batch → EIO, 2)', async () => {
    const { ran } = await rejected(
      t,
      f.smmuId,
      () => inv(f.viommu, octet([cmd('TLBI_NH_ASID', { ASID: 3 }), cmd('CFGI_CD_ALL', { SID: f.vsid }), cmd('CFGI_ALL')]), OCTET),
      'EIO',
      422,
      2,
    );
    expect(ran).toBe(3);
  });

  it('api.md: a body whose length is not a multiple of 16 is EINVAL (400), entriesProcessed 0, nothing executed', async () => {
    for (const n of [1, 15, 17, 31, 33]) {
      await rejectedNothingRan(t, f.smmuId, () => inv(f.viommu, Buffer.concat([octet([cmd('TLBI_NH_ALL'), cmd('TLBI_NH_ALL')]), Buffer.alloc(32)]).subarray(0, n), OCTET), 'EINVAL', 400);
    }
  });

  it('§6.10 A11: a zero-length octet-stream body is EINVAL (400), entriesProcessed 0', async () => {
    await rejectedNothingRan(t, f.smmuId, () => inv(f.viommu, Buffer.alloc(0), OCTET), 'EINVAL', 400);
    await rejectedNothingRan(t, f.smmuId, () => t.req('POST', `/v1/objects/${f.viommu}/invalidate`, Buffer.alloc(0), OCTET), 'EINVAL', 400);
  });

  it('§2.4: an octet-stream body to a nested HWPT is EOPNOTSUPP and to a missing id ENOENT', async () => {
    await rejectedNothingRan(t, f.smmuId, () => t.req('POST', `/v1/hwpts/${f.nested}/invalidate`, octet([cmd('TLBI_NH_ALL')]), OCTET), 'EOPNOTSUPP', 422);
    await rejectedNothingRan(t, f.smmuId, () => t.req('POST', `/v1/viommus/999999/invalidate`, octet([cmd('TLBI_NH_ALL')]), OCTET), 'ENOENT', 404);
  });

  it('§2.4: the core looks up hwpt_id before the driver copies the entries: a malformed body to a missing id is ENOENT, to a nested HWPT EOPNOTSUPP, to an IOAS EINVAL', async () => {
    const malformed: Array<[unknown, Record<string, string>]> = [
      [{ dataType: 'arm_smmuv3', entries: [['0x10']] }, {}],
      [{ dataType: 'selftest', entries: [] }, {}],
      [{ entries: [] }, {}],
      [Buffer.alloc(17), OCTET],
    ];
    for (const [body, headers] of malformed) {
      for (const p of ['viommus', 'hwpts', 'objects']) await rejectedNothingRan(t, f.smmuId, () => t.req('POST', `/v1/${p}/999999/invalidate`, body, headers), 'ENOENT', 404);
      await rejectedNothingRan(t, f.smmuId, () => t.req('POST', `/v1/viommus/${f.nested}/invalidate`, body, headers), 'ENOENT', 404);
      await rejectedNothingRan(t, f.smmuId, () => t.req('POST', `/v1/hwpts/${f.nested}/invalidate`, body, headers), 'EOPNOTSUPP', 422);
      await rejectedNothingRan(t, f.smmuId, () => t.req('POST', `/v1/objects/${f.ioas}/invalidate`, body, headers), 'EINVAL', 400);
      // To the vIOMMU it is the driver's EINVAL, with the problems listed for JSON.
      const res = await rejectedNothingRan(t, f.smmuId, () => t.req('POST', `/v1/viommus/${f.viommu}/invalidate`, body, headers), 'EINVAL', 400);
      expect(res.body.errors.length).toBeGreaterThan(0);
    }
  });

  it('§2.4: dataType vtd_s1 (not the ARM driver\'s type) is EINVAL (400), entriesProcessed 0, nothing executed', async () => {
    await rejectedNothingRan(t, f.smmuId, () => inv(f.viommu, json([cmd('TLBI_NH_ALL')], 'vtd_s1')), 'EINVAL', 400);
  });

  it('api.md: an unknown or missing dataType is a body validation EINVAL with errors[]', async () => {
    for (const body of [json([cmd('TLBI_NH_ALL')], 'selftest'), { entries: json([cmd('TLBI_NH_ALL')]).entries }, { dataType: 1, entries: [] }]) {
      const res = await rejectedNothingRan(t, f.smmuId, () => inv(f.viommu, body), 'EINVAL', 400);
      expect(Array.isArray(res.body.errors)).toBe(true);
      expect(res.body.errors.length).toBeGreaterThan(0);
    }
  });

  it('api.md: malformed entries (not [w0, w1] of "0x" hex words, unknown keys) are EINVAL with errors[]', async () => {
    const bad: unknown[] = [
      { dataType: 'arm_smmuv3', entries: [['0x10']] },
      { dataType: 'arm_smmuv3', entries: [['0x10', '0x0', '0x0']] },
      { dataType: 'arm_smmuv3', entries: [['0x10', '0x10000000000000000']] },
      { dataType: 'arm_smmuv3', entries: [[16, 0]] },
      { dataType: 'arm_smmuv3', entries: [['10', '0']] },
      { dataType: 'arm_smmuv3', entries: [['0x10', '0x0']], extra: true },
      { dataType: 'arm_smmuv3' },
    ];
    for (const body of bad) {
      const res = await rejectedNothingRan(t, f.smmuId, () => inv(f.viommu, body), 'EINVAL', 400);
      expect(res.body.errors.length).toBeGreaterThan(0);
    }
  });

  it('api.md: word hex is case-insensitive and may be short ("0x12" is opcode TLBI_NH_VA)', async () => {
    const res = await inv(f.viommu, { dataType: 'arm_smmuv3', entries: [['0x12', '0xABC000']] });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ entriesProcessed: 1 });
    expect(await lastCommands(t, f.smmuId, 2)).toEqual(asHex([[0x12n | (BigInt(f.vmid) << 32n), 0xabc000n], SYNC]));
  });
});

describe('stats (api.md: GET /v1/viommus/{id}/stats, GET /v1/smmus/{id}/state, GraphQL viommu { stats } / smmu { state })', () => {
  let s: TestApp;
  let installs: any;
  /** The SMMU's count of `opcode` with what the STE installs ran before the invalidations added. */
  const withInstalls = (byOpcode: Record<string, number>) => {
    const total: Record<string, number> = { ...installs.commands.byOpcode };
    for (const [op, n] of Object.entries(byOpcode)) total[op] = (total[op] ?? 0) + n;
    return total;
  };
  let g: Fixture;
  let h: Fixture;
  beforeAll(async () => {
    s = await startApp();
    g = await fixture(s, 'nic1', 0x42); // on smmu1
    h = await fixture(s, 'nvme1', 0x43); // a second vIOMMU on the same SMMU: its own counters
    // What building the VMs ran: each STE the driver installed is a CFGI_STE + CMD_SYNC, and
    // each CD (the stage-1 auto HWPT of an attach to the IOAS) a CFGI_CD + CMD_SYNC before it.
    installs = await smmuState(s, g.smmuId, 1024);
    const sInv = (body: unknown) => s.req('POST', `/v1/viommus/${g.viommu}/invalidate`, body);
    // 1: three entries, one batch.
    must(await sInv(json([cmd('TLBI_NH_VA', { ASID: 1, ADDR: 0x1000n }), cmd('TLBI_NSNH_ALL'), cmd('ATC_INV', { SID: g.vsid, SIZE: 52 })])), 200);
    // 2: 64 entries, two batches.
    must(await sInv(json(Array.from({ length: 64 }, (_, i) => cmd('TLBI_NH_ASID', { ASID: i })))), 200);
    // 3: EIO at entry 1: one batch of one entry issued first.
    expect((await sInv(json([cmd('TLBI_NH_ALL'), cmd('CFGI_STE', { SID: g.vsid })]))).body.entriesProcessed).toBe(1);
    // 4: entries [] → EINVAL.
    expect((await sInv(json([]))).body.errno).toBe('EINVAL');
  });
  afterAll(async () => s.close());

  const expectedInvalidations = {
    requests: 4,
    entries: 3 + 64 + 1,
    batches: 1 + 2 + 1,
    errors: 2,
    skipped: 0,
    // By the guest's opcode (TLBI_NSNH_ALL as sent); the refused CFGI_STE is not counted.
    byOpcode: { TLBI_NH_VA: 1, TLBI_NSNH_ALL: 1, ATC_INV: 1, TLBI_NH_ASID: 64, TLBI_NH_ALL: 1 },
  };
  const expectedSmmuByOpcode = { TLBI_NH_VA: 1, TLBI_NH_ALL: 2, ATC_INV: 1, TLBI_NH_ASID: 64, CMD_SYNC: 4 };

  it('api.md: GET /v1/viommus/{id}/stats counts entries, batches, errors and by opcode; TLB and ATC numbers', async () => {
    const st = must(await s.req('GET', `/v1/viommus/${g.viommu}/stats`), 200);
    expect(st.invalidations).toEqual(expectedInvalidations);
    expect(st.tlb).toEqual({ entries: 0, hits: 0, misses: 0, evictions: 0 });
    expect(st.atc).toEqual({ entries: 0 });
  });

  it('api.md: stats are per vIOMMU: another vIOMMU on the same SMMU has its own (zero) counters', async () => {
    const st = must(await s.req('GET', `/v1/viommus/${h.viommu}/stats`), 200);
    expect(st.invalidations).toMatchObject({ entries: 0, batches: 0, errors: 0, byOpcode: {} });
    expect(st.tlb).toEqual({ entries: 0, hits: 0, misses: 0, evictions: 0 });
  });

  it('api.md: GET /v1/viommus/{id}/stats of a missing id or a non-vIOMMU is ENOENT', async () => {
    expectProblem(await s.req('GET', '/v1/viommus/999999/stats'), 'ENOENT', 404);
    expectProblem(await s.req('GET', `/v1/viommus/${g.nested}/stats`), 'ENOENT', 404);
  });

  it('issue 11: the driver installs each STE (CFGI_STE leaf + CMD_SYNC, arm_smmu_sync_ste_for_sid) and each CD before the STE that points at it (CFGI_CD leaf + CMD_SYNC, arm_smmu_sync_cd) through the command queue, visible in the SMMU state', async () => {
    // At start, the abort STE of every device behind the SMMU, in id order. Then each fixture's
    // attach of its device to the IOAS: the auto HWPT is a stage-1 domain, so the driver writes
    // its CD at SSID 0 and syncs it, then installs the CD-table STE (arm_smmu_attach_dev,
    // ARM_SMMU_DOMAIN_S1). The nest parent, vIOMMU, vDEVICE and unattached nested HWPT change no
    // STE or CD.
    const devices = must(await s.req('GET', `/v1/devices?smmuId=${g.smmuId}&limit=500`), 200).items as Array<{ id: number; streamId: number }>;
    expect(devices.map((d) => d.streamId)).toContain(g.sid);
    expect(devices.map((d) => d.streamId)).toContain(h.sid);
    const cfgiSte = (sid: number) => cmd('CFGI_STE', { SID: sid, LEAF: 1 });
    const cfgiCd = (sid: number) => cmd('CFGI_CD', { SID: sid, SSID: 0, LEAF: 1 });
    const expected = [
      ...devices.flatMap((d) => [cfgiSte(d.streamId), SYNC]),
      ...[g.sid, h.sid].flatMap((sid) => [cfgiCd(sid), SYNC, cfgiSte(sid), SYNC]),
    ];
    expect(installs.recentCommands).toEqual(asHex(expected));
    expect(installs.commands.byOpcode).toEqual({ CFGI_STE: devices.length + 2, CFGI_CD: 2, CMD_SYNC: devices.length + 4 });
    expect(installs.commands.executed).toBe(expected.length);
  });

  it('api.md: GET /v1/smmus/{id}/state counts executed commands by opcode, errors, TLB/ATC, and the queue pointers', async () => {
    const base = installs.commands.executed;
    const st = await smmuState(s, g.smmuId, 72);
    expect(st.commands.executed).toBe(base + 68 + 4);
    expect(st.commands.byOpcode).toEqual(withInstalls(expectedSmmuByOpcode));
    expect(st.commands.errors).toEqual({ CERROR_ILL: 0, CERROR_ABT: 0, CERROR_ATC_INV_SYNC: 0 });
    expect(st.cmdq).toMatchObject({ prod: base + 72, cons: base + 72, err: 0, stopped: false, enabled: true, pending: 0 });
    expect(st.tlb).toMatchObject({ entries: 0, hits: 0, misses: 0, evictions: 0 });
    expect(st.atc).toMatchObject({ entries: 0 });
    expect(st.recentCommands).toHaveLength(72);
    expect(st.recentCommands[0]).toEqual(asHex([cmd('TLBI_NH_VA', { VMID: g.vmid, ASID: 1, ADDR: 0x1000n })])[0]);
    expect(st.recentCommands[71]).toEqual(asHex([SYNC])[0]);
    // The other SMMU saw nothing.
    const other = (await s.req('GET', '/v1/smmus')).body.items.find((x: { id: number }) => x.id !== g.smmuId);
    // (only the STE installs of its own devices at start: CFGI_STE + CMD_SYNC each).
    expect((await smmuState(s, other.id)).commands.byOpcode).toEqual({ CFGI_STE: 4, CMD_SYNC: 4 });
  });

  it('api.md: state?commands=N returns the last N executed commands, oldest first; N outside 0..1024 is EINVAL', async () => {
    const st = await smmuState(s, g.smmuId, 2);
    expect(st.recentCommands).toEqual(asHex([cmd('TLBI_NH_ALL', { VMID: g.vmid }), SYNC]));
    expect((await smmuState(s, g.smmuId)).recentCommands).toEqual([]);
    expectProblem(await s.req('GET', `/v1/smmus/${g.smmuId}/state?commands=1025`), 'EINVAL', 400);
    expectProblem(await s.req('GET', `/v1/smmus/${g.smmuId}/state?commands=-1`), 'EINVAL', 400);
    expectProblem(await s.req('GET', '/v1/smmus/999999/state'), 'ENOENT', 404);
  });

  it('GraphQL: viommu { stats } and viommu { smmu { state } } give the same numbers as REST', async () => {
    const r = await s.gql(
      `query($id: ID!) { viommu(id: $id) {
        stats { invalidations { requests entries batches errors skipped byOpcode { opcode count } } tlb { entries hits misses evictions } atc { entries } }
        smmu { id state { commands { executed byOpcode { opcode count } errors { opcode count } }
          tlb { entries hits misses evictions } atc { entries } configCache { entries hits misses }
          cmdq { log2Size prod cons err stopped enabled pending } streamTableEntries } } } }`,
      { id: g.viommu },
    );
    expect(r.errors).toBeUndefined();
    const v = r.data.viommu;
    const toObj = (l: Array<{ opcode: string; count: number }>) => Object.fromEntries(l.map((x) => [x.opcode, x.count]));
    expect({ ...v.stats.invalidations, byOpcode: toObj(v.stats.invalidations.byOpcode) }).toEqual(expectedInvalidations);
    expect(v.stats.tlb).toEqual({ entries: 0, hits: 0, misses: 0, evictions: 0 });
    expect(v.stats.atc).toEqual({ entries: 0 });
    const rest = await smmuState(s, g.smmuId);
    expect(v.smmu.id).toBe(String(g.smmuId));
    expect(v.smmu.state.commands.executed).toBe(installs.commands.executed + 72);
    expect(toObj(v.smmu.state.commands.byOpcode)).toEqual(withInstalls(expectedSmmuByOpcode));
    expect(toObj(v.smmu.state.commands.errors)).toEqual(rest.commands.errors);
    expect(v.smmu.state.cmdq).toEqual(rest.cmdq);
    expect(v.smmu.state.configCache).toEqual(rest.configCache);
    expect(v.smmu.state.tlb).toEqual({ entries: rest.tlb.entries, hits: rest.tlb.hits, misses: rest.tlb.misses, evictions: rest.tlb.evictions });
    expect(v.smmu.state.atc).toEqual({ entries: rest.atc.entries });
    expect(v.smmu.state.streamTableEntries).toBe(rest.streamTable.entries);
  });

  it('GraphQL: smmu(id) { state } agrees with REST', async () => {
    const r = await s.gql(`query($id: ID!) { smmu(id: $id) { state { commands { executed } cmdq { prod cons pending } } } }`, { id: g.smmuId });
    expect(r.errors).toBeUndefined();
    const n = installs.commands.executed + 72;
    expect(r.data.smmu.state).toEqual({ commands: { executed: n }, cmdq: { prod: n, cons: n, pending: 0 } });
  });

  it('stats: a rejected request before the target is found (ENOENT) changes no vIOMMU counters and runs nothing', async () => {
    const before = must(await s.req('GET', `/v1/viommus/${g.viommu}/stats`), 200);
    await rejectedNothingRan(s, g.smmuId, () => s.req('POST', '/v1/viommus/999999/invalidate', json([cmd('TLBI_NH_ALL')])), 'ENOENT', 404);
    expect(must(await s.req('GET', `/v1/viommus/${g.viommu}/stats`), 200)).toEqual(before);
  });
});

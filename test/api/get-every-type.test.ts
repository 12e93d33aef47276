/**
 * GET of every object type — by its own route, by GET /v1/objects/{id}, and over GraphQL
 * (`object(id:)` and the type's own query) — with every field compared with what was created:
 * exact values, derived by hand from the request (api.md "Shapes that tests rely on", iommufd.md
 * for what the kernel defines), never read back from the service to build the expectation.
 *
 * The world: a custom SMMU (non-default IDRs, IIDR, AIDR, IOTLB size, CMDQV), two devices on it
 * (one with ATS and PASIDs), one context with two IOAS (one mapped), an auto, a dirty-tracking
 * and a nest-parent paging HWPT, a Tegra241 and an ARM vIOMMU, a vDEVICE, three nested HWPTs
 * (S1 translate with every decoded vSTE field set, S1 with EATS, V=0), a HW queue stopped by an
 * illegal command, and two vEVENTQs holding records.
 *
 * Paging HWPTs follow arm_smmu_domain_alloc_paging_flags: the auto and the dirty-tracking HWPT
 * are stage 1 (an ASID, no VMID), the nest parent stage 2 (a VMID, no ASID). The device attached
 * to the auto HWPT (dev2) so has a CD-table STE; dev, attached to the nested HWPT, a nested STE.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeCd, encodeSte, STE_CFG, STE_S1DSS } from '../../src/hw/index.js';
import { expectProblem, must, startApp, type TestApp } from '../helper.js';

const hex = (n: number | bigint) => `0x${n.toString(16)}`;
const word = (n: bigint) => `0x${n.toString(16).padStart(16, '0')}`;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

// ---- The SMMU: api.md's default IDRs changed field by field (smmuv3.md §6.1 layout). ----
// IDR0: default 0x0d44141b without ASID16 (bit 12), with HTTU = 2 (bits 7:6) and PRI (bit 16).
const IDR0 = 0x0d45049b;
// IDR1: SIDSIZE 20, SSIDSIZE 10, PRIQS 5, EVENTQS 17, CMDQS 15.
const IDR1 = (20 | (10 << 6) | (5 << 11) | (17 << 16) | (15 << 21)) >>> 0;
const IDR2 = 0x00000123;
// IDR3: FWB (bit 8), BBML 1 (bits 12:11), RIL clear.
const IDR3 = 0x00000900;
// IDR4 is implementation defined: a value with bit 31 set (u32, not a signed 32-bit image).
const IDR4 = 0xdeadbeef;
// IDR5: OAS 6 (52 bits), GRAN4K, GRAN64K (no 16K), VAX 1.
const IDR5 = 0x00000456;
const SMMU_BODY = {
  name: 'custom-smmu',
  idr: [IDR0, IDR1, IDR2, IDR3, IDR4, IDR5],
  // IIDR: ProductID 0xf0a (bit 31 set), Variant 1, Revision 2, Implementer 0x43b.
  iidr: 0xf0a1243b,
  aidr: 0x00000002,
  iotlbSize: 17,
  cmdqv: { vintfs: 8, vcmdqsPerVintf: 4, sidsPerVintf: 32, version: 2 },
};
const SMMU_FEATURES = {
  s1p: true,
  s2p: true,
  nesting: true,
  ats: true,
  pri: true,
  vmidBits: 16,
  asidBits: 8,
  sidBits: 20,
  ssidBits: 10,
  oasBits: 52,
  granules: ['4k', '64k'],
  ril: false,
  cmdqs: 15,
  eventqs: 17,
};

// ---- The nested HWPT's vSTE: every field the view decodes is non-zero. ----
const CD_PTR = 0x8_1234_5640n; // S1ContextPtr [51:6]
const STE0 = 1n | (5n << 1n) | (1n << 4n) | CD_PTR | (5n << 59n); // V, Config S1 (5), S1Fmt 1, S1CDMax 5
// S1DSS 2 (SSID0), S1CIR 1, S1COR 2, S1CSH 3, S1STALLD; EATS 0.
const STE1 = 2n | (1n << 2n) | (2n << 4n) | (3n << 6n) | (1n << 27n);
const STE0_ATS = 1n | (5n << 1n) | 0x4_0000n; // S1 translate, CD at 0x40000
const STE1_ATS = 1n << 28n; // EATS = TRANS

const QUEUE_IOVA = 0x8000_0800n;
const QUEUE_LENGTH = 0x800; // 128 commands: LOG2SIZE 7
const MAP_IOVA = 0x8000_0000n;

// ---- What the host driver programs (GET /v1/devices/{id} `host`). ----
// Where the kernel puts an io-pgtable root, the model puts a handle of the IOAS it resolves:
// STE.S2TTB = IOAS id << 4 (hardware.ts s2HandleOfIoas), CD.TTB0 = 0xe000_0000_0000 + (IOAS id << 12)
// (driver/cd-table.ts s1HandleOfIoas).
const s2Ttb = (ioasId: number) => BigInt(ioasId) << 4n;
const s1Ttb = (ioasId: number) => 0xe000_0000_0000n + (BigInt(ioasId) << 12n);
// The CD tables live in driver memory from 0xf000_0000_0000, one 128 MiB region per device fixed
// by its id (driver/cd-table.ts cdTableRegion), so the address survives a restart.
const cdTableBase = (deviceId: number) => 0xf000_0000_0000n + (BigInt(deviceId) << 27n);
// The MAIR the model's arm_smmu_make_s1_cd writes into CD word 3 (driver/cd-table.ts buildS1Cd).
const HOST_MAIR = 0xf404_ff44n;

let t: TestApp;
let started = 0;
/** What each POST answered, by name. */
const made: Record<string, any> = {};
const id = (name: string): number => made[name].id;

beforeAll(async () => {
  t = await startApp();
  started = Date.now();
  made.smmu = must(await t.req('POST', '/v1/smmus', SMMU_BODY), 201);
  made.dev = must(await t.req('POST', '/v1/devices', { name: 'get-dev', smmuId: id('smmu'), streamId: 0xabcde, ats: true, pasidBits: 14 }), 201);
  made.dev2 = must(await t.req('POST', '/v1/devices', { name: 'get-dev2', smmuId: id('smmu'), streamId: 0x5 }), 201);
  made.ctx = must(await t.req('POST', '/v1/contexts', { name: 'get-every-type' }), 201);
  must(await t.req('POST', `/v1/contexts/${id('ctx')}/devices`, { deviceId: id('dev') }), 201);
  must(await t.req('POST', `/v1/contexts/${id('ctx')}/devices`, { deviceId: id('dev2') }), 201);
  made.ioas = must(await t.req('POST', '/v1/ioas', { contextId: id('ctx') }), 201);
  made.ioas2 = must(await t.req('POST', '/v1/ioas', { contextId: id('ctx') }), 201);
  made.map = must(await t.req('POST', `/v1/ioas/${id('ioas2')}/mappings`, { iova: hex(MAP_IOVA), length: '0x10000' }), 201);
  made.mapRo = must(await t.req('POST', `/v1/ioas/${id('ioas2')}/mappings`, { iova: '0x1000', length: '0x3000', write: false }), 201);
  made.attach2 = must(await t.req('PUT', `/v1/devices/${id('dev2')}/attachment`, { ptId: id('ioas2') }), 200);
  made.dirty = must(await t.req('POST', '/v1/hwpts', { deviceId: id('dev'), ptId: id('ioas2'), flags: ['dirty_tracking'] }), 201);
  made.parent = must(await t.req('POST', '/v1/hwpts', { deviceId: id('dev'), ptId: id('ioas2'), flags: ['nest_parent'] }), 201);
  made.tviommu = must(await t.req('POST', '/v1/viommus', { deviceId: id('dev'), hwptId: id('parent'), type: 'tegra241_cmdqv' }), 201);
  made.aviommu = must(await t.req('POST', '/v1/viommus', { deviceId: id('dev2'), hwptId: id('parent'), type: 'arm_smmuv3' }), 201);
  made.vdev = must(await t.req('POST', '/v1/vdevices', { viommuId: id('tviommu'), deviceId: id('dev'), virtId: 0x77 }), 201);
  made.nested = must(await t.req('POST', '/v1/hwpts', { deviceId: id('dev'), ptId: id('tviommu'), data: { type: 'arm_smmuv3', ste: [hex(STE0), hex(STE1)] } }), 201);
  made.nestedAts = must(await t.req('POST', '/v1/hwpts', { deviceId: id('dev'), ptId: id('tviommu'), data: { type: 'arm_smmuv3', ste: [hex(STE0_ATS), hex(STE1_ATS)] } }), 201);
  made.nestedInvalid = must(await t.req('POST', '/v1/hwpts', { deviceId: id('dev2'), ptId: id('aviommu'), data: { type: 'arm_smmuv3', ste: ['0x0', '0xffffffffffffffff'] } }), 201);
  made.attach = must(await t.req('PUT', `/v1/devices/${id('dev')}/attachment`, { ptId: id('nested') }), 200);
  made.teventq = must(await t.req('POST', '/v1/eventqs', { viommuId: id('tviommu'), type: 'tegra241_cmdqv', depth: 5 }), 201);
  made.aeventq = must(await t.req('POST', '/v1/eventqs', { viommuId: id('aviommu'), type: 'arm_smmuv3', depth: 2 }), 201);
  for (let i = 0; i < 3; i++) {
    must(await t.req('POST', `/v1/viommus/${id('aviommu')}/events`, { type: 'arm_smmuv3', record: [`0x${(0x30 + i).toString(16)}00000010`, '0x0', hex(0x1000 * (i + 1)), '0x0'] }), 201);
  }
  made.queue = must(await t.req('POST', '/v1/hw-queues', { viommuId: id('tviommu'), type: 'tegra241_cmdqv', index: 0, nestingParentIova: hex(QUEUE_IOVA), length: hex(QUEUE_LENGTH) }), 201);
  // CMD_SYNC, an illegal opcode (0x30), CMD_SYNC; then the guest enables the queue.
  must(await t.req('POST', `/v1/hw-queues/${id('queue')}/commands`, { entries: [['0x46', '0x0'], ['0x30', '0x0'], ['0x46', '0x0']] }), 200);
  made.enable = must(await t.req('PATCH', `/v1/hw-queues/${id('queue')}`, { enabled: true }), 200);
}, 120_000);

afterAll(async () => {
  await t?.close();
});

/** The createdAt every view carries: the POST's, an ISO-8601 UTC timestamp of this run. */
function createdAt(name: string): string {
  const c = made[name].createdAt;
  expect(c).toMatch(ISO);
  expect(Date.parse(c)).toBeGreaterThanOrEqual(started - 1000);
  expect(Date.parse(c)).toBeLessThanOrEqual(Date.now());
  return c;
}

/** The VMIDs the world owns on the custom SMMU: distinct, each within VMID16. */
function vmidOf(name: string): number {
  const v = made[name].vmid;
  expect(Number.isInteger(v) && v >= 1 && v <= 0xffff, `${name} vmid ${v}`).toBe(true);
  return v;
}

/**
 * The ASIDs of the stage-1 HWPTs: arm_smmu_domain_finalise_s1 takes the lowest free ASID from 1
 * (xa_alloc in arm_smmu_asid_xa, one ASID space for the host), and no other stage-1 domain
 * exists in this app: the auto HWPT (attach2) got 1, the dirty-tracking HWPT, allocated next, 2.
 */
const ASID = { auto: 1, dirty: 2 } as const;

/** The lowest `n` ids in 1.. that `used` does not hold (how the kernel's ASID xarray and VMID IDA allocate). */
function lowestFree(used: number[], n: number): number[] {
  const out: number[] = [];
  for (let v = 1; out.length < n; v++) if (!used.includes(v)) out.push(v);
  return out;
}

const autoHwpt = () => made.attach2.attachedTo as number;

/**
 * The host configuration of each device, derived by hand (driver/arm-smmu-v3.ts, driver/cd-table.ts,
 * after Linux arm-smmu-v3.c).
 */
function expectedHosts(): { dev: Record<string, unknown>; dev2: Record<string, unknown> } {
  // dev on the nested HWPT (arm_smmu_make_nested_domain_ste): the nest parent's S2 STE with the
  // vIOMMU's VMID — SHCFG incoming, VTCR 4 KiB granule / T0SZ 16 / SL0 2 / PS 5 / WBWA inner and
  // outer / inner shareable, S2AA64, S2PTW, S2R, S2TTB the parent's IOAS — Config forced to
  // nested, the guest's word-0 fields (S1Fmt 1, S1ContextPtr, S1CDMax 5) and word-1 fields (S1DSS
  // 2, S1CIR 1, S1COR 2, S1CSH 3, S1STALLD) OR-ed in, MEV forced on, EATS 0 (no ATS).
  const nested = encodeSte({
    V: 1,
    CONFIG: STE_CFG.NESTED,
    S1FMT: 1,
    S1CONTEXTPTR: CD_PTR,
    S1CDMAX: 5,
    S1DSS: 2,
    S1CIR: 1,
    S1COR: 2,
    S1CSH: 3,
    S1STALLD: 1,
    MEV: 1,
    EATS: 0,
    SHCFG: 1,
    S2VMID: vmidOf('tviommu'),
    S2T0SZ: 16,
    S2SL0: 2,
    S2TG: 0,
    S2PS: 5,
    S2IR0: 1,
    S2OR0: 1,
    S2SH0: 3,
    S2AA64: 1,
    S2PTW: 1,
    S2R: 1,
    S2TTB: s2Ttb(id('ioas2')),
  });
  // dev2 on the stage-1 auto HWPT (arm_smmu_attach_dev, ARM_SMMU_DOMAIN_S1): its CD at SSID 0
  // (arm_smmu_make_s1_cd: T0SZ 16, TG0 4 KiB, IRGN0/ORGN0 WBWA, SH0 inner, EPD1, V, IPS = IDR5.OAS
  // (6: 52 bits), AA64, R, A, ASET, the domain's ASID; TTB0; MAIR), and a CD-table STE
  // (arm_smmu_make_cdtable_ste: Config S1, linear table of 2^0 CDs — dev2 has no PASIDs —
  // S1DSS=SSID0, CD fetches WBRA inner/outer and inner shareable; no S1STALLD, as IDR0.STALL_MODEL
  // is 1 (no stalls); EATS 0; STRW NS-EL1; VMID 0).
  const cd = encodeCd({ T0SZ: 16, TG0: 0, IR0: 1, OR0: 1, SH0: 3, EPD1: 1, V: 1, IPS: 6, AA64: 1, R: 1, A: 1, ASET: 1, ASID: ASID.auto, TTB0: s1Ttb(id('ioas2')), MAIR: HOST_MAIR });
  const cdTableSte = encodeSte({
    V: 1,
    CONFIG: STE_CFG.S1_TRANS,
    S1FMT: 0,
    S1CONTEXTPTR: cdTableBase(id('dev2')),
    S1CDMAX: 0,
    S1DSS: STE_S1DSS.SSID0,
    S1CIR: 1,
    S1COR: 1,
    S1CSH: 3,
    S1STALLD: 0,
    EATS: 0,
    STRW: 0,
    S2VMID: 0,
  });
  return {
    dev: { ste: nested.map(word), config: 'nested', cdTable: null },
    dev2: {
      ste: cdTableSte.map(word),
      config: 's1_translate',
      cdTable: { base: hex(cdTableBase(id('dev2'))), s1fmt: 'linear', s1cdmax: 0, s1dss: 'ssid0', cds: [{ ssid: 0, hwptId: autoHwpt(), asid: ASID.auto, words: cd.map(word) }] },
    },
  };
}

/** Every object's expected view, by name (GET /v1/objects/{id} and its own route answer exactly this). */
function expectedObjects(): Record<string, { route: string; view: Record<string, unknown> }> {
  const ctx = id('ctx');
  const smmuId = id('smmu');
  const queueBase = BigInt(made.map.hostAddress) + (QUEUE_IOVA - MAP_IOVA);
  return {
    ioas: { route: '/v1/ioas', view: { id: id('ioas'), type: 'ioas', contextId: ctx, createdAt: createdAt('ioas') } },
    ioas2: { route: '/v1/ioas', view: { id: id('ioas2'), type: 'ioas', contextId: ctx, createdAt: createdAt('ioas2') } },
    dirty: {
      route: '/v1/hwpts',
      view: {
        id: id('dirty'),
        type: 'hwpt_paging',
        contextId: ctx,
        createdAt: createdAt('dirty'),
        ioasId: id('ioas2'),
        nestParent: false,
        dirtyTracking: true,
        pasid: false,
        auto: false,
        smmuId,
        // dirty_tracking alone: a stage-1 domain (arm_smmu_domain_alloc_paging_flags).
        stage: 1,
        vmid: null,
        asid: ASID.dirty,
        deviceId: id('dev'),
        devices: [],
        pasidDevices: [],
      },
    },
    parent: {
      route: '/v1/hwpts',
      view: {
        id: id('parent'),
        type: 'hwpt_paging',
        contextId: ctx,
        createdAt: createdAt('parent'),
        ioasId: id('ioas2'),
        nestParent: true,
        dirtyTracking: false,
        pasid: false,
        auto: false,
        smmuId,
        // nest_parent: a stage-2 domain with its VMID.
        stage: 2,
        vmid: vmidOf('parent'),
        asid: null,
        deviceId: id('dev'),
        devices: [],
        pasidDevices: [],
      },
    },
    tviommu: {
      route: '/v1/viommus',
      view: {
        id: id('tviommu'),
        type: 'viommu',
        contextId: ctx,
        createdAt: createdAt('tviommu'),
        viommuType: 'tegra241_cmdqv',
        smmuId,
        hwptId: id('parent'),
        deviceId: id('dev'),
        vmid: vmidOf('tviommu'),
        // VINTF0 is the host's: the first user VINTF is 1 (tegra241_cmdqv_init_vintf_user).
        vintf: 1,
      },
    },
    aviommu: {
      route: '/v1/viommus',
      view: {
        id: id('aviommu'),
        type: 'viommu',
        contextId: ctx,
        createdAt: createdAt('aviommu'),
        viommuType: 'arm_smmuv3',
        smmuId,
        hwptId: id('parent'),
        deviceId: id('dev2'),
        vmid: vmidOf('aviommu'),
      },
    },
    vdev: {
      route: '/v1/vdevices',
      view: {
        id: id('vdev'),
        type: 'vdevice',
        contextId: ctx,
        createdAt: createdAt('vdev'),
        viommuId: id('tviommu'),
        deviceId: id('dev'),
        virtId: 0x77,
        physicalStreamId: 0xabcde,
        // The first SID_MATCH/SID_REPLACE slot of the VINTF.
        sidSlot: 0,
      },
    },
    nested: {
      route: '/v1/hwpts',
      view: {
        id: id('nested'),
        type: 'hwpt_nested',
        contextId: ctx,
        createdAt: createdAt('nested'),
        nestParent: false,
        viommuId: id('tviommu'),
        smmuId,
        deviceId: id('dev'),
        enableAts: false,
        vste: {
          ste: [word(STE0), word(STE1)],
          valid: true,
          config: 's1_translate',
          s1ContextPtr: hex(CD_PTR),
          s1Fmt: 1,
          s1CdMax: 5,
          s1Dss: 2,
          eats: 0,
        },
        devices: [id('dev')],
      },
    },
    nestedInvalid: {
      route: '/v1/hwpts',
      view: {
        id: id('nestedInvalid'),
        type: 'hwpt_nested',
        contextId: ctx,
        createdAt: createdAt('nestedInvalid'),
        nestParent: false,
        viommuId: id('aviommu'),
        smmuId,
        deviceId: id('dev2'),
        enableAts: false,
        // V=0: the kernel zeroes the whole vSTE (iommufd.md §3.2, §6.10 A3).
        vste: {
          ste: [word(0n), word(0n)],
          valid: false,
          config: 'invalid',
          s1ContextPtr: '0x0',
          s1Fmt: 0,
          s1CdMax: 0,
          s1Dss: 0,
          eats: 0,
        },
        devices: [],
      },
    },
    queue: {
      route: '/v1/hw-queues',
      view: {
        id: id('queue'),
        type: 'hw_queue',
        contextId: ctx,
        createdAt: createdAt('queue'),
        viommuId: id('tviommu'),
        queueType: 'tegra241_cmdqv',
        index: 0,
        nestingParentIova: hex(QUEUE_IOVA),
        length: hex(QUEUE_LENGTH),
        // VCMDQ_BASE: ADDR (the pinned host address) | LOG2SIZE.
        base: hex(queueBase | 7n),
        log2Size: 7,
        prod: 3,
        // CONS index 1 (the illegal command) with ERR = CERROR_ILL (1) in [30:24].
        cons: 0x01000001,
        consIndex: 1,
        enabled: true,
        status: { enabled: true },
        // GERROR.CMDQ_ERR toggled, GERRORN not yet: the queue is stopped.
        gerror: 1,
        gerrorn: 0,
        stopped: true,
        error: 'CERROR_ILL',
      },
    },
    teventq: {
      route: '/v1/eventqs',
      // One record: the VINTF's LVCMDQ_ERR_MAP after queue 0 stopped.
      view: { id: id('teventq'), type: 'veventq', contextId: ctx, createdAt: createdAt('teventq'), viommuId: id('tviommu'), eventqType: 'tegra241_cmdqv', depth: 5, pending: 1, nextSequence: 1 },
    },
    aeventq: {
      route: '/v1/eventqs',
      // Depth 2, three injected: two records and the LOST_EVENTS marker, which took sequence 2.
      view: { id: id('aeventq'), type: 'veventq', contextId: ctx, createdAt: createdAt('aeventq'), viommuId: id('aviommu'), eventqType: 'arm_smmuv3', depth: 2, pending: 3, nextSequence: 3 },
    },
  };
}

describe('GET of every object type by its own route and by /v1/objects/{id}', () => {
  it('get: the POST answer of every object is the view GET returns (same fields, same values)', async () => {
    const exp = expectedObjects();
    // What changed after each POST: the attach, the queued records.
    const atCreation: Record<string, Record<string, unknown>> = {
      nested: { devices: [] },
      teventq: { pending: 0, nextSequence: 0 },
      aeventq: { pending: 0, nextSequence: 0 },
    };
    for (const name of Object.keys(exp)) {
      if (name === 'queue') continue; // its registers moved after the POST (commands, enable)
      expect(made[name], name).toEqual({ ...exp[name].view, ...atCreation[name] });
    }
    // The HW queue as allocated: empty and disabled.
    expect(made.queue).toEqual({
      ...exp.queue.view,
      prod: 0,
      cons: 0,
      consIndex: 0,
      enabled: false,
      status: { enabled: false },
      gerror: 0,
      gerrorn: 0,
      stopped: false,
      error: null,
    });
    // PATCH answers the queue's view with the run it caused.
    expect(made.enable).toEqual({ ...exp.queue.view, run: { consumed: 1, prod: 3, cons: 0x01000001, error: { code: 'CERROR_ILL', index: 1, opcode: 0x30 } } });
  });

  for (const name of ['ioas', 'ioas2', 'dirty', 'parent', 'tviommu', 'aviommu', 'vdev', 'nested', 'nestedInvalid', 'queue', 'teventq', 'aeventq']) {
    it(`get: ${name} — GET by its own route and GET /v1/objects/{id} return every field exactly`, async () => {
      const exp = expectedObjects()[name];
      expect(must(await t.req('GET', `${exp.route}/${exp.view.id}`), 200)).toEqual(exp.view);
      expect(must(await t.req('GET', `/v1/objects/${exp.view.id}`), 200)).toEqual(exp.view);
    });
  }

  it('get: the auto HWPT of an attach to an IOAS is a stage-1 paging HWPT with auto, its device and an ASID (no VMID)', async () => {
    const view = must(await t.req('GET', `/v1/hwpts/${autoHwpt()}`), 200);
    expect(view).toEqual({
      id: autoHwpt(),
      type: 'hwpt_paging',
      contextId: id('ctx'),
      createdAt: expect.stringMatching(ISO),
      ioasId: id('ioas2'),
      nestParent: false,
      dirtyTracking: false,
      // iommufd_device_auto_get_domain asks for IOMMU_HWPT_ALLOC_PASID only for a device that can
      // issue PASIDs: dev2 has none.
      pasid: false,
      auto: true,
      smmuId: id('smmu'),
      // No flags: stage 1 on an SMMU with S1P, with the lowest free ASID and no VMID.
      stage: 1,
      vmid: null,
      asid: ASID.auto,
      deviceId: id('dev2'),
      devices: [id('dev2')],
      pasidDevices: [],
    });
    expect(must(await t.req('GET', `/v1/objects/${autoHwpt()}`), 200)).toEqual(view);
    // The stage-1 domains own distinct ASIDs, the stage-2 nest parent and the vIOMMUs distinct VMIDs.
    expect(made.dirty.asid).not.toBe(view.asid);
    const vmids = [vmidOf('parent'), vmidOf('tviommu'), vmidOf('aviommu')];
    expect(new Set(vmids).size).toBe(vmids.length);
  });

  it('get: a nested HWPT from an S1 vSTE with EATS=1 enables ATS and decodes like the one without', async () => {
    const view = must(await t.req('GET', `/v1/hwpts/${id('nestedAts')}`), 200);
    expect(view).toMatchObject({
      id: id('nestedAts'),
      type: 'hwpt_nested',
      contextId: id('ctx'),
      createdAt: createdAt('nestedAts'),
      nestParent: false,
      viommuId: id('tviommu'),
      smmuId: id('smmu'),
      deviceId: id('dev'),
      enableAts: true,
      devices: [],
    });
    // Word 1's EATS bits: the kernel strips them from the stored vSTE (iommufd.md §3.2), while
    // api.md decodes `eats` in the view; only the fields both readings agree on are pinned here.
    expect(view.vste).toMatchObject({ valid: true, config: 's1_translate', s1ContextPtr: '0x40000', s1Fmt: 0, s1CdMax: 0, s1Dss: 0 });
    expect(view.vste.ste[0]).toBe(word(STE0_ATS));
    expect(BigInt(view.vste.ste[1]) & ~(3n << 28n)).toBe(0n);
    expect(must(await t.req('GET', `/v1/objects/${id('nestedAts')}`), 200)).toEqual(view);
  });

  it('get: an id of one type is ENOENT on every other type\'s route (ioas, hwpts, viommus, vdevices, eventqs, hw-queues)', async () => {
    const exp = expectedObjects();
    const routes = ['/v1/ioas', '/v1/hwpts', '/v1/viommus', '/v1/vdevices', '/v1/eventqs', '/v1/hw-queues'];
    for (const [name, e] of Object.entries(exp)) {
      for (const route of routes) {
        const res = await t.req('GET', `${route}/${e.view.id}`);
        if (route === e.route) expect(res.status, `${route}/${e.view.id} (${name})`).toBe(200);
        else expectProblem(res, 'ENOENT', 404);
      }
    }
    // Inventory ids and contexts are not objects.
    for (const other of [id('smmu'), id('ctx')]) {
      expectProblem(await t.req('GET', `/v1/objects/${other}`), 'ENOENT', 404);
      for (const route of routes) expectProblem(await t.req('GET', `${route}/${other}`), 'ENOENT', 404);
    }
  });

  it('get: GET /v1/smmus/{id} returns the SMMU as created: raw IDRs (u32), IIDR, AIDR, IOTLB size, decoded features, CMDQV', async () => {
    const expected = {
      id: id('smmu'),
      name: 'custom-smmu',
      idr: [IDR0, IDR1, IDR2, IDR3, IDR4, IDR5],
      iidr: 0xf0a1243b,
      aidr: 2,
      iotlbSize: 17,
      features: SMMU_FEATURES,
      cmdqv: { version: 2, vintfs: 8, vcmdqsPerVintf: 4, sidsPerVintf: 32 },
      createdAt: createdAt('smmu'),
    };
    expect(made.smmu).toEqual(expected);
    expect(must(await t.req('GET', `/v1/smmus/${id('smmu')}`), 200)).toEqual(expected);
  });

  it('get: GET /v1/devices/{id} returns each device as created, with its binding, attachment, PASIDs and what the host driver programmed (STE, CD table)', async () => {
    const dev = { id: id('dev'), name: 'get-dev', smmuId: id('smmu'), streamId: 0xabcde, ats: true, pasidBits: 14, createdAt: createdAt('dev') };
    const dev2 = { id: id('dev2'), name: 'get-dev2', smmuId: id('smmu'), streamId: 5, ats: false, pasidBits: 0, createdAt: createdAt('dev2') };
    const host = expectedHosts();
    // POST /v1/devices answers the device without `host`; no PASID is attached anywhere here.
    expect(made.dev).toEqual({ ...dev, contextId: null, attachedTo: null, pasids: [] });
    expect(made.dev2).toEqual({ ...dev2, contextId: null, attachedTo: null, pasids: [] });
    // The PUT attachment answers carry what the attach programmed.
    expect(made.attach).toEqual({ ...dev, contextId: id('ctx'), attachedTo: id('nested'), pasids: [], host: host.dev });
    expect(made.attach2).toEqual({ ...dev2, contextId: id('ctx'), attachedTo: autoHwpt(), pasids: [], host: host.dev2 });
    expect(must(await t.req('GET', `/v1/devices/${id('dev')}`), 200)).toEqual({ ...dev, contextId: id('ctx'), attachedTo: id('nested'), pasids: [], host: host.dev });
    expect(must(await t.req('GET', `/v1/devices/${id('dev2')}`), 200)).toEqual({ ...dev2, contextId: id('ctx'), attachedTo: autoHwpt(), pasids: [], host: host.dev2 });
  });

  it('get: GET /v1/devices/{id}/hw-info reports the SMMU\'s raw registers, the CMDQV parameters and the device\'s PASID width and capabilities', async () => {
    const caps = ['dirty_tracking', 'pci_pasid_exec', 'pci_pasid_priv'];
    const arm = must(await t.req('GET', `/v1/devices/${id('dev')}/hw-info?type=arm_smmuv3`), 200);
    expect({ ...arm, capabilities: [...arm.capabilities].sort() }).toEqual({
      type: 'arm_smmuv3',
      data: { flags: 0, idr: [IDR0, IDR1, IDR2, IDR3, IDR4, IDR5], iidr: 0xf0a1243b, aidr: 2 },
      maxPasidLog2: 14,
      capabilities: caps,
    });
    const tegra = must(await t.req('GET', `/v1/devices/${id('dev')}/hw-info?type=tegra241_cmdqv`), 200);
    expect({ ...tegra, capabilities: [...tegra.capabilities].sort() }).toEqual({
      type: 'tegra241_cmdqv',
      data: { flags: 0, version: 2, log2vcmdqs: 2, log2vsids: 5 },
      maxPasidLog2: 14,
      capabilities: caps,
    });
    // dev2: no ATS, no PASIDs.
    const plain = must(await t.req('GET', `/v1/devices/${id('dev2')}/hw-info`), 200);
    expect(plain.maxPasidLog2).toBe(0);
    expect([...plain.capabilities].sort()).toEqual(['dirty_tracking', 'pci_ats_not_supported']);
  });

  it('get: GET /v1/contexts/{id} returns the context as created', async () => {
    const expected = { id: id('ctx'), name: 'get-every-type', createdAt: createdAt('ctx') };
    expect(made.ctx).toEqual(expected);
    expect(must(await t.req('GET', `/v1/contexts/${id('ctx')}`), 200)).toEqual(expected);
  });

  it('get: the mappings of an IOAS are listed with the host addresses and permissions they were created with', async () => {
    expect(made.map).toEqual({ iova: hex(MAP_IOVA), length: '0x10000', hostAddress: expect.stringMatching(/^0x[0-9a-f]+$/), read: true, write: true });
    expect(made.mapRo).toEqual({ iova: '0x1000', length: '0x3000', hostAddress: expect.stringMatching(/^0x[0-9a-f]+$/), read: true, write: false });
    // The bump allocator aligns a mapping's host base to the largest power of two ≤ its length.
    expect(BigInt(made.map.hostAddress) % 0x10000n).toBe(0n);
    expect(BigInt(made.mapRo.hostAddress) % 0x2000n).toBe(0n);
    expect(must(await t.req('GET', `/v1/ioas/${id('ioas2')}/mappings`), 200).items).toEqual([made.mapRo, made.map]);
    expect(must(await t.req('GET', `/v1/ioas/${id('ioas')}/mappings`), 200).items).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// GraphQL. Ids are compared as text: api.md makes them GraphQL IDs (strings on the wire).

const asId = (v: unknown) => (v === null || v === undefined ? null : String(v));

/** The GraphQL fields of each object type and how the REST view gives each one's value. */
const GQL_FIELDS: Record<string, { type: string; fields: string; expect: (v: any) => Record<string, unknown> }> = {
  ioas: {
    type: 'Ioas',
    fields: 'mappings { iova length hostAddress read write }',
    expect: () => ({}),
  },
  hwpt_paging: {
    type: 'Hwpt',
    fields: 'nestParent dirtyTracking auto pasid ioasId viommuId smmuId stage vmid asid vste { ste } devices { id }',
    expect: (v) => ({
      nestParent: v.nestParent,
      dirtyTracking: v.dirtyTracking,
      auto: v.auto,
      pasid: v.pasid,
      ioasId: asId(v.ioasId),
      viommuId: null,
      smmuId: asId(v.smmuId),
      stage: v.stage,
      vmid: v.vmid,
      asid: v.asid,
      vste: null,
      devices: v.devices.map((d: number) => ({ id: asId(d) })),
    }),
  },
  hwpt_nested: {
    type: 'Hwpt',
    fields: 'nestParent ioasId viommuId smmuId vste { ste valid config s1ContextPtr s1Fmt s1CdMax s1Dss eats } devices { id }',
    expect: (v) => ({
      nestParent: false,
      ioasId: null,
      viommuId: asId(v.viommuId),
      smmuId: asId(v.smmuId),
      vste: v.vste,
      devices: v.devices.map((d: number) => ({ id: asId(d) })),
    }),
  },
  viommu: {
    type: 'Viommu',
    fields: 'viommuType smmuId hwptId vmid vintf nestParent { id } smmu { id }',
    expect: (v) => ({
      viommuType: v.viommuType,
      smmuId: asId(v.smmuId),
      hwptId: asId(v.hwptId),
      vmid: v.vmid,
      vintf: v.vintf ?? null,
      nestParent: { id: asId(v.hwptId) },
      smmu: { id: asId(v.smmuId) },
    }),
  },
  vdevice: {
    type: 'Vdevice',
    fields: 'viommuId deviceId virtId physicalStreamId sidSlot device { id streamId }',
    expect: (v) => ({
      viommuId: asId(v.viommuId),
      deviceId: asId(v.deviceId),
      virtId: v.virtId,
      physicalStreamId: v.physicalStreamId,
      sidSlot: v.sidSlot ?? null,
      device: { id: asId(v.deviceId), streamId: v.physicalStreamId },
    }),
  },
  hw_queue: {
    type: 'HwQueue',
    fields: 'viommuId queueType index nestingParentIova length base log2Size prod cons consIndex enabled gerror gerrorn stopped error viommu { id }',
    expect: (v) => ({
      viommuId: asId(v.viommuId),
      queueType: v.queueType,
      index: v.index,
      nestingParentIova: v.nestingParentIova,
      length: v.length,
      base: v.base,
      log2Size: v.log2Size,
      prod: v.prod,
      cons: v.cons,
      consIndex: v.consIndex,
      enabled: v.enabled,
      gerror: v.gerror,
      gerrorn: v.gerrorn,
      stopped: v.stopped,
      error: v.error,
      viommu: { id: asId(v.viommuId) },
    }),
  },
  veventq: {
    type: 'Eventq',
    fields: 'viommuId eventqType depth pending nextSequence',
    expect: (v) => ({ viommuId: asId(v.viommuId), eventqType: v.eventqType, depth: v.depth, pending: v.pending, nextSequence: v.nextSequence }),
  },
};

/** Fields that hold object ids (GraphQL IDs), as opposed to hardware numbers such as streamId or virtId. */
const ID_FIELDS = new Set(['id', 'contextId', 'ioasId', 'viommuId', 'smmuId', 'hwptId', 'deviceId', 'attachedTo']);

/** GraphQL values with ids as text, so an Int or an ID answer compares the same. */
function normaliseIds(value: any): any {
  if (Array.isArray(value)) return value.map(normaliseIds);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, ID_FIELDS.has(k) && (typeof v === 'number' || typeof v === 'string') ? String(v) : normaliseIds(v)]));
  }
  return value;
}

async function gqlOk(query: string): Promise<any> {
  const res = await t.gql(query);
  expect(res.errors, `${query}\n${JSON.stringify(res.errors)}`).toBeUndefined();
  return normaliseIds(res.data);
}

describe('GraphQL: object(id:) and each type\'s own query', () => {
  const OWN_QUERY: Record<string, string> = { ioas: 'ioas', hwpt_paging: 'hwpt', hwpt_nested: 'hwpt', viommu: 'viommu', vdevice: 'vdevice', veventq: 'eventq', hw_queue: 'hwQueue' };

  for (const name of ['ioas2', 'dirty', 'parent', 'tviommu', 'aviommu', 'vdev', 'nested', 'nestedInvalid', 'queue', 'aeventq']) {
    it(`graphql: ${name} — object(id:) and its type's own query return the REST view's values`, async () => {
      const rest = must(await t.req('GET', `/v1/objects/${id(name)}`), 200);
      const g = GQL_FIELDS[rest.type];
      const mappings = rest.type === 'ioas' ? must(await t.req('GET', `/v1/ioas/${rest.id}/mappings`), 200).items : undefined;
      const expected = { id: asId(rest.id), type: rest.type, contextId: asId(rest.contextId), context: { id: asId(rest.contextId), name: 'get-every-type' }, ...g.expect(rest), ...(mappings ? { mappings } : {}) };
      const viaObject = await gqlOk(`{ object(id: ${rest.id}) { id type contextId context { id name } ... on ${g.type} { ${g.fields} } } }`);
      expect(viaObject.object).toEqual(expected);
      const own = OWN_QUERY[rest.type];
      const viaOwn = await gqlOk(`{ ${own}(id: ${rest.id}) { id type contextId context { id name } ${g.fields} } }`);
      expect(viaOwn[own]).toEqual(expected);
    });
  }

  it('graphql: smmu(id:) returns the SMMU as created (registers, features, CMDQV) and its devices', async () => {
    const data = await gqlOk(
      `{ smmu(id: ${id('smmu')}) { id name idr iidr aidr iotlbSize features { s1p s2p nesting ats pri vmidBits asidBits sidBits ssidBits oasBits granules ril cmdqs eventqs } cmdqv { version vintfs vcmdqsPerVintf sidsPerVintf } devices { id } } }`,
    );
    expect(data.smmu).toEqual({
      id: asId(id('smmu')),
      name: 'custom-smmu',
      idr: [IDR0, IDR1, IDR2, IDR3, IDR4, IDR5],
      iidr: 0xf0a1243b,
      aidr: 2,
      iotlbSize: 17,
      features: SMMU_FEATURES,
      cmdqv: { version: 2, vintfs: 8, vcmdqsPerVintf: 4, sidsPerVintf: 32 },
      devices: [{ id: asId(id('dev')) }, { id: asId(id('dev2')) }],
    });
  });

  it('graphql: device(id:) returns the device as created, with its context, attachment, PASIDs, host configuration and vDEVICE', async () => {
    const HOST = 'host { ste config cdTable { base s1fmt s1cdmax s1dss cds { ssid hwptId asid words } } }';
    const host = expectedHosts();
    const data = await gqlOk(
      `{ device(id: ${id('dev')}) { id name smmuId streamId ats pasidBits contextId attachedTo smmu { id } context { id } attachment { id type } pasids { pasid hwptId } ${HOST} vdevice { id virtId } } }`,
    );
    expect(data.device).toEqual({
      id: asId(id('dev')),
      name: 'get-dev',
      smmuId: asId(id('smmu')),
      streamId: 0xabcde,
      ats: true,
      pasidBits: 14,
      contextId: asId(id('ctx')),
      attachedTo: asId(id('nested')),
      smmu: { id: asId(id('smmu')) },
      context: { id: asId(id('ctx')) },
      attachment: { id: asId(id('nested')), type: 'hwpt_nested' },
      pasids: [],
      host: host.dev,
      vdevice: { id: asId(id('vdev')), virtId: 0x77 },
    });
    // dev2: the CD table of its stage-1 RID domain (hwptId is an id: text over GraphQL).
    const two = await gqlOk(`{ device(id: ${id('dev2')}) { id attachedTo attachment { id type } pasids { pasid hwptId } ${HOST} vdevice { id } } }`);
    const cdTable = host.dev2.cdTable as { cds: Array<Record<string, unknown>> };
    expect(two.device).toEqual({
      id: asId(id('dev2')),
      attachedTo: asId(autoHwpt()),
      attachment: { id: asId(autoHwpt()), type: 'hwpt_paging' },
      pasids: [],
      host: { ...host.dev2, cdTable: { ...cdTable, cds: cdTable.cds.map((cd) => ({ ...cd, hwptId: asId(cd.hwptId) })) } },
      vdevice: null,
    });
  });

  it('graphql: context(id:) returns the context and its devices, IOAS, HWPTs, vIOMMUs and vDEVICEs', async () => {
    const data = await gqlOk(`{ context(id: ${id('ctx')}) { id name createdAt devices { id } ioas { id } hwpts { id type } viommus { id } vdevices { id } } }`);
    const ids = (...names: string[]) => names.map((n) => ({ id: asId(id(n)) }));
    const hwpts = [
      { id: asId(autoHwpt()), type: 'hwpt_paging' },
      { id: asId(id('dirty')), type: 'hwpt_paging' },
      { id: asId(id('parent')), type: 'hwpt_paging' },
      { id: asId(id('nested')), type: 'hwpt_nested' },
      { id: asId(id('nestedAts')), type: 'hwpt_nested' },
      { id: asId(id('nestedInvalid')), type: 'hwpt_nested' },
    ].sort((a, b) => Number(a.id) - Number(b.id));
    expect(data.context).toEqual({
      id: asId(id('ctx')),
      name: 'get-every-type',
      createdAt: createdAt('ctx'),
      devices: ids('dev', 'dev2'),
      ioas: ids('ioas', 'ioas2'),
      hwpts,
      viommus: ids('tviommu', 'aviommu'),
      vdevices: ids('vdev'),
    });
  });

  it('graphql: the list queries — smmus, devices(smmuId:/contextId:), contexts, viommus(contextId:) — return exactly the created entities', async () => {
    const data = await gqlOk(
      `{ smmus { id name } bySmmu: devices(smmuId: ${id('smmu')}) { id } byContext: devices(contextId: ${id('ctx')}) { id contextId } contexts { id name } viommus(contextId: ${id('ctx')}) { id viommuType } }`,
    );
    expect(data.smmus.filter((s: { name: string }) => s.name === 'custom-smmu')).toEqual([{ id: asId(id('smmu')), name: 'custom-smmu' }]);
    expect(data.bySmmu).toEqual([{ id: asId(id('dev')) }, { id: asId(id('dev2')) }]);
    expect(data.byContext).toEqual([
      { id: asId(id('dev')), contextId: asId(id('ctx')) },
      { id: asId(id('dev2')), contextId: asId(id('ctx')) },
    ]);
    expect(data.contexts).toContainEqual({ id: asId(id('ctx')), name: 'get-every-type' });
    expect(data.viommus).toEqual([
      { id: asId(id('tviommu')), viommuType: 'tegra241_cmdqv' },
      { id: asId(id('aviommu')), viommuType: 'arm_smmuv3' },
    ]);
  });

  // Issue 10 (GraphQL had no hw_queue type, so object(id:) of a HW queue failed in resolveType):
  // fixed in 228f3a1. This test failed on the code before it (13bd61d) and passes since.
  it('graphql: a HW queue resolves through object(id:) as HwQueue, and a context holding one lists it among its objects', async () => {
    const q = must(await t.req('GET', `/v1/hw-queues/${id('queue')}`), 200);
    const plain = await gqlOk(`{ object(id: ${q.id}) { id type contextId } }`);
    expect(plain.object).toEqual({ id: asId(q.id), type: 'hw_queue', contextId: asId(q.contextId) });
    const typed = await gqlOk(`{ object(id: ${q.id}) { id ... on HwQueue { viommuId prod cons enabled } } }`);
    expect(typed.object).toEqual({ id: asId(q.id), viommuId: asId(q.viommuId), prod: q.prod, cons: q.cons, enabled: q.enabled });
    const ctx = await gqlOk(`{ context(id: ${q.contextId}) { objects { id type } } }`);
    expect(ctx.context.objects.map((o: { id: string }) => o.id)).toContain(asId(q.id));
    expect(ctx.context.objects.map((o: { id: string }) => Number(o.id))).toEqual(
      [id('ioas'), id('ioas2'), autoHwpt(), id('dirty'), id('parent'), id('tviommu'), id('aviommu'), id('vdev'), id('nested'), id('nestedAts'), id('nestedInvalid'), id('teventq'), id('aeventq'), id('queue')].sort((a, b) => a - b),
    );
  });
});

// Paging HWPT stages (arm_smmu_domain_alloc_paging_flags). The HWPTs made here are destroyed at
// the end, so the world the other tests read is unchanged.
describe('paging HWPT stage: no flags → stage 1 with an ASID, nest_parent → stage 2 with a VMID', () => {
  it('get: a paging HWPT allocated without flags is stage 1 (an ASID, no VMID) and a nest parent stage 2 (a VMID, no ASID), allocated and read through REST and GraphQL', async () => {
    const ctx = id('ctx');
    const smmuId = id('smmu');
    const allocated: number[] = [];
    try {
      // REST: IOMMU_HWPT_ALLOC on the empty IOAS, without flags and with nest_parent alone.
      const restPlain = must(await t.req('POST', '/v1/hwpts', { deviceId: id('dev'), ptId: id('ioas') }), 201);
      allocated.push(restPlain.id);
      const restParent = must(await t.req('POST', '/v1/hwpts', { deviceId: id('dev'), ptId: id('ioas'), flags: ['nest_parent'] }), 201);
      allocated.push(restParent.id);
      // GraphQL: the same two allocations (mutation fields run in order).
      const gql = await gqlOk(
        `mutation { plain: allocHwpt(deviceId: ${id('dev')}, ptId: ${id('ioas')}) { id } parent: allocHwpt(deviceId: ${id('dev')}, ptId: ${id('ioas')}, flags: ["nest_parent"]) { id } }`,
      );
      const gqlPlain = Number(gql.plain.id);
      const gqlParent = Number(gql.parent.id);
      allocated.push(gqlPlain, gqlParent);

      // The lowest free ASIDs (the auto and dirty HWPTs hold 1 and 2) and the lowest free VMIDs of
      // the SMMU (the nest parent and the two vIOMMUs hold three), in allocation order.
      const [asidRest, asidGql] = lowestFree([ASID.auto, ASID.dirty], 2);
      const [vmidRest, vmidGql] = lowestFree([vmidOf('parent'), vmidOf('tviommu'), vmidOf('aviommu')], 2);
      const view = (hwptId: number, stage: 1 | 2, vmid: number | null, asid: number | null) => ({
        id: hwptId,
        type: 'hwpt_paging',
        contextId: ctx,
        createdAt: expect.stringMatching(ISO),
        ioasId: id('ioas'),
        nestParent: stage === 2,
        dirtyTracking: false,
        pasid: false,
        auto: false,
        smmuId,
        stage,
        vmid,
        asid,
        deviceId: id('dev'),
        devices: [],
        pasidDevices: [],
      });
      const expected = [
        view(restPlain.id, 1, null, asidRest),
        view(restParent.id, 2, vmidRest, null),
        view(gqlPlain, 1, null, asidGql),
        view(gqlParent, 2, vmidGql, null),
      ];
      // The POST answers, and REST GET by both routes.
      expect(restPlain).toEqual(expected[0]);
      expect(restParent).toEqual(expected[1]);
      for (const e of expected) {
        expect(must(await t.req('GET', `/v1/hwpts/${e.id}`), 200), `hwpt ${e.id}`).toEqual(e);
        expect(must(await t.req('GET', `/v1/objects/${e.id}`), 200), `object ${e.id}`).toEqual(e);
      }
      // GraphQL: hwpt(id:) and object(id:) give the same stage, VMID and ASID.
      for (const e of expected) {
        const fields = 'id type nestParent dirtyTracking pasid auto smmuId stage vmid asid';
        const want = {
          id: asId(e.id),
          type: 'hwpt_paging',
          nestParent: e.nestParent,
          dirtyTracking: false,
          pasid: false,
          auto: false,
          smmuId: asId(smmuId),
          stage: e.stage,
          vmid: e.vmid,
          asid: e.asid,
        };
        const data = await gqlOk(`{ hwpt(id: ${e.id}) { ${fields} } object(id: ${e.id}) { id type ... on Hwpt { ${fields} } } }`);
        expect(data.hwpt, `hwpt(id: ${e.id})`).toEqual(want);
        expect(data.object, `object(id: ${e.id})`).toEqual(want);
      }
    } finally {
      for (const hwptId of [...allocated].reverse()) must(await t.req('DELETE', `/v1/objects/${hwptId}`), 204);
    }
    for (const hwptId of allocated) expectProblem(await t.req('GET', `/v1/hwpts/${hwptId}`), 'ENOENT', 404);
  });
});

// Reading a vEVENTQ removes its records: this runs last.
describe('vEVENTQ records', () => {
  it('get: the vEVENTQs\' records read back exactly as queued (sequence, flags, payload, the LOST_EVENTS marker)', async () => {
    const arm = must(await t.req('POST', `/v1/eventqs/${id('aeventq')}/read`, { max: 10 }), 200).records;
    expect(arm.map((r: any) => [r.sequence, r.flags, r.lostEvents, r.record])).toEqual([
      [0, 0, false, [word(0x3000000010n), word(0n), word(0x1000n), word(0n)]],
      [1, 0, false, [word(0x3100000010n), word(0n), word(0x2000n), word(0n)]],
      [2, 1, true, []],
    ]);
    expect(arm[0].decoded).toMatchObject({ name: 'F_TRANSLATION', fields: { SID: 0x30 } });
    const tegra = must(await t.req('POST', `/v1/eventqs/${id('teventq')}/read`, { max: 10 }), 200).records;
    expect(tegra).toEqual([{ sequence: 0, flags: 0, lostEvents: false, record: [word(1n), word(0n)], decoded: { lvcmdqErrMap: [word(1n), word(0n)] } }]);
    expect(must(await t.req('GET', `/v1/eventqs/${id('aeventq')}`), 200)).toMatchObject({ pending: 0, nextSequence: 3 });
    expect(must(await t.req('GET', `/v1/eventqs/${id('teventq')}`), 200)).toMatchObject({ pending: 0, nextSequence: 1 });
  });
});

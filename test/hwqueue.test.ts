/**
 * Tegra241 CMDQV guest queues: IOMMU_HW_QUEUE_ALLOC rules (iommufd.md §2.8, §4.3, scenarios 73–79
 * and T3 adapted), and execution of the guest's VCMDQ by the model (§4.4, §4.5, smmuv3.md §7).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { buildViommu, expectProblem, expectUnchanged, must, startApp, type TestApp, type Graph } from './helper.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const A = 0x40000000;
const hex = (n: number) => `0x${n.toString(16)}`;

/** F-VIOMMU on the CMDQV SMMU (smmu1), with guest RAM mapped at A in the parent IOAS. */
async function setup(): Promise<{ t: TestApp; g: Graph }> {
  t = await startApp();
  const g = await buildViommu(t, { device: 'nic1', type: 'tegra241_cmdqv' });
  must(await t.req('POST', `/v1/ioas/${g.ioas}/mappings`, { iova: hex(A), length: '0x10000' }), 201);
  return { t, g };
}

const alloc = (t: TestApp, viommuId: number, index: number, iova: number, length: number | string, type = 'tegra241_cmdqv') =>
  t.req('POST', '/v1/hw-queues', { viommuId, type, index, nestingParentIova: typeof iova === 'number' ? hex(iova) : iova, length: typeof length === 'number' ? hex(length) : length });

describe('HW queue allocation (§2.8, §4.3)', () => {
  it('hw_queue: type default is EOPNOTSUPP, length 0 EINVAL, u64 overflow EOVERFLOW — before the vIOMMU is looked up (scenarios 73, 74)', async () => {
    const { t } = await setup();
    await expectUnchanged(t, async () => {
      expectProblem(await alloc(t, 999999, 0, A, 0x1000, 'default'), 'EOPNOTSUPP', 422);
      expectProblem(await alloc(t, 999999, 0, A, 0), 'EINVAL', 400);
      // The largest length that does not overflow passes the core's arithmetic check.
      expectProblem(await alloc(t, 999999, 0, 0, '0xffffffffffffffff'), 'ENOENT', 404);
      // The last byte exactly at 2^64 − 1 does not overflow either.
      expectProblem(await alloc(t, 999999, 0, 1, '0xffffffffffffffff'), 'ENOENT', 404);
      expectProblem(await t.req('POST', '/v1/hw-queues', { viommuId: 999999, type: 'tegra241_cmdqv', index: 0, nestingParentIova: '0xffffffffffffffff', length: '0x1000' }), 'EOVERFLOW', 400);
      expectProblem(await alloc(t, 999999, 0, A, 0x1000), 'ENOENT', 404);
    });
  });

  it('hw_queue: an arm_smmuv3 vIOMMU has no HW queues (EOPNOTSUPP)', async () => {
    t = await startApp();
    const g = await buildViommu(t);
    must(await t.req('POST', `/v1/ioas/${g.ioas}/mappings`, { iova: hex(A), length: '0x1000' }), 201);
    await expectUnchanged(t, async () => expectProblem(await alloc(t!, g.viommu, 0, A, 0x1000), 'EOPNOTSUPP', 422));
  });

  it('hw_queue: an unmapped range is ENOENT (scenario 75) and a physically discontiguous one EFAULT', async () => {
    const { t, g } = await setup();
    must(await t.req('POST', `/v1/ioas/${g.ioas}/mappings`, { iova: '0x50000000', length: '0x1000' }), 201);
    // Another mapping takes the next host range, so 0x50001000 is not contiguous with 0x50000000.
    must(await t.req('POST', `/v1/ioas/${g.ioas}/mappings`, { iova: '0x60000000', length: '0x1000' }), 201);
    must(await t.req('POST', `/v1/ioas/${g.ioas}/mappings`, { iova: '0x50001000', length: '0x1000' }), 201);
    await expectUnchanged(t, async () => {
      expectProblem(await alloc(t, g.viommu, 0, 0x70000000, 0x1000), 'ENOENT', 404);
      expectProblem(await alloc(t, g.viommu, 0, 0x50000000, 0x2000), 'EFAULT', 422);
    });
  });

  it('hw_queue: index ≥ vcmdqsPerVintf EINVAL, index 1 before 0 EIO, duplicate EEXIST (scenarios 76, 77; T3)', async () => {
    const { t, g } = await setup();
    await expectUnchanged(t, async () => {
      expectProblem(await alloc(t, g.viommu, 2, A, 0x1000), 'EINVAL', 400);
      const outOfOrder = await alloc(t, g.viommu, 1, A, 0x1000);
      expectProblem(outOfOrder, 'EIO', 422);
      expect(outOfOrder.body.detail).toMatch(/^index 0 must be allocated first/);
    });
    const q0 = must(await alloc(t, g.viommu, 0, A, 0x1000), 201);
    expect(q0).toMatchObject({ type: 'hw_queue', index: 0, length: '0x1000', log2Size: 8, prod: 0, cons: 0, enabled: false });
    await expectUnchanged(t, async () => expectProblem(await alloc(t, g.viommu, 0, A + 0x1000, 0x1000), 'EEXIST', 409));
  });

  it('hw_queue: length must be a power of two from 32 bytes to 2^(CMDQS+4), and the base aligned to it (T3)', async () => {
    const { t, g } = await setup();
    // 2^(19+4) = 8 MiB is the largest queue; map 32 MiB so the pin succeeds and the size rule decides.
    must(await t.req('POST', `/v1/ioas/${g.ioas}/mappings`, { iova: '0x80000000', length: '0x2000000' }), 201);
    await expectUnchanged(t, async () => {
      // Each refused by its own rule (the detail names it): 48 at A is also misaligned, so only
      // the detail shows that the power-of-two rule refused it first.
      const sizeRule = /power of two from 32 to 8388608 bytes/;
      for (const [iova, length] of [[A, 16], [A, 48], [0x80000000, 2 ** 24]]) {
        const res = await alloc(t, g.viommu, 0, iova, length);
        expectProblem(res, 'EINVAL', 400);
        expect(res.body.detail).toMatch(sizeRule);
      }
      const misaligned = await alloc(t, g.viommu, 0, A + 0x1000, 0x2000);
      expectProblem(misaligned, 'EINVAL', 400);
      expect(misaligned.body.detail).toMatch(/not aligned to its length/);
    });
    expect(must(await alloc(t, g.viommu, 0, A + 0x20, 32), 201).log2Size).toBe(1);
  });

  it('hw_queue: the base is the host address of the IOVA (its page\'s, plus the offset); a span over two host-contiguous mappings is one queue; a span past 4 GiB is ERANGE (§2.8 rule 6)', async () => {
    const { t, g } = await setup();
    const q0 = must(await alloc(t, g.viommu, 0, A, 0x1000), 201);
    // VCMDQ_BASE: the address with LOG2SIZE in its low bits (256 entries: 8).
    const hostA = BigInt(q0.base) - 8n;
    expect(hostA % 0x1000n).toBe(0n);
    const q1 = must(await alloc(t, g.viommu, 1, A + 0x1020, 32), 201);
    expect(BigInt(q1.base)).toBe(hostA + 0x1020n + 1n);
    // Two mappings made one after the other take adjacent host ranges: a queue may span both.
    must(await t.req('POST', `/v1/ioas/${g.ioas}/mappings`, { iova: '0x50000000', length: '0x1000' }), 201);
    must(await t.req('POST', `/v1/ioas/${g.ioas}/mappings`, { iova: '0x50001000', length: '0x1000' }), 201);
    must(await t.req('DELETE', `/v1/objects/${q1.id}`), 204);
    const q1b = must(await alloc(t, g.viommu, 1, 0x50000000, 0x2000), 201);
    expect(q1b).toMatchObject({ index: 1, length: '0x2000' });
    // The pin counts pages before it looks them up: a span of more than 4 GiB is refused as such.
    await expectUnchanged(t, async () => {
      expectProblem(await alloc(t, g.viommu, 2, 0x100000000, 2 ** 32 + 0x1000), 'ERANGE', 400);
      // Exactly 4 GiB passes the count and is looked up: not mapped.
      expectProblem(await alloc(t, g.viommu, 2, 0x100000000, 2 ** 32), 'ENOENT', 404);
    });
  });

  it('hw_queue: the largest queue, 2^(CMDQS+4) bytes (8 MiB at CMDQS 19), is accepted at a base aligned to it; twice that is EINVAL (T3)', async () => {
    const { t, g } = await setup();
    // A 32 MiB mapping: its host range is aligned to its size, so 0x80000000 is 8 MiB-aligned in host memory.
    must(await t.req('POST', `/v1/ioas/${g.ioas}/mappings`, { iova: '0x80000000', length: '0x2000000' }), 201);
    await expectUnchanged(t, async () => expectProblem(await alloc(t, g.viommu, 0, 0x80000000, 2 ** 24), 'EINVAL', 400));
    const q = must(await alloc(t, g.viommu, 0, 0x80000000, 2 ** 23), 201);
    expect(q).toMatchObject({ index: 0, length: '0x800000', log2Size: 19 });
  });

  it('hw_queue: the pinned range cannot be unmapped (EBUSY); destroy goes in descending index order (scenarios 78, 79)', async () => {
    const { t, g } = await setup();
    must(await t.req('POST', `/v1/ioas/${g.ioas}/mappings`, { iova: '0x50000000', length: '0x1000' }), 201);
    const q0 = must(await alloc(t, g.viommu, 0, A, 0x1000), 201);
    const q1 = must(await alloc(t, g.viommu, 1, A + 0x800, 0x800), 201);
    const unmap = await t.req('DELETE', `/v1/ioas/${g.ioas}/mappings?iova=${hex(A)}&length=0x10000`);
    expectProblem(unmap, 'EBUSY', 409);
    expect(unmap.body.blockedBy).toEqual([q0.id, q1.id]);
    must(await t.req('DELETE', `/v1/ioas/${g.ioas}/mappings?iova=0x50000000&length=0x1000`), 200);
    const busy = await t.req('DELETE', `/v1/objects/${q0.id}`);
    expectProblem(busy, 'EBUSY', 409);
    expect(busy.body.blockedBy).toEqual([q1.id]);
    expectProblem(await t.req('DELETE', `/v1/objects/${g.viommu}`), 'EBUSY', 409);
    must(await t.req('DELETE', `/v1/objects/${q1.id}`), 204);
    must(await t.req('DELETE', `/v1/objects/${q0.id}`), 204);
    must(await t.req('DELETE', `/v1/ioas/${g.ioas}/mappings?iova=${hex(A)}&length=0x10000`), 200);
  });

  it('hw-info: tegra241_cmdqv reports version, log2vcmdqs and log2vsids of the SMMU\'s CMDQV', async () => {
    const { t, g } = await setup();
    const info = must(await t.req('GET', `/v1/devices/${g.dev}/hw-info?type=tegra241_cmdqv`), 200);
    expect(info).toMatchObject({ type: 'tegra241_cmdqv', data: { version: 1, log2vcmdqs: 1, log2vsids: 4 } });
  });
});

describe('VCMDQ execution (§4.4, §4.5)', () => {
  async function queueWithDevice() {
    const { t, g } = await setup();
    must(await t.req('POST', '/v1/vdevices', { viommuId: g.viommu, deviceId: g.dev, virtId: 0x10 }), 201);
    const q = must(await alloc(t, g.viommu, 0, A, 0x100), 201); // 16 entries
    const viommu = must(await t.req('GET', `/v1/viommus/${g.viommu}`), 200);
    return { t, g, q, vmid: viommu.vmid as number };
  }

  it('vcmdq: commands are written into guest memory at PROD; nothing runs until the guest enables the queue', async () => {
    const { t, g, q } = await queueWithDevice();
    const out = must(await t.req('POST', `/v1/hw-queues/${q.id}/commands`, { entries: [['0x0000000100000011', '0x0'], ['0x46', '0x0']] }), 200);
    expect(out).toEqual({ consumed: 0, prod: 2, cons: 0, error: null });
    const mem = await t.app.inject({ method: 'GET', url: `/v1/ioas/${g.ioas}/memory?iova=${hex(A)}&length=32` });
    expect(mem.rawPayload.readBigUInt64LE(0)).toBe(0x0000000100000011n);
    expect(mem.rawPayload.readBigUInt64LE(16)).toBe(0x46n);
    const enabled = must(await t.req('PATCH', `/v1/hw-queues/${q.id}`, { enabled: true }), 200);
    expect(enabled).toMatchObject({ enabled: true, prod: 2, cons: 2, run: { consumed: 2, error: null } });
  });

  it('vcmdq: TLBI VMIDs become the VINTF\'s and an ATC_INV vSID becomes the physical SID through SID_MATCH/SID_REPLACE; guest memory keeps what the guest wrote', async () => {
    const { t, g, q, vmid } = await queueWithDevice();
    must(await t.req('PATCH', `/v1/hw-queues/${q.id}`, { enabled: true }), 200);
    const out = must(
      await t.req('POST', `/v1/hw-queues/${q.id}/commands`, {
        entries: [
          ['0x0007123400000011', '0x0'],
          ['0x0007999900000012', '0x0000000000005000'],
          ['0x0000001000000040', '0x0'],
          ['0x46', '0x0'],
        ],
      }),
      200,
    );
    expect(out).toEqual({ consumed: 4, prod: 4, cons: 4, error: null });
    const state = must(await t.req('GET', '/v1/smmus/6/state?commands=4'), 200);
    const v = vmid.toString(16).padStart(4, '0');
    expect(state.recentCommands).toEqual([
      [`0x0007${v}00000011`, '0x0000000000000000'],
      [`0x0007${v}00000012`, '0x0000000000005000'],
      ['0x0000020000000040', '0x0000000000000000'],
      ['0x0000000000000046', '0x0000000000000000'],
    ]);
    const mem = await t.app.inject({ method: 'GET', url: `/v1/ioas/${g.ioas}/memory?iova=${hex(A)}&length=16` });
    expect(mem.rawPayload.readBigUInt64LE(0)).toBe(0x0007123400000011n);
  });

  it('vcmdq: any other command stops the queue with CERROR_ILL at its index; nothing runs until GERRORN; the error map reaches the tegra241_cmdqv vEVENTQ', async () => {
    const { t, g, q } = await queueWithDevice();
    const eq = must(await t.req('POST', '/v1/eventqs', { viommuId: g.viommu, type: 'tegra241_cmdqv', depth: 4 }), 201);
    must(await t.req('PATCH', `/v1/hw-queues/${q.id}`, { enabled: true }), 200);
    const out = must(await t.req('POST', `/v1/hw-queues/${q.id}/commands`, { entries: [['0x11', '0x0'], ['0x30', '0x0'], ['0x11', '0x0']] }), 200);
    expect(out).toEqual({ consumed: 1, prod: 3, cons: 0x01000001, error: { code: 'CERROR_ILL', index: 1, opcode: 0x30 } });
    const reg = must(await t.req('GET', `/v1/hw-queues/${q.id}`), 200);
    expect(reg).toMatchObject({ stopped: true, error: 'CERROR_ILL', consIndex: 1 });
    // Stopped: more commands are written but not consumed.
    const more = must(await t.req('POST', `/v1/hw-queues/${q.id}/commands`, { entries: [['0x46', '0x0']] }), 200);
    expect(more).toMatchObject({ consumed: 0, prod: 4, error: { code: 'CERROR_ILL', index: 1 } });
    const events = must(await t.req('POST', `/v1/eventqs/${eq.id}/read`, {}), 200).records;
    expect(events).toHaveLength(1);
    expect(events[0].record).toEqual(['0x0000000000000001', '0x0000000000000000']);
    // A plain acknowledgement re-executes the same illegal command (hardware restarts at CONS).
    const again = must(await t.req('POST', `/v1/hw-queues/${q.id}/error/ack`, {}), 200);
    expect(again).toMatchObject({ consumed: 0, error: { code: 'CERROR_ILL', index: 1 } });
    // The Linux guest's recovery: the failing slot becomes a CMD_SYNC, then GERRORN.
    const fixed = must(await t.req('POST', `/v1/hw-queues/${q.id}/error/ack`, { replaceWithSync: true }), 200);
    expect(fixed).toEqual({ consumed: 3, prod: 4, cons: 4, error: null });
  });

  it('vcmdq: error/ack takes no body, an empty body or {} (the body is optional); an unknown field is still EINVAL', async () => {
    const { t, q } = await queueWithDevice();
    must(await t.req('PATCH', `/v1/hw-queues/${q.id}`, { enabled: true }), 200);
    must(await t.req('POST', `/v1/hw-queues/${q.id}/commands`, { entries: [['0x30', '0x0']] }), 200);
    // No body and no content type; an empty body announced as JSON; an empty JSON object.
    expect(must(await t.req('POST', `/v1/hw-queues/${q.id}/error/ack`), 200)).toMatchObject({ error: { code: 'CERROR_ILL', index: 0 } });
    expect(must(await t.req('POST', `/v1/hw-queues/${q.id}/error/ack`, '', { 'content-type': 'application/json' }), 200)).toMatchObject({ error: { code: 'CERROR_ILL', index: 0 } });
    expect(must(await t.req('POST', `/v1/hw-queues/${q.id}/error/ack`, {}), 200)).toMatchObject({ error: { code: 'CERROR_ILL', index: 0 } });
    expectProblem(await t.req('POST', `/v1/hw-queues/${q.id}/error/ack`, { replaceWithSinc: true }), 'EINVAL', 400);
    expect(must(await t.req('POST', `/v1/hw-queues/${q.id}/error/ack`, { replaceWithSync: true }), 200)).toMatchObject({ consumed: 1, error: null });
  });

  it('vcmdq: an ATC_INV whose vSID matches no SID_MATCH slot stops the queue with CERROR_ILL', async () => {
    const { t, q } = await queueWithDevice();
    must(await t.req('PATCH', `/v1/hw-queues/${q.id}`, { enabled: true }), 200);
    const out = must(await t.req('POST', `/v1/hw-queues/${q.id}/commands`, { entries: [['0x0000007700000040', '0x0']] }), 200);
    expect(out.error).toEqual({ code: 'CERROR_ILL', index: 0, opcode: 0x40 });
  });

  it('vcmdq: CFGI_CD and CFGI_CD_ALL stop the queue with CERROR_ILL (tegra241_guest_vcmdq_supports_cmd): a guest sends CD invalidations through the invalidate path', async () => {
    for (const op of ['0x05', '0x06']) {
      const { t, q } = await queueWithDevice();
      must(await t.req('PATCH', `/v1/hw-queues/${q.id}`, { enabled: true }), 200);
      const out = must(await t.req('POST', `/v1/hw-queues/${q.id}/commands`, { entries: [[`0x00000011000010${op.slice(2)}`, '0x1']] }), 200);
      expect(out.error).toEqual({ code: 'CERROR_ILL', index: 0, opcode: Number(op) });
      await t.close();
    }
  });

  it('vcmdq: more commands than free slots is ENOSPC and writes nothing', async () => {
    const { t, g, q } = await queueWithDevice();
    const entries = Array.from({ length: 17 }, () => ['0x46', '0x0']);
    await expectUnchanged(t, async () => expectProblem(await t.req('POST', `/v1/hw-queues/${q.id}/commands`, { entries }), 'ENOSPC', 409));
    const mem = await t.app.inject({ method: 'GET', url: `/v1/ioas/${g.ioas}/memory?iova=${hex(A)}&length=16` });
    expect(mem.rawPayload).toEqual(Buffer.alloc(16));
    // Octet-stream: 16 entries fill the queue exactly (PROD wraps to index 0 with the wrap bit).
    const raw = Buffer.alloc(16 * 16);
    for (let i = 0; i < 16; i++) raw.writeUInt8(0x46, i * 16);
    expect(must(await t.req('POST', `/v1/hw-queues/${q.id}/commands`, raw, { 'content-type': 'application/octet-stream' }), 200)).toMatchObject({ prod: 16, consumed: 0 });
  });

  it('vcmdq: an invalidation through the VCMDQ removes the same IOTLB entries as the invalidate path', async () => {
    const { t, q, vmid } = await queueWithDevice();
    const model = t.service.hardware.model(6);
    model.iotlbInsert({ asid: 7, vmid, iova: 0x5000n, tg: 1, level: 3, translatedAddr: 0x9000n, addrMask: 0xfffn, perm: 3 });
    model.iotlbInsert({ asid: 8, vmid, iova: 0x5000n, tg: 1, level: 3, translatedAddr: 0x9000n, addrMask: 0xfffn, perm: 3 });
    must(await t.req('PATCH', `/v1/hw-queues/${q.id}`, { enabled: true }), 200);
    must(await t.req('POST', `/v1/hw-queues/${q.id}/commands`, { entries: [['0x0007000000000011', '0x0'], ['0x46', '0x0']] }), 200);
    expect(model.iotlb.entries().map((e) => e.asid)).toEqual([8]);
  });

  it('vcmdq: queue registers and queue memory survive a restart', async () => {
    const { g, q } = await queueWithDevice();
    must(await t!.req('POST', `/v1/hw-queues/${q.id}/commands`, { entries: [['0x46', '0x0'], ['0x46', '0x0']] }), 200);
    t = await t!.restart();
    expect(must(await t.req('GET', `/v1/hw-queues/${q.id}`), 200)).toMatchObject({ prod: 2, cons: 0, enabled: false });
    const out = must(await t.req('PATCH', `/v1/hw-queues/${q.id}`, { enabled: true }), 200);
    expect(out.run).toEqual({ consumed: 2, prod: 2, cons: 2, error: null });
    expect(g.viommu).toBeGreaterThan(0);
  });
});

/**
 * An acknowledged VCMDQ PROD write survives a crash (SIGKILL, no shutdown hook): its registers
 * and the queue memory the guest wrote, including writes that commit no page because the guest
 * refilled its ring with the bytes it already held (hwqueue.ts writeCommands), and writes that
 * shared one group commit (concurrent PROD writes on several queues).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ServiceProcess } from './service-process.js';
import { A, commands, hex } from '../hwqueue/commands.js';

let srv: ServiceProcess | undefined;
let dir: string | undefined;
afterEach(async () => {
  await srv?.kill();
  srv = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('VCMDQ PROD writes across a crash', () => {
  it('registers and queue memory of every acknowledged PROD write are there after SIGKILL — repeated bytes, wraps and group commits included', async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'vcmdq-crash-'));
    srv = new ServiceProcess(path.join(dir, 'db.sqlite'));
    await srv.start();
    const s = srv;
    const devices = (await s.must(200, 'GET', '/v1/devices?limit=500')).items as Array<{ id: number; name: string }>;
    const dev = devices.find((d) => d.name === 'nic1')!.id;
    const ctx = (await s.must(201, 'POST', '/v1/contexts', { name: 'crash-vcmdq' })).id;
    await s.must(201, 'POST', `/v1/contexts/${ctx}/devices`, { deviceId: dev });
    const ioas = (await s.must(201, 'POST', '/v1/ioas', { contextId: ctx })).id;
    await s.must(201, 'POST', `/v1/ioas/${ioas}/mappings`, { iova: hex(A), length: '0x10000' });
    const parent = (await s.must(201, 'POST', '/v1/hwpts', { deviceId: dev, ptId: ioas, flags: ['nest_parent'] })).id;
    const viommu = (await s.must(201, 'POST', '/v1/viommus', { deviceId: dev, hwptId: parent, type: 'tegra241_cmdqv' })).id;
    // Queue 0: 256 entries (one page); queue 1: 16 entries in the next page.
    const q0 = (await s.must(201, 'POST', '/v1/hw-queues', { viommuId: viommu, type: 'tegra241_cmdqv', index: 0, nestingParentIova: hex(A), length: '0x1000' })).id;
    const q1 = (await s.must(201, 'POST', '/v1/hw-queues', { viommuId: viommu, type: 'tegra241_cmdqv', index: 1, nestingParentIova: hex(A + 0x1000), length: '0x100' })).id;
    for (const q of [q0, q1]) await s.must(200, 'PATCH', `/v1/hw-queues/${q}`, { enabled: true });

    const full = commands(256, 1);
    // The same full ring three times (the second and third commit no page), then 100 other commands.
    for (const expected of [256, 0, 256]) expect(await s.must(200, 'POST', `/v1/hw-queues/${q0}/commands`, full)).toEqual({ consumed: 256, prod: expected, cons: expected, error: null });
    const tail = commands(100, 1, 500);
    expect(await s.must(200, 'POST', `/v1/hw-queues/${q0}/commands`, tail)).toEqual({ consumed: 100, prod: 356, cons: 356, error: null });
    // Concurrent PROD writes on both queues: they share group commits; each is acknowledged.
    const small = commands(5, 2, 900);
    const acks = await Promise.all(
      Array.from({ length: 12 }, (_, i) => s.req('POST', `/v1/hw-queues/${i % 2 === 0 ? q1 : q0}/commands`, i % 2 === 0 ? small : commands(10, 1, 1000 + i))),
    );
    for (const a of acks) expect(a.status).toBe(200);
    const before = {
      q0: await s.must(200, 'GET', `/v1/hw-queues/${q0}`),
      q1: await s.must(200, 'GET', `/v1/hw-queues/${q1}`),
      m0: (await s.req('GET', `/v1/ioas/${ioas}/memory?iova=${hex(A)}&length=4096`)).raw,
      m1: (await s.req('GET', `/v1/ioas/${ioas}/memory?iova=${hex(A + 0x1000)}&length=256`)).raw,
    };
    // q1: 6 writes of 5 = 30 commands in a 16-entry ring; q0: 356 + 6 × 10.
    expect(before.q1).toMatchObject({ prod: 30, cons: 30 });
    expect(before.q0).toMatchObject({ prod: 416 % 512, cons: 416 % 512 });
    // The first 100 slots of q0 hold `tail` (written after the full rings), the rest the full ring or the concurrent writes.
    expect(before.m0.subarray(0, 100 * 16)).toEqual(tail);

    await s.kill();
    await s.start();
    expect(await s.must(200, 'GET', `/v1/hw-queues/${q0}`)).toEqual(before.q0);
    expect(await s.must(200, 'GET', `/v1/hw-queues/${q1}`)).toEqual(before.q1);
    expect((await s.req('GET', `/v1/ioas/${ioas}/memory?iova=${hex(A)}&length=4096`)).raw).toEqual(before.m0);
    expect((await s.req('GET', `/v1/ioas/${ioas}/memory?iova=${hex(A + 0x1000)}&length=256`)).raw).toEqual(before.m1);
    // The queues go on from there.
    expect(await s.must(200, 'POST', `/v1/hw-queues/${q0}/commands`, full.subarray(0, 16 * 16))).toMatchObject({ consumed: 16, error: null });
  }, 120_000);
});

/**
 * Hardware.sync after a commit re-derives only the devices the commit can affect (issue 13:
 * an attach costs its devices, not the host's). Whatever the sequence of attaches, replaces,
 * PASID attaches, detaches, unbinds and context closes, every device's installed STE is the one
 * a derivation from scratch gives, on every SMMU model.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildViommu, deviceByName, must, startApp, type TestApp } from '../helper.js';

let t: TestApp;
beforeAll(async () => {
  t = await startApp();
});
afterAll(async () => t?.close());

const hex = (v: bigint): string => '0x' + v.toString(16);
const S1 = 0xbn | 0x80000000n;
const BYPASS = 0x9n;

/** Every device's installed STE equals what deriving its configuration now gives. */
function expectInstalledEqualsDerived(step: string): void {
  const hw = t.service.hardware;
  for (const device of t.service.graph.values('devices')) {
    const installed = hw.model(device.smmuId).getSte(device.streamId);
    const derived = hw.deriveSte(device);
    expect(installed ? [...installed] : null, `${step}: device ${device.id} (${device.name})`).toEqual(device.contextId === null && installed === null ? null : [...derived]);
  }
}

describe('hardware sync', () => {
  it('hardware sync: after each write of a VM\'s life on a shared host, every installed STE equals a fresh derivation', async () => {
    expectInstalledEqualsDerived('start');
    const a = await buildViommu(t, { device: 'nic0' });
    expectInstalledEqualsDerived('VM a built');
    const b = await buildViommu(t, { device: 'nic1' });
    expectInstalledEqualsDerived('VM b built');
    // A second device in VM a, a vDEVICE each, nested HWPTs attached.
    const second = (await deviceByName(t, 'nvme0')).id;
    must(await t.req('POST', `/v1/contexts/${a.ctx}/devices`, { deviceId: second }), 201);
    must(await t.req('PUT', `/v1/devices/${second}/attachment`, { ptId: a.ioas }), 200);
    expectInstalledEqualsDerived('second device attached to the IOAS');
    must(await t.req('POST', '/v1/vdevices', { viommuId: a.viommu, deviceId: a.dev, virtId: 0x10 }), 201);
    const nested = must(await t.req('POST', '/v1/hwpts', { deviceId: a.dev, ptId: a.viommu, data: { type: 'arm_smmuv3', ste: [hex(S1), '0x0'] } }), 201).id;
    must(await t.req('PUT', `/v1/devices/${a.dev}/attachment`, { ptId: nested }), 200);
    expectInstalledEqualsDerived('nested attach');
    const bypass = must(await t.req('POST', '/v1/hwpts', { deviceId: a.dev, ptId: a.viommu, data: { type: 'arm_smmuv3', ste: [hex(BYPASS), '0x0'] } }), 201).id;
    must(await t.req('PUT', `/v1/devices/${a.dev}/attachment`, { ptId: bypass }), 200);
    expectInstalledEqualsDerived('replace with a bypass vSTE');
    // A stage-1 paging HWPT on VM b's IOAS, attached by PASID, then the RID detached.
    const s1 = must(await t.req('POST', '/v1/hwpts', { deviceId: b.dev, ptId: b.ioas, flags: ['pasid'] }), 201).id;
    const pasid = await t.req('PUT', `/v1/devices/${b.dev}/pasids/1/attachment`, { ptId: s1 });
    expectInstalledEqualsDerived(`PASID attach (${pasid.status})`);
    must(await t.req('DELETE', `/v1/devices/${b.dev}/attachment`), 200);
    expectInstalledEqualsDerived('RID detach');
    // Unbind, then close both contexts.
    must(await t.req('DELETE', `/v1/contexts/${a.ctx}/devices/${second}`), 200);
    expectInstalledEqualsDerived('unbind');
    must(await t.req('DELETE', `/v1/contexts/${a.ctx}`), 200);
    must(await t.req('DELETE', `/v1/contexts/${b.ctx}`), 200);
    expectInstalledEqualsDerived('contexts closed');
  });
});

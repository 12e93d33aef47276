/** GET /metrics (api.md "Operations"): Prometheus exposition of requests, objects and the SMMU models. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildViommu, must, startApp, type TestApp } from './helper.js';

/** The value of one sample line `name{labels} value` (labels in exposition order). */
function sample(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

describe('metrics', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp();
  });
  afterAll(async () => {
    await t.close();
  });

  it('operations: /metrics is Prometheus text with objects by type, request durations by route pattern and problems by errno', async () => {
    const g = await buildViommu(t);
    await t.req('GET', '/v1/objects/4294967295');
    // Building the VM installed STEs (CFGI_STE + CMD_SYNC each): the count before the invalidation.
    const installed = sample((await t.req('GET', '/metrics')).raw, 'vsmmu_smmu_commands_executed_total', 'smmu="smmu0"') as number;
    must(await t.req('POST', `/v1/viommus/${g.viommu}/invalidate`, { dataType: 'arm_smmuv3', entries: [['0x10', '0x0']] }), 200);
    const res = await t.req('GET', '/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = res.raw;
    expect(sample(text, 'vsmmu_objects', 'type="viommu"')).toBe(1);
    expect(sample(text, 'vsmmu_objects', 'type="ioas"')).toBe(1);
    expect(sample(text, 'vsmmu_objects', 'type="hwpt_paging"')).toBe(2); // the auto HWPT and the nest parent
    expect(sample(text, 'vsmmu_objects', 'type="vdevice"')).toBe(0);
    expect(sample(text, 'vsmmu_contexts')).toBe(1);
    expect(sample(text, 'vsmmu_devices_bound')).toBe(1);
    expect(sample(text, 'vsmmu_http_problems_total', 'errno="ENOENT"')).toBe(1);
    expect(sample(text, 'vsmmu_http_request_duration_seconds_count', 'method="POST",route="/v1/viommus/:id/invalidate",status="200"')).toBe(1);
    // The invalidation ran on smmu0: its TLBI_NH_ALL and the kernel's CMD_SYNC.
    expect(sample(text, 'vsmmu_smmu_commands_executed_total', 'smmu="smmu0"')).toBe(installed + 2);
    expect(sample(text, 'vsmmu_process_resident_memory_bytes')).toBeGreaterThan(0);
    // Raw ids never become labels.
    expect(text).not.toMatch(/route="\/v1\/objects\/4294967295"/);
  });

  it('operations: /metrics reports database transactions, one per group commit', async () => {
    const g = await buildViommu(t, { device: 'nic1', type: 'tegra241_cmdqv' });
    const before = await t.req('GET', '/metrics');
    const transactions = sample(before.raw, 'vsmmu_db_transactions_total') as number;
    expect(transactions).toBe(t.repository.commits());
    const word = Buffer.alloc(8, 1);
    must(await t.req('POST', `/v1/ioas/${g.ioas}/mappings`, { iova: '0x40000000', length: '0x1000' }), 201);
    must(await t.req('PUT', `/v1/ioas/${g.ioas}/memory?iova=0x40000000&length=8`, word, { 'content-type': 'application/octet-stream' }), 200);
    const text = (await t.req('GET', '/metrics')).raw;
    expect(sample(text, 'vsmmu_db_transactions_total')).toBe(transactions + 2);
    expect(sample(text, 'vsmmu_db_transactions_total')).toBe(t.repository.commits());
    // No second persistence path reports anything any more.
    expect(text).not.toMatch(/vsmmu_journal_/);
  });

  it('metrics: what only grows is a counter named `_total` (commands, command errors, IOTLB hits/misses/evictions, transactions); levels stay gauges', async () => {
    const text = (await t.req('GET', '/metrics')).raw;
    const types = new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]));
    for (const name of ['vsmmu_smmu_commands_executed_total', 'vsmmu_smmu_command_errors_total', 'vsmmu_smmu_iotlb_hits_total', 'vsmmu_smmu_iotlb_misses_total', 'vsmmu_smmu_iotlb_evictions_total', 'vsmmu_db_transactions_total', 'vsmmu_http_problems_total']) {
      expect(types.get(name), name).toBe('counter');
    }
    for (const name of ['vsmmu_objects', 'vsmmu_contexts', 'vsmmu_devices_bound', 'vsmmu_veventq_pending', 'vsmmu_smmu_iotlb_entries', 'vsmmu_smmu_atc_entries', 'vsmmu_http_in_flight', 'vsmmu_http_admission_queue']) {
      expect(types.get(name), name).toBe('gauge');
    }
    // Every counter of the service's own has the suffix; the old gauge names are gone.
    for (const [name, type] of types) if (type === 'counter' && name.startsWith('vsmmu_') && !name.startsWith('vsmmu_process_')) expect(name).toMatch(/_total$/);
    expect(types.has('vsmmu_smmu_commands_executed')).toBe(false);
    expect(types.has('vsmmu_db_transactions')).toBe(false);
  });

  it('operations: with API_TOKENS set, /metrics needs a viewer token', async () => {
    const s = await startApp({ env: { API_TOKENS: 'scrape-token:viewer' } });
    try {
      expect((await s.req('GET', '/metrics')).status).toBe(401);
      const ok = await s.req('GET', '/metrics', undefined, { authorization: 'Bearer scrape-token' });
      expect(ok.status).toBe(200);
      expect(sample(ok.raw, 'vsmmu_contexts')).toBe(0);
    } finally {
      await s.close();
    }
  });
});

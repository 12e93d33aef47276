/** Issue 14: context names are unique, as SMMU and device names are (EEXIST, 409). */
import { afterEach, describe, expect, it } from 'vitest';
import { expectProblem, expectUnchanged, must, startApp, type TestApp } from '../helper.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe('contexts: unique names', () => {
  it('contexts: a second context with the same name is EEXIST (409) naming the existing id, and changes nothing', async () => {
    t = await startApp();
    const first = must(await t.req('POST', '/v1/contexts', { name: 'vm1' }), 201);
    await expectUnchanged(t, async () => {
      const again = await t!.req('POST', '/v1/contexts', { name: 'vm1' });
      expectProblem(again, 'EEXIST', 409);
      expect(again.body.detail).toBe(`a context named "vm1" exists (id ${first.id})`);
    });
    // Names are compared exactly: another case or spacing is another name.
    must(await t.req('POST', '/v1/contexts', { name: 'VM1' }), 201);
    must(await t.req('POST', '/v1/contexts', { name: 'vm1 ' }), 201);
    expect(must(await t.req('GET', '/v1/contexts'), 200).items.filter((c: { name: string }) => c.name === 'vm1')).toHaveLength(1);
  });

  it('contexts: the name is free again once its context is deleted, and stays taken across a restart', async () => {
    t = await startApp();
    const a = must(await t.req('POST', '/v1/contexts', { name: 'vm-a' }), 201);
    must(await t.req('DELETE', `/v1/contexts/${a.id}`), 200);
    const b = must(await t.req('POST', '/v1/contexts', { name: 'vm-a' }), 201);
    expect(b.id).toBeGreaterThan(a.id);
    t = await t.restart();
    expectProblem(await t.req('POST', '/v1/contexts', { name: 'vm-a' }), 'EEXIST', 409);
  });
});

/**
 * Bad input, by property: random JSON sent to the POST endpoints never yields a 5xx, a rejected
 * body changes nothing (database, public state, hardware model save the vIOMMU's error
 * counters), and a 2xx comes only for a body the endpoint's schema accepts.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allocEventqBody } from '../../src/schema/events.js';
import { allocHwQueueBody, invalidateBody, queueCommandsBody } from '../../src/schema/hardware.js';
import { allocHwptBody, allocVdeviceBody, allocViommuBody, bindDeviceBody, createIoasBody, mapBody } from '../../src/schema/objects.js';
import { expectProblem, type Res } from '../helper.js';
import { Fixture, STATUS } from './harness.js';

const fixture = new Fixture();
beforeAll(() => fixture.start());
afterAll(() => fixture.close());

describe('bad input (property): random bodies to POST endpoints', () => {
  const ENDPOINTS: Array<{ url: string; schema: { safeParse(v: unknown): { success: boolean } } }> = [
    { url: '/v1/ioas', schema: createIoasBody },
    { url: '/v1/hwpts', schema: allocHwptBody },
    { url: '/v1/viommus', schema: allocViommuBody },
    { url: '/v1/vdevices', schema: allocVdeviceBody },
    { url: '/v1/eventqs', schema: allocEventqBody },
    { url: '/v1/hw-queues', schema: allocHwQueueBody },
    { url: '/v1/contexts/{ctx}/devices', schema: bindDeviceBody },
    { url: '/v1/ioas/{ioas}/mappings', schema: mapBody },
    { url: '/v1/viommus/{viommu}/invalidate', schema: invalidateBody },
    { url: '/v1/hw-queues/{hwq}/commands', schema: queueCommandsBody },
  ];
  const KEYS = ['contextId', 'deviceId', 'ptId', 'flags', 'data', 'hwptId', 'type', 'viommuId', 'virtId', 'depth', 'index', 'nestingParentIova', 'length', 'iova', 'read', 'entries', 'dataType', 'bogus'];

  async function probe(url: string, text: string, isRejected: (res: Res) => boolean): Promise<void> {
    const hwBefore = await fixture.hardwareSnapshot('counters');
    const before = await fixture.t.snapshot();
    const res = await fixture.t.req('POST', fixture.resolveUrl(url), text, { 'content-type': 'application/json' });
    expect(res.status, `${url} ${text.slice(0, 200)} → ${res.raw.slice(0, 300)}`).toBeLessThan(500);
    if (isRejected(res)) {
      expectProblem(res, res.body?.errno);
      expect(STATUS[res.body.errno], res.raw).toBe(res.status);
      const after = await fixture.t.snapshot();
      expect(after.db).toBe(before.db);
      expect(after.graph).toBe(before.graph);
      // A request that reached the vIOMMU and failed there may count the failure, nothing else.
      expect(await fixture.hardwareSnapshot('counters')).toEqual(hwBefore);
    }
  }

  it('bad input: property — random JSON values and random-key objects never 5xx; a rejected body changes nothing; a 2xx only for a schema-valid body', async () => {
    const value = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      fc.integer({ min: -(2 ** 33), max: 2 ** 33 }),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.constantFrom(...Object.values(fixture.ids), 0, -1, 2 ** 32, 'arm_smmuv3', 'tegra241_cmdqv', 'default', 'nest_parent', '0x1000', '0x', [['0x10', '0x0']], ['nest_parent']),
    );
    const body = fc.oneof(fc.jsonValue({ maxDepth: 4 }), fc.dictionary(fc.constantFrom(...KEYS), value, { maxKeys: 6 }));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ENDPOINTS), body, async (ep, b) => {
        const text = JSON.stringify(b);
        await probe(ep.url, text, (res) => {
          if (res.status < 300) {
            // Accepted: the body must be one the endpoint's schema accepts.
            expect(ep.schema.safeParse(b).success, `${ep.url} accepted ${text}`).toBe(true);
            return false;
          }
          return true;
        });
      }),
      { numRuns: 200 },
    );
  });

  it('bad input: property — random text announced as JSON never 5xx and changes nothing', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ENDPOINTS), fc.string({ maxLength: 64 }), async (ep, text) => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
        // Only text that is not a valid body (which random text essentially never is).
        fc.pre(parsed === undefined || !ep.schema.safeParse(parsed).success);
        await probe(ep.url, text, () => true);
      }),
      { numRuns: 150 },
    );
  });
});

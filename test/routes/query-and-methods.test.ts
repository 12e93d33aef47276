/**
 * Issue 14: unknown query parameters are EINVAL naming the parameter (as unknown body fields
 * are), on every /v1 route; a wrong method on an existing path is 405 EMETHOD with Allow.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectProblem, must, startApp, type TestApp } from '../helper.js';

let t: TestApp;
beforeAll(async () => {
  t = await startApp({ checkResponses: 'off' });
});
afterAll(async () => {
  await t.close();
});

describe('query parameters: unknown ones are refused', () => {
  it('query: an unknown parameter of a list is 400 EINVAL naming it (?contextid= no longer lists everything)', async () => {
    const ctx = must(await t.req('POST', '/v1/contexts', { name: 'q' }), 201).id;
    must(await t.req('GET', `/v1/objects?contextId=${ctx}`), 200);
    for (const url of ['/v1/objects?contextid=1', '/v1/contexts?limt=5', '/v1/devices?smmu=1', '/v1/ioas?contextID=1', '/v1/eventqs?foo=', '/v1/audit?bogus=1', '/v1/hw-queues?x=1']) {
      const res = await t.req('GET', url);
      expectProblem(res, 'EINVAL', 400);
      const param = url.split('?')[1].split('=')[0];
      expect(res.body.detail, url).toContain(`"${param}"`);
      expect(res.body.errors[0].path, url).toBe('querystring');
    }
  });

  it('query: limit and cursor still work with the filters; known parameters keep their rules', async () => {
    const page = must(await t.req('GET', '/v1/devices?limit=2&smmuId=1'), 200);
    expect(page.items).toHaveLength(2);
    must(await t.req('GET', `/v1/devices?limit=2&cursor=${page.nextCursor}`), 200);
    expectProblem(await t.req('GET', '/v1/devices?limit=0'), 'EINVAL', 400);
    expectProblem(await t.req('GET', '/v1/devices/2/hw-info?type=arm_smmuv3'), 'ENOENT', 404); // valid query: the domain answers (unbound)
    expectProblem(await t.req('GET', '/v1/devices/2/hw-info?typ=arm_smmuv3'), 'EINVAL', 400);
    expectProblem(await t.req('GET', '/v1/smmus/1/state?commands=2&x=1'), 'EINVAL', 400);
  });

  it('query: a route without query parameters refuses any, reads and writes alike', async () => {
    for (const [method, url, body] of [
      ['GET', '/v1/smmus/1?verbose=1', undefined],
      ['GET', '/v1/contexts/1?x', undefined],
      ['POST', '/v1/contexts?dryRun=true', { name: 'never' }],
      ['DELETE', '/v1/objects/999999?force=1', undefined],
    ] as const) {
      const res = await t.req(method, url, body);
      expectProblem(res, 'EINVAL', 400);
      expect(res.body.errors[0].path, url).toBe('querystring');
    }
    expect(must(await t.req('GET', '/v1/contexts'), 200).items.map((c: { name: string }) => c.name)).not.toContain('never');
  });
});

describe('methods: a wrong method on an existing path', () => {
  it('methods: a wrong method on an existing path is 405 EMETHOD with Allow listing the methods it serves', async () => {
    for (const [method, url, allow] of [
      ['DELETE', '/v1/smmus', 'GET, HEAD, POST'],
      ['PUT', '/v1/contexts/1', 'DELETE, GET, HEAD'],
      ['PATCH', '/v1/devices/2/attachment', 'DELETE, PUT'],
      ['GET', '/v1/hw-queues/5/error/ack', 'POST'],
      ['POST', '/v1/objects/7?x=1', 'DELETE, GET, HEAD'],
    ] as const) {
      const res = await t.req(method, url);
      expectProblem(res, 'EMETHOD', 405);
      expect(res.headers.allow, url).toBe(allow);
      expect(res.body.allow, url).toEqual(allow.split(', '));
      expect(res.body.detail, url).toContain(`${method} is not allowed on ${url.split('?')[0]}`);
    }
  });

  it('methods: a path no route serves is still 404 ENOENT, under /v1 and elsewhere', async () => {
    expectProblem(await t.req('GET', '/v1/nothing-here'), 'ENOENT', 404);
    expectProblem(await t.req('DELETE', '/v1/contexts/1/nothing'), 'ENOENT', 404);
    expectProblem(await t.req('GET', '/nothing-here'), 'ENOENT', 404);
  });
});

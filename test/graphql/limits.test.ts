/** The cost (src/routes/graphql/cost.ts) and depth (./depth.ts) limits hold for the new list fields too. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startApp, type TestApp } from '../helper.js';

let t: TestApp;
beforeAll(async () => {
  t = await startApp({ env: { GRAPHQL_MAX_COST: '130' } });
});
afterAll(async () => t.close());

const post = async (query: string) => {
  const res = await t.app.inject({ method: 'POST', url: '/graphql', payload: { query } });
  return { status: res.statusCode, body: JSON.parse(res.body) };
};

it('graphql cost: hwQueues, eventqs, hwpts and vdevices are lists (times 10 under each); over GRAPHQL_MAX_COST is 400 E2BIG with its cost', async () => {
  for (const field of ['hwQueues', 'eventqs', 'hwpts', 'vdevices']) {
    // 1 + 10 × (id 1 + viommu 1 + (vdevices 1 + 10 × id 1)) = 131 > 130.
    const over = await post(`{ ${field} { id viommu { vdevices { id } } } }`);
    expect(over.status, field).toBe(400);
    expect(over.body.errors[0].extensions, field).toMatchObject({ errno: 'E2BIG', status: 400, cost: 131, limit: 130 });
    // One field less: 121, answered.
    const under = await post(`{ ${field} { viommu { vdevices { id } } } }`);
    expect(under.body.errors, field).toBeUndefined();
  }
  const ctx = await post('{ contexts { hwQueues { id } eventqs { id } } }');
  expect(ctx.body.errors[0].extensions).toMatchObject({ errno: 'E2BIG', cost: 1 + 10 * (2 + 20) });
});

it('graphql depth: a nine-deep query through the new list fields is EINVAL (depth limit 8)', async () => {
  const deep = await post('{ eventqs { viommu { hwQueues { viommu { eventqs { viommu { hwQueues { viommu { id } } } } } } } } }');
  expect(deep.body.errors[0].extensions.errno).toBe('EINVAL');
  expect(deep.body.errors[0].message).toMatch(/query depth \(9\) exceeds the query depth limit of 8/);
});

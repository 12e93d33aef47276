/**
 * api.md "GraphQL": the standard introspection query is always answered (depth 15, beyond the
 * depth limit of 8, which counts only the schema's own fields: src/routes/graphql/depth.ts); a
 * query over the limit is still EINVAL.
 */
import { getIntrospectionQuery } from 'graphql';
import { afterEach, expect, it } from 'vitest';
import { startApp, type TestApp } from './helper.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

it('graphql: the standard introspection query is answered; a nine-deep query is EINVAL (depth limit 8)', async () => {
  t = await startApp();
  const res = await t.app.inject({ method: 'POST', url: '/graphql', payload: { query: getIntrospectionQuery() } });
  const body = JSON.parse(res.body);
  expect(res.statusCode).toBe(200);
  expect(body.errors).toBeUndefined();
  expect(body.data.__schema.queryType.name).toBe('Query');
  const deep = '{ smmus { devices { smmu { devices { smmu { devices { smmu { devices { id } } } } } } } } }';
  const refused = JSON.parse((await t.app.inject({ method: 'POST', url: '/graphql', payload: { query: deep } })).body);
  expect(refused.errors[0].extensions.errno).toBe('EINVAL');
  expect(refused.errors[0].message).toMatch(/query depth \(9\) exceeds the query depth limit of 8/);
  const eight = '{ smmus { devices { smmu { devices { smmu { devices { smmu { id } } } } } } } }';
  expect(JSON.parse((await t.app.inject({ method: 'POST', url: '/graphql', payload: { query: eight } })).body).errors).toBeUndefined();
});

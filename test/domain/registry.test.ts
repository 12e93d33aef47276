/**
 * The object registry (src/domain/objects/): every registered type is created, read over REST
 * (its own route and GET /v1/objects/{id}) and over GraphQL (`object(id:)` and its own query),
 * listed, restored after a restart and destroyed — so a type that misses a piece (a route, a
 * GraphQL type, a storage column) fails here instead of in front of a user. A type added to the
 * registry without an entry in RECIPES below fails the first test.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OBJECT_TYPES, type ObjectType } from '../../src/domain/objects/index.js';
import { buildViommu, must, startApp, type TestApp } from '../helper.js';

interface Recipe {
  /** The REST collection: GET {path}/{id} and GET {path} (list). */
  path: string;
  /** The GraphQL query that reads one object of this type, and the type it answers. */
  gqlQuery: string;
  gqlType: string;
}

const RECIPES: Record<ObjectType, Recipe> = {
  ioas: { path: '/v1/ioas', gqlQuery: 'ioas', gqlType: 'Ioas' },
  hwpt_paging: { path: '/v1/hwpts', gqlQuery: 'hwpt', gqlType: 'Hwpt' },
  hwpt_nested: { path: '/v1/hwpts', gqlQuery: 'hwpt', gqlType: 'Hwpt' },
  viommu: { path: '/v1/viommus', gqlQuery: 'viommu', gqlType: 'Viommu' },
  vdevice: { path: '/v1/vdevices', gqlQuery: 'vdevice', gqlType: 'Vdevice' },
  hw_queue: { path: '/v1/hw-queues', gqlQuery: 'hwQueue', gqlType: 'HwQueue' },
  veventq: { path: '/v1/eventqs', gqlQuery: 'eventq', gqlType: 'Eventq' },
};

let t: TestApp;
/** One object of every type, in creation order (parents first). */
const created = new Map<ObjectType, number>();

beforeAll(async () => {
  t = await startApp();
  const g = await buildViommu(t, { device: 'nic1', type: 'tegra241_cmdqv' });
  created.set('ioas', g.ioas);
  created.set('hwpt_paging', g.parent);
  created.set('viommu', g.viommu);
  must(await t.req('POST', `/v1/ioas/${g.ioas}/mappings`, { iova: '0x40000000', length: '0x10000' }), 201);
  created.set('vdevice', must(await t.req('POST', '/v1/vdevices', { viommuId: g.viommu, deviceId: g.dev, virtId: 9 }), 201).id);
  created.set(
    'hwpt_nested',
    must(await t.req('POST', '/v1/hwpts', { deviceId: g.dev, ptId: g.viommu, data: { type: 'arm_smmuv3', ste: ['0x000000004000000b', '0x0000000000000010'] } }), 201).id,
  );
  created.set('veventq', must(await t.req('POST', '/v1/eventqs', { viommuId: g.viommu, type: 'arm_smmuv3', depth: 4 }), 201).id);
  created.set(
    'hw_queue',
    must(await t.req('POST', '/v1/hw-queues', { viommuId: g.viommu, type: 'tegra241_cmdqv', index: 0, nestingParentIova: '0x40000000', length: '0x100' }), 201).id,
  );
});
afterAll(async () => {
  await t?.close();
});

describe('object registry: every type, every piece', () => {
  it('registry: every registered type has a recipe here, and the setup created one of each', () => {
    expect([...OBJECT_TYPES].sort()).toEqual(Object.keys(RECIPES).sort());
    for (const type of OBJECT_TYPES) expect(created.get(type), type).toBeTypeOf('number');
  });

  for (const type of OBJECT_TYPES) {
    it(`registry: ${type} reads the same over its own route, GET /v1/objects/{id}, and both GraphQL queries`, async () => {
      const id = created.get(type)!;
      const recipe = RECIPES[type];
      const own = must(await t.req('GET', `${recipe.path}/${id}`), 200);
      expect(own.id).toBe(id);
      expect(own.type).toBe(type);
      expect(must(await t.req('GET', `/v1/objects/${id}`), 200)).toEqual(own);
      const gql = await t.gql(`{ object(id: ${id}) { __typename id type contextId } one: ${recipe.gqlQuery}(id: ${id}) { __typename id type } }`);
      expect(gql.errors).toBeUndefined();
      // GraphQL ids are `ID`s: serialized as strings (api.md "GraphQL").
      expect(gql.data.object).toEqual({ __typename: recipe.gqlType, id: String(id), type, contextId: String(own.contextId) });
      expect(gql.data.one).toEqual({ __typename: recipe.gqlType, id: String(id), type });
    });

    it(`registry: ${type} is listed by its collection and by GET /v1/objects?type=, and in its context over GraphQL`, async () => {
      const id = created.get(type)!;
      const own = must(await t.req('GET', `${RECIPES[type].path}/${id}`), 200);
      const list = must(await t.req('GET', `${RECIPES[type].path}?limit=500`), 200);
      expect(list.items.find((o: { id: number }) => o.id === id)).toEqual(own);
      const byType = must(await t.req('GET', `/v1/objects?type=${type}&limit=500`), 200);
      expect(byType.items.map((o: { id: number }) => o.id)).toContain(id);
      expect(byType.items.every((o: { type: string }) => o.type === type)).toBe(true);
      const ctx = await t.gql(`{ context(id: ${own.contextId}) { objects { id type } } }`);
      expect(ctx.errors).toBeUndefined();
      expect(ctx.data.context.objects).toContainEqual({ id: String(id), type });
    });
  }

  it('registry: every type is restored by a restart exactly as it was served', async () => {
    const before = new Map<ObjectType, unknown>();
    for (const [type, id] of created) before.set(type, must(await t.req('GET', `/v1/objects/${id}`), 200));
    t = await t.restart();
    for (const [type, id] of created) expect(must(await t.req('GET', `/v1/objects/${id}`), 200), type).toEqual(before.get(type));
  });

  it('registry: every type is destroyed by DELETE /v1/objects/{id}, leaf first, and is gone from REST and GraphQL', async () => {
    // The nested HWPT is free (nothing attached); children before their parents.
    const order: ObjectType[] = ['hw_queue', 'veventq', 'hwpt_nested', 'vdevice', 'viommu', 'hwpt_paging'];
    for (const type of order) {
      const id = created.get(type)!;
      const res = await t.req('DELETE', `/v1/objects/${id}`);
      expect(res.status, `${type}: ${res.raw}`).toBe(204);
      expect((await t.req('GET', `${RECIPES[type].path}/${id}`)).status).toBe(404);
      const gql = await t.gql(`{ object(id: ${id}) { id } }`);
      expect(gql.errors?.[0]?.extensions?.errno).toBe('ENOENT');
    }
    // The IOAS is still attached to the device through its auto HWPT: EBUSY until detached.
    const ioas = created.get('ioas')!;
    expect((await t.req('DELETE', `/v1/objects/${ioas}`)).status).toBe(409);
  });
});

/**
 * Bad input to GraphQL mutations: the same rules as REST (./harness.ts), reported as GraphQL
 * errors with extensions.errno, and nothing changes (database, public state, hardware model).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectUnchanged } from '../helper.js';
import { A, Fixture, hex, resolveNames, STATUS } from './harness.js';

interface GqlCase {
  what: string;
  query: string;
  variables?: Record<string, unknown>;
  errno: string;
}

const fixture = new Fixture();
beforeAll(() => fixture.start());
afterAll(() => fixture.close());

/** `@name` in a query or a variable names an object of the graph. */
const resolveGql = (s: string): string => resolveNames(fixture.ids, s, /@(\w+)/g);

const GQL_CASES: GqlCase[] = [
  { what: 'createIoas contextId "abc" (an ID that is no decimal id)', query: 'mutation { createIoas(contextId: "abc") { id } }', errno: 'EINVAL' },
  { what: 'createIoas contextId through a variable of the wrong type', query: 'mutation($c: ID!) { createIoas(contextId: $c) { id } }', variables: { c: 'abc' }, errno: 'EINVAL' },
  { what: 'createIoas contextId variable an object', query: 'mutation($c: ID!) { createIoas(contextId: $c) { id } }', variables: { c: { a: 1 } }, errno: 'EINVAL' },
  { what: 'createIoas contextId variable null', query: 'mutation($c: ID!) { createIoas(contextId: $c) { id } }', variables: { c: null }, errno: 'EINVAL' },
  { what: 'createIoas contextId -1', query: 'mutation { createIoas(contextId: -1) { id } }', errno: 'EINVAL' },
  { what: 'createIoas contextId 0', query: 'mutation { createIoas(contextId: 0) { id } }', errno: 'EINVAL' },
  { what: 'createIoas contextId 2^32 (beyond u32)', query: 'mutation { createIoas(contextId: 4294967296) { id } }', errno: 'EINVAL' },
  { what: 'createIoas contextId 1.5', query: 'mutation { createIoas(contextId: 1.5) { id } }', errno: 'EINVAL' },
  { what: 'createIoas contextId that names nothing', query: 'mutation { createIoas(contextId: 2147483647) { id } }', errno: 'ENOENT' },
  { what: 'createIoas contextId 2^32 − 1 (a well-formed id beyond Int that names nothing)', query: 'mutation { createIoas(contextId: 4294967295) { id } }', errno: 'ENOENT' },
  { what: 'createIoas contextId "2147483648" as a string', query: 'mutation { createIoas(contextId: "2147483648") { id } }', errno: 'ENOENT' },
  { what: 'createIoas without contextId', query: 'mutation { createIoas { id } }', errno: 'EINVAL' },
  { what: 'createIoas with an unknown argument', query: 'mutation { createIoas(contextId: @ctx, bogus: 1) { id } }', errno: 'EINVAL' },
  { what: 'an unknown mutation', query: 'mutation { dropEverything(id: 1) }', errno: 'EINVAL' },
  { what: 'a syntax error', query: 'mutation { createIoas(contextId: @ctx) { id ', errno: 'EINVAL' },
  { what: 'createContext name ""', query: 'mutation { createContext(name: "") { id } }', errno: 'EINVAL' },
  { what: 'createContext name of 129 characters', query: `mutation { createContext(name: "${'x'.repeat(129)}") { id } }`, errno: 'EINVAL' },
  { what: 'createContext name 42', query: 'mutation { createContext(name: 42) { id } }', errno: 'EINVAL' },
  { what: 'bindDevice deviceId 0', query: 'mutation { bindDevice(contextId: @ctx, deviceId: 0) { id } }', errno: 'EINVAL' },
  { what: 'bindDevice a device bound elsewhere', query: 'mutation { bindDevice(contextId: @ctx, deviceId: @tdev) { id } }', errno: 'EBUSY' },
  { what: 'mapIoas iova "zz"', query: 'mutation { mapIoas(ioasId: @ioas, iova: "zz", length: "0x1000") { iova } }', errno: 'EINVAL' },
  { what: 'mapIoas an unaligned iova', query: 'mutation { mapIoas(ioasId: @ioas, iova: "0x80000800", length: "0x1000") { iova } }', errno: 'EINVAL' },
  { what: 'mapIoas length of 17 hex digits', query: `mutation { mapIoas(ioasId: @ioas, iova: "0x80000000", length: "0x${'1'.repeat(17)}") { iova } }`, errno: 'EINVAL' },
  { what: 'mapIoas read "yes"', query: 'mutation { mapIoas(ioasId: @ioas, iova: "0x80000000", length: "0x1000", read: "yes") { iova } }', errno: 'EINVAL' },
  { what: 'mapIoas an existing range', query: `mutation { mapIoas(ioasId: @ioas, iova: "${hex(A)}", length: "0x1000") { iova } }`, errno: 'EEXIST' },
  { what: 'unmapIoas iova "zz"', query: 'mutation { unmapIoas(ioasId: @ioas, iova: "zz", length: "0x1000") }', errno: 'EINVAL' },
  { what: 'unmapIoas iova without length', query: `mutation { unmapIoas(ioasId: @ioas, iova: "${hex(A)}") }`, errno: 'EINVAL' },
  { what: 'allocHwpt an unknown flag', query: 'mutation { allocHwpt(deviceId: @dev, ptId: @ioas, flags: ["bogus"]) { id } }', errno: 'EINVAL' },
  { what: 'allocHwpt an unknown data type', query: 'mutation { allocHwpt(deviceId: @dev, ptId: @viommu, data: { type: "bogus", ste: ["0x9", "0x0"] }) { id } }', errno: 'EINVAL' },
  { what: 'allocHwpt an STE of three words', query: 'mutation { allocHwpt(deviceId: @dev, ptId: @viommu, data: { type: "arm_smmuv3", ste: ["0x9", "0x0", "0x0"] }) { id } }', errno: 'EINVAL' },
  { what: 'allocHwpt deviceId -1', query: 'mutation { allocHwpt(deviceId: -1, ptId: @ioas) { id } }', errno: 'EINVAL' },
  { what: 'attachDevice ptId -1', query: 'mutation { attachDevice(deviceId: @dev, ptId: -1) { id } }', errno: 'EINVAL' },
  { what: 'allocViommu type "bogus" (a type the driver does not know)', query: 'mutation { allocViommu(deviceId: @dev, hwptId: @parent, type: "bogus") { id } }', errno: 'EOPNOTSUPP' },
  { what: 'allocViommu type ""', query: 'mutation { allocViommu(deviceId: @dev, hwptId: @parent, type: "") { id } }', errno: 'EINVAL' },
  { what: 'allocViommu type as an enum literal', query: 'mutation { allocViommu(deviceId: @dev, hwptId: @parent, type: arm_smmuv3) { id } }', errno: 'EINVAL' },
  { what: 'allocVdevice virtId -1', query: 'mutation { allocVdevice(viommuId: @viommu, deviceId: @dev2, virtId: -1) { id } }', errno: 'EINVAL' },
  { what: 'allocVdevice virtId 1.5', query: 'mutation { allocVdevice(viommuId: @viommu, deviceId: @dev2, virtId: 1.5) { id } }', errno: 'EINVAL' },
  { what: 'allocVdevice virtId 2^32', query: 'mutation { allocVdevice(viommuId: @viommu, deviceId: @dev2, virtId: 4294967296) { id } }', errno: 'EINVAL' },
  { what: 'allocVdevice a vSID already used', query: 'mutation { allocVdevice(viommuId: @viommu, deviceId: @dev2, virtId: 16) { id } }', errno: 'EEXIST' },
  { what: 'createSmmu idr of two words', query: 'mutation { createSmmu(name: "s", idr: [1, 2]) { id } }', errno: 'EINVAL' },
  { what: 'createSmmu iotlbSize 0', query: 'mutation { createSmmu(name: "s", iotlbSize: 0) { id } }', errno: 'EINVAL' },
  { what: 'createDevice streamId -5', query: 'mutation { createDevice(name: "d", smmuId: @smmu0, streamId: -5) { id } }', errno: 'EINVAL' },
  { what: 'createDevice a used streamId', query: 'mutation { createDevice(name: "d", smmuId: @smmu0, streamId: 256) { id } }', errno: 'EEXIST' },
  { what: 'destroy id -1', query: 'mutation { destroy(id: -1) }', errno: 'EINVAL' },
  { what: 'destroy id "1x"', query: 'mutation { destroy(id: "1x") }', errno: 'EINVAL' },
  { what: 'destroy id "0x1" (decimal ids only, as REST paths)', query: 'mutation { destroy(id: "0x1") }', errno: 'EINVAL' },
  { what: 'destroy id 1.5', query: 'mutation { destroy(id: 1.5) }', errno: 'EINVAL' },
  { what: 'deleteContext id 0', query: 'mutation { deleteContext(id: 0) { destroyedObjects } }', errno: 'EINVAL' },
];

describe('bad input (GraphQL): an error with extensions.errno, and nothing changes', () => {
  for (const c of GQL_CASES) {
    it(`bad input: GraphQL mutation — ${c.what} is ${c.errno}`, async () => {
      await fixture.expectNothingChanged('strict', async () => {
        const variables = c.variables === undefined ? undefined : (JSON.parse(resolveGql(JSON.stringify(c.variables))) as Record<string, unknown>);
        const res = await fixture.t.gql(resolveGql(c.query), variables);
        expect(Array.isArray(res.errors) && res.errors.length > 0, JSON.stringify(res)).toBe(true);
        expect(res.errors[0].extensions?.errno, JSON.stringify(res.errors)).toBe(c.errno);
        expect(res.errors[0].extensions?.status).toBe(STATUS[c.errno]);
        expect(res.data ?? null).toBeNull();
      });
    });
  }

  it('bad input: POST /graphql — malformed JSON is a GraphQL error with errno EINVAL', async () => {
    await expectUnchanged(fixture.t, async () => {
      const res = await fixture.t.req('POST', '/graphql', '{"query":', { 'content-type': 'application/json' });
      expect(res.status).toBe(400);
      expect(res.body.errors?.[0]?.extensions?.errno, res.raw).toBe('EINVAL');
    });
  });
});

/**
 * Issue 13, "Beyond one host": the fleet gateway over three real service instances on loopback.
 * Each host's sub-selection is delegated to that host (one HTTP request per host and query), a
 * host that is down or hangs is `up: false` with an error naming it and null fields, and the
 * gateway's answer never carries a GraphQL error because of a host.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildASTSchema, parse } from 'graphql';
import { typeDefs } from '../../src/routes/graphql/schema.js';
import { buildHostGraph, fleetHosts, graphqlRequests, hostQuery, silentServer, startGateway, startHost, stopHost, type Host, type RunningGateway } from './support.js';

/** A dashboard's view of a host: its inventory, its VMs and their vIOMMUs. */
const HOST_VIEW = `smmus { name } contexts { id name } viommus { id vmid smmu { name } vdevices { virtId device { name } } }`;
const DASHBOARD = `{ hosts { name url up error ${HOST_VIEW} } }`;

describe('fleet gateway: three hosts', () => {
  const hosts: Host[] = [];
  let gw: RunningGateway;
  /** Each host's vSID, so the test can tell whose data is whose. */
  const virtIds: Record<string, number> = { a: 8, b: 16, c: 24 };

  beforeAll(async () => {
    for (const name of ['a', 'b', 'c']) hosts.push(await startHost(name));
    // Different graphs: a and c on smmu0 (nic0), b on smmu1 (nic1); host c also has two VMs.
    await buildHostGraph(hosts[0], 'nic0', virtIds.a);
    await buildHostGraph(hosts[1], 'nic1', virtIds.b);
    await buildHostGraph(hosts[2], 'nic0', virtIds.c);
    await buildHostGraph(hosts[2], 'nvme0', 99);
    gw = await startGateway({ FLEET_HOSTS: fleetHosts(hosts), FLEET_TIMEOUT_MS: '5000' });
  });

  afterAll(async () => {
    await gw?.close();
    for (const h of hosts) await stopHost(h);
  });

  it('gateway: a dashboard query answers every host with that host\'s own data, one HTTP request per host', async () => {
    const before = await Promise.all(hosts.map(graphqlRequests));
    const res = await gw.query(DASHBOARD);
    const after = await Promise.all(hosts.map(graphqlRequests));
    expect(res.status).toBe(200);
    expect(res.body.errors).toBeUndefined();
    const answered = res.body.data.hosts;
    expect(answered.map((h: any) => h.name)).toEqual(['a', 'b', 'c']);
    for (const [i, h] of hosts.entries()) {
      const entry = answered[i];
      expect(entry).toMatchObject({ name: h.name, url: `http://127.0.0.1:${h.port}`, up: true, error: null });
      // Exactly what the host itself answers for the same selection.
      const own = await hostQuery(h, `{ ${HOST_VIEW} }`);
      expect(own.errors).toBeUndefined();
      expect({ smmus: entry.smmus, contexts: entry.contexts, viommus: entry.viommus }).toEqual(own.data);
    }
    // Whose is whose: the vSIDs and SMMUs built above.
    const vsids = (i: number) => answered[i].viommus.flatMap((v: any) => v.vdevices.map((d: any) => d.virtId)).sort((x: number, y: number) => x - y);
    expect(vsids(0)).toEqual([virtIds.a]);
    expect(vsids(1)).toEqual([virtIds.b]);
    expect(vsids(2)).toEqual([virtIds.c, 99]);
    expect(answered[1].viommus[0].smmu.name).toBe('smmu1');
    expect(answered[0].viommus[0].vdevices[0].device.name).toBe('nic0');
    // The three root fields of one host went out as one request (subschema batching).
    expect(after.map((n, i) => n - before[i])).toEqual([1, 1, 1]);
  });

  it('gateway: variables, aliases, fragments and abstract types are delegated as written', async () => {
    const ids = await Promise.all(hosts.map(async (h) => (await hostQuery(h, '{ viommus { id } }')).data.viommus[0].id));
    const res = await gw.query(
      `query Q($id: ID!) {
        host(name: "b") { name first: object(id: $id) { id type ...V } again: object(id: $id) { __typename } }
        nobody: host(name: "z") { name }
      }
      fragment V on Viommu { vmid viommuType smmu { name } }`,
      { id: ids[1] },
    );
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data.nobody).toBeNull();
    expect(res.body.data.host).toMatchObject({ name: 'b', first: { id: ids[1], type: 'viommu', viommuType: 'arm_smmuv3', smmu: { name: 'smmu1' } }, again: { __typename: 'Viommu' } });
  });

  it('gateway: an unknown id on one host is that host\'s error, its other fields and the other hosts still answer', async () => {
    const res = await gw.query('{ hosts { name up error smmus { name } object(id: 4000000) { id } } }');
    expect(res.body.errors).toBeUndefined();
    for (const entry of res.body.data.hosts) {
      // The host is up: it answered, ENOENT for the lookup; the batch's other field is kept.
      expect(entry.up).toBe(true);
      expect(entry.object).toBeNull();
      expect(entry.error).toMatch(new RegExp(`^${entry.name}: object: ENOENT: `));
      expect(entry.smmus.map((s: any) => s.name)).toEqual(['smmu0', 'smmu1']);
    }
  });

  it('gateway: up and error alone probe each host', async () => {
    const res = await gw.query('{ hosts { name up error } }');
    expect(res.body).toEqual({ data: { hosts: hosts.map((h) => ({ name: h.name, up: true, error: null })) } });
  });

  it('gateway: a stopped host is up: false with an error naming it and null fields; the others answer', async () => {
    const first = (await gw.query(DASHBOARD)).body.data.hosts;
    await stopHost(hosts[1]);
    const res = await gw.query(DASHBOARD);
    expect(res.status).toBe(200);
    expect(res.body.errors).toBeUndefined();
    const [a, b, c] = res.body.data.hosts;
    expect(b).toEqual({ name: 'b', url: `http://127.0.0.1:${hosts[1].port}`, up: false, error: expect.stringMatching(/^b: .*(ECONNREFUSED|ECONNRESET|other side closed)/), smmus: null, contexts: null, viommus: null });
    expect(a).toEqual(first[0]);
    expect(c).toEqual(first[2]);
    // host(name:) too, and a probe of it.
    const one = await gw.query('{ host(name: "b") { name up error } }');
    expect(one.body).toEqual({ data: { host: { name: 'b', up: false, error: expect.stringMatching(/^b: /) } } });
  });
});

describe('fleet gateway: a host that hangs', () => {
  it('gateway: a host that does not answer within FLEET_TIMEOUT_MS is up: false, and the query is not held longer', async () => {
    const host = await startHost('fast');
    const hang = await silentServer();
    const gw = await startGateway({ FLEET_HOSTS: fleetHosts([host, { name: 'hung', port: hang.port }]), FLEET_TIMEOUT_MS: '400' });
    try {
      const started = Date.now();
      const res = await gw.query('{ hosts { name up error smmus { name } } }');
      const took = Date.now() - started;
      expect(res.body.errors).toBeUndefined();
      expect(res.body.data.hosts).toEqual([
        { name: 'fast', up: true, error: null, smmus: [{ name: 'smmu0' }, { name: 'smmu1' }] },
        { name: 'hung', up: false, error: 'hung: no answer within 400 ms', smmus: null },
      ]);
      expect(took).toBeGreaterThanOrEqual(350);
      expect(took).toBeLessThan(4000);
    } finally {
      await gw.close();
      await hang.close();
      await stopHost(host);
    }
  });
});

describe('fleet gateway: schema', () => {
  it('gateway: Host carries every field of the host Query with its arguments, nullable, and the gateway starts with no host up', async () => {
    // Nothing listens on port 9 (discard): the schema comes from the service's type definitions.
    const gw = await startGateway({ FLEET_HOSTS: 'dead=http://127.0.0.1:9' });
    try {
      const res = await gw.app.inject({ method: 'POST', url: '/graphql', payload: { query: '{ __type(name: "Host") { fields { name type { kind name ofType { name } } args { name type { kind } } } } }' } });
      const fields = new Map<string, any>(JSON.parse(res.body).data.__type.fields.map((f: any) => [f.name, f]));
      const query = buildASTSchema(parse(typeDefs)).getQueryType()!.getFields();
      for (const [name, f] of Object.entries(query)) {
        const g = fields.get(name);
        expect(g, name).toBeDefined();
        expect(g.type.kind, name).not.toBe('NON_NULL');
        expect(g.args.map((a: any) => a.name), name).toEqual(f.args.map((a) => a.name));
      }
      expect([...fields.keys()].slice(0, 4)).toEqual(['name', 'url', 'up', 'error']);
      expect(fields.size).toBe(Object.keys(query).length + 4);
    } finally {
      await gw.close();
    }
  });
});

/**
 * The fleet gateway with tokens: each host runs with API_TOKENS and the gateway presents each its
 * own token (FLEET_TOKENS); the gateway's callers need a token of the gateway's API_TOKENS; a
 * wrong host token makes that host `up: false`; no token is ever written to the gateway's log.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHostGraph, fleetHosts, startGateway, startHost, stopHost, type Host, type RunningGateway } from './support.js';

const TOKENS = {
  a: { admin: 'admin-token-of-a', viewer: 'viewer-token-of-a' },
  b: { admin: 'admin-token-of-b', viewer: 'viewer-token-of-b' },
};
const GATEWAY_TOKEN = 'gateway-caller-token';
const WRONG = 'not-the-token-of-b';
const ALL_TOKENS = [...Object.values(TOKENS).flatMap((t) => [t.admin, t.viewer]), GATEWAY_TOKEN, WRONG];

describe('fleet gateway: tokens', () => {
  const hosts: Host[] = [];
  let gw: RunningGateway;
  let log = '';
  const bearer = { authorization: `Bearer ${GATEWAY_TOKEN}` };

  beforeAll(async () => {
    hosts.push(await startHost('a', TOKENS.a), await startHost('b', TOKENS.b));
    await buildHostGraph(hosts[0], 'nic0', 8);
    await buildHostGraph(hosts[1], 'nic1', 16);
    const logStream = new Writable({ write: (chunk, _enc, done) => ((log += String(chunk)), done()) });
    gw = await startGateway(
      {
        FLEET_HOSTS: fleetHosts(hosts),
        FLEET_TOKENS: `a=${TOKENS.a.viewer},b=${TOKENS.b.viewer}`,
        API_TOKENS: `${GATEWAY_TOKEN}:viewer`,
        LOG_LEVEL: 'trace',
      },
      logStream,
    );
  });

  afterAll(async () => {
    await gw?.close();
    for (const h of hosts) await stopHost(h);
  });

  it('gateway: each host gets its own token; both answer', async () => {
    const res = await gw.query('{ hosts { name up error viommus { vdevices { virtId } } } }', undefined, bearer);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      data: {
        hosts: [
          { name: 'a', up: true, error: null, viommus: [{ vdevices: [{ virtId: 8 }] }] },
          { name: 'b', up: true, error: null, viommus: [{ vdevices: [{ virtId: 16 }] }] },
        ],
      },
    });
  });

  it('gateway: a field the host token may not read (audit needs admin) is that host\'s EPERM; the rest answers', async () => {
    const res = await gw.query('{ host(name: "a") { up error smmus { name } audit { items { seq } } } }', undefined, bearer);
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data.host).toMatchObject({ up: true, audit: null, smmus: [{ name: 'smmu0' }, { name: 'smmu1' }] });
    expect(res.body.data.host.error).toMatch(/^a: audit: EPERM: /);
  });

  it('gateway: without a valid token of its own the gateway answers 401 EUNAUTHENTICATED; /healthz stays open', async () => {
    const attempts: Array<Record<string, string>> = [{}, { authorization: `Bearer ${TOKENS.a.viewer}` }, { authorization: GATEWAY_TOKEN }];
    for (const headers of attempts) {
      const res = await gw.query('{ hosts { name } }', undefined, headers);
      expect(res.status).toBe(401);
      expect(res.body).toMatchObject({ errno: 'EUNAUTHENTICATED', status: 401 });
    }
    const health = await fetch(`http://127.0.0.1:${gw.port}/healthz`);
    expect(health.status).toBe(200);
  });

  it('gateway: a host that refuses the gateway\'s token is up: false with HTTP 401 (logged as a warning); the other answers', async () => {
    let wrongLog = '';
    const logStream = new Writable({ write: (chunk, _enc, done) => ((wrongLog += String(chunk)), done()) });
    const wrong = await startGateway({ FLEET_HOSTS: fleetHosts(hosts), FLEET_TOKENS: `a=${TOKENS.a.viewer},b=${WRONG}`, LOG_LEVEL: 'info' }, logStream);
    try {
      const res = await wrong.query('{ hosts { name up error smmus { name } } }');
      expect(res.body.errors).toBeUndefined();
      expect(res.body.data.hosts[0]).toMatchObject({ name: 'a', up: true, error: null });
      expect(res.body.data.hosts[1]).toEqual({ name: 'b', up: false, error: 'b: HTTP 401 EUNAUTHENTICATED: a valid bearer token is required', smmus: null });
      // Logged even when the query asks neither up nor error.
      await wrong.query('{ hosts { smmus { name } } }');
      const warnings = wrongLog.split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((e) => e.level === 40);
      expect(warnings).toHaveLength(2);
      for (const w of warnings) expect(w).toMatchObject({ host: 'b', up: false, error: expect.stringMatching(/^b: HTTP 401/), msg: 'fleet host gave no answer' });
      expect(wrongLog).not.toContain(WRONG);
    } finally {
      await wrong.close();
    }
  });

  it('gateway: no token, the hosts\' or its callers\', appears in its log (LOG_LEVEL=trace)', async () => {
    await gw.query('{ hosts { name up } }', undefined, bearer);
    await gw.query('{ hosts { name } }', undefined, { authorization: `Bearer ${WRONG}` });
    expect(log).toContain('incoming request');
    for (const token of ALL_TOKENS) expect(log).not.toContain(token);
  });
});

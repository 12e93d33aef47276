/**
 * What the fleet gateway tests share: real service instances listening on loopback (each on its
 * own temp SQLite directory, test/helper.ts `startApp`), a little graph built on each through
 * REST, the gateway in-process on loopback, and a count of the GraphQL requests a host served
 * (read from its /metrics, as Prometheus would).
 */
import net from 'node:net';
import { buildViommu, must, startApp, type TestApp } from '../helper.js';
import { listen } from '../ops/support.js';
import { buildGateway, type Gateway } from '../../src/gateway/app.js';
import { loadGatewayConfig } from '../../src/gateway/config.js';

export interface Host {
  name: string;
  t: TestApp;
  port: number;
  /** Authorization header for the host's own API (empty without API_TOKENS). */
  auth: Record<string, string>;
  /** Whether the test stopped it already. */
  stopped: boolean;
}

/** A host; with `tokens`, API_TOKENS has an admin token (the test's, to build the graph) and a viewer token (the gateway's). */
export async function startHost(name: string, tokens?: { admin: string; viewer: string }): Promise<Host> {
  const t = await startApp({ env: tokens ? { API_TOKENS: `${tokens.admin}:admin,${tokens.viewer}:viewer` } : {} });
  const port = await listen(t.app);
  return { name, t, port, auth: tokens ? { authorization: `Bearer ${tokens.admin}` } : {}, stopped: false };
}

export async function stopHost(h: Host): Promise<void> {
  if (h.stopped) return;
  h.stopped = true;
  await h.t.close();
}

/** A context named after the host with a vIOMMU on `device` and one vDEVICE of vSID `virtId`. */
export async function buildHostGraph(h: Host, device: string, virtId: number): Promise<{ viommu: number; ctx: number }> {
  const withAuth: Pick<TestApp, 'req'> & TestApp = { ...h.t, req: (m, u, b, hd = {}) => h.t.req(m, u, b, { ...h.auth, ...hd }) };
  const g = await buildViommu(withAuth, { device });
  must(await withAuth.req('POST', '/v1/vdevices', { viommuId: g.viommu, deviceId: g.dev, virtId }), 201);
  return { viommu: g.viommu, ctx: g.ctx };
}

/** The host's own GraphQL answer (what the gateway's entry for it must equal). */
export async function hostQuery(h: Host, query: string): Promise<any> {
  const res = await h.t.app.inject({ method: 'POST', url: '/graphql', payload: { query }, headers: h.auth });
  return JSON.parse(res.body);
}

/** GraphQL requests the host has answered so far (its request-duration histogram's count for /graphql). */
export async function graphqlRequests(h: Host): Promise<number> {
  const res = await h.t.app.inject({ method: 'GET', url: '/metrics', headers: h.auth });
  let n = 0;
  for (const line of res.body.split('\n')) {
    const m = /^vsmmu_http_request_duration_seconds_count\{([^}]*)\} (\d+)/.exec(line);
    if (m && m[1].includes('route="/graphql"')) n += Number(m[2]);
  }
  return n;
}

export interface RunningGateway extends Gateway {
  port: number;
  /** POSTs a query to the gateway over HTTP; the parsed body and the status. */
  query(query: string, variables?: Record<string, unknown>, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

export async function startGateway(env: Record<string, string>, logStream?: NodeJS.WritableStream): Promise<RunningGateway> {
  const gw = await buildGateway(loadGatewayConfig({ LOG_LEVEL: 'silent', ...env }), logStream ? { logStream } : {});
  const port = await listen(gw.app);
  return {
    ...gw,
    port,
    async query(query, variables, headers = {}) {
      const res = await fetch(`http://127.0.0.1:${port}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ query, variables }),
      });
      return { status: res.status, body: await res.json() };
    },
    close: () => gw.app.close(),
  };
}

export const fleetHosts = (hosts: Array<{ name: string; port: number }>, suffix = ''): string => hosts.map((h) => `${h.name}=http://127.0.0.1:${h.port}${suffix}`).join(',');

/** A TCP server that accepts connections and never answers: a host that hangs. */
export async function silentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  return {
    port: (srv.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        srv.close(() => resolve());
      }),
  };
}

/**
 * Load and latency against 127.0.0.1.
 *
 * - `blast`: throughput from autocannon (its programmatic API, in this process; the service runs
 *   in its own). Only 2xx answers count towards the rate; every status is kept, so the 429s of
 *   the rate limit and the 503s of admission are counted per figure.
 * - `Client`: one keep-alive connection (node:http), sequential requests timed with hrtime. The
 *   latency figures (p50 of a list page, of one create) are a few hundred µs to a few ms, below
 *   autocannon's latency histogram's 1 ms resolution, so they are timed here; every ratio compares
 *   the same client against itself.
 */
import http from 'node:http';
import autocannon from 'autocannon';

export interface Refused {
  '429': number;
  '503': number;
}

export interface BlastResult {
  /** 2xx answers per second. */
  rate: number;
  ok: number;
  seconds: number;
  statuses: Record<string, number>;
  errors: number;
  timeouts: number;
  refused: Refused;
}

export interface BlastOptions {
  url: string;
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';
  body?: string | Buffer;
  headers?: Record<string, string>;
  connections: number;
  /** Requests in all (autocannon `amount`); else `duration` seconds. */
  amount?: number;
  duration?: number;
}

export async function blast(o: BlastOptions): Promise<BlastResult> {
  const start = performance.now();
  let last = start;
  let ok = 0;
  const instance = autocannon({
    url: o.url,
    method: o.method ?? 'GET',
    ...(o.body === undefined ? {} : { body: o.body }),
    ...(o.headers === undefined ? {} : { headers: o.headers }),
    connections: o.connections,
    pipelining: 1,
    ...(o.amount === undefined ? { duration: o.duration ?? 5 } : { amount: o.amount }),
    timeout: 30,
  }) as unknown as Promise<autocannon.Result> & import('node:events').EventEmitter;
  // autocannon ends a run at its next 1 s sample tick, and its `duration` counts up to that tick:
  // the time is taken here instead, from the call to the last answer.
  instance.on('response', (_client: unknown, status: number) => {
    last = performance.now();
    if (status >= 200 && status < 300) ok++;
  });
  const r = await instance;
  const statuses: Record<string, number> = {};
  for (const [code, s] of Object.entries(r.statusCodeStats ?? {})) statuses[code] = (s as { count: number }).count;
  const seconds = (last - start) / 1000;
  return {
    rate: ok / seconds,
    ok,
    seconds,
    statuses,
    errors: r.errors,
    timeouts: r.timeouts,
    refused: { '429': statuses['429'] ?? 0, '503': statuses['503'] ?? 0 },
  };
}

export const addRefused = (a: Refused, b: Refused): Refused => ({ '429': a['429'] + b['429'], '503': a['503'] + b['503'] });
export const noneRefused = (): Refused => ({ '429': 0, '503': 0 });

export interface Answer {
  status: number;
  body: string;
  ms: number;
}

/** Sequential requests over keep-alive connections (one per concurrent caller). */
export class Client {
  private readonly agent: http.Agent;
  readonly refused = noneRefused();

  constructor(
    readonly port: number,
    sockets = 1,
  ) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: sockets });
  }

  request(method: string, path: string, body?: unknown): Promise<Answer> {
    const payload = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
    const type = Buffer.isBuffer(body) ? 'application/octet-stream' : 'application/json';
    return new Promise((resolve, reject) => {
      const start = process.hrtime.bigint();
      const req = http.request(
        { host: '127.0.0.1', port: this.port, path, method, agent: this.agent, headers: payload ? { 'content-type': type, 'content-length': payload.length } : {} },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const ms = Number(process.hrtime.bigint() - start) / 1e6;
            const status = res.statusCode ?? 0;
            if (status === 429) this.refused['429']++;
            if (status === 503) this.refused['503']++;
            resolve({ status, body: Buffer.concat(chunks).toString('utf8'), ms });
          });
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** A request that must succeed (2xx): its JSON body (null for 204). */
  async call(method: string, path: string, body?: unknown): Promise<any> {
    const r = await this.request(method, path, body);
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.body.slice(0, 300)}`);
    return r.body === '' ? null : JSON.parse(r.body);
  }

  /** Like `call`, with the time it took (ms). */
  async timed(method: string, path: string, body?: unknown): Promise<{ json: any; ms: number }> {
    const r = await this.request(method, path, body);
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.body.slice(0, 300)}`);
    return { json: r.body === '' ? null : JSON.parse(r.body), ms: r.ms };
  }

  close(): void {
    this.agent.destroy();
  }
}

/**
 * What the operations tests share: the real service in a child process (`node --import tsx
 * src/server.ts`, a temp database, a free loopback port), raw HTTP over a socket (for what
 * `inject` never sees: Node's parser, timeouts, pipelining, a closing listener), and the
 * problem+json check for answers read off a socket.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import type { FastifyInstance } from 'fastify';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** A TCP port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Variables of the test's environment that would change the child: not passed on. */
const DROPPED_ENV = /^(API_TOKENS|HOST_TOPOLOGY|PORT|HOST|DATABASE_URL|LOG_LEVEL|NODE_OPTIONS|VITEST.*|TEST|MAX_.*|RATE_LIMIT_.*|SHUTDOWN_.*|REQUEST_TIMEOUT|HANDLER_TIMEOUT)$/;

export interface Child {
  child: ChildProcess;
  port: number;
  base: string;
  /** Everything the child wrote so far. */
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns the service; `ready` waits until /readyz answers 200 (else until it exits). */
export async function spawnService(env: Record<string, string>, opts: { ready?: boolean } = {}): Promise<Child> {
  const port = await freePort();
  const base: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !DROPPED_ENV.test(k)) base[k] = v;
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/server.ts')], {
    cwd: ROOT,
    env: { ...base, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const c: Child = { child, port, base: `http://127.0.0.1:${port}`, stdout: () => out, stderr: () => err, exited };
  if (opts.ready === false) return c;
  let gone = false;
  void exited.then(() => (gone = true));
  for (let i = 0; ; i++) {
    if (gone) throw new Error(`the service exited before it was ready:\n${err}`);
    try {
      const res = await fetch(`${c.base}/readyz`);
      await res.arrayBuffer();
      if (res.status === 200) return c;
    } catch {
      // not listening yet
    }
    if (i > 1500) throw new Error(`the service never became ready:\n${err}`);
    await new Promise((r) => setTimeout(r, 40));
  }
}

/** Starts a test app's listener on a free loopback port. */
export async function listen(app: FastifyInstance): Promise<number> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  return (app.server.address() as net.AddressInfo).port;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  json: any;
}

/** Splits what a server wrote on one connection into its HTTP/1.1 responses (Content-Length framed). */
export function parseResponses(raw: string): RawResponse[] {
  const out: RawResponse[] = [];
  let rest = raw;
  while (rest.startsWith('HTTP/1.1 ')) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) break;
    const [statusLine, ...lines] = rest.slice(0, end).split('\r\n');
    const headers: Record<string, string> = {};
    for (const l of lines) {
      const i = l.indexOf(':');
      headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    const length = Number(headers['content-length'] ?? 0);
    const body = Buffer.from(rest.slice(end + 4), 'utf8').subarray(0, length).toString('utf8');
    let json: any;
    try {
      json = JSON.parse(body);
    } catch {
      json = undefined;
    }
    out.push({ status: Number(statusLine.split(' ')[1]), headers, body, json });
    rest = Buffer.from(rest.slice(end + 4), 'utf8').subarray(length).toString('utf8');
  }
  return out;
}

/** A raw connection: write bytes when you like, read everything the server sent until it closed. */
export function connect(port: number): Promise<{ socket: net.Socket; write(data: string | Buffer): void; closed: Promise<string>; received(): string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let buf = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (buf += d));
    const closed = new Promise<string>((r) => socket.once('close', () => r(buf)));
    socket.once('error', () => undefined);
    socket.once('connect', () => resolve({ socket, write: (d) => socket.write(d), closed, received: () => buf }));
    socket.once('error', reject);
  });
}

/** Sends `data` on a fresh connection and returns the responses once the server closes it (or after `idleMs`). */
export async function rawExchange(port: number, data: string | Buffer, idleMs = 1500): Promise<RawResponse[]> {
  const c = await connect(port);
  c.write(data);
  const timer = setTimeout(() => c.socket.end(), idleMs);
  const raw = await c.closed;
  clearTimeout(timer);
  return parseResponses(raw);
}

/** An answer read off a socket is problem+json with this errno and status. */
export function expectRawProblem(res: RawResponse | undefined, errno: string, status: number): void {
  expect(res, 'an HTTP response').toBeDefined();
  expect(res!.status).toBe(status);
  expect(res!.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res!.json?.errno, res!.body).toBe(errno);
  expect(res!.json.status).toBe(status);
  expect(typeof res!.json.requestId).toBe('string');
  expect(res!.json.detail, res!.body).toMatch(/\S/);
}

/** Polls `pred` every few milliseconds until it holds (a bounded number of times). */
export async function until(pred: () => boolean | Promise<boolean>, what: string, tries = 1000, everyMs = 10): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await pred()) return;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`never: ${what}`);
}

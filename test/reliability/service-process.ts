/**
 * The real service in a child process (`node --import tsx src/server.ts`), as an operator runs
 * it, for tests that must kill it (SIGKILL) and start it again on the same database file. The
 * child gets a free loopback port, LOG_LEVEL=silent and no API_TOKENS; `ready()` polls /readyz.
 * Requests go over real HTTP (fetch); a request whose connection dies with the child rejects,
 * which the caller counts as "not acknowledged".
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface HttpRes {
  status: number;
  headers: Headers;
  /** Parsed JSON when the body is JSON, else undefined. */
  body: any;
  raw: Buffer;
}

/** A TCP port nobody listens on right now (the kernel's pick). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** Variables of the parent that would change how the child behaves: not passed on. */
const DROPPED_ENV = /^(API_TOKENS|HOST_TOPOLOGY|PORT|HOST|DATABASE_URL|LOG_LEVEL|NODE_OPTIONS|VITEST.*|TEST)$/;

export class ServiceProcess {
  private child: ChildProcess | null = null;
  private stderr = '';
  private exited: Promise<void> = Promise.resolve();
  port = 0;
  /** How many times this database was started (first start included). */
  starts = 0;

  constructor(
    readonly dbFile: string,
    private readonly extraEnv: Record<string, string> = {},
  ) {}

  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts the child and waits until /readyz answers 200. */
  async start(timeoutMs = 60_000): Promise<void> {
    if (this.child) throw new Error('already running');
    this.port = await freePort();
    this.stderr = '';
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !DROPPED_ENV.test(k)) env[k] = v;
    Object.assign(env, { DATABASE_URL: `file:${this.dbFile}`, PORT: String(this.port), HOST: '127.0.0.1', LOG_LEVEL: 'silent', ...this.extraEnv });
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/server.ts')], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    this.starts++;
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => {
      this.stderr = (this.stderr + d).slice(-8000);
    });
    let exitCode: number | null | undefined;
    this.exited = new Promise((resolve) =>
      child.once('exit', (code) => {
        exitCode = code;
        resolve();
      }),
    );
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (exitCode !== undefined) throw new Error(`the service exited with ${exitCode} before it was ready:\n${this.stderr}`);
      try {
        const res = await fetch(`${this.base}/readyz`, { signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
        if (res.status === 200) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`the service was not ready within ${timeoutMs} ms:\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 40));
    }
  }

  /** SIGKILL, at once: no shutdown hook runs. Resolves when the process is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.killNow();
    await this.exited;
  }

  /** Sends SIGKILL synchronously (for use inside a response callback). */
  killNow(): void {
    const child = this.child;
    if (!child) return;
    this.child = null;
    child.kill('SIGKILL');
  }

  get running(): boolean {
    return this.child !== null;
  }

  get log(): string {
    return this.stderr;
  }

  async req(method: string, url: string, body?: unknown, headers: Record<string, string> = {}, timeoutMs = 30_000): Promise<HttpRes> {
    const init: RequestInit = { method, headers: { ...headers }, signal: AbortSignal.timeout(timeoutMs) };
    if (body !== undefined) {
      if (Buffer.isBuffer(body)) {
        init.body = body;
        (init.headers as Record<string, string>)['content-type'] ??= 'application/octet-stream';
      } else {
        init.body = JSON.stringify(body);
        (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
      }
    }
    const res = await fetch(`${this.base}${url}`, init);
    const raw = Buffer.from(await res.arrayBuffer());
    let parsed: unknown = undefined;
    if (/json/.test(res.headers.get('content-type') ?? '')) {
      try {
        parsed = JSON.parse(raw.toString('utf8'));
      } catch {
        parsed = undefined;
      }
    }
    return { status: res.status, headers: res.headers, body: parsed, raw };
  }

  /** Like req, but throws unless the status is `status`; returns the parsed body. */
  async must(status: number, method: string, url: string, body?: unknown, headers?: Record<string, string>): Promise<any> {
    const res = await this.req(method, url, body, headers);
    if (res.status !== status) throw new Error(`${method} ${url}: expected ${status}, got ${res.status}: ${res.raw.toString('utf8').slice(0, 500)}`);
    return res.body;
  }

  /**
   * The records an SSE stream of a vEVENTQ sends first: its backlog (the records still queued),
   * read until `count` arrived; nothing is removed from the queue.
   */
  async sseBacklog(eventqId: number, count: number, timeoutMs = 10_000): Promise<Array<{ id: number; data: any }>> {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), timeoutMs);
    const out: Array<{ id: number; data: any }> = [];
    try {
      if (count === 0) return out;
      const res = await fetch(`${this.base}/v1/eventqs/${eventqId}/stream`, { signal: ac.signal });
      if (res.status !== 200 || !res.body) throw new Error(`stream of ${eventqId}: ${res.status}`);
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buf = '';
      while (out.length < count) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        let sep: number;
        while ((sep = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, sep);
          buf = buf.slice(sep + 2);
          const id = /^id: (\d+)$/m.exec(block);
          const data = /^data: (.*)$/m.exec(block);
          if (id && data) out.push({ id: Number(id[1]), data: JSON.parse(data[1]) });
        }
      }
      return out;
    } finally {
      clearTimeout(timer);
      ac.abort();
    }
  }
}

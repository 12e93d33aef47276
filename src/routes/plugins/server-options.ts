/**
 * The Fastify factory options the operations side owns (app.ts spreads them): the logger with
 * the Authorization header redacted, the server's timeouts, the largest request head, and the
 * problem+json answers to what Node's parser rejects. During a shutdown Fastify's own plain 503
 * is off: src/routes/plugins/lifecycle.ts answers ESHUTDOWN as problem+json instead.
 */
import type { Server } from 'node:http';
import { LogController, type FastifyBaseLogger, type FastifyHttpOptions, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import os from 'node:os';
import { pino, type Bindings, type ChildLoggerOptions, type Level, type Logger } from 'pino';
import type { Config } from '../../config.js';
import { clientErrorHandler, frameworkErrorHandler } from './problem.js';

/** Log paths that may hold a bearer token: redacted wherever a serializer puts headers. */
export const REDACTED_PATHS = ['req.headers.authorization', 'request.headers.authorization', 'headers.authorization', '*.headers.authorization', 'authorization'];

export function loggerOptions(level: Config['logLevel']): FastifyServerOptions['logger'] {
  if (level === 'silent') return false;
  return { level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } };
}

/**
 * Log lines gathered into writes of up to BATCH_BYTES: written when that much is pending or
 * BATCH_MS after the first pending line (whichever is first), at `flushSync` and at exit, each
 * batch one synchronous write of pino's destination (sonic-boom). pino's asynchronous default
 * issues one `fs.write` per chunk it holds, each a round trip through libuv's thread pool (~200 µs
 * of CPU on this VM), and ~20 lines a write made the access log cost ~11 µs a request; a
 * synchronous destination with a write per line is no better (a syscall per line, and sonic-boom
 * measures its pending text's UTF-8 length on every write). Batched, one write carries hundreds of
 * lines under load; at rest a line waits at most BATCH_MS (bench/RESULTS.md, read_vs_bare). Both
 * loggers write here, so lines keep their order; a full pipe blocks the write as any synchronous
 * logger does (sonic-boom retries EAGAIN).
 */
export class LineBatch {
  private lines: string[] = [];
  private bytes = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly destination: { write(s: string): unknown; flushSync(): void },
    private readonly batchBytes = BATCH_BYTES,
    private readonly batchMs = BATCH_MS,
  ) {}

  write(line: string): boolean {
    this.lines.push(line);
    this.bytes += line.length;
    if (this.bytes >= this.batchBytes) this.flush();
    else if (this.timer === null) this.timer = setTimeout(this.flush, this.batchMs).unref();
    return true;
  }

  readonly flush = (): void => {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.lines.length === 0) return;
    const text = this.lines.length === 1 ? this.lines[0] : this.lines.join('');
    this.lines = [];
    this.bytes = 0;
    this.destination.write(text);
  };

  /** What pino's `logger.flush()` and the exit handler call: every pending line, written now. */
  flushSync(): void {
    this.flush();
    this.destination.flushSync();
  }
}

/** Pending log text that triggers a write, and the longest a line waits for one. */
const BATCH_BYTES = 64 * 1024;
const BATCH_MS = 100;

let stdoutBatch: LineBatch | null = null;

/** The process's one log stream on stdout (every app of the process writes there, in order), written out at exit. */
function stdoutStream(): LineBatch {
  if (stdoutBatch === null) {
    const batch = new LineBatch(pino.destination({ dest: 1, sync: true }));
    process.once('exit', () => batch.flushSync());
    stdoutBatch = batch;
  }
  return stdoutBatch;
}

/** The service's loggers on one stream (stdout, in LineBatch writes): the request logger's options and the access line's writer. */
function loggers(level: Config['logLevel']): { logger: FastifyServerOptions['logger']; access: AccessLine | null } {
  const options = loggerOptions(level);
  if (options === false) return { logger: false, access: null };
  const stream = stdoutStream();
  // pino's levels: the access line is at info (30).
  const access = pino.levels.values[level] <= 30 ? new AccessLine(stream) : null;
  return { logger: { ...(options as object), stream }, access };
}

/**
 * The access line, written as the text pino writes for `access.info({ reqId, req, res,
 * responseTime }, 'request completed')` with its default base (`pid`, `hostname`): the same keys
 * in the same order. Formatting the line through pino (its per-key serialisation, the time, the
 * message) was ~5 µs of a GET's ~55 µs; a template is under 1 µs. Strings go through
 * JSON.stringify, so a URL cannot break the line.
 */
export class AccessLine {
  private readonly prefix = `{"level":30,"time":`;
  private readonly base = `,"pid":${process.pid},"hostname":${JSON.stringify(os.hostname())}`;

  constructor(private readonly stream: { write(line: string): unknown }) {}

  write(request: FastifyRequest, reply: FastifyReply): void {
    const version = request.headers['accept-version'];
    const port = request.socket?.remotePort;
    const time = reply.elapsedTime;
    this.stream.write(
      `${this.prefix}${Date.now()}${this.base},"reqId":${JSON.stringify(request.id)},"req":{"method":${JSON.stringify(request.method)},"url":${JSON.stringify(request.url)}` +
        `${typeof version === 'string' ? `,"version":${JSON.stringify(version)}` : ''},"host":${JSON.stringify(request.host)},"remoteAddress":${JSON.stringify(request.ip)}` +
        `${port === undefined ? '' : `,"remotePort":${port}`}},"res":{"statusCode":${reply.statusCode}},"responseTime":${Number.isFinite(time) ? time : null},"msg":"request completed"}\n`,
    );
  }
}

/**
 * The access log: one line per request. Fastify's default writes two at info ("incoming request",
 * then "request completed"); here the completion line carries the request too (method, URL,
 * host, remote address and port), with its status and response time and the request's id, and
 * "incoming request" is written at debug (a request that never completes still shows there). The
 * GET of one object served ~40 % more requests a second with no request lines than with
 * Fastify's two (bench/RESULTS.md, read_vs_bare).
 *
 * The completion line is written by AccessLine on the same stream (so lines keep their order),
 * without the redaction of the request's logger: every field of the line is built here from the
 * request's method, URL, host, address and status — no header can be in it — and the
 * redaction's copy of each logged object (`*.headers.authorization` looks into every key) was a
 * third of the line's cost through pino. A failed request's line, which carries the error, still
 * goes through the request's redacting logger.
 */
export class AccessLog extends LogController {
  constructor(private readonly access: AccessLine | null = null) {
    super();
  }

  override incomingRequest(request: FastifyRequest): void {
    if (this.isLogDisabled(request)) return;
    request.log.debug({ req: request }, 'incoming request');
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (this.isLogDisabled(request)) return;
    if (error) reply.log.error({ req: request, res: reply, err: error, responseTime: reply.elapsedTime }, 'request errored');
    else if (this.access === null) reply.log.info({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed');
    // The fields of Fastify's `req` and `res` serializers (fastify/lib/logger-pino.js).
    else this.access.write(request, reply);
  }
}

/**
 * A request's logger (`request.log`), made when first used. Fastify makes one per request
 * (`logger.child({ reqId })`, `createChildLogger`), and with the Authorization redaction pino runs
 * the redaction over the child's bindings as it makes it: ~2–3 µs a request, for a logger that a
 * request served without error or warning never writes to (the access line has its own writer).
 * Here the child is made at the first line at an enabled level, with the same bindings and options.
 */
export class RequestLog {
  private made: Logger | null = null;

  constructor(
    private readonly parent: Logger,
    private readonly own: Bindings,
    private readonly options: ChildLoggerOptions,
  ) {}

  private get log(): Logger {
    return (this.made ??= this.parent.child(this.own, this.options));
  }

  get level(): string {
    return this.made?.level ?? this.parent.level;
  }

  set level(level: string) {
    this.log.level = level;
  }

  private line(level: Level, args: unknown[]): void {
    if (this.made === null && !this.parent.isLevelEnabled(level)) return;
    (this.log[level] as (...a: unknown[]) => void)(...args);
  }

  fatal(...args: unknown[]): void {
    this.line('fatal', args);
  }
  error(...args: unknown[]): void {
    this.line('error', args);
  }
  warn(...args: unknown[]): void {
    this.line('warn', args);
  }
  info(...args: unknown[]): void {
    this.line('info', args);
  }
  debug(...args: unknown[]): void {
    this.line('debug', args);
  }
  trace(...args: unknown[]): void {
    this.line('trace', args);
  }
  silent(): void {}

  child(bindings: Bindings, options?: ChildLoggerOptions): Logger {
    return this.log.child(bindings, options);
  }

  bindings(): Bindings {
    return this.made?.bindings() ?? { ...this.parent.bindings(), ...this.own };
  }
}

/** Fastify's `childLoggerFactory`: a RequestLog, or pino's child at once when the route sets its own level. */
export function requestLogFactory(logger: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions): FastifyBaseLogger {
  if (options.level !== undefined) return logger.child(bindings, options);
  return new RequestLog(logger as unknown as Logger, bindings, options) as unknown as FastifyBaseLogger;
}

/** How often Node looks for requests past REQUEST_TIMEOUT (its default is 30 s). */
const checkingInterval = (requestTimeoutMs: number) => Math.min(30_000, Math.max(250, Math.floor(requestTimeoutMs / 4)));

export function serverOptions(config: Config): FastifyHttpOptions<Server> {
  const requestTimeout = config.requestTimeoutMs;
  const { logger, access } = loggers(config.logLevel);
  return {
    logger,
    logController: new AccessLog(access),
    ...(logger === false ? {} : { childLoggerFactory: requestLogFactory }),
    requestTimeout,
    connectionTimeout: config.connectionTimeoutMs,
    ...(config.handlerTimeoutMs > 0 ? { handlerTimeout: config.handlerTimeoutMs } : {}),
    return503OnClosing: false,
    clientErrorHandler: clientErrorHandler(config.maxHeaderSize),
    frameworkErrors: frameworkErrorHandler,
    // Fastify's own JSON-schema validator (Ajv) checks only the schemas of Mercurius' /graphql
    // routes (the REST scope validates with zod): fixed schemas of a pinned package, so Ajv need
    // not compile its meta-schema to validate them first (~50–60 ms of every start).
    ajv: { customOptions: { validateSchema: false } },
    http: {
      maxHeaderSize: config.maxHeaderSize,
      // Node's headersTimeout (60 s) may not exceed the whole request's timeout.
      ...(requestTimeout > 0 ? { headersTimeout: Math.min(60_000, requestTimeout), connectionsCheckingInterval: checkingInterval(requestTimeout) } : {}),
    },
  };
}

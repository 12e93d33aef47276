/**
 * The Fastify factory options the operations side owns (app.ts spreads them): the logger with
 * the Authorization header redacted, the server's timeouts, the largest request head, and the
 * problem+json answers to what Node's parser rejects. During a shutdown Fastify's own plain 503
 * is off: src/routes/plugins/lifecycle.ts answers ESHUTDOWN as problem+json instead.
 */
import type { Server } from 'node:http';
import { LogController, type FastifyHttpOptions, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { pino, type Logger } from 'pino';
import type { Config } from '../../config.js';
import { clientErrorHandler, frameworkErrorHandler } from './problem.js';

/** Log paths that may hold a bearer token: redacted wherever a serializer puts headers. */
export const REDACTED_PATHS = ['req.headers.authorization', 'request.headers.authorization', 'headers.authorization', '*.headers.authorization', 'authorization'];

export function loggerOptions(level: Config['logLevel']): FastifyServerOptions['logger'] {
  if (level === 'silent') return false;
  return { level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } };
}

/** The service's loggers on one stream (stdout, pino's asynchronous default): the request logger's options and the access line's logger. */
function loggers(level: Config['logLevel']): { logger: FastifyServerOptions['logger']; access: Logger | null } {
  const options = loggerOptions(level);
  if (options === false) return { logger: false, access: null };
  const stream = pino.destination(1);
  return { logger: { ...(options as object), stream }, access: pino({ level }, stream) };
}

/**
 * The access log: one line per request. Fastify's default writes two at info ("incoming request",
 * then "request completed"); here the completion line carries the request too (method, URL,
 * host, remote address and port), with its status and response time and the request's id, and
 * "incoming request" is written at debug (a request that never completes still shows there). The
 * GET of one object served ~40 % more requests a second with no request lines than with
 * Fastify's two (bench/RESULTS.md, read_vs_bare).
 *
 * The completion line is written by a logger of its own on the same stream (so lines keep their
 * order), without the redaction of the request's logger: every field of the line is built here
 * from the request's method, URL, host, address and status — no header can be in it — and the
 * redaction's copy of each logged object (`*.headers.authorization` looks into every key) was a
 * third of the line's cost. A failed request's line, which carries the error, still goes through
 * the request's redacting logger.
 */
export class AccessLog extends LogController {
  constructor(private readonly access: Logger | null = null) {
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
    else {
      // The fields of Fastify's `req` and `res` serializers (fastify/lib/logger-pino.js).
      const req = { method: request.method, url: request.url, version: request.headers['accept-version'], host: request.host, remoteAddress: request.ip, remotePort: request.socket?.remotePort };
      this.access.info({ reqId: request.id, req, res: { statusCode: reply.statusCode }, responseTime: reply.elapsedTime }, 'request completed');
    }
  }
}

/** How often Node looks for requests past REQUEST_TIMEOUT (its default is 30 s). */
const checkingInterval = (requestTimeoutMs: number) => Math.min(30_000, Math.max(250, Math.floor(requestTimeoutMs / 4)));

export function serverOptions(config: Config): FastifyHttpOptions<Server> {
  const requestTimeout = config.requestTimeoutMs;
  const { logger, access } = loggers(config.logLevel);
  return {
    logger,
    logController: new AccessLog(access),
    requestTimeout,
    connectionTimeout: config.connectionTimeoutMs,
    ...(config.handlerTimeoutMs > 0 ? { handlerTimeout: config.handlerTimeoutMs } : {}),
    return503OnClosing: false,
    clientErrorHandler: clientErrorHandler(config.maxHeaderSize),
    frameworkErrors: frameworkErrorHandler,
    http: {
      maxHeaderSize: config.maxHeaderSize,
      // Node's headersTimeout (60 s) may not exceed the whole request's timeout.
      ...(requestTimeout > 0 ? { headersTimeout: Math.min(60_000, requestTimeout), connectionsCheckingInterval: checkingInterval(requestTimeout) } : {}),
    },
  };
}

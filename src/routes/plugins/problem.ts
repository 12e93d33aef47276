/**
 * The one error shape: RFC 9457 application/problem+json with the kernel's errno name.
 * Domain errors keep their errno and extensions; validation failures become EINVAL with
 * `errors: [{ path, message }]`; anything unexpected is a 500 whose details stay in the log,
 * under the request id. `toProblem` is the one mapping from an error to its errno: the plugin's
 * error handler uses it for every HTTP route, and GraphQL (routes/graphql) for resolver errors.
 */
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { ERRNO_STATUS, IommufdError, type Errno } from '../../domain/errors.js';

export const PROBLEM_TYPE_BASE = 'https://vsmmu-control.dev/problems/';

/**
 * The service's own errnos, for what the kernel has no ioctl failure for: the HTTP service's
 * limits (README "Errors"). EAGAIN: rate limited (429); EOVERLOAD: shed under load (503, with
 * Retry-After); ESHUTDOWN: the service is shutting down (503); ETIMEDOUT: the request did not
 * arrive in time (408); ETIME: the route did not answer in time (503; a write may still complete);
 * EMETHOD: a path that exists, asked with a method it does not serve (405, with Allow).
 */
export type ServiceErrno = 'EAGAIN' | 'EOVERLOAD' | 'ESHUTDOWN' | 'ETIMEDOUT' | 'ETIME' | 'EMETHOD';
export const SERVICE_ERRNO_STATUS: Record<ServiceErrno, number> = { EAGAIN: 429, EOVERLOAD: 503, ESHUTDOWN: 503, ETIMEDOUT: 408, ETIME: 503, EMETHOD: 405 };

/** The status of an errno (api.md's table, then the service's own errnos). */
export function statusOf(errno: string): number {
  return (ERRNO_STATUS as Record<string, number>)[errno] ?? (SERVICE_ERRNO_STATUS as Record<string, number>)[errno] ?? 500;
}

/**
 * An error of the HTTP service rather than of the domain: a service errno (or a domain errno
 * with an HTTP status of its own, such as E2BIG as 431). It is an IommufdError so every path
 * that maps those (the error handler, GraphQL's refusals before execution) maps it too.
 */
export class ServiceError extends IommufdError {
  private readonly httpStatus: number;
  constructor(errno: ServiceErrno | Errno, detail: string, opts: { status?: number; extensions?: Record<string, unknown> } = {}) {
    super(errno as Errno, detail, opts.extensions);
    this.name = 'ServiceError';
    this.httpStatus = opts.status ?? statusOf(errno);
  }
  override get status(): number {
    return this.httpStatus;
  }
}

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  errno: Errno | ServiceErrno | 'EINTERNAL';
  requestId: string;
  [extension: string]: unknown;
}

const TITLES: Record<string, string> = {
  EINVAL: 'Invalid argument',
  E2BIG: 'Argument too big',
  EOVERFLOW: 'Value too large',
  ERANGE: 'Result out of range',
  EPERM: 'Operation not permitted',
  ENOENT: 'No such object',
  EEXIST: 'Object exists',
  EBUSY: 'Object busy',
  ENOSPC: 'No space left',
  ENOMEM: 'Out of memory',
  EOPNOTSUPP: 'Operation not supported',
  EIO: 'Input/output error',
  EFAULT: 'Bad address',
  EUNAUTHENTICATED: 'Authentication required',
  EINTERNAL: 'Internal error',
  EAGAIN: 'Too many requests',
  EOVERLOAD: 'Service overloaded',
  ESHUTDOWN: 'Service shutting down',
  ETIMEDOUT: 'Request timed out',
  ETIME: 'Service timed out',
  EMETHOD: 'Method not allowed',
};

export function problemFor(errno: Errno | ServiceErrno, detail: string, requestId: string, extensions: Record<string, unknown> = {}, status = statusOf(errno)): ProblemBody {
  return {
    type: PROBLEM_TYPE_BASE + errno.toLowerCase(),
    title: TITLES[errno] ?? errno,
    status,
    detail,
    errno,
    requestId,
    ...extensions,
  };
}

/** Maps any error thrown while serving a request to a problem body. */
export function toProblem(error: unknown, request: Pick<FastifyRequest, 'id' | 'headers'>): ProblemBody {
  const requestId = String(request.id);
  if (error instanceof IommufdError) return problemFor(error.errno, error.message, requestId, error.extensions, error.status);
  if (hasZodFastifySchemaValidationErrors(error)) {
    const where = (error as { validationContext?: string }).validationContext ?? 'body';
    const errors = error.validation.map((v) => ({ path: `${where}${v.instancePath === '/' ? '' : v.instancePath}`, message: v.message ?? 'invalid' }));
    return problemFor('EINVAL', `request ${where} is invalid: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, requestId, { errors });
  }
  const fe = error as Partial<FastifyError>;
  switch (fe.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return problemFor('E2BIG', 'request body is larger than this endpoint accepts', requestId);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return problemFor('EINVAL', `unsupported content type ${String(request.headers['content-type'] ?? '(none)')}`, requestId);
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return problemFor('EINVAL', 'a JSON body was announced but the body is empty', requestId, { errors: [{ path: 'body', message: 'empty' }] });
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return problemFor('EINVAL', 'content-length does not match the body', requestId);
    case 'FST_ERR_HANDLER_TIMEOUT':
      return problemFor('ETIME', 'the service did not answer in time; a write may still complete (retry it with the same Idempotency-Key)', requestId);
    default:
      break;
  }
  if (fe.statusCode === 400 && (error instanceof SyntaxError || fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY')) {
    return problemFor('EINVAL', 'request body is not valid JSON', requestId, { errors: [{ path: 'body', message: 'malformed JSON' }] });
  }
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return problemFor('EINVAL', fe.message ?? 'bad request', requestId);
  }
  return {
    type: PROBLEM_TYPE_BASE + 'internal',
    title: TITLES.EINTERNAL,
    status: 500,
    detail: 'internal error; the request id finds it in the service log',
    errno: 'EINTERNAL',
    requestId,
  };
}

export function sendProblem(reply: FastifyReply, body: ProblemBody): FastifyReply {
  return reply.code(body.status).type('application/problem+json').send(body);
}

/** Serves every error as problem+json (REST, operations, GraphQL's HTTP layer, unknown routes). */
export function handleError(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const body = toProblem(error, request);
  if (body.status >= 500) request.log.error({ err: error }, 'request failed');
  return sendProblem(reply, body);
}

/**
 * What Node's HTTP parser rejects before Fastify sees a request (Fastify's `clientErrorHandler`):
 * a request line and headers over the limit (431 E2BIG), a request that did not arrive within
 * REQUEST_TIMEOUT (408 ETIMEDOUT), anything malformed (400 EINVAL). Written on the raw socket as
 * problem+json; the connection is closed.
 */
export function clientErrorHandler(maxHeaderSize: number) {
  return function onClientError(this: FastifyInstance, err: Error & { code?: string }, socket: Socket): void {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const requestId = randomUUID();
    let body: ProblemBody;
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') body = problemFor('ETIMEDOUT', 'the request did not arrive in time', requestId);
    else if (err.code === 'HPE_HEADER_OVERFLOW') body = problemFor('E2BIG', `the request line and headers exceed ${maxHeaderSize} bytes`, requestId, {}, 431);
    else body = problemFor('EINVAL', `malformed HTTP request${err.code ? ` (${err.code})` : ''}`, requestId);
    this.log.debug({ err, requestId }, 'client error');
    writeRawProblem(socket, body);
  };
}

/** A problem written on a raw socket (no Fastify reply exists), then the connection closes. */
export function writeRawProblem(socket: Socket | Duplex, body: ProblemBody): void {
  if (socket.writable) {
    const json = JSON.stringify(body);
    socket.end(
      `HTTP/1.1 ${body.status} ${STATUS_CODES[body.status]}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(json)}\r\n` +
        `X-Request-Id: ${body.requestId}\r\nConnection: close\r\n\r\n${json}`,
    );
  }
  if ('destroySoon' in socket && typeof socket.destroySoon === 'function') socket.destroySoon();
  else socket.destroy();
}

/**
 * Fastify's `frameworkErrors`: a URL that does not decode (FST_ERR_BAD_URL) or a path parameter
 * over the router's 100 characters (FST_ERR_MAX_PARAM_LENGTH, Fastify's plain 414) are EINVAL.
 */
export function frameworkErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const requestId = String(request.id);
  reply.header('x-request-id', requestId);
  if (error.code === 'FST_ERR_BAD_URL') sendProblem(reply, problemFor('EINVAL', 'the URL is not valid (a bad percent-encoding)', requestId));
  else if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') sendProblem(reply, problemFor('EINVAL', 'a path parameter is longer than 100 characters', requestId));
  else handleError(error, request, reply);
}

export const problemPlugin = fp(
  async (app: FastifyInstance) => {
    app.setErrorHandler(handleError);
    // CONNECT is not routed by Node's server (its 'connect' event): answered like any unknown route.
    app.server.on('connect', (req: { method?: string; url?: string }, socket: Duplex) => {
      writeRawProblem(socket, problemFor('ENOENT', `no route ${req.method} ${req.url}`, randomUUID()));
    });
    app.setNotFoundHandler((request, reply) => sendProblem(reply, problemFor('ENOENT', `no route ${request.method} ${request.url}`, String(request.id))));
  },
  { name: 'problem' },
);

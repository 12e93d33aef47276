/**
 * The one error shape: RFC 9457 application/problem+json with the kernel's errno name.
 * Domain errors keep their errno and extensions; validation failures become EINVAL with
 * `errors: [{ path, message }]`; anything unexpected is a 500 whose details stay in the log,
 * under the request id. `toProblem` is the one mapping from an error to its errno: the plugin's
 * error handler uses it for every HTTP route, and GraphQL (routes/graphql) for resolver errors.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { ERRNO_STATUS, IommufdError, type Errno } from '../../domain/errors.js';

export const PROBLEM_TYPE_BASE = 'https://vsmmu-control.dev/problems/';

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  errno: Errno | 'EINTERNAL';
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
};

export function problemFor(errno: Errno, detail: string, requestId: string, extensions: Record<string, unknown> = {}): ProblemBody {
  return {
    type: PROBLEM_TYPE_BASE + errno.toLowerCase(),
    title: TITLES[errno],
    status: ERRNO_STATUS[errno],
    detail,
    errno,
    requestId,
    ...extensions,
  };
}

/** Maps any error thrown while serving a request to a problem body. */
export function toProblem(error: unknown, request: Pick<FastifyRequest, 'id' | 'headers'>): ProblemBody {
  const requestId = String(request.id);
  if (error instanceof IommufdError) return problemFor(error.errno, error.message, requestId, error.extensions);
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

export const problemPlugin = fp(
  async (app: FastifyInstance) => {
    app.setErrorHandler(handleError);
    app.setNotFoundHandler((request, reply) => sendProblem(reply, problemFor('ENOENT', `no route ${request.method} ${request.url}`, String(request.id))));
  },
  { name: 'problem' },
);

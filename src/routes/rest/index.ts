/**
 * The REST API under /v1. The zod validator and the serializer compilers are set inside this
 * plugin's scope only: set on the root instance they would also apply to Mercurius' routes.
 * Errors reach the app's one error handler (plugins/problem.ts). Every write runs in its write
 * scope and honours Idempotency-Key (plugins/idempotency.ts).
 */
import type { FastifyPluginAsync, FastifySchemaCompiler, FastifySerializerCompiler } from 'fastify';
import { validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { idParams, U32_MAX } from '../../schema/common.js';
import { idempotencyPlugin } from '../plugins/idempotency.js';
import { problemFor, sendProblem } from '../plugins/problem.js';
import { auditRoutes } from './audit.js';
import { contextRoutes } from './contexts.js';
import { eventRoutes } from './events.js';
import { hardwareRoutes } from './hardware.js';
import { inventoryRoutes } from './inventory.js';
import { objectRoutes } from './objects.js';

/**
 * Replies are serialized with JSON.stringify; their zod response schemas (src/schema/views.ts)
 * are never run. fastify-type-provider-zod's `serializerCompiler` would `safeEncode` every reply
 * through its schema before JSON.stringify — a full zod parse of every answer, on the hot routes
 * (invalidate, translate, queue commands) as on the rest — only to re-check what the views
 * already built. The response schemas are so documentation (/openapi.json) and the tests'
 * contract: test/helper.ts validates every answer against the document (strict by default), and
 * TypeScript checks each handler's return type against its schema's output type.
 *
 * What the zod compiler did for a reply without a schema is kept, as Fastify never calls a
 * compiler for those: they are JSON.stringify'd by Fastify's default serializer, as before. The
 * one difference on schema'd replies: zod's encode dropped fields a schema does not declare; here
 * nothing is dropped, and the tests fail on an undeclared field instead (the schemas are closed).
 */
export const jsonSerializerCompiler: FastifySerializerCompiler<unknown> = () => (data) => JSON.stringify(data);

/** What a route without query parameters validates its query against: nothing may be there. */
export const NO_QUERY = z.strictObject({});

const DECIMAL_ID = /^[0-9]{1,10}$/;
const isEmpty = (data: unknown): boolean => {
  if (data === null || data === undefined) return false;
  for (const _ in data as object) return false;
  return true;
};

/**
 * fastify-type-provider-zod's validator, with a shortcut for the two schemas nearly every read
 * validates: a route's empty query (NO_QUERY) and `{ id }` path parameters (idParams). A request
 * that is obviously valid gets exactly what zod answers for it — `{}`, `{ id: <number> }` — and
 * everything else, every failure included, goes through zod as before (its errors, its EINVAL).
 * A zod parse of those two costs a few µs per request, a visible share of a GET (issue 13);
 * test/api/validation-shortcut.test.ts holds the shortcut to zod's answers.
 */
export const restValidatorCompiler: FastifySchemaCompiler<z.ZodType> = (route) => {
  const zod = validatorCompiler(route);
  if (route.schema === NO_QUERY) return (data: unknown) => (isEmpty(data) ? { value: {} } : zod(data));
  if (route.schema === idParams) {
    return (data: unknown) => {
      const text = (data as { id?: unknown } | null)?.id;
      if (typeof text === 'string' && DECIMAL_ID.test(text) && Object.keys(data as object).length === 1) {
        const id = Number(text);
        if (id >= 1 && id <= U32_MAX) return { value: { id } };
      }
      return zod(data);
    };
  }
  return zod;
};

/** A route's path (`/v1/contexts/:id/devices/:deviceId`) as a regular expression for a request's path. */
function pathPattern(url: string): RegExp {
  const source = url
    .split('/')
    .map((seg) => (seg.startsWith(':') ? '[^/]+' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${source}/?$`);
}

export interface RestOptions {
  /** ms between heartbeat comments on SSE streams (0: none); default 15 s. */
  sseHeartbeatMs?: number;
}

export const restApi: FastifyPluginAsync<RestOptions> = async (app, opts) => {
  app.setValidatorCompiler(restValidatorCompiler);
  app.setSerializerCompiler(jsonSerializerCompiler);
  const zapp = app.withTypeProvider<ZodTypeProvider>();
  // Raw invalidation entries, guest memory: bytes as sent.
  zapp.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  // Unknown query parameters are EINVAL, as unknown body fields are: every querystring schema is
  // strict (src/schema), and a route without one takes none (`?contextid=` named, not ignored).
  // The path patterns seen here also answer a wrong method on an existing path (405, below).
  const routes: { pattern: RegExp; method: string }[] = [];
  app.addHook('onRoute', (route) => {
    if (route.schema && route.schema.querystring === undefined) route.schema = { ...route.schema, querystring: NO_QUERY };
    else if (!route.schema) route.schema = { querystring: NO_QUERY };
    for (const method of Array.isArray(route.method) ? route.method : [route.method]) routes.push({ pattern: pathPattern(route.url), method: method.toUpperCase() });
  });
  // Under /v1 only: a path some route serves, asked with another method, is 405 with Allow.
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0];
    const allow = [...new Set(routes.filter((r) => r.pattern.test(path)).map((r) => r.method))].sort();
    const requestId = String(request.id);
    if (allow.length === 0) return sendProblem(reply, problemFor('ENOENT', `no route ${request.method} ${request.url}`, requestId));
    reply.header('allow', allow.join(', '));
    return sendProblem(reply, problemFor('EMETHOD', `${request.method} is not allowed on ${path}: use ${allow.join(', ')}`, requestId, { allow }));
  });

  // Before the routes: every write route registered after it runs in its write scope (audit)
  // and honours Idempotency-Key.
  await zapp.register(idempotencyPlugin);
  await zapp.register(inventoryRoutes);
  await zapp.register(contextRoutes);
  await zapp.register(objectRoutes);
  await zapp.register(hardwareRoutes);
  await zapp.register(eventRoutes, { sseHeartbeatMs: opts.sseHeartbeatMs ?? 15_000 });
  await zapp.register(auditRoutes);
};

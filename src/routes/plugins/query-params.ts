/**
 * Unknown query parameters outside /v1 are EINVAL too (issue 14): the probes, /metrics and
 * /openapi.json take none, /graphql takes GraphQL-over-HTTP's four. Under /v1 the strict
 * querystring schemas of src/schema do the same (routes/rest/index.ts). The interactive pages
 * (/docs, /altair) and their assets are left alone: browsers and the UIs add parameters of their
 * own to static files.
 *
 * An onRoute hook, registered before every plugin with routes, adds the check to exactly those
 * routes: nothing runs for any other request.
 */
import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import fp from 'fastify-plugin';
import { problemFor, sendProblem } from './problem.js';

/** The query parameters each route outside /v1 takes. */
export const QUERY_PARAMETERS: Readonly<Record<string, readonly string[]>> = {
  '/healthz': [],
  '/readyz': [],
  '/metrics': [],
  '/openapi.json': [],
  '/graphql': ['query', 'variables', 'operationName', 'extensions'],
};

function onlyParameters(url: string, allowed: readonly string[]): onRequestAsyncHookHandler {
  const takes = allowed.length === 0 ? 'takes none' : `takes ${allowed.join(', ')}`;
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const unknown = Object.keys((request.query ?? {}) as Record<string, unknown>).filter((k) => !allowed.includes(k));
    if (unknown.length === 0) return;
    const names = unknown.map((k) => JSON.stringify(k)).join(', ');
    return sendProblem(reply, problemFor('EINVAL', `unknown query parameter${unknown.length > 1 ? 's' : ''} ${names}: ${url} ${takes}`, String(request.id)));
  };
}

export const queryParametersPlugin = fp(async (app) => {
  app.addHook('onRoute', (route) => {
    const allowed = QUERY_PARAMETERS[route.url];
    if (!allowed) return;
    const own = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    route.onRequest = [...own, onlyParameters(route.url, allowed)];
  });
}, { name: 'query-parameters' });

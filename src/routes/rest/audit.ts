/**
 * GET /v1/audit (admin): every accepted write — who (the token's name), what (method, route,
 * path, the ids it created, changed and destroyed), when, and the request id — oldest first, with
 * api.md's cursor paging, filtered by context, object or token name. The GraphQL query `audit`
 * answers the same entries (`graphqlAudit`).
 */
import mercurius from 'mercurius';
import { z } from 'zod';
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { AuditQuery } from '../../domain/audit.js';
import { IommufdError } from '../../domain/errors.js';
import type { Iommufd } from '../../domain/service.js';
import type { AuditRec } from '../../domain/types.js';
import { listQuery, optionalIdQuery } from '../../schema/common.js';
import { auditPage as auditPageSchema } from '../../schema/views.js';
import { roleConfig } from '../plugins/auth.js';
import { errnos } from '../plugins/openapi.js';
import { toProblem } from '../plugins/problem.js';

export const auditListQuery = listQuery.extend({
  contextId: optionalIdQuery,
  objectId: optionalIdQuery,
  token: z.string().min(1).max(128).regex(/^[\x21-\x7e]+$/, 'must be a token name').optional(),
});

export function auditView(a: AuditRec) {
  return {
    seq: a.seq,
    at: a.at.toISOString(),
    requestId: a.requestId,
    actor: a.actor,
    method: a.method,
    route: a.route,
    path: a.path,
    operation: a.operation,
    contextIds: [...a.contextIds],
    created: [...a.created],
    changed: [...a.changed],
    destroyed: [...a.destroyed],
  };
}
export type AuditView = ReturnType<typeof auditView>;

/** A token limited to contexts sees the entries of its contexts only. */
function auditPage(service: Iommufd, q: AuditQuery, contexts: ReadonlySet<number> | null) {
  if (contexts === null) return service.listAudit(q);
  const page = service.listAudit({ ...q, limit: 500 });
  // Filtering after paging could return short pages; walk on until the limit is reached.
  const limit = q.limit ?? 100;
  const items: AuditRec[] = [];
  let cursor = q.cursor;
  let current = page;
  for (;;) {
    for (const a of current.items) {
      if (!a.contextIds.some((c) => contexts.has(c))) continue;
      if (items.length === limit) return { items, nextCursor: String(items[items.length - 1].seq) };
      items.push(a);
    }
    if (current.nextCursor === null) return { items, nextCursor: null };
    cursor = current.nextCursor;
    current = service.listAudit({ ...q, limit: 500, cursor });
  }
}

export const auditRoutes: FastifyPluginAsyncZod = async (app) => {
  const service = app.iommufd;
  app.get(
    '/audit',
    {
      schema: {
        tags: ['audit'],
        summary: 'The audit trail: every accepted write, oldest first',
        description: errnos({ EINVAL: 'a malformed limit, cursor or filter' }, 'A token limited to contexts sees the entries of its contexts only.'),
        querystring: auditListQuery,
        response: { 200: auditPageSchema },
      },
      ...roleConfig('admin'),
    },
    async (req) => {
      const page = auditPage(service, req.query, req.contexts ?? null);
      return { items: page.items.map(auditView), nextCursor: page.nextCursor };
    },
  );
};

type GraphqlCtx = { reply?: { request?: FastifyRequest } };

/** The GraphQL query `audit(contextId, objectId, token, limit, cursor)`: admin only, as on REST. */
export function graphqlAudit(service: Iommufd) {
  return async (_root: unknown, args: Record<string, unknown>, ctx: GraphqlCtx) => {
    const request = ctx.reply?.request;
    try {
      if (request && request.role !== 'admin') throw new IommufdError('EPERM', `role ${request.role} may not read the audit trail (needs admin)`);
      const present = Object.fromEntries(Object.entries(args).filter(([, v]) => v !== null && v !== undefined).map(([k, v]) => [k, String(v)]));
      const parsed = auditListQuery.safeParse(present);
      if (!parsed.success) {
        const errors = parsed.error.issues.map((i) => ({ path: ['args', ...i.path].join('/'), message: i.message }));
        throw new IommufdError('EINVAL', `arguments are invalid: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, { errors });
      }
      const page = auditPage(service, parsed.data, request?.contexts ?? null);
      return { items: page.items.map(auditView), nextCursor: page.nextCursor };
    } catch (err) {
      const { detail, errno, status, requestId, type: _type, title: _title, ...extensions } = toProblem(err, { id: request?.id ?? '', headers: {} });
      throw new mercurius.ErrorWithProps(detail, { errno, status, requestId, ...extensions });
    }
  };
}

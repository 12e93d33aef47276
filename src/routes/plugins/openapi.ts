/**
 * The OpenAPI 3.1 document at /openapi.json, generated from the zod schemas of the REST routes
 * (fastify-type-provider-zod's transform); GraphQL and the operations routes stay out of it.
 *
 * Every error of every route is the same RFC 9457 problem (plugins/problem.ts), so the document
 * declares it once, as `components.schemas.Problem`, and every operation answers it for `4XX`
 * and `5XX` as application/problem+json. Success responses are the routes' own to document.
 */
import swagger from '@fastify/swagger';
import fp from 'fastify-plugin';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';
import { roleConfig } from './auth.js';

/** The problem body of plugins/problem.ts: its fixed members, and any extension (open object). */
export const PROBLEM_SCHEMA = {
  type: 'object',
  description: 'RFC 9457 problem details; `errno` is the kernel name of the failure (api.md "Conventions")',
  required: ['type', 'title', 'status', 'detail', 'errno', 'requestId'],
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer', minimum: 400, maximum: 599 },
    detail: { type: 'string' },
    errno: { type: 'string', pattern: '^E[A-Z0-9_]+$' },
    requestId: { type: 'string' },
    errors: {
      type: 'array',
      description: 'validation failures: where, and what is wrong',
      items: { type: 'object', required: ['path', 'message'], properties: { path: { type: 'string' }, message: { type: 'string' } } },
    },
    blockedBy: { type: 'array', items: { type: 'integer' }, description: 'EBUSY: the ids that hold the object' },
    entriesProcessed: { type: 'integer', minimum: 0, description: 'invalidation: index of the first failing entry' },
  },
  additionalProperties: true,
} as const;

const PROBLEM_RESPONSE = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
});

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

interface Operation {
  responses?: Record<string, unknown>;
}
interface Document {
  paths?: Record<string, Record<string, Operation | undefined>>;
  components?: { schemas?: Record<string, unknown> } & Record<string, unknown>;
}

/** Adds the Problem schema and the 4XX / 5XX problem responses to every operation of `doc`. */
export function withProblemResponses<T extends object>(doc: T): T {
  const d = doc as Document;
  for (const item of Object.values(d.paths ?? {})) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      op.responses ??= {};
      op.responses['4XX'] ??= PROBLEM_RESPONSE('The request was refused: application/problem+json with the errno (api.md "Conventions")');
      op.responses['5XX'] ??= PROBLEM_RESPONSE('The service failed or sheds load: application/problem+json');
    }
  }
  return { ...doc, components: { ...(d.components ?? {}), schemas: { ...(d.components?.schemas ?? {}), Problem: PROBLEM_SCHEMA } } };
}

export const openapiPlugin = fp(
  async (app) => {
    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: { title: 'vsmmu-control', version: '1', description: 'The iommufd vIOMMU object graph over HTTP (api.md)' },
      },
      transform: (args) => (args.url.startsWith('/v1') ? jsonSchemaTransform(args) : { schema: { ...args.schema, hide: true }, url: args.url }),
      transformObject: (documentObject) => withProblemResponses('openapiObject' in documentObject ? documentObject.openapiObject : documentObject.swaggerObject),
    });
    app.get('/openapi.json', { schema: { hide: true }, ...roleConfig(null) }, async () => app.swagger());
  },
  { name: 'openapi' },
);

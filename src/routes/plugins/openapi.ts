/**
 * The OpenAPI 3.1 document at /openapi.json (and its interactive reference at /docs, served by
 * @fastify/swagger-ui from the npm package's own assets).
 *
 * The REST operations (/v1) are generated from the routes' zod schemas by
 * fastify-type-provider-zod's transform: request schemas (those that validate) and response
 * schemas (src/schema/views.ts: documentation and the tests' contract, never parsed at run time —
 * see src/routes/rest/index.ts). Request bodies a route reads itself (octet-stream invalidation
 * entries, queue commands, guest memory) are declared as `documentedBody`, documentation only.
 * The operations outside /v1 — the probes, /metrics, /graphql and this document — are described
 * here (`OPERATIONS`), since their routes belong to other plugins (Mercurius, metrics); every
 * other route (/docs and its assets) stays out.
 *
 * Every operation gets its `security` from the role its route declares (plugins/auth.ts
 * `roleConfig`, `requiredRole`): `[]` for the open routes, else `[{ bearer: [role] }]` — OpenAPI
 * 3.1 lets the list of a non-OAuth scheme name the roles an operation needs.
 *
 * Every error of every REST route is the same RFC 9457 problem (plugins/problem.ts), so the
 * document declares it once, as `components.schemas.Problem`, and every operation answers it for
 * `4XX` and `5XX` as application/problem+json; GraphQL answers its errors in its own shape.
 */
import swagger, { type SwaggerTransform } from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, FastifyRequest, FastifySchema, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { graphqlQuery, graphqlRequest, graphqlResponse, healthView, openapiDocument, readyView } from '../../schema/views.js';
import { requiredRole, roleConfig, type Role } from './auth.js';

declare module 'fastify' {
  interface FastifySchema {
    /**
     * Documentation only: the request bodies a route reads itself, per content type (the
     * octet-stream entries of an invalidation, guest memory). /openapi.json shows them as the
     * operation's requestBody; Fastify neither parses nor validates them (the route does, in its
     * own check order: the kernel looks the target up before it reads the entries).
     */
    documentedBody?: Readonly<Record<string, z.ZodType>>;
  }
}

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

const PROBLEM_REF = { $ref: '#/components/schemas/Problem' } as const;
const PROBLEM_RESPONSE = (description: string) => ({ description, content: { 'application/problem+json': { schema: PROBLEM_REF } } });

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
      op.responses['4XX'] ??= PROBLEM_RESPONSE(
        'The request was refused: application/problem+json with the errno (api.md "Conventions"). Any operation may also answer 401 EUNAUTHENTICATED, 403 EPERM (role), 429 EAGAIN (rate limit), 408 ETIMEDOUT, 431 E2BIG (headers), 400 E2BIG (body over BODY_LIMIT), and for writes with `Idempotency-Key` 409 EIDEMPOTENCY_BUSY or 422 EIDEMPOTENCY_MISMATCH',
      );
      op.responses['5XX'] ??= PROBLEM_RESPONSE('The service failed (500 EINTERNAL) or sheds load (503 EOVERLOAD, ESHUTDOWN, ETIME; Retry-After): application/problem+json');
    }
  }
  return { ...doc, components: { ...(d.components ?? {}), schemas: { ...(d.components?.schemas ?? {}), Problem: PROBLEM_SCHEMA } } };
}

/** Every `#/components/schemas/…` name a JSON value refers to. */
function referencedSchemas(value: unknown, into: Set<string>): void {
  if (Array.isArray(value)) for (const v of value) referencedSchemas(v, into);
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === '$ref' && typeof v === 'string' && v.startsWith('#/components/schemas/')) into.add(v.slice('#/components/schemas/'.length));
      else referencedSchemas(v, into);
    }
  }
}

/**
 * Drops the component schemas no operation reaches. fastify-type-provider-zod emits every
 * registered zod schema twice (as input `…Input` and as output); the views are only outputs.
 */
export function withoutUnusedSchemas<T extends object>(doc: T): T {
  const d = doc as Document;
  const schemas = d.components?.schemas ?? {};
  const used = new Set<string>();
  referencedSchemas(d.paths, used);
  for (let grew = true; grew; ) {
    const before = used.size;
    for (const name of [...used]) referencedSchemas(schemas[name], used);
    grew = used.size > before;
  }
  const kept = Object.fromEntries(Object.entries(schemas).filter(([name]) => used.has(name)));
  return { ...doc, components: { ...(d.components ?? {}), schemas: kept } };
}

/** Set by the transform on an operation whose body is optional; read (and removed) by `withOptionalBodies`. */
const OPTIONAL_BODY = 'x-optional-body';

/** `requestBody.required: false` where the route takes no body as well. */
export function withOptionalBodies<T extends object>(doc: T): T {
  for (const item of Object.values((doc as Document).paths ?? {})) {
    for (const method of METHODS) {
      const op = item[method] as (Operation & { requestBody?: { required?: boolean }; [OPTIONAL_BODY]?: boolean }) | undefined;
      if (!op?.[OPTIONAL_BODY]) continue;
      delete op[OPTIONAL_BODY];
      if (op.requestBody) op.requestBody.required = false;
    }
  }
  return doc;
}

const SUCCESS: Readonly<Record<string, string>> = { '200': 'OK', '201': 'Created', '204': 'No content' };

/**
 * Success responses get a description: the one of the component their schema names, else what
 * the status says (@fastify/swagger writes "Default Response" when the schema has none).
 */
export function withResponseDescriptions<T extends object>(doc: T): T {
  const d = doc as Document;
  const schemas = (d.components?.schemas ?? {}) as Record<string, { description?: string }>;
  for (const item of Object.values(d.paths ?? {})) {
    for (const method of METHODS) {
      for (const [status, response] of Object.entries((item[method]?.responses ?? {}) as Record<string, { description?: string; content?: Record<string, { schema?: { $ref?: string } }> }>)) {
        if (response.description !== 'Default Response') continue;
        const ref = Object.values(response.content ?? {})[0]?.schema?.$ref;
        const named = ref?.startsWith('#/components/schemas/') ? schemas[ref.slice('#/components/schemas/'.length)]?.description : undefined;
        response.description = named ?? SUCCESS[status] ?? 'Success';
      }
    }
  }
  return doc;
}

/**
 * An operation's description: what it does, and the errno values its problem answers carry
 * beyond the ones every operation may answer (the 4XX response's description).
 */
export function errnos(list: Readonly<Record<string, string>>, intro?: string): string {
  const lines = Object.entries(list).map(([errno, why]) => `- \`${errno}\`: ${why}`);
  return `${intro ? `${intro}\n\n` : ''}Errors (application/problem+json, by \`errno\`):\n${lines.join('\n')}`;
}

const BEARER_DESCRIPTION =
  'A token of API_TOKENS (`token:role[:ctx|ctx…]`). Roles rank viewer < operator < admin: an operation lists the lowest role it accepts ' +
  '(viewer: reads, GraphQL queries and subscriptions; operator: writes inside contexts; admin: the inventory, fault injection, the audit trail). ' +
  'Without API_TOKENS the service is open (and listens on loopback only). A token limited to contexts sees nothing of other contexts (ENOENT) ' +
  'and may not read host-wide views (EPERM).';

const GRAPHQL_ERRORS = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/GraphqlResponse' } }, 'application/problem+json': { schema: PROBLEM_REF } },
});

/**
 * The operations outside /v1, documented here since their routes belong to other plugins
 * (operations.ts, metrics.ts, Mercurius). Zod schemas, as the REST routes' are.
 */
const OPERATIONS: Readonly<Record<string, FastifySchema>> = {
  'GET /healthz': { tags: ['operations'], summary: 'Liveness: the process answers', description: errnos({ EINVAL: 'a query parameter (it takes none)' }), response: { 200: healthView } },
  'GET /readyz': {
    tags: ['operations'],
    summary: 'Readiness: database reachable, migrations applied, not shutting down',
    description: errnos({ EINVAL: 'a query parameter (it takes none)', ESHUTDOWN: '503 with Retry-After: the service is shutting down', EIO: '503: the database is unreachable' }),
    response: { 200: readyView },
  },
  'GET /metrics': {
    tags: ['operations'],
    summary: 'Prometheus metrics',
    description:
      'The Prometheus text exposition format (0.0.4): request durations by route pattern and status, problems by errno, objects by type, per-SMMU model counters, database transactions, process metrics.\n\n' +
      errnos({ EINVAL: 'a query parameter (it takes none)', EPERM: 'a token limited to contexts (host-wide view)' }),
    response: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: z.string().describe('text/plain; version=0.0.4') } } } },
  },
  'GET /openapi.json': { tags: ['operations'], summary: 'This OpenAPI 3.1 document', description: errnos({ EINVAL: 'a query parameter (it takes none)' }), response: { 200: openapiDocument } },
  'GET /graphql': {
    tags: ['graphql'],
    summary: 'A GraphQL query over GET',
    description: 'Queries only (a mutation over GET is refused). Errors are GraphQL errors whose `extensions` carry `errno`, `status` and `requestId`; a query parameter other than query, variables, operationName and extensions is a 400 EINVAL problem.',
    querystring: graphqlQuery,
    response: { 200: graphqlResponse },
  },
  'POST /graphql': {
    tags: ['graphql'],
    summary: 'A GraphQL query or mutation',
    description:
      'The schema (`Smmu`, `Device`, `Context`, the `IommufdObject` types, `audit`, a mutation for every REST write) is served by introspection; subscriptions (`vevents`, `objectChanged`) go over WebSocket (`graphql-transport-ws`). ' +
      'Errors are GraphQL errors whose `extensions` carry `errno`, `status` and `requestId`: syntax and argument errors EINVAL, 400 E2BIG over GRAPHQL_MAX_COST, query depth over 8 EINVAL, a mutation above the token\'s role 403 EPERM.',
    documentedBody: { 'application/json': graphqlRequest, 'application/graphql': z.string().describe('the GraphQL document') },
    response: { 200: graphqlResponse },
  },
};

/** The GraphQL routes answer their errors as GraphQL responses (Mercurius); problem+json where Fastify refuses first. */
const GRAPHQL_ERROR_RESPONSES = {
  '4XX': GRAPHQL_ERRORS('The operation was refused: a GraphQL response with `errors` (their extensions carry the errno), or a problem+json'),
  '5XX': GRAPHQL_ERRORS('The service failed or sheds load: a GraphQL response with `errors`, or a problem+json'),
};

type SchemaWithDocs = FastifySchema & { documentedBody?: Readonly<Record<string, z.ZodType>>; security?: unknown; description?: string };
type TransformArgs = Parameters<SwaggerTransform>[0];

/** The role a route needs (plugins/auth.ts), as the token check computes it. */
function roleOf(route: RouteOptions, method: string): Role | null {
  return requiredRole({ method, routeOptions: { config: route.config ?? {} } } as unknown as Pick<FastifyRequest, 'method' | 'routeOptions'>);
}

/** `security` of an operation needing `role`, and the sentence that says so. */
function securityOf(role: Role | null): { security: Array<Record<string, string[]>>; note: string } {
  if (role === null) return { security: [], note: 'Open: no token needed.' };
  return { security: [{ bearer: [role] }], note: `Needs a bearer token of role \`${role}\` or above when API_TOKENS is set.` };
}

/**
 * The per-route transform: zod → JSON Schema (fastify-type-provider-zod), `documentedBody` as the
 * request body, `security` from the route's role; the operations outside /v1 from `OPERATIONS`.
 */
function transform(args: TransformArgs): ReturnType<SwaggerTransform> {
  const route = args.route;
  const method = String(Array.isArray(route.method) ? route.method[0] : route.method).toUpperCase();
  const own = args.url.startsWith('/v1') ? (args.schema as SchemaWithDocs | undefined) : (OPERATIONS[`${method} ${args.url}`] as SchemaWithDocs | undefined);
  if (!own || (own as { hide?: boolean }).hide) return { schema: { hide: true } as FastifySchema, url: args.url };

  const { documentedBody, ...schema } = own;
  const out = jsonSchemaTransform({ ...args, schema });
  const doc = out.schema as Record<string, unknown>;
  if (documentedBody) {
    const content: Record<string, { schema: unknown }> = {};
    for (const [type, body] of Object.entries(documentedBody)) {
      content[type] = { schema: (jsonSchemaTransform({ ...args, schema: { body } }).schema as { body: unknown }).body };
    }
    doc.body = { content };
  }
  // @fastify/swagger marks every request body required; a zod body that accepts none is not.
  if (schema.body instanceof z.ZodType && schema.body.safeParse(undefined).success) doc[OPTIONAL_BODY] = true;
  if (args.url === '/graphql') doc.response = { ...(doc.response as object), ...GRAPHQL_ERROR_RESPONSES };
  const { security, note } = securityOf(roleOf(route, method));
  doc.security = security;
  doc.description = schema.description ? `${schema.description}\n\n${note}` : note;
  return out;
}

const TAGS = [
  { name: 'inventory', description: 'The host: SMMUs, devices, IOMMU_GET_HW_INFO (admin writes)' },
  { name: 'contexts', description: 'One iommufd per VM; device bind and unbind' },
  { name: 'objects', description: 'Any object by id: GET, IOMMU_DESTROY' },
  { name: 'ioas', description: 'IOAS and their mappings' },
  { name: 'hwpts', description: 'Paging and nested HWPTs; device and PASID attachment' },
  { name: 'viommus', description: 'vIOMMUs and vDEVICEs' },
  { name: 'hardware', description: 'Invalidation, DMA translation, statistics and the SMMU model state' },
  { name: 'hw-queues', description: 'Tegra241 CMDQV guest queues' },
  { name: 'memory', description: "The guest's memory through an IOAS" },
  { name: 'events', description: 'vEVENTQs: read, stream, inject' },
  { name: 'audit', description: 'The audit trail of accepted writes (admin)' },
  { name: 'operations', description: 'Probes, metrics and this document' },
  { name: 'graphql', description: 'The same graph over GraphQL' },
];

const INFO_DESCRIPTION = [
  'The iommufd vIOMMU object graph over HTTP; the contract is api.md (shared/docs/api.md).',
  '',
  '- Ids are integers ≥ 1 from one id space shared by SMMUs, devices, contexts and objects.',
  '- 64-bit values (IOVAs, lengths, addresses, STE and command words) are strings `"0x…"`; words in responses have 16 digits.',
  '- Lists take `limit` (1–500) and `cursor` and answer `{ items, nextCursor }` in id order.',
  '- Errors are `application/problem+json` with the kernel `errno` (status by errno: EINVAL/E2BIG/EOVERFLOW/ERANGE 400, EPERM 403, ENOENT 404, EEXIST/EBUSY/ENOSPC 409, EOPNOTSUPP/EIO/EFAULT 422). A failed request changes nothing, but where the answer says how far it got (`entriesProcessed`).',
  '- Every REST write takes an `Idempotency-Key`; a retry gets the stored answer with `Idempotent-Replayed: true`.',
  '- The response schemas describe this version exactly; later versions may add fields, which clients should ignore.',
].join('\n');

/** Routes of @fastify/swagger-ui: open (a browser sends no token), never rate limited. */
async function docsUi(app: FastifyInstance): Promise<void> {
  app.addHook('onRoute', (route) => {
    route.config = { ...route.config, ...roleConfig(null).config };
  });
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    // The UI's own bundle, CSS and initializer, from the npm package (nothing from a CDN); the
    // spec it loads is ./json, the same document as /openapi.json. No online validator badge.
    uiConfig: { deepLinking: true, validatorUrl: null },
    staticCSP: true,
    // Its CSP without outside origins (https:, validator.swagger.io) and without
    // upgrade-insecure-requests, which would send the assets of a plain-HTTP service to https.
    transformStaticCSP: (header) => header.replace(/\s*upgrade-insecure-requests;?/, '').replace(/ (https:|validator\.swagger\.io)/g, ''),
  });
}

export const openapiPlugin = fp(
  async (app) => {
    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: { title: 'vsmmu-control', version: '1', description: INFO_DESCRIPTION },
        tags: TAGS,
        components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: BEARER_DESCRIPTION } } },
      },
      transform,
      transformObject: (documentObject) =>
        withOptionalBodies(withResponseDescriptions(withoutUnusedSchemas(withProblemResponses(jsonSchemaTransformObject(documentObject))))),
    });
    app.get('/openapi.json', { schema: { hide: true }, ...roleConfig(null) }, async () => app.swagger());
    await app.register(docsUi);
  },
  { name: 'openapi' },
);

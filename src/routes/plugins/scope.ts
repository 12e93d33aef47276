/**
 * Tokens limited to contexts (`API_TOKENS="tok:operator:3|7"`, context ids; plugins/auth.ts sets
 * `request.contexts`). For such a token everything of another context does not exist:
 *
 * - a request naming an object, a device bound to another context, or another context — in its
 *   path, query or body (the reference fields below) — is ENOENT, before the route runs, REST
 *   and GraphQL alike, reads and writes alike;
 * - lists show its contexts only: its contexts, their objects, the devices bound to them and the
 *   unbound devices (it must see a free device to bind it). The host's SMMUs stay visible;
 * - it may not create contexts (EPERM): it could not see the new one;
 * - host-wide views that show every context at once — the SMMU model's state (stream table,
 *   TLB, queues: `/v1/smmus/{id}/state`, GraphQL `Smmu.state`), the audit log (`/v1/audit`,
 *   GraphQL `audit`) and `/metrics` — are EPERM to it: they cannot be cut to a context without
 *   leaking the others' VMIDs, StreamIDs and writes, and an unlimited token reads them.
 *
 * Ids are one space (api.md "Conventions"), so an id alone tells what it names. REST is checked in
 * one preHandler (after validation: ids are numbers) and lists are filtered in one
 * preSerialization hook; GraphQL by wrapping, once at start, the resolvers of the fields that take
 * a reference argument or return a scoped type (`scopeGraphql`, called by routes/graphql).
 * Nothing is installed when no token is limited.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import mercurius from 'mercurius';
import { defaultFieldResolver, type GraphQLField, type GraphQLFieldResolver, type GraphQLSchema } from 'graphql';
import { IommufdError } from '../../domain/errors.js';
import type { ObjectGraph as Graph } from '../../domain/graph.js';
import type { TokenGrant } from './auth.js';
import { toProblem } from './problem.js';
import { namedType, returnsList } from '../graphql/cost.js';

/** Fields (path, query, body, GraphQL arguments) that name an SMMU, device, context or object. */
export const REFERENCE_KEYS: ReadonlySet<string> = new Set(['id', 'contextId', 'deviceId', 'ptId', 'hwptId', 'ioasId', 'viommuId', 'eventqId', 'objectId', 'smmuId']);

/** REST lists filtered by scope (item ids are one space: the same test fits every list). */
const LIST_ROUTES: ReadonlySet<string> = new Set(['/v1/contexts', '/v1/devices', '/v1/objects', '/v1/ioas', '/v1/hwpts', '/v1/viommus', '/v1/vdevices', '/v1/eventqs', '/v1/hw-queues']);
/** GraphQL types whose values belong to a context. */
const SCOPED_TYPES: ReadonlySet<string> = new Set(['Device', 'Context', 'IommufdObject', 'Ioas', 'Hwpt', 'Viommu', 'Vdevice', 'HwQueue', 'Eventq']);

declare module 'fastify' {
  interface FastifyInstance {
    /** Whether some token is limited to contexts (the scope checks are installed). */
    contextScoping: boolean;
  }
}

/** Whether a token limited to `contexts` may see id: objects and contexts of its own, devices bound to them or unbound, anything else. */
export function visibleTo(graph: Graph, contexts: ReadonlySet<number>, id: number): boolean {
  const o = graph.get('objects', id);
  if (o) return contexts.has(o.contextId);
  const d = graph.get('devices', id);
  if (d) return d.contextId === null || contexts.has(d.contextId);
  if (graph.get('contexts', id)) return contexts.has(id);
  // SMMUs, and ids of nothing (the route answers ENOENT itself).
  return true;
}

const asId = (v: unknown): number | undefined => (typeof v === 'number' ? v : typeof v === 'string' && /^[0-9]{1,10}$/.test(v) ? Number(v) : undefined);

/** The first id among `source`'s reference fields that the scope may not see. */
function firstForeign(graph: Graph, contexts: ReadonlySet<number>, source: unknown): number | undefined {
  if (source === null || typeof source !== 'object' || Buffer.isBuffer(source)) return undefined;
  for (const [key, value] of Object.entries(source)) {
    if (!REFERENCE_KEYS.has(key)) continue;
    const id = asId(value);
    if (id !== undefined && !visibleTo(graph, contexts, id)) return id;
  }
  return undefined;
}

const notFound = (id: number) => new IommufdError('ENOENT', `object ${id} does not exist`);
const noNewContexts = () => new IommufdError('EPERM', 'a token limited to contexts may not create contexts');
const hostWide = (what: string) => new IommufdError('EPERM', `${what} shows every context: a token limited to contexts may not read it`);

/** REST routes (Fastify's route URL) whose answer spans every context: EPERM to a limited token. */
export const HOST_WIDE_ROUTES: ReadonlyMap<string, string> = new Map([
  ['/v1/smmus/:id/state', 'the SMMU model\'s state'],
  ['/v1/audit', 'the audit log'],
  ['/metrics', '/metrics'],
]);
/** The same for GraphQL fields, as `Type.field`. */
const HOST_WIDE_FIELDS: ReadonlyMap<string, string> = new Map([
  ['Smmu.state', 'the SMMU model\'s state'],
  ['Query.audit', 'the audit log'],
]);

export const scopePlugin = fp<{ tokens: ReadonlyMap<string, TokenGrant> | null }>(
  async (app: FastifyInstance, { tokens }) => {
    const enabled = tokens !== null && [...tokens.values()].some((g) => g.contexts !== null);
    app.decorate('contextScoping', enabled);
    if (!enabled) return;
    const graph = app.iommufd.graph;

    app.addHook('preHandler', (request, _reply, done) => {
      const contexts = request.contexts;
      const url = request.routeOptions.url;
      if (contexts === null || url === undefined) return done();
      const wide = HOST_WIDE_ROUTES.get(url);
      if (wide !== undefined) return done(hostWide(wide));
      if (!url.startsWith('/v1/')) return done();
      const foreign = firstForeign(graph, contexts, request.params) ?? firstForeign(graph, contexts, request.query) ?? firstForeign(graph, contexts, request.body);
      if (foreign !== undefined) return done(notFound(foreign));
      if (request.method === 'POST' && url === '/v1/contexts') return done(noNewContexts());
      done();
    });

    app.addHook('preSerialization', (request: FastifyRequest, _reply, payload: unknown, done) => {
      const contexts = request.contexts;
      if (contexts === null || request.method !== 'GET' || !LIST_ROUTES.has(request.routeOptions.url ?? '')) return done(null, payload);
      const page = payload as { items?: Array<{ id: number }> };
      // A page may so hold fewer than `limit` items; `nextCursor` still ends the walk.
      if (Array.isArray(page?.items)) return done(null, { ...page, items: page.items.filter((i) => visibleTo(graph, contexts, i.id)) });
      done(null, payload);
    });
  },
  { name: 'scope', dependencies: ['iommufd', 'auth'] },
);

type GqlContext = { reply?: { request?: FastifyRequest }; request?: FastifyRequest };
const requestOf = (ctx: GqlContext): FastifyRequest | undefined => ctx?.reply?.request ?? ctx?.request;

/** An error as GraphQL carries it (the REST problem's errno and status), as routes/graphql does. */
function graphqlError(err: IommufdError, ctx: GqlContext): Error {
  const { detail, errno, status, requestId, type: _type, title: _title, ...extensions } = toProblem(err, { id: String(requestOf(ctx)?.id ?? ''), headers: {} });
  return new mercurius.ErrorWithProps(detail, { errno, status, requestId, ...extensions });
}

const then = <T>(value: T | Promise<T>, fn: (v: T) => unknown): unknown => (value instanceof Promise ? value.then(fn) : fn(value));

/**
 * Wraps, in place, the resolvers (and subscribe functions) of `schema`'s fields that take a
 * reference argument or return a value of a scoped type, so a limited token's request gets ENOENT
 * for a foreign argument, foreign list items filtered out, and a foreign single value as null (or
 * ENOENT where the field is non-null). Requests of unlimited tokens go straight through.
 */
export function scopeGraphql(app: FastifyInstance, schema: GraphQLSchema): void {
  if (!app.contextScoping) return;
  const graph = app.iommufd.graph;
  for (const type of Object.values(schema.getTypeMap())) {
    // Object types only (Mercurius' graphql may be another module instance: told by tag).
    if (Object.prototype.toString.call(type) !== '[object GraphQLObjectType]' || type.name.startsWith('__')) continue;
    const fields = (type as unknown as { getFields(): Record<string, GraphQLField<unknown, GqlContext>> }).getFields();
    for (const field of Object.values(fields)) {
      const refArgs = field.args.map((a) => a.name).filter((n) => REFERENCE_KEYS.has(n));
      const scopedResult = SCOPED_TYPES.has(namedType(field.type).name);
      const createsContext = type.name === 'Mutation' && field.name === 'createContext';
      const wide = HOST_WIDE_FIELDS.get(`${type.name}.${field.name}`);
      if (refArgs.length === 0 && !scopedResult && !createsContext && wide === undefined) continue;
      const list = returnsList(field.type);
      const nonNull = Object.prototype.toString.call(field.type) === '[object GraphQLNonNull]';

      const check = (args: Record<string, unknown>, ctx: GqlContext): ReadonlySet<number> | null => {
        const contexts = requestOf(ctx)?.contexts ?? null;
        if (contexts === null) return null;
        for (const name of refArgs) {
          const id = asId(args[name]);
          if (id !== undefined && !visibleTo(graph, contexts, id)) throw graphqlError(notFound(id), ctx);
        }
        if (createsContext) throw graphqlError(noNewContexts(), ctx);
        if (wide !== undefined) throw graphqlError(hostWide(wide), ctx);
        return contexts;
      };
      const filter = (value: unknown, contexts: ReadonlySet<number>, ctx: GqlContext): unknown => {
        if (value === null || value === undefined) return value;
        const ok = (v: unknown) => {
          const id = asId((v as { id?: unknown } | null)?.id);
          return id === undefined || visibleTo(graph, contexts, id);
        };
        if (list) return Array.isArray(value) ? value.filter(ok) : value;
        if (ok(value)) return value;
        if (nonNull) throw graphqlError(notFound(Number((value as { id: unknown }).id)), ctx);
        return null;
      };

      const resolve: GraphQLFieldResolver<unknown, GqlContext> = field.resolve ?? (defaultFieldResolver as GraphQLFieldResolver<unknown, GqlContext>);
      field.resolve = (source, args, ctx, info) => {
        const contexts = check(args, ctx);
        const value = resolve(source, args, ctx, info);
        if (contexts === null || !scopedResult) return value;
        return then(value, (v) => filter(v, contexts, ctx));
      };
      const subscribe = field.subscribe;
      if (subscribe) {
        field.subscribe = (source, args, ctx, info) => {
          check(args, ctx);
          return subscribe(source, args, ctx, info);
        };
      }
    }
  }
}

/**
 * GraphQL at /graphql (Mercurius). Roots read the in-memory graph; relations go through
 * Mercurius loaders, one batch per relation and level, so a dashboard query costs a fixed number
 * of lookups whatever the number of objects, and no database round trip at all.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import mercurius, { type IResolvers, type MercuriusLoaders } from 'mercurius';
import { GraphQLError, Kind } from 'graphql';
import type { z } from 'zod';
import { IommufdError } from '../../domain/errors.js';
import { OBJECTS } from '../../domain/objects/index.js';
import type { EventRec, ObjectRec, ObjectType } from '../../domain/types.js';
import { contextView, deviceView, eventView, hostConfigView, mappingView, objectView as viewOf, smmuStateView, smmuView } from '../views.js';
import { mappingsOf } from '../../domain/ioas.js';
import { eventqTypeOf } from '../../domain/eventq.js';
import { createDeviceBody, createSmmuBody, hwInfoQuery } from '../../schema/inventory.js';
import { allocHwptBody, allocVdeviceBody, allocViommuBody, attachBody, bindDeviceBody, createContextBody, createIoasBody, mapBody, pasidBody } from '../../schema/objects.js';
import { hex64, objectId, u32 } from '../../schema/common.js';
import { depthLimit } from './depth.js';
import { typeDefs } from './schema.js';
import { graphqlRoleCheck, type Role } from '../plugins/auth.js';
import { toProblem } from '../plugins/problem.js';
import { addr64 } from '../../domain/format.js';
import { scopeGraphql } from '../plugins/scope.js';
import { costLimit } from './cost.js';
import { inGraphqlWriteScope } from '../plugins/idempotency.js';
import { graphqlAudit } from '../rest/audit.js';
import type { IndexName } from '../../domain/indexes.js';

/** Loader batches run so far: the N+1 test reads it. */
export const loaderStats = { batches: 0 };

type Ctx = { reply: { request: { id: string } } };

/** A resolver's error as GraphQL carries it: the REST problem's errno, status and extensions (plugins/problem.ts). */
function toGraphqlError(err: unknown, ctx: Ctx): Error {
  const { detail, errno, status, requestId, type: _type, title: _title, ...extensions } = toProblem(err, { id: ctx.reply?.request?.id ?? '', headers: {} });
  return new mercurius.ErrorWithProps(detail, { errno, status, requestId, ...extensions });
}

/** Parses resolver arguments with the REST schema: the same rules, the same EINVAL. */
function parse<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) {
    const errors = result.error.issues.map((i) => ({ path: ['args', ...i.path].join('/'), message: i.message }));
    throw new IommufdError('EINVAL', `arguments are invalid: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, { errors });
  }
  return result.data;
}

const strip = <T extends Record<string, unknown>>(args: T): T => Object.fromEntries(Object.entries(args).filter(([, v]) => v !== null && v !== undefined)) as T;

/** The deepest chain of fields an operation may select (introspection not counted). */
const MAX_QUERY_DEPTH = 8;

export const graphqlApi: FastifyPluginAsync<{ maxCost?: number }> = async (app, { maxCost = 0 } = {}) => {
  const service = app.iommufd;
  // Every GraphQL route needs a viewer; mutations are checked per operation (preExecution below).
  app.addHook('onRoute', (route) => {
    route.config = { ...route.config, role: 'viewer' };
  });
  const g = service.graph;
  // Destroyed rows carry no record: remember each object's context and type to announce it.
  const lastContext = new Map<number, number>();
  const lastType = new Map<number, string>();
  for (const o of g.values('objects')) {
    lastContext.set(o.id, o.contextId);
    lastType.set(o.id, o.type);
  }
  const obj = (id: number | null | undefined) => {
    if (id === null || id === undefined) return null;
    const o = g.get('objects', id);
    return o ? viewOf(service, o) : null;
  };
  /** The objects under `key` of an index of the graph (ascending id) that pass `pred`, as views. */
  const objectsWhere = (index: IndexName<'objects'>, key: string | number, pred: (o: ObjectRec) => boolean = () => true) =>
    [...g.indexed('objects', index, key)].filter(pred).map((o) => viewOf(service, o));
  const deviceById = (id: number | null | undefined) => {
    const d = id === null || id === undefined ? undefined : g.get('devices', id);
    return d ? deviceView(d) : null;
  };

  type Row = Record<string, unknown> & { id: number };
  /** A loader for one relation: every parent of the level is resolved in one batch. */
  const rel = (resolve: (parent: Row) => unknown) => async (queries: Array<{ obj: Row }>) => {
    loaderStats.batches++;
    return queries.map((q) => resolve(q.obj));
  };

  const counts = (byName: Record<string, number>) => Object.entries(byName).map(([opcode, count]) => ({ opcode, count }));
  const smmuState = (id: number) => {
    const st = smmuStateView(service.smmuState(id));
    return {
      ...st,
      commands: { executed: st.commands.executed, byOpcode: counts(st.commands.byOpcode as Record<string, number>), errors: counts(st.commands.errors) },
      streamTableEntries: st.streamTable.entries,
    };
  };
  const viommuStats = (id: number) => {
    const st = service.viommuStats(id);
    return { ...st, invalidations: { ...st.invalidations, byOpcode: counts(st.invalidations.byOpcode) } };
  };

  const loaders: MercuriusLoaders = {
    Smmu: {
      state: rel((s) => smmuState(s.id)),
      devices: rel((s) => [...g.indexed('devices', 'smmu', s.id)].map(deviceView)),
      viommus: rel((s) => objectsWhere('smmu', s.id, (o) => o.type === 'viommu')),
    },
    Device: {
      smmu: rel((d) => smmuView(g.get('smmus', d.smmuId as number)!)),
      context: rel((d) => (d.contextId ? contextView(g.get('contexts', d.contextId as number)!) : null)),
      attachment: rel((d) => obj(d.attachedTo as number | null)),
      host: rel((d) => hostConfigView(service.hostConfig(d.id))),
      vdevice: rel((d) => objectsWhere('device', d.id, (o) => o.type === 'vdevice')[0] ?? null),
    },
    Context: {
      devices: rel((c) => [...g.indexed('devices', 'context', c.id)].map(deviceView)),
      objects: rel((c) => objectsWhere('context', c.id)),
      ioas: rel((c) => objectsWhere('contextType', `${c.id}:ioas`)),
      hwpts: rel((c) => objectsWhere('context', c.id, (o) => o.type === 'hwpt_paging' || o.type === 'hwpt_nested')),
      viommus: rel((c) => objectsWhere('contextType', `${c.id}:viommu`)),
      vdevices: rel((c) => objectsWhere('contextType', `${c.id}:vdevice`)),
    },
    Ioas: {
      context: rel((o) => contextView(g.get('contexts', o.contextId as number)!)),
      mappings: rel((o) => mappingsOf(g, o.id).map(mappingView)),
      hwpts: rel((o) => objectsWhere('ioas', o.id, (h) => h.type === 'hwpt_paging')),
    },
    Hwpt: {
      context: rel((o) => contextView(g.get('contexts', o.contextId as number)!)),
      ioas: rel((o) => obj(o.ioasId as number | null)),
      viommu: rel((o) => obj(o.viommuId as number | null)),
      smmu: rel((o) => (o.smmuId ? smmuView(g.get('smmus', o.smmuId as number)!) : null)),
      devices: rel((o) => ((o.devices as number[] | undefined) ?? []).map((id) => deviceById(id))),
    },
    Viommu: {
      context: rel((o) => contextView(g.get('contexts', o.contextId as number)!)),
      smmu: rel((o) => smmuView(g.get('smmus', o.smmuId as number)!)),
      nestParent: rel((o) => obj(o.hwptId as number)),
      vdevices: rel((o) => objectsWhere('viommu', o.id, (v) => v.type === 'vdevice')),
      nestedHwpts: rel((o) => objectsWhere('viommu', o.id, (h) => h.type === 'hwpt_nested')),
      stats: rel((o) => viommuStats(o.id)),
      eventqs: rel((o) => objectsWhere('viommu', o.id, (q) => q.type === 'veventq')),
      hwQueues: rel((o) => objectsWhere('viommu', o.id, (q) => q.type === 'hw_queue')),
    },
    HwQueue: {
      context: rel((o) => contextView(g.get('contexts', o.contextId as number)!)),
      viommu: rel((o) => obj(o.viommuId as number)),
    },
    Eventq: {
      context: rel((o) => contextView(g.get('contexts', o.contextId as number)!)),
    },
    PasidAttachment: {
      hwpt: rel((a) => obj(a.hwptId as number)),
    },
    Vdevice: {
      context: rel((o) => contextView(g.get('contexts', o.contextId as number)!)),
      viommu: rel((o) => obj(o.viommuId as number)),
      device: rel((o) => deviceById(o.deviceId as number)),
    },
  };

  const guard =
    <A, R>(fn: (args: A) => R | Promise<R>) =>
    async (_root: unknown, args: A, ctx: Ctx, info?: { fieldName: string; operation?: { operation: string } }): Promise<R> => {
      try {
        // A mutation's writes run in its write scope: the audit entry names the caller and the field.
        return await inGraphqlWriteScope((ctx as unknown as { reply?: { request?: FastifyRequest } }).reply?.request, info, () => fn(args));
      } catch (err) {
        if (!(err instanceof IommufdError)) app.log.error({ err }, 'graphql resolver failed');
        throw toGraphqlError(err, ctx);
      }
    };
  type Args = Record<string, unknown>;
  const id = (v: unknown) => parse(objectId, v);

  const resolvers: IResolvers = {
    IommufdObject: {
      // Each type's descriptor names its GraphQL type (src/domain/objects/).
      resolveType: (o: { type: string }) => OBJECTS[o.type as ObjectType]?.graphqlType ?? null,
    },
    Subscription: {
      vevents: {
        subscribe: async (_root: unknown, a: Args, ctx: Ctx & { pubsub: { subscribe(topic: string): Promise<unknown> } }) => {
          try {
            service.getObject(id(a.eventqId), ['veventq'], 'vEVENTQ');
          } catch (err) {
            throw toGraphqlError(err, ctx);
          }
          return ctx.pubsub.subscribe(`vevents:${a.eventqId}`);
        },
      },
      objectChanged: {
        subscribe: async (_root: unknown, a: Args, ctx: Ctx & { pubsub: { subscribe(topic: string): Promise<unknown> } }) => {
          try {
            service.getContext(id(a.contextId));
          } catch (err) {
            throw toGraphqlError(err, ctx);
          }
          return ctx.pubsub.subscribe(`objects:${a.contextId}`);
        },
      },
    },
    Query: {
      smmus: guard(() => service.smmuRecords().sort((a, b) => a.id - b.id).map(smmuView)),
      smmu: guard((a: Args) => smmuView(service.getSmmu(id(a.id)))),
      devices: guard((a: Args) => service.listDevices({ limit: 500, smmuId: (a.smmuId as number) ?? undefined, contextId: (a.contextId as number) ?? undefined }).items.map(deviceView)),
      device: guard((a: Args) => deviceView(service.getDevice(id(a.id)))),
      hwInfo: guard((a: Args) => {
        const q = parse(hwInfoQuery, strip({ type: a.type }));
        const info = service.hwInfo(id(a.deviceId), q.type ?? 'default');
        return { ...info, data: JSON.stringify(info.data) };
      }),
      contexts: guard(() => service.contextRecords().sort((a, b) => a.id - b.id).map(contextView)),
      context: guard((a: Args) => contextView(service.getContext(id(a.id)))),
      object: guard((a: Args) => viewOf(service, service.getObject(id(a.id)))),
      ioas: guard((a: Args) => viewOf(service, service.getObject(id(a.id), ['ioas'], 'IOAS'))),
      hwpt: guard((a: Args) => viewOf(service, service.getObject(id(a.id), ['hwpt_paging', 'hwpt_nested'], 'HWPT'))),
      viommu: guard((a: Args) => viewOf(service, service.getObject(id(a.id), ['viommu'], 'vIOMMU'))),
      viommus: guard((a: Args) => (a.contextId == null ? objectsWhere('type', 'viommu') : objectsWhere('contextType', `${a.contextId}:viommu`))),
      vdevice: guard((a: Args) => viewOf(service, service.getObject(id(a.id), ['vdevice'], 'vDEVICE'))),
      eventq: guard((a: Args) => viewOf(service, service.getObject(id(a.id), ['veventq'], 'vEVENTQ'))),
      hwQueue: guard((a: Args) => viewOf(service, service.getObject(id(a.id), ['hw_queue'], 'HW queue'))),
      audit: graphqlAudit(service),
    },
    Mutation: {
      createSmmu: guard(async (a: Args) => smmuView(await service.createSmmu(parse(createSmmuBody, strip(a))))),
      deleteSmmu: guard(async (a: Args) => (await service.deleteSmmu(id(a.id)), true)),
      createDevice: guard(async (a: Args) => deviceView(await service.createDevice(parse(createDeviceBody, strip(a))))),
      deleteDevice: guard(async (a: Args) => (await service.deleteDevice(id(a.id)), true)),
      createContext: guard(async (a: Args) => contextView(await service.createContext(parse(createContextBody, a).name))),
      deleteContext: guard((a: Args) => service.deleteContext(id(a.id))),
      bindDevice: guard(async (a: Args) => deviceView(await service.bindDevice(id(a.contextId), parse(bindDeviceBody, { deviceId: a.deviceId }).deviceId))),
      unbindDevice: guard(async (a: Args) => {
        await service.unbindDevice(id(a.contextId), id(a.deviceId));
        return deviceView(service.getDevice(id(a.deviceId)));
      }),
      createIoas: guard(async (a: Args) => viewOf(service, await service.createIoas(parse(createIoasBody, a).contextId))),
      mapIoas: guard(async (a: Args) => {
        const m = parse(mapBody, strip({ iova: a.iova, length: a.length, read: a.read, write: a.write }));
        return mappingView(await service.mapIoas(id(a.ioasId), { iova: m.iova, length: m.length, read: m.read ?? true, write: m.write ?? true }));
      }),
      unmapIoas: guard(async (a: Args) => {
        const range = a.iova == null && a.length == null ? null : { iova: parse(hex64, a.iova), length: parse(hex64, a.length) };
        return addr64((await service.unmapIoas(id(a.ioasId), range)).unmapped);
      }),
      allocHwpt: guard(async (a: Args) => {
        const b = parse(allocHwptBody, strip({ deviceId: a.deviceId, ptId: a.ptId, flags: a.flags, data: a.data ? strip(a.data as Args) : undefined }));
        return viewOf(service, await service.allocHwpt({ deviceId: b.deviceId, ptId: b.ptId, flags: b.flags ?? [], data: b.data }));
      }),
      attachDevice: guard(async (a: Args) => deviceView(await service.attachDevice(id(a.deviceId), parse(attachBody, { ptId: a.ptId }).ptId))),
      detachDevice: guard(async (a: Args) => deviceView(await service.detachDevice(id(a.deviceId)))),
      attachDevicePasid: guard(async (a: Args) => {
        const p = parse(pasidBody, { pasid: a.pasid, ptId: a.ptId });
        return deviceView(await service.attachPasid(id(a.deviceId), p.pasid, p.ptId));
      }),
      detachDevicePasid: guard(async (a: Args) => deviceView(await service.detachPasid(id(a.deviceId), parse(pasidBody.shape.pasid, a.pasid)))),
      allocViommu: guard(async (a: Args) => viewOf(service, await service.allocViommu(parse(allocViommuBody, a)))),
      allocVdevice: guard(async (a: Args) => viewOf(service, await service.allocVdevice(parse(allocVdeviceBody, a)))),
      // IOMMU_DESTROY takes any u32: id 0 names no object (ENOENT), as on REST (iommufd.md §6.1 item 1).
      destroy: guard(async (a: Args) => (await service.destroy(parse(u32, a.id)), true)),
    },
  };

  await app.register(mercurius, {
    schema: typeDefs,
    resolvers,
    loaders,
    // Depth 8 without counting introspection (./depth.ts), and the query cost (fields, times 10
    // under each list: ./cost.ts).
    validationRules: [depthLimit(MAX_QUERY_DEPTH), ...(maxCost > 0 ? [costLimit(maxCost)] : [])],
    graphiql: false,
    path: '/graphql',
    subscription: true,
    // A resolver that threw something other than an IommufdError (an unguarded field resolver or
    // loader) is an internal error: EINTERNAL with its details hidden, as on REST. GraphQL's own
    // rejections (syntax, validation, argument coercion such as a String for an Int) carry no
    // errno: they are invalid arguments, EINVAL, like a REST validation failure.
    errorFormatter: (execution, context) => {
      const ctx = context as unknown as Ctx;
      // A request refused before execution (no token: EUNAUTHENTICATED, 401; a role too low: EPERM,
      // 403) keeps the status and errno REST gives it.
      let refused: number | undefined;
      const sources = (execution.errors ?? []).map((e) => {
        const orig = e.originalError;
        if (e.path === undefined && orig instanceof IommufdError) {
          refused = orig.status;
          const located = toGraphqlError(orig, ctx);
          return new GraphQLError(located.message, { nodes: e.nodes, source: e.source, positions: e.positions, originalError: located });
        }
        // Only errors located at a field (`path`) come from resolvers; ErrorWithProps carries extensions.
        if (e.path === undefined || !orig || orig instanceof GraphQLError || 'extensions' in orig) return e;
        // Under the request's own logger: the line carries its reqId, the id the answer gives.
        const log = (context as unknown as { reply?: { request?: FastifyRequest } }).reply?.request?.log ?? app.log;
        log.error({ err: orig }, 'graphql resolver failed');
        const hidden = toGraphqlError(orig, ctx);
        return new GraphQLError(hidden.message, { nodes: e.nodes, source: e.source, positions: e.positions, path: e.path, originalError: hidden });
      });
      const formatted = mercurius.defaultErrorFormatter({ ...execution, errors: sources }, context);
      const errors = (formatted.response.errors ?? []).map((e) =>
        e.extensions?.errno === undefined ? { ...e, extensions: { ...e.extensions, errno: 'EINVAL', status: 400 } } : e,
      );
      return { ...formatted, statusCode: refused ?? formatted.statusCode, response: { ...formatted.response, errors } };
    },
  });

  // Tokens limited to contexts see nothing of other contexts (plugins/scope.ts).
  scopeGraphql(app, app.graphql.schema);

  // Roles per operation: a mutation needs operator (inventory ones admin).
  app.graphql.addHook('preExecution', async (_schema, document, context) => {
    const request = (context as unknown as Ctx & { reply: { request: { role: Role } } }).reply?.request;
    // A subscription reaches preExecution only over HTTP (WebSocket subscriptions have hooks of
    // their own): it cannot stream there, so it is a clear EINVAL, not an internal error.
    for (const def of document.definitions) {
      if (def.kind === Kind.OPERATION_DEFINITION && def.operation === 'subscription') {
        throw new IommufdError('EINVAL', 'a subscription is served over a WebSocket at /graphql (graphql-transport-ws or graphql-ws), not over HTTP POST or GET');
      }
    }
    // An EPERM refusal is an IommufdError: the errorFormatter answers it with 403, as REST does.
    graphqlRoleCheck(document, request?.role ?? 'admin');
  });

  // Committed changes feed the subscriptions: new vEVENTQ records and object lifecycle.
  service.store.onCommit((changes) => {
    for (const c of changes) {
      if (c.table === 'events' && c.created && c.record) {
        const e = c.record as EventRec;
        const view = eventView(e, eventqTypeOf(g, e.eventqId));
        void app.graphql.pubsub.publish({ topic: `vevents:${e.eventqId}`, payload: { vevents: { eventqId: e.eventqId, ...view } } });
      } else if (c.table === 'objects') {
        const o = (c.record ?? undefined) as ObjectRec | undefined;
        const id = Number(c.key);
        const contextId = o?.contextId ?? lastContext.get(id);
        if (o) lastContext.set(id, o.contextId);
        else lastContext.delete(id);
        if (contextId === undefined) continue;
        const change = c.record === null ? 'destroyed' : c.created ? 'created' : 'updated';
        void app.graphql.pubsub.publish({
          topic: `objects:${contextId}`,
          payload: { objectChanged: { id, type: o?.type ?? lastType.get(id) ?? 'unknown', contextId, change } },
        });
        if (o) lastType.set(id, o.type);
        else lastType.delete(id);
      }
    }
  });
};


/**
 * GraphQL at /graphql (Mercurius). Roots and relations read the in-memory graph: a relation is a
 * plain resolver over the graph's indexes (an object by id, a vIOMMU's vDEVICEs, a context's
 * objects: src/domain/indexes.ts), so each costs what it returns and a query no database round
 * trip at all. No Mercurius loaders: there is no round trip to batch, and their per-request cache
 * keyed every parent by stringifying its whole record (half the CPU of a dashboard query).
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import mercurius, { type IResolvers } from 'mercurius';
import { GraphQLError, Kind, type GraphQLResolveInfo } from 'graphql';
import type { z } from 'zod';
import { IommufdError } from '../../domain/errors.js';
import { OBJECTS } from '../../domain/objects/index.js';
import type { EventRec, ObjectRec, ObjectType } from '../../domain/types.js';
import { contextView, deviceView as deviceViewOf, eventView, hostConfigView, mappingView, objectView as viewOf, smmuStateView, smmuView as smmuViewOf, translateView } from '../views.js';
import { mappingsOf } from '../../domain/ioas.js';
import { eventqTypeOf } from '../../domain/eventq.js';
import { createDeviceBody, createSmmuBody, hwInfoQuery } from '../../schema/inventory.js';
import { allocEventqBody, injectEventBody, memoryQuery, readEventqBody } from '../../schema/events.js';
import { ackHwQueueBody, allocHwQueueBody, invalidateBody, patchHwQueueBody, queueCommandsBody, translateBody } from '../../schema/hardware.js';
import { invalidationEntries } from '../rest/hardware.js';
import { REFERENCE_KEYS } from '../plugins/scope.js';
import { allocHwptBody, allocVdeviceBody, allocViommuBody, attachBody, bindDeviceBody, createContextBody, createIoasBody, mapBody, pasidBody } from '../../schema/objects.js';
import { hex64, objectId, u32 } from '../../schema/common.js';
import { depthLimit } from './depth.js';
import { typeDefs } from './schema.js';
import { graphqlRoleCheck, type Role } from '../plugins/auth.js';
import { toProblem } from '../plugins/problem.js';
import { addr64 } from '../../domain/format.js';
import { scopeGraphql } from '../plugins/scope.js';
import { costLimit } from './cost.js';
import { graphqlIde } from './ide.js';
import { inGraphqlWriteScope } from '../plugins/idempotency.js';
import { graphqlAudit } from '../rest/audit.js';
import type { IndexName } from '../../domain/indexes.js';
import { AnswerCache } from './answer-cache.js';

type Ctx = { reply: { request: { id: string } } };

/** A resolver's error as GraphQL carries it: the REST problem's errno, status and extensions (plugins/problem.ts). */
function toGraphqlError(err: unknown, ctx: Ctx): Error {
  const { detail, errno, status, requestId, type: _type, title: _title, ...extensions } = toProblem(err, { id: ctx.reply?.request?.id ?? '', headers: {} });
  return new mercurius.ErrorWithProps(detail, { errno, status, requestId, ...extensions });
}

/** Parses resolver arguments with the REST schema: the same rules, the same EINVAL. */
function parse<S extends z.ZodType>(schema: S, value: unknown, arg?: string): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) {
    const errors = result.error.issues.map((i) => ({ path: ['args', ...(arg === undefined ? [] : [arg]), ...i.path].join('/'), message: i.message }));
    throw new IommufdError('EINVAL', `arguments are invalid: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, { errors });
  }
  return result.data;
}

/**
 * An `ID` argument arrives as a string (GraphQL coerces an integer literal to one too): decimal
 * digits become the number REST's path parameter would (`idParam`: "007" is 7), anything else
 * stays as it is, so the zod schema the argument is parsed with answers EINVAL for it with its
 * name in `errors` ("abc", "-1", "0x10", "1e3"), and 0 or 2^32 fail its range check (EINVAL).
 */
export const idArg = (v: unknown): unknown => (typeof v === 'string' && /^[0-9]{1,10}$/.test(v) ? Number(v) : v);
/** Every reference argument (plugins/scope.ts REFERENCE_KEYS: id, contextId, deviceId, …) through `idArg`. */
const idArgs = <A>(args: A): A =>
  args && typeof args === 'object' ? (Object.fromEntries(Object.entries(args).map(([k, v]) => [k, REFERENCE_KEYS.has(k) ? idArg(v) : v])) as A) : args;

/** Base64 as RFC 4648 writes it (padding required): guest memory in and out of GraphQL. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

const strip = <T extends Record<string, unknown>>(args: T): T => Object.fromEntries(Object.entries(args).filter(([, v]) => v !== null && v !== undefined)) as T;

/** Whether every selection of the field being resolved is one of `names` (no fragment: those may select anything). */
function selectsOnly(info: GraphQLResolveInfo, ...names: string[]): boolean {
  return info.fieldNodes.every((node) => (node.selectionSet?.selections ?? []).every((sel) => sel.kind === Kind.FIELD && (names.includes(sel.name.value) || sel.name.value === '__typename')));
}

/**
 * A view that depends on its record alone, kept beside the record (records are replaced whole,
 * never changed in place) and frozen, as the domain keeps object views (object-table.ts
 * objectView): a dashboard naming the same SMMU a thousand times builds its view once.
 */
function keptBy<R extends object, V extends object>(view: (rec: R) => V): (rec: R) => V {
  const kept = new WeakMap<R, V>();
  return (rec) => {
    let v = kept.get(rec);
    if (v === undefined) {
      v = Object.freeze(view(rec));
      kept.set(rec, v);
    }
    return v;
  };
}
const smmuView = keptBy(smmuViewOf);
const deviceView = keptBy(deviceViewOf);

/** Each service's kept GraphQL answers (tests read their counters). */
const answerCaches = new WeakMap<object, AnswerCache>();
export const graphqlAnswersOf = (service: object): AnswerCache | undefined => answerCaches.get(service);

/** The deepest chain of fields an operation may select (introspection not counted). */
const MAX_QUERY_DEPTH = 8;

export const graphqlApi: FastifyPluginAsync<{ maxCost?: number }> = async (app, { maxCost = 0 } = {}) => {
  const service = app.iommufd;
  const g = service.graph;
  // Answers of repeated queries, kept while the graph and the counters they show are unchanged
  // (./answer-cache.ts): looked up after authentication and the rate limit, kept once sent.
  const answers = new AnswerCache({
    schema: () => app.graphql.schema,
    resolved: (type, field) => {
      const r = (resolvers as Record<string, Record<string, unknown> | undefined>)[type]?.[field];
      return r !== undefined && r !== null;
    },
    graphVersion: () => g.version,
    invalidations: (viommuId) => {
      const viommu = g.get('objects', viommuId);
      return viommu !== undefined && viommu.type === 'viommu' ? service.viommuInvalidations(viommuId).invalidations : null;
    },
  });
  answerCaches.set(service, answers);
  // Every GraphQL route needs a viewer; mutations are checked per operation (preExecution below).
  app.addHook('onRoute', (route) => {
    route.config = { ...route.config, role: 'viewer' };
    if (route.url !== '/graphql' || (route.method !== 'GET' && route.method !== 'POST')) return;
    const own = <T>(hooks: T | T[] | undefined): T[] => (hooks === undefined ? [] : Array.isArray(hooks) ? hooks : [hooks]);
    route.preHandler = [
      ...own(route.preHandler),
      (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
        // Answered from the cache: `done` is not called (Fastify's callback-style early reply).
        if (!answers.lookup(request, reply)) done();
      },
    ] as typeof route.preHandler;
    route.onSend = [
      ...own(route.onSend),
      (request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (err: null, payload: unknown) => void) => {
        answers.store(request, reply, payload);
        done(null, payload);
      },
    ] as typeof route.onSend;
  });
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
  const objectsWhere = (index: IndexName<'objects'>, key: string | number, pred?: (o: ObjectRec) => boolean) => {
    const out = [];
    for (const o of g.indexedList('objects', index, key)) if (pred === undefined || pred(o)) out.push(viewOf(service, o));
    return out;
  };
  const deviceById = (id: number | null | undefined) => {
    const d = id === null || id === undefined ? undefined : g.get('devices', id);
    return d ? deviceView(d) : null;
  };

  type Row = Record<string, unknown> & { id: number };
  /** A relation: resolved from the parent's view through the graph, synchronously. */
  const rel = (resolve: (parent: Row) => unknown) => (parent: Row) => resolve(parent);

  const counts = (byName: Record<string, number>) => Object.entries(byName).map(([opcode, count]) => ({ opcode, count }));
  const smmuState = (id: number) => {
    const st = smmuStateView(service.smmuState(id));
    return {
      ...st,
      commands: { executed: st.commands.executed, byOpcode: counts(st.commands.byOpcode as Record<string, number>), errors: counts(st.commands.errors) },
      streamTableEntries: st.streamTable.entries,
    };
  };
  /** ViommuStats: only the invalidation counters when nothing else is selected (a dashboard), no IOTLB or ATC walk. */
  const viommuStats = (id: number, info: GraphQLResolveInfo, ctx: Ctx) => {
    const request = (ctx as unknown as { reply?: { request?: FastifyRequest } }).reply?.request;
    let st;
    if (selectsOnly(info, 'invalidations')) {
      st = service.viommuInvalidations(id);
      answers.noteInvalidations(request, id, st.invalidations);
    } else {
      // The SMMU model's TLB and ATC: not kept (answer-cache.ts).
      st = service.viommuStats(id);
      answers.uncacheable(request);
    }
    return Object.assign({}, st, { invalidations: Object.assign({}, st.invalidations, { byOpcode: counts(st.invalidations.byOpcode) }) });
  };

  const relations: IResolvers = {
    Smmu: {
      state: rel((s) => smmuState(s.id)),
      devices: rel((s) => [...g.indexed('devices', 'smmu', s.id)].map(deviceView)),
      viommus: rel((s) => objectsWhere('smmuType', `${s.id}:viommu`)),
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
      hwQueues: rel((c) => objectsWhere('contextType', `${c.id}:hw_queue`)),
      eventqs: rel((c) => objectsWhere('contextType', `${c.id}:veventq`)),
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
      vdevices: rel((o) => objectsWhere('viommuType', `${o.id}:vdevice`)),
      nestedHwpts: rel((o) => objectsWhere('viommuType', `${o.id}:hwpt_nested`)),
      stats: (o: Row, _args: unknown, ctx: Ctx, info: GraphQLResolveInfo) => viommuStats(o.id, info, ctx),
      eventqs: rel((o) => objectsWhere('viommuType', `${o.id}:veventq`)),
      hwQueues: rel((o) => objectsWhere('viommuType', `${o.id}:hw_queue`)),
    },
    HwQueue: {
      context: rel((o) => contextView(g.get('contexts', o.contextId as number)!)),
      viommu: rel((o) => obj(o.viommuId as number)),
    },
    Eventq: {
      context: rel((o) => contextView(g.get('contexts', o.contextId as number)!)),
      viommu: rel((o) => obj(o.viommuId as number)),
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
        return await inGraphqlWriteScope((ctx as unknown as { reply?: { request?: FastifyRequest } }).reply?.request, info, () => fn(idArgs(args)));
      } catch (err) {
        if (!(err instanceof IommufdError)) app.log.error({ err }, 'graphql resolver failed');
        throw toGraphqlError(err, ctx);
      }
    };
  type Args = Record<string, unknown>;
  const id = (v: unknown, arg = 'id') => parse(objectId, idArg(v), arg);
  /** An optional list filter (REST's `optionalIdQuery`): absent, or a well-formed id. */
  const optId = (v: unknown, arg: string) => (v === null || v === undefined ? undefined : id(v, arg));
  /** The objects of `types` (ascending id), of one context when `contextId` is given: REST's lists, unpaged. */
  const listOf = (types: readonly ObjectType[], contextId: unknown) => {
    const ctxId = optId(contextId, 'contextId');
    // As REST's pages: a list does not churn the kept views (domain/object-table.ts KEPT_VIEWS).
    return service.listObjects({ limit: Number.MAX_SAFE_INTEGER, contextId: ctxId, types }).items.map((o) => viewOf(service, o, 'scan'));
  };
  /** IOMMU_HWPT_INVALIDATE as the REST routes run it; every failure carries `entriesProcessed` (0 when none ran). */
  const invalidate = (a: Args, only?: 'viommu') => {
    try {
      // The entries are parsed after the target's lookup, as REST and the kernel order them.
      return service.invalidate(id(a.id), () => invalidationEntries({ body: { dataType: a.dataType, entries: a.entries } } as FastifyRequest, invalidateBody), only);
    } catch (err) {
      if (err instanceof IommufdError && err.extensions.entriesProcessed === undefined) throw new IommufdError(err.errno, err.message, { ...err.extensions, entriesProcessed: 0 });
      throw err;
    }
  };

  const resolvers: IResolvers = {
    ...relations,
    DecodedEvent: {
      resolveType: (d: object) => ('lvcmdqErrMap' in d ? 'Tegra241Event' : 'ArmSmmuv3Event'),
    },
    Translation: {
      resolveType: (t: object) => ('fault' in t ? 'TranslationFault' : 'TranslationOk'),
    },
    IommufdObject: {
      // Each type's descriptor names its GraphQL type (src/domain/objects/).
      resolveType: (o: { type: string }) => OBJECTS[o.type as ObjectType]?.graphqlType ?? null,
    },
    Subscription: {
      vevents: {
        subscribe: async (_root: unknown, a: Args, ctx: Ctx & { pubsub: { subscribe(topic: string): Promise<unknown> } }) => {
          let eventqId: number;
          try {
            eventqId = service.getObject(id(a.eventqId, 'eventqId'), ['veventq'], 'vEVENTQ').id;
          } catch (err) {
            throw toGraphqlError(err, ctx);
          }
          return ctx.pubsub.subscribe(`vevents:${eventqId}`);
        },
      },
      objectChanged: {
        subscribe: async (_root: unknown, a: Args, ctx: Ctx & { pubsub: { subscribe(topic: string): Promise<unknown> } }) => {
          let contextId: number;
          try {
            contextId = service.getContext(id(a.contextId, 'contextId')).id;
          } catch (err) {
            throw toGraphqlError(err, ctx);
          }
          return ctx.pubsub.subscribe(`objects:${contextId}`);
        },
      },
    },
    Query: {
      smmus: guard(() => service.smmuRecords().sort((a, b) => a.id - b.id).map(smmuView)),
      smmu: guard((a: Args) => smmuView(service.getSmmu(id(a.id)))),
      devices: guard((a: Args) => service.listDevices({ limit: 500, smmuId: optId(a.smmuId, 'smmuId'), contextId: optId(a.contextId, 'contextId') }).items.map(deviceView)),
      device: guard((a: Args) => deviceView(service.getDevice(id(a.id)))),
      hwInfo: guard((a: Args) => {
        const q = parse(hwInfoQuery, strip({ type: a.type }));
        const info = service.hwInfo(id(a.deviceId, 'deviceId'), q.type ?? 'default');
        return { ...info, data: JSON.stringify(info.data) };
      }),
      contexts: guard(() => service.contextRecords().sort((a, b) => a.id - b.id).map(contextView)),
      context: guard((a: Args) => contextView(service.getContext(id(a.id)))),
      object: guard((a: Args) => viewOf(service, service.getObject(id(a.id)))),
      ioas: guard((a: Args) => viewOf(service, service.getObject(id(a.id), ['ioas'], 'IOAS'))),
      hwpt: guard((a: Args) => viewOf(service, service.getObject(id(a.id), ['hwpt_paging', 'hwpt_nested'], 'HWPT'))),
      viommu: guard((a: Args) => viewOf(service, service.getObject(id(a.id), ['viommu'], 'vIOMMU'))),
      viommus: guard((a: Args) => listOf(['viommu'], a.contextId)),
      hwpts: guard((a: Args) => listOf(['hwpt_paging', 'hwpt_nested'], a.contextId)),
      vdevices: guard((a: Args) => listOf(['vdevice'], a.contextId)),
      hwQueues: guard((a: Args) => listOf(['hw_queue'], a.contextId)),
      eventqs: guard((a: Args) => listOf(['veventq'], a.contextId)),
      guestMemory: guard((a: Args) => {
        const q = parse(memoryQuery, { iova: a.iova, length: a.length });
        return Buffer.from(service.readMemory(id(a.ioasId, 'ioasId'), q.iova, q.length)).toString('base64');
      }),
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
      bindDevice: guard(async (a: Args) => deviceView(await service.bindDevice(id(a.contextId, 'contextId'), parse(bindDeviceBody, { deviceId: a.deviceId }).deviceId))),
      unbindDevice: guard(async (a: Args) => {
        await service.unbindDevice(id(a.contextId, 'contextId'), id(a.deviceId, 'deviceId'));
        return deviceView(service.getDevice(id(a.deviceId, 'deviceId')));
      }),
      createIoas: guard(async (a: Args) => viewOf(service, await service.createIoas(parse(createIoasBody, a).contextId))),
      mapIoas: guard(async (a: Args) => {
        const m = parse(mapBody, strip({ iova: a.iova, length: a.length, read: a.read, write: a.write }));
        return mappingView(await service.mapIoas(id(a.ioasId, 'ioasId'), { iova: m.iova, length: m.length, read: m.read ?? true, write: m.write ?? true }));
      }),
      unmapIoas: guard(async (a: Args) => {
        const range = a.iova == null && a.length == null ? null : { iova: parse(hex64, a.iova), length: parse(hex64, a.length) };
        return addr64((await service.unmapIoas(id(a.ioasId, 'ioasId'), range)).unmapped);
      }),
      allocHwpt: guard(async (a: Args) => {
        const b = parse(allocHwptBody, strip({ deviceId: a.deviceId, ptId: a.ptId, flags: a.flags, data: a.data ? strip(a.data as Args) : undefined }));
        return viewOf(service, await service.allocHwpt({ deviceId: b.deviceId, ptId: b.ptId, flags: b.flags ?? [], data: b.data }));
      }),
      attachDevice: guard(async (a: Args) => deviceView(await service.attachDevice(id(a.deviceId, 'deviceId'), parse(attachBody, { ptId: a.ptId }).ptId))),
      detachDevice: guard(async (a: Args) => deviceView(await service.detachDevice(id(a.deviceId, 'deviceId')))),
      attachDevicePasid: guard(async (a: Args) => {
        const p = parse(pasidBody, { pasid: a.pasid, ptId: a.ptId });
        return deviceView(await service.attachPasid(id(a.deviceId, 'deviceId'), p.pasid, p.ptId));
      }),
      detachDevicePasid: guard(async (a: Args) => deviceView(await service.detachPasid(id(a.deviceId, 'deviceId'), parse(pasidBody.shape.pasid, a.pasid)))),
      allocViommu: guard(async (a: Args) => viewOf(service, await service.allocViommu(parse(allocViommuBody, a)))),
      allocVdevice: guard(async (a: Args) => viewOf(service, await service.allocVdevice(parse(allocVdeviceBody, a)))),
      // IOMMU_DESTROY takes any u32: id 0 names no object (ENOENT), as on REST (iommufd.md §6.1 item 1).
      destroy: guard(async (a: Args) => (await service.destroy(parse(u32, a.id, 'id')), true)),
      // The writes of REST's hardware, hw-queue and event routes: the same service calls, the
      // same zod schemas for the arguments, the same views (src/routes/rest/{hardware,events}.ts).
      allocEventq: guard(async (a: Args) => viewOf(service, await service.allocEventq(parse(allocEventqBody, a)))),
      readEventq: guard(async (a: Args) => {
        const eventqId = id(a.id);
        const { max } = parse(readEventqBody, strip({ max: a.max }));
        const { type, records } = await service.readEventq(eventqId, max ?? 64);
        return { records: records.map((e) => eventView(e, type)) };
      }),
      allocHwQueue: guard(async (a: Args) => viewOf(service, await service.allocHwQueue(parse(allocHwQueueBody, a)))),
      setHwQueueEnabled: guard(async (a: Args) => {
        const queueId = id(a.id);
        const { queue, run } = await service.setQueueEnabled(queueId, parse(patchHwQueueBody, { enabled: a.enabled }).enabled);
        return { ...viewOf(service, queue), run };
      }),
      pushHwQueueCommands: guard(async (a: Args) => {
        const queueId = id(a.id);
        const { buf, count } = invalidationEntries({ body: { entries: a.entries } } as FastifyRequest, queueCommandsBody);
        return service.pushQueueCommands(queueId, buf, count);
      }),
      ackHwQueueError: guard(async (a: Args) => {
        const queueId = id(a.id);
        const body = parse(ackHwQueueBody, strip({ replaceWithSync: a.replaceWithSync }));
        return service.acknowledgeQueue(queueId, body?.replaceWithSync ?? false);
      }),
      invalidate: guard((a: Args) => invalidate(a)),
      invalidateViommu: guard((a: Args) => invalidate(a, 'viommu')),
      writeGuestMemory: guard(async (a: Args) => {
        const ioasId = id(a.ioasId, 'ioasId');
        const data = typeof a.data === 'string' && BASE64.test(a.data) ? Buffer.from(a.data, 'base64') : null;
        if (data === null) throw new IommufdError('EINVAL', 'arguments are invalid: args/data: must be base64', { errors: [{ path: 'args/data', message: 'must be base64' }] });
        const q = parse(memoryQuery, { iova: a.iova, length: String(data.length) });
        const written = await service.writeMemory(ioasId, q.iova, new Uint8Array(data));
        return { iova: addr64(written.iova), length: written.length };
      }),
      translate: guard(async (a: Args) => {
        const deviceId = id(a.deviceId, 'deviceId');
        return translateView(await service.translate(deviceId, parse(translateBody, strip({ iova: a.iova, ssid: a.ssid, access: a.access }))));
      }),
      injectEvent: guard(async (a: Args) => {
        const viommuId = id(a.viommuId, 'viommuId');
        const body = parse(injectEventBody, { type: a.type, record: a.record });
        const { type, record } = await service.injectEvent(viommuId, body.type, body.record);
        return eventView(record, type);
      }),
    },
  };

  await app.register(mercurius, {
    schema: typeDefs,
    resolvers,
    // Depth 8 without counting introspection (./depth.ts), and the query cost (fields, times 10
    // under each list: ./cost.ts).
    validationRules: [depthLimit(MAX_QUERY_DEPTH), ...(maxCost > 0 ? [costLimit(maxCost)] : [])],
    graphiql: false,
    // A query asked a second time runs compiled (graphql-jit): a dashboard's relations resolve about
    // twice as fast; test/graphql/repeat.test.ts holds the compiled answers to the first one's.
    jit: 1,
    path: '/graphql',
    subscription: true,
    // A resolver that threw something other than an IommufdError (an unguarded field resolver or
    // loader) is an internal error: EINTERNAL with its details hidden, as on REST. GraphQL's own
    // rejections (syntax, validation, argument coercion such as a String for an Int) carry no
    // errno: they are invalid arguments, EINVAL, like a REST validation failure.
    errorFormatter: (execution, context) => {
      const ctx = context as unknown as Ctx;
      // An answer with errors carries the request's id: never kept.
      answers.uncacheable((context as unknown as { reply?: { request?: FastifyRequest } }).reply?.request);
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
        const located = new GraphQLError(hidden.message, { nodes: e.nodes, source: e.source, positions: e.positions, path: e.path, originalError: hidden });
        // A compiled query's error (graphql-jit) carries its locations without the nodes they come from.
        if (located.locations === undefined && e.locations !== undefined) (located as { locations?: GraphQLError['locations'] }).locations = e.locations;
        return located;
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

  // The IDE for people at /altair, open like /docs (./ide.ts).
  await app.register(graphqlIde);

  // Roles per operation: a mutation needs operator (inventory ones admin).
  app.graphql.addHook('preExecution', async (_schema, document, context) => {
    const request = (context as unknown as Ctx & { reply: { request: { role: Role } } }).reply?.request;
    // Whether this operation's answer may be kept: a query of pure fields (./answer-cache.ts).
    answers.checkOperation(request as FastifyRequest | undefined, document);
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


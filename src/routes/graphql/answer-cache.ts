/**
 * Answers of repeated GraphQL queries, kept while nothing they show can have changed (issue 13:
 * a dashboard polls the same query over every VM; executing it again is ~35,000 fields and a
 * 500 KiB JSON text each time, for the same bytes as long as no write has landed).
 *
 * What an answer may depend on, and how each is checked before a kept answer is sent:
 *
 * - **The object graph** (every object, device, SMMU, context, mapping, queued event): its
 *   `version` is bumped by every commit applied (graph.ts `apply`, `clear`, `Store.load`). An
 *   answer is kept with the version it was computed at, and only if the version was the same when
 *   its execution ended (a commit landing between two resolvers would mix two states: not kept).
 *   A lookup at another version misses, and a store drops every answer of an older version.
 * - **vIOMMU invalidation counters** (`Viommu.stats { invalidations }`): kept by the service,
 *   outside the graph, and changed by invalidations that commit nothing. The `stats` resolver
 *   records the counters it put in the answer (`noteInvalidations`); a lookup compares them with
 *   the service's current ones, each of them.
 * - **Anything else outside the graph** — the SMMU models (`Smmu.state`, `Device.host`, `stats`'
 *   TLB and ATC), guest memory, hardware info, the audit log — is not kept at all: a query that
 *   selects a field whose resolver is not listed in PURE_FIELDS below (default deny: a new field
 *   with its own resolver is not kept until it is listed here) executes every time. Fields
 *   without a resolver of their own read a property of their parent's value, which is kept with
 *   its parent.
 * - **The caller**: a query's answer does not depend on the caller's role (roles gate mutations,
 *   which are never kept) but does on a token limited to contexts (lists are filtered): only
 *   requests of unlimited callers use or fill the cache. Authentication, the rate limit and
 *   admission run before the lookup, as for any request.
 * - **Errors**: an answer with errors (they carry the request's id) or another status than 200
 *   is not kept; nor is any operation but a query (mutations, subscriptions).
 *
 * Keyed by method, query text, operation name and variables (as sent); kept at a query's second
 * execution at the same graph version (`store`). Bounded: MAX_ENTRIES answers, MAX_BYTES in all, an answer over
 * MAX_ANSWER_BYTES not kept.
 * test/graphql/answer-cache.test.ts holds a kept answer to a fresh execution after every kind of
 * change.
 */
import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Kind, type DocumentNode, type FragmentDefinitionNode, type GraphQLSchema, type OperationDefinitionNode, type SelectionSetNode } from 'graphql';

/** Fields with a resolver of their own whose answer is a function of the object graph alone. */
export const PURE_FIELDS: ReadonlySet<string> = new Set([
  'Query.smmus', 'Query.smmu', 'Query.devices', 'Query.device', 'Query.contexts', 'Query.context',
  'Query.object', 'Query.ioas', 'Query.hwpt', 'Query.viommu', 'Query.viommus', 'Query.hwpts',
  'Query.vdevices', 'Query.hwQueues', 'Query.eventqs', 'Query.vdevice', 'Query.eventq', 'Query.hwQueue',
  'Smmu.devices', 'Smmu.viommus',
  'Device.smmu', 'Device.context', 'Device.attachment', 'Device.vdevice',
  'Context.devices', 'Context.objects', 'Context.hwQueues', 'Context.eventqs', 'Context.ioas', 'Context.hwpts', 'Context.viommus', 'Context.vdevices',
  'Ioas.context', 'Ioas.mappings', 'Ioas.hwpts',
  'Hwpt.context', 'Hwpt.ioas', 'Hwpt.viommu', 'Hwpt.smmu', 'Hwpt.devices',
  'Viommu.context', 'Viommu.smmu', 'Viommu.nestParent', 'Viommu.vdevices', 'Viommu.nestedHwpts', 'Viommu.eventqs', 'Viommu.hwQueues',
  'HwQueue.context', 'HwQueue.viommu', 'Eventq.context', 'Eventq.viommu', 'PasidAttachment.hwpt',
  'Vdevice.context', 'Vdevice.viommu', 'Vdevice.device',
  // Outside the graph, checked counter by counter at each lookup (noteInvalidations); a `stats`
  // selecting more than `invalidations` (the SMMU model's TLB and ATC) is not kept (`uncacheable`).
  'Viommu.stats',
]);

export const MAX_ENTRIES = 32;
export const MAX_BYTES = 32 * 1024 * 1024;
export const MAX_ANSWER_BYTES = 8 * 1024 * 1024;
const MAX_SEEN = 1024;

/** The invalidation counters of a vIOMMU as an answer showed them. */
export interface InvalidationCounters {
  requests: number;
  entries: number;
  batches: number;
  errors: number;
  skipped: number;
  byOpcode: Record<string, number>;
}

interface Entry {
  version: number;
  payload: string;
  /** Per vIOMMU whose counters the answer shows: id, then the counters (COUNTERS per vIOMMU). */
  counters: number[];
}

/** A request being executed that may be kept: what its resolvers read outside the graph. */
interface Pending {
  key: string;
  version: number;
  /** The operation was classified a query of pure fields (checkOperation): unset, nothing is kept. */
  pure: boolean;
  /** Something read outside the graph, or the answer has errors. */
  tainted: boolean;
  counters: number[];
}

const COUNTERS = 8;
function pushCounters(out: number[], id: number, c: InvalidationCounters): void {
  let opcodes = 0;
  let total = 0;
  for (const k in c.byOpcode) {
    opcodes++;
    total += c.byOpcode[k];
  }
  out.push(id, c.requests, c.entries, c.batches, c.errors, c.skipped, opcodes, total);
}

const PENDING = Symbol('graphql answer being computed');
type WithPending = FastifyRequest & { [PENDING]?: Pending };

type NamedType = { name: string; getFields?: () => Record<string, { type: unknown }> };
/** The named type under lists and non-nulls (by property: Mercurius' graphql may be another module instance than ours). */
function named(type: unknown): NamedType {
  let t = type as { ofType?: unknown };
  while (t.ofType !== undefined && t.ofType !== null) t = t.ofType as { ofType?: unknown };
  return t as unknown as NamedType;
}

/**
 * Whether an operation of `document` may be kept: a query whose every field, fragments
 * included, either has no resolver of its own or is in PURE_FIELDS. Walked by hand over the AST
 * and the schema's plain properties (no TypeInfo / visit: Mercurius' graphql can be another
 * module instance than ours, whose classes graphql refuses to mix).
 */
function classify(schema: GraphQLSchema, document: DocumentNode, operationName: string | null | undefined, resolved: (type: string, field: string) => boolean): boolean {
  const operations = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  const op = operationName ? operations.find((o) => o.name?.value === operationName) : operations.length === 1 ? operations[0] : undefined;
  if (!op || op.operation !== 'query') return false;
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  const seen = new Set<string>();
  const walk = (type: NamedType | null | undefined, set: SelectionSetNode | undefined): boolean => {
    if (!set) return true;
    if (!type) return false;
    for (const sel of set.selections) {
      if (sel.kind === Kind.FIELD) {
        const name = sel.name.value;
        if (name.startsWith('__')) continue;
        const field = type.getFields?.()[name];
        if (!field) return false;
        if (resolved(type.name, name) && !PURE_FIELDS.has(`${type.name}.${name}`)) return false;
        if (!walk(named(field.type), sel.selectionSet)) return false;
      } else if (sel.kind === Kind.INLINE_FRAGMENT) {
        const on = sel.typeCondition ? (schema.getType(sel.typeCondition.name.value) as NamedType | null | undefined) : type;
        if (!walk(on, sel.selectionSet)) return false;
      } else {
        const fragment = fragments.get(sel.name.value);
        if (!fragment) return false;
        if (seen.has(`${type.name}:${fragment.name.value}`)) continue;
        seen.add(`${type.name}:${fragment.name.value}`);
        if (!walk(schema.getType(fragment.typeCondition.name.value) as NamedType | null | undefined, fragment.selectionSet)) return false;
      }
    }
    return true;
  };
  return walk(schema.getQueryType() as NamedType | null | undefined, op.selectionSet);
}

export interface AnswerCacheDeps {
  schema: () => GraphQLSchema;
  /** Whether `type.field` has a resolver of its own (not a property of the parent's value). */
  resolved: (type: string, field: string) => boolean;
  graphVersion: () => number;
  /** The current invalidation counters of a vIOMMU (null: it is gone). */
  invalidations: (viommuId: number) => InvalidationCounters | null;
}

export class AnswerCache {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;
  /** Digests of the keys of queries executed once, with the graph version they were executed at (bounded: MAX_SEEN, then forgotten at once). */
  private readonly seen = new Map<string, number>();
  private readonly classified = new WeakMap<DocumentNode, Map<string, boolean>>();
  /** Lookups answered from the cache, and answers kept (tests, notes). */
  readonly stats = { hits: 0, misses: 0, stored: 0 };

  constructor(private readonly deps: AnswerCacheDeps) {}

  /** The key of a request to /graphql, or null when it may not use the cache. */
  keyOf(request: FastifyRequest): string | null {
    if (request.contexts !== null || (request as { ws?: boolean }).ws) return null;
    const method = request.method;
    const params = (method === 'POST' ? request.body : method === 'GET' ? request.query : null) as Record<string, unknown> | null;
    if (params === null || typeof params !== 'object' || Array.isArray(params)) return null;
    const { query, operationName, variables, extensions } = params;
    if (typeof query !== 'string' || (extensions !== undefined && extensions !== null)) return null;
    if (operationName !== undefined && operationName !== null && typeof operationName !== 'string') return null;
    const vars = variables === undefined || variables === null ? '' : typeof variables === 'string' ? variables : JSON.stringify(variables);
    return `${method}\u0000${operationName ?? ''}\u0000${vars}\u0000${query}`;
  }

  /** preHandler: answers from the cache when a kept answer is current, else notes the request for `store`. */
  lookup(request: FastifyRequest, reply: FastifyReply): boolean {
    const key = this.keyOf(request);
    if (key === null) return false;
    const version = this.deps.graphVersion();
    const entry = this.entries.get(key);
    if (entry !== undefined) {
      if (entry.version === version && this.countersCurrent(entry.counters)) {
        this.stats.hits++;
        // Most recently used last.
        this.entries.delete(key);
        this.entries.set(key, entry);
        reply.header('content-type', 'application/json; charset=utf-8').send(entry.payload);
        return true;
      }
      this.drop(key, entry);
    }
    this.stats.misses++;
    (request as WithPending)[PENDING] = { key, version, pure: false, tainted: false, counters: [] };
    return false;
  }

  /** preExecution: whether the operation about to run may be kept (the document's fields). */
  checkOperation(request: FastifyRequest | undefined, document: DocumentNode): void {
    const pending = request && (request as WithPending)[PENDING];
    if (!pending || pending.tainted) return;
    const params = (request.method === 'POST' ? request.body : request.query) as { operationName?: string | null };
    const operationName = params.operationName;
    let byName = this.classified.get(document);
    if (byName === undefined) {
      byName = new Map();
      this.classified.set(document, byName);
    }
    const name = operationName ?? '';
    let ok = byName.get(name);
    if (ok === undefined) {
      ok = classify(this.deps.schema(), document, operationName, this.deps.resolved);
      byName.set(name, ok);
    }
    if (ok) pending.pure = true;
    else pending.tainted = true;
  }

  /** The `stats` resolver: the counters it puts in the answer. */
  noteInvalidations(request: FastifyRequest | undefined, viommuId: number, counters: InvalidationCounters): void {
    const pending = request && (request as WithPending)[PENDING];
    if (pending && !pending.tainted) pushCounters(pending.counters, viommuId, counters);
  }

  /** This request's answer may not be kept (it read something else outside the graph, or failed). */
  uncacheable(request: FastifyRequest | undefined): void {
    const pending = request && (request as WithPending)[PENDING];
    if (pending) pending.tainted = true;
  }

  /**
   * onSend: keeps the answer if nothing made it uncacheable and the graph did not change
   * meanwhile — at the second execution of a query at the same graph version: a query asked once
   * (an ad-hoc one) is not worth half a megabyte kept, one asked again is likely polled (the
   * threshold Mercurius' `jit: 1` uses to compile it). After a change a polled query so runs
   * twice before it is answered from the cache again.
   */
  store(request: FastifyRequest, reply: FastifyReply, payload: unknown): void {
    const pending = (request as WithPending)[PENDING];
    if (!pending) return;
    (request as WithPending)[PENDING] = undefined;
    const version = this.deps.graphVersion();
    if (!pending.pure || pending.tainted || reply.statusCode !== 200 || typeof payload !== 'string' || pending.version !== version) return;
    if (payload.length > MAX_ANSWER_BYTES || !this.countersCurrent(pending.counters)) return;
    const seen = createHash('sha256').update(pending.key).digest('base64');
    if (this.seen.get(seen) !== version) {
      if (this.seen.size >= MAX_SEEN) this.seen.clear();
      this.seen.set(seen, version);
      return;
    }
    // Answers of older versions can never be sent again.
    for (const [key, entry] of this.entries) if (entry.version !== version) this.drop(key, entry);
    const old = this.entries.get(pending.key);
    if (old !== undefined) this.drop(pending.key, old);
    while (this.entries.size >= MAX_ENTRIES || (this.entries.size > 0 && this.bytes + payload.length > MAX_BYTES)) {
      const [key, entry] = this.entries.entries().next().value as [string, Entry];
      this.drop(key, entry);
    }
    this.entries.set(pending.key, { version, payload, counters: pending.counters });
    this.bytes += payload.length;
    this.stats.stored++;
  }

  /** Answers kept now (tests). */
  get size(): number {
    return this.entries.size;
  }

  private drop(key: string, entry: Entry): void {
    this.entries.delete(key);
    this.bytes -= entry.payload.length;
  }

  private countersCurrent(counters: number[]): boolean {
    const now: number[] = [];
    for (let i = 0; i < counters.length; i += COUNTERS) {
      const current = this.deps.invalidations(counters[i]);
      if (current === null) return false;
      now.length = 0;
      pushCounters(now, counters[i], current);
      for (let j = 1; j < COUNTERS; j++) if (now[j] !== counters[i + j]) return false;
    }
    return true;
  }
}

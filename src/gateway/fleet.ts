/**
 * The hosts of a fleet as remote subschemas: each host is the service's own GraphQL schema
 * (src/routes/graphql/schema.ts, so no host needs to be up for the gateway to start) executed by
 * @graphql-tools/executor-http against that host's /graphql with its token, and delegated to with
 * @graphql-tools/delegate. The subschema batches (`batch: true`): every root field a query asks
 * of one host goes out as one HTTP request.
 *
 * A host never fails the gateway's query. What happens to its request — no connection, no answer
 * within the timeout, a refusal, or GraphQL errors in its answer — is recorded per gateway request
 * as the host's outcome (`up`, `error`) and its fields are null; the gateway's answer carries no
 * error of its own.
 */
import { delegateToSchema, Subschema, type Transform } from '@graphql-tools/delegate';
import { buildHTTPExecutor } from '@graphql-tools/executor-http';
import type { ExecutionRequest, Executor } from '@graphql-tools/utils';
import { makeExecutableSchema } from '@graphql-tools/schema';
import { Kind, OperationTypeNode, parse, visit, type ASTNode, type DocumentNode, type ExecutionResult, type FragmentDefinitionNode, type GraphQLError, type GraphQLResolveInfo, type GraphQLSchema } from 'graphql';
import type { FleetHost } from './config.js';

/** What one gateway request learnt about one host. */
export interface HostOutcome {
  /** This request's calls to the host (delegations, or the probe), settled or not. */
  calls: Promise<unknown>[];
  /** False once a call had no usable answer: no connection, timeout, refusal (401, 403, 429, 5xx) or not GraphQL. */
  up: boolean;
  /** What went wrong, each once, already prefixed with the host's name. */
  errors: Set<string>;
  /** Whether the outcome has been reported (logged) once. */
  reported: boolean;
}

/** Why a host gave no usable answer: thrown by the host's fetch, carried by executor-http as the originalError. */
export class HostUnreachable extends Error {
  override name = 'HostUnreachable';
}

/** HTTP answers that say the host will not serve us now, whatever the query: it counts as down. */
const REFUSED = (status: number) => status === 401 || status === 403 || status === 429 || status >= 500;

/** A refusal's reason from its body: problem+json (`errno`, `detail`) or a GraphQL answer's first error. */
function refusal(status: number, body: string): string {
  let errno: unknown;
  let detail: unknown;
  try {
    const json = JSON.parse(body) as { errno?: unknown; detail?: unknown; errors?: Array<{ message?: unknown; extensions?: { errno?: unknown } }> };
    errno = json.errno ?? json.errors?.[0]?.extensions?.errno;
    detail = json.detail ?? json.errors?.[0]?.message;
  } catch {
    // not JSON: the status says it
  }
  return `HTTP ${status}${typeof errno === 'string' ? ` ${errno}` : ''}${typeof detail === 'string' ? `: ${detail}` : ''}`;
}

/**
 * The fetch executor-http uses for one host: it reads the whole answer (so the timeout covers the
 * body too), turns a refusal into HostUnreachable, and a failed connection into a short reason
 * (`connect ECONNREFUSED 127.0.0.1:3001` rather than undici's "fetch failed").
 */
function hostFetch(timeoutMs: number) {
  return async (url: string, init?: RequestInit): Promise<Response> => {
    let res: Response;
    let body: string;
    try {
      res = await fetch(url, init);
      body = await res.text();
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      if (e.name === 'TimeoutError' || (e.name === 'AbortError' && (init?.signal?.reason as Error | undefined)?.name === 'TimeoutError')) {
        throw new HostUnreachable(`no answer within ${timeoutMs} ms`);
      }
      // undici's "fetch failed" says nothing; its cause does (an AggregateError of every address may have only a code).
      throw new HostUnreachable(e.cause?.message || e.cause?.code || e.message);
    }
    if (REFUSED(res.status)) throw new HostUnreachable(refusal(res.status, body));
    return new Response(body, { status: res.status, headers: { 'content-type': res.headers.get('content-type') ?? 'application/json' } });
  };
}

/** Error codes executor-http gives a request that got no GraphQL answer. */
const TRANSPORT_CODES = new Set(['SUBREQUEST_HTTP_ERROR', 'TIMEOUT_ERROR', 'RESPONSE_VALIDATION_FAILED']);

/** One error of a host's result as a line of `error`, and whether it means the host gave no answer. */
function describe(error: GraphQLError, timeoutMs: number): { down: boolean; reason: string } {
  const original = error.originalError;
  if (original instanceof HostUnreachable) return { down: true, reason: original.message };
  const code = error.extensions?.code;
  if (typeof code === 'string' && TRANSPORT_CODES.has(code)) {
    if (code === 'TIMEOUT_ERROR' || original?.name === 'TimeoutError') return { down: true, reason: `no answer within ${timeoutMs} ms` };
    const status = (error.extensions?.response as { status?: number } | undefined)?.status;
    if (code === 'RESPONSE_VALIDATION_FAILED') return { down: true, reason: `${status === undefined ? '' : `HTTP ${status}: `}not a GraphQL answer` };
    return { down: true, reason: original?.message ?? error.message };
  }
  // The host's own GraphQL error: the path and errno say which field failed and why.
  const errno = error.extensions?.errno;
  const path = error.path?.length ? `${error.path.join('.')}: ` : '';
  return { down: false, reason: `${path}${typeof errno === 'string' ? `${errno}: ` : ''}${error.message}` };
}

/** The operation without the root fields of these response keys, and without what only they used. */
function withoutRootFields(document: DocumentNode, keys: ReadonlySet<string>): DocumentNode {
  const kept = document.definitions.map((d) =>
    d.kind === Kind.OPERATION_DEFINITION
      ? { ...d, selectionSet: { ...d.selectionSet, selections: d.selectionSet.selections.filter((s) => s.kind !== Kind.FIELD || !keys.has((s.alias ?? s.name).value)) } }
      : d,
  );
  // Fragments and variables only the removed fields used would fail validation (NoUnused*).
  const fragments = new Map(kept.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((f) => [f.name.value, f]));
  const usedFragments = new Set<string>();
  const usedVariables = new Set<string>();
  const walk = (node: ASTNode) =>
    visit(node, {
      VariableDefinition: () => false,
      Variable: (v) => void usedVariables.add(v.name.value),
      FragmentSpread: (s) => {
        if (usedFragments.has(s.name.value)) return;
        usedFragments.add(s.name.value);
        const f = fragments.get(s.name.value);
        if (f) walk(f);
      },
    });
  for (const d of kept) if (d.kind === Kind.OPERATION_DEFINITION) walk(d);
  return {
    ...document,
    definitions: kept
      .filter((d) => d.kind !== Kind.FRAGMENT_DEFINITION || usedFragments.has(d.name.value))
      .map((d) => (d.kind === Kind.OPERATION_DEFINITION ? { ...d, variableDefinitions: d.variableDefinitions?.filter((v) => usedVariables.has(v.variable.name.value)) } : d)),
  };
}

/**
 * Keeps one failing root field from blanking a host's whole batch. The batch is one operation;
 * an error in a non-null root field (`object(id:)` of an unknown id: ENOENT) makes its `data`
 * null, the siblings' answers included (GraphQL's null propagation). Then the operation is sent
 * again without the failed fields, until an answer has data (at most once per root field), and
 * the failed fields are null beside their errors in the result the batch splits.
 */
function isolatingRootErrors(execute: (request: ExecutionRequest) => Promise<ExecutionResult>, timeoutMs: number) {
  return async (request: ExecutionRequest): Promise<ExecutionResult> => {
    let document = request.document;
    const failed = new Set<string>();
    const errors: GraphQLError[] = [];
    // The host's timeout bounds the whole call, the second asks included.
    const deadline = AbortSignal.timeout(timeoutMs);
    const signal = request.signal ? AbortSignal.any([request.signal, deadline]) : deadline;
    for (;;) {
      const result = await execute({ ...request, document, signal });
      const located = (result.errors ?? []).filter((e) => typeof e.path?.[0] === 'string');
      // Data, or an error of the whole request (no path: unreachable, refused, invalid): done.
      if (result.data !== null || located.length === 0 || located.length !== result.errors?.length) {
        if (failed.size === 0) return result;
        const data = result.data == null ? result.data : { ...result.data, ...Object.fromEntries([...failed].map((k) => [k, null])) };
        return { ...result, data, errors: [...errors, ...(result.errors ?? [])] };
      }
      for (const e of located) failed.add(e.path![0] as string);
      errors.push(...located);
      document = withoutRootFields(document, failed);
      const left = document.definitions.some((d) => d.kind === Kind.OPERATION_DEFINITION && d.selectionSet.selections.length > 0);
      if (!left) return { data: null, errors };
    }
  };
}

/** The probe when a query asks a host for nothing but `up`/`error`. */
const PROBE: DocumentNode = parse('query FleetProbe { __typename }');

/**
 * The service's schema as a host serves it (no resolvers: it is only the remote side's shape).
 * Built by @graphql-tools/schema rather than graphql's buildASTSchema here, so that the schema's
 * classes come from the same graphql module the tools and Mercurius use (graphql 16 ships CJS and
 * ESM builds; a bundler-resolved import here could load the other one).
 */
export function hostSchema(typeDefs: string): GraphQLSchema {
  return makeExecutableSchema({ typeDefs });
}

export type OutcomeListener = (context: object, host: FleetHost, outcome: HostOutcome) => void;

/** One host: its subschema (executor, batching, the outcome transform) and its per-request outcomes. */
export class FleetMember {
  readonly subschema: Subschema;
  private readonly http: ReturnType<typeof buildHTTPExecutor>;
  private readonly executor: (request: ExecutionRequest) => Promise<ExecutionResult>;
  private readonly outcomes = new WeakMap<object, HostOutcome>();

  constructor(
    readonly host: FleetHost,
    schema: GraphQLSchema,
    private readonly timeoutMs: number,
    private readonly onOutcome: OutcomeListener = () => undefined,
  ) {
    this.http = buildHTTPExecutor({
      endpoint: host.endpoint,
      // The token goes in this header only: never in a URL, a message or a log line.
      headers: host.token === null ? {} : { authorization: `Bearer ${host.token}` },
      timeout: timeoutMs,
      fetch: hostFetch(timeoutMs),
    });
    // Queries only, so the HTTP executor answers one result (never a stream).
    this.executor = isolatingRootErrors(async (request) => (await this.http(request)) as ExecutionResult, timeoutMs);
    const record: Transform = {
      // Runs on each delegated field's share of the host's answer (after the batch is split).
      transformResult: (result, delegationContext) => {
        this.record(delegationContext.context ?? {}, result);
        return { data: result.data ?? null };
      },
    };
    this.subschema = new Subschema({ name: host.name, schema, executor: this.executor as Executor, batch: true, transforms: [record] });
  }

  /** This request's outcome for the host. */
  outcome(context: object): HostOutcome {
    let o = this.outcomes.get(context);
    if (!o) {
      o = { calls: [], up: true, errors: new Set(), reported: false };
      this.outcomes.set(context, o);
    }
    return o;
  }

  private record(context: object, result: ExecutionResult): void {
    const o = this.outcome(context);
    for (const error of result.errors ?? []) {
      const { down, reason } = describe(error, this.timeoutMs);
      if (down) o.up = false;
      o.errors.add(`${this.host.name}: ${reason}`);
    }
  }

  /**
   * Resolves one of the host's Query fields under `Host`: delegates it (with the same arguments
   * and sub-selection) to the host. Never throws: a failure is the host's outcome and null here.
   */
  delegate(fieldName: string, args: Record<string, unknown>, context: object, info: GraphQLResolveInfo): Promise<unknown> {
    const call = (async () => {
      try {
        const value = await delegateToSchema({ schema: this.subschema, operation: OperationTypeNode.QUERY, fieldName, args, context, info });
        if (value instanceof Error) throw value;
        return value ?? null;
      } catch (err) {
        const o = this.outcome(context);
        o.errors.add(`${this.host.name}: ${fieldName}: ${(err as Error).message}`);
        return null;
      }
    })();
    const o = this.outcome(context);
    o.calls.push(call);
    // The outcome is reported (logged) once all calls settle, whether or not `up`/`error` were asked.
    if (o.calls.length === 1) void this.settled(context);
    return call;
  }

  /**
   * The request's outcome once every call to the host has settled. `up` and `error` resolve
   * through it: they wait one microtask first, by which time graphql-js has called every sibling
   * field's resolver (it calls an object's field resolvers synchronously) and so registered every
   * delegation; with none (only `name`, `up`, `error` asked), a `{ __typename }` probe is sent.
   */
  async settled(context: object): Promise<HostOutcome> {
    await null;
    const o = this.outcome(context);
    if (o.calls.length === 0) o.calls.push(this.probe(context));
    for (let seen = 0; seen < o.calls.length; ) {
      const upTo = o.calls.length;
      await Promise.allSettled(o.calls.slice(seen, upTo));
      seen = upTo;
    }
    if (!o.reported) {
      o.reported = true;
      this.onOutcome(context, this.host, o);
    }
    return o;
  }

  private async probe(context: object): Promise<void> {
    try {
      const result = await this.executor({ document: PROBE, context });
      this.record(context, result);
    } catch (err) {
      const o = this.outcome(context);
      o.up = false;
      o.errors.add(`${this.host.name}: ${(err as Error).message}`);
    }
  }

  /** Aborts the host's requests in flight (the gateway is closing). */
  async dispose(): Promise<void> {
    const dispose = (this.http as unknown as Record<symbol, (() => unknown) | undefined>)[Symbol.asyncDispose];
    if (typeof dispose === 'function') await dispose.call(this.http);
  }
}

/**
 * Every REST write (POST, PUT, PATCH, DELETE) runs in a write scope (src/domain/write-scope.ts):
 * who asked (the token's name, "anonymous" without API_TOKENS), the method, the route pattern and
 * the request id — the Store records them as the write's audit entry, in the write's transaction.
 *
 * And the Idempotency-Key header (IETF draft-ietf-httpapi-idempotency-key-header):
 * - the first request with a key runs; its answer (status and body) is stored under the key, per
 *   caller, in the SAME SQLite transaction as the write it answers: the route's reply is built
 *   inside the transaction by the route's entry in `REPLIES` below (against the transaction's
 *   view, before anything is committed), so a crash finds both or neither. That stored answer is
 *   what the request gets, the first time and on every retry (`Idempotent-Replayed: true`);
 * - a retry with the same key and the same request (method, path with query, body: the
 *   fingerprint) gets the stored answer and changes nothing;
 * - the same key with another request: 422 EIDEMPOTENCY_MISMATCH; a retry while the first is
 *   still being processed (its handler has not finished): 409 EIDEMPOTENCY_BUSY, Retry-After: 1;
 * - an answer no write of its own carries — an error (4xx: the draft's "success or an error"), or
 *   a request that wrote nothing, such as an invalidation, whose effects on the SMMU model are not
 *   persistent anyway — is stored in a transaction of its own before it is sent. 5xx answers are
 *   not stored (the service failed, not the request): the key stays free and a retry runs again;
 * - keys expire after IDEMPOTENCY_TTL (an expired key is free again; expired answers are purged
 *   in the background).
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteHandlerMethod } from 'fastify';
import fp from 'fastify-plugin';
import { IommufdError } from '../../domain/errors.js';
import type { HwQueueRec } from '../../domain/objects/index.js';
import { objectView as describeObject } from '../../domain/object-table.js';
import type { Reader } from '../../domain/reader.js';
import type { Iommufd } from '../../domain/service.js';
import { idempotencyKeyOf, type ContextRec, type DeviceRec, type EventRec, type EventqType, type MappingRec, type ObjectRec, type SmmuRec } from '../../domain/types.js';
import { runInWriteScope, type AnswerShaper, type IdempotentRequest, type ShapedAnswer, type WriteOrigin } from '../../domain/write-scope.js';
import type { QueueRunResult } from '../../domain/hwqueue.js';
import { addr64, contextView, deviceView, eventView, hostConfigView, mappingView, smmuView, translateView } from '../views.js';

const WRITE_METHODS: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

declare module 'fastify' {
  interface FastifyRequest {
    /** The request's Idempotency-Key, once accepted (preValidation below); null without one. */
    idempotency: Reservation | null;
  }
}

/** A key being processed: held by the handler until it finishes and by the response until sent. */
interface Reservation {
  request: IdempotentRequest;
  scoped: string;
  holds: number;
  responseHeld: boolean;
  answered: boolean;
}

/** An answer stored under a key (what a retry gets). */
type StoredAnswer = NonNullable<ReturnType<Iommufd['storedAnswer']>>;

// ---- the route's reply, built inside the write's transaction ----

type Shape<R> = (result: R, r: Reader, service: Iommufd) => unknown;
const created =
  <R>(view: Shape<R>) =>
  (service: Iommufd): AnswerShaper =>
  (result, r) => ({ status: 201, body: view(result as R, r, service) });
const ok =
  <R>(view: Shape<R>) =>
  (service: Iommufd): AnswerShaper =>
  (result, r) => ({ status: 200, body: view(result as R, r, service) });
const noContent = (): AnswerShaper => (): ShapedAnswer => ({ status: 204, body: null });
const object: Shape<ObjectRec> = (o, r) => describeObject(r, o);
const same: Shape<unknown> = (result) => result;
/** views.ts deviceDetailView, against the transaction. */
const deviceDetail: Shape<DeviceRec> = (d, r, service) => ({ ...deviceView(d), host: hostConfigView(service.hardware.deriveHost(d, r)) });

/**
 * What each REST write route answers, as a function of its write's result: the same views the
 * route sends (src/routes/rest/*.ts), so the answer stored with the write is the route's reply.
 * A write route missing here still honours Idempotency-Key, but its answer is stored after the
 * reply, in a transaction of its own (test/hardening/idempotency.test.ts checks every route).
 * The three invalidation routes are not here on purpose: they write nothing to the database.
 */
export const REPLIES: Readonly<Record<string, (service: Iommufd) => AnswerShaper>> = {
  'POST /v1/smmus': created<SmmuRec>((s) => smmuView(s)),
  'DELETE /v1/smmus/:id': noContent,
  'POST /v1/devices': created<DeviceRec>((d) => deviceView(d)),
  'DELETE /v1/devices/:id': noContent,
  'POST /v1/contexts': created<ContextRec>((c) => contextView(c)),
  'DELETE /v1/contexts/:id': ok(same),
  'POST /v1/contexts/:id/devices': created<DeviceRec>((d) => deviceView(d)),
  'DELETE /v1/contexts/:id/devices/:deviceId': ok(same),
  'DELETE /v1/objects/:id': noContent,
  'POST /v1/ioas': created(object),
  'POST /v1/ioas/:id/mappings': created<MappingRec>((m) => mappingView(m)),
  'DELETE /v1/ioas/:id/mappings': ok<{ unmapped: bigint }>((out) => ({ unmapped: addr64(out.unmapped) })),
  'PUT /v1/ioas/:id/memory': ok<{ iova: bigint; length: number }>((w) => ({ iova: addr64(w.iova), length: w.length })),
  'POST /v1/hwpts': created(object),
  'PUT /v1/devices/:id/attachment': ok(deviceDetail),
  'DELETE /v1/devices/:id/attachment': ok(deviceDetail),
  'PUT /v1/devices/:id/pasids/:pasid/attachment': ok(deviceDetail),
  'DELETE /v1/devices/:id/pasids/:pasid/attachment': ok(deviceDetail),
  'POST /v1/viommus': created(object),
  'POST /v1/vdevices': created(object),
  'POST /v1/devices/:id/translate': ok<Parameters<typeof translateView>[0]>((out) => translateView(out)),
  'POST /v1/hw-queues': created(object),
  'PATCH /v1/hw-queues/:id': ok<{ queue: HwQueueRec; run: QueueRunResult }>(({ queue, run }, r) => ({ ...describeObject(r, queue), run })),
  'POST /v1/hw-queues/:id/commands': ok(same),
  'POST /v1/hw-queues/:id/error/ack': ok(same),
  'POST /v1/eventqs': created(object),
  'POST /v1/eventqs/:id/read': ok<{ type: EventqType; records: EventRec[] }>(({ type, records }) => ({ records: records.map((e) => eventView(e, type)) })),
  'POST /v1/viommus/:id/events': created<{ type: EventqType; record: EventRec }>(({ type, record }) => eventView(record, type)),
};

// ---- the header and the fingerprint ----

const MAX_KEY_LENGTH = 255;

/**
 * The key: the draft's sf-string (`"…"`, with `\"` and `\\` escapes), or, as many clients send
 * it, the bare value; 1 to 255 printable ASCII characters.
 */
export function parseIdempotencyKey(header: string | string[]): string {
  if (Array.isArray(header)) throw invalidKey('send one Idempotency-Key header');
  const raw = header.trim();
  let key = raw;
  if (raw.startsWith('"')) {
    const m = /^"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"$/.exec(raw);
    if (!m) throw invalidKey('Idempotency-Key is not a valid structured-field string');
    key = m[1].replace(/\\(["\\])/g, '$1');
  } else if (!/^[\x21-\x7e]+$/.test(raw)) {
    throw invalidKey('Idempotency-Key must be printable ASCII');
  }
  if (key.length === 0 || key.length > MAX_KEY_LENGTH) throw invalidKey(`Idempotency-Key must be 1 to ${MAX_KEY_LENGTH} characters`);
  return key;
}

const invalidKey = (detail: string) => new IommufdError('EINVAL', detail, { errors: [{ path: 'headers/idempotency-key', message: detail }] });

/** JSON with sorted keys: the same body in another key order is the same request. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v) && !Buffer.isBuffer(v)) {
      return Object.fromEntries(Object.keys(v).sort().map((k) => [k, (v as Record<string, unknown>)[k]]));
    }
    return v;
  });
}

/** The request's fingerprint: method, path with query, and body (raw bytes, or canonical JSON). */
export function fingerprintOf(request: Pick<FastifyRequest, 'method' | 'url' | 'body'>): string {
  const h = createHash('sha256').update(`${request.method} ${request.url}\n`);
  const body = request.body;
  if (Buffer.isBuffer(body)) h.update('bytes\n').update(body);
  else if (body !== undefined && body !== null) h.update('json\n').update(canonical(body));
  return h.digest('hex');
}

// ---- the write scope ----

/** Who, what: the audit origin of a REST request's writes. */
export function originOf(request: FastifyRequest, operation: string | null = null): WriteOrigin {
  return {
    requestId: String(request.id),
    actor: request.tokenName ?? 'anonymous',
    method: request.method,
    route: request.routeOptions.url ?? request.url.split('?')[0],
    path: request.url.split('?')[0],
    operation,
  };
}

/** A GraphQL resolver's writes: the mutation's field name is the operation (audit). */
export function inGraphqlWriteScope<T>(request: FastifyRequest | undefined, info: { fieldName: string; operation?: { operation: string } } | undefined, fn: () => T): T {
  if (!request || info?.operation?.operation !== 'mutation') return fn();
  return runInWriteScope({ origin: { ...originOf(request, info.fieldName), method: 'POST', route: '/graphql' }, idempotency: null }, fn);
}

// ---- counters, per service (tests, and a sanity check of REPLIES) ----

export interface IdempotencyStats {
  /** Answers replayed to a retry. */
  replayed: number;
  /** Answers stored with their write, in its transaction. */
  storedWithWrite: number;
  /** Answers stored alone (errors, requests that wrote nothing). */
  storedAlone: number;
  /** First answers whose stored form differed from what the route built after the commit. */
  divergent: number;
}
const statsByService = new WeakMap<Iommufd, IdempotencyStats>();
export function idempotencyStats(service: Iommufd): IdempotencyStats {
  let s = statsByService.get(service);
  if (!s) {
    s = { replayed: 0, storedWithWrite: 0, storedAlone: 0, divergent: 0 };
    statsByService.set(service, s);
  }
  return s;
}

// ---- the plugin (registered inside the REST API's scope: src/routes/rest/index.ts) ----

export const idempotencyPlugin = fp(
  async (app: FastifyInstance) => {
    const service = app.iommufd;
    const ttlMs = service.options.idempotencyTtlMs ?? 24 * 3_600_000;
    const stats = idempotencyStats(service);
    const inFlight = new Map<string, Reservation>();
    const release = (r: Reservation): void => {
      if (--r.holds <= 0 && inFlight.get(r.scoped) === r) inFlight.delete(r.scoped);
    };
    const releaseResponse = (r: Reservation | null): void => {
      if (!r || !r.responseHeld) return;
      r.responseHeld = false;
      release(r);
    };
    app.decorateRequest('idempotency', null);

    // Every write handler runs in its write scope; a key's reservation is held until it returns
    // (a reply sent early, as on a handler timeout, does not free the key while the write runs).
    app.addHook('onRoute', (route) => {
      const methods = Array.isArray(route.method) ? route.method : [route.method];
      if (!methods.some((m) => WRITE_METHODS.has(m))) return;
      const handler = route.handler as RouteHandlerMethod;
      route.handler = function scopedHandler(this: FastifyInstance, request: FastifyRequest, reply: FastifyReply) {
        const reservation = request.idempotency;
        if (reservation) reservation.holds++;
        const done = () => {
          if (reservation) release(reservation);
        };
        let out: unknown;
        try {
          out = runInWriteScope({ origin: originOf(request), idempotency: reservation?.request ?? null }, () => handler.call(this, request, reply));
        } catch (err) {
          done();
          throw err;
        }
        Promise.resolve(out).then(done, done);
        return out;
      } as RouteHandlerMethod;
    });

    // The hooks below run on every request of the REST scope, reads included (the /v1 404 and 405
    // answers too: a keyed write to a path nothing serves stores its problem like any 4xx), so
    // they are callback style and return at once when there is nothing to do: an async hook costs
    // a promise and a microtask hop per request, three of them on every GET before (issue 13).
    app.addHook('preValidation', (request, reply, done) => {
      if (!WRITE_METHODS.has(request.method)) return done();
      const header = request.headers['idempotency-key'];
      if (header === undefined) return done();
      let replay: StoredAnswer | null;
      try {
        replay = reserve(request, reply, header);
      } catch (err) {
        return done(err as Error);
      }
      if (replay === null) return done();
      // Answered from the hook: `done` is not called (Fastify's callback-style early reply).
      reply.header('idempotent-replayed', 'true').code(replay.status);
      if (replay.contentType) reply.type(replay.contentType);
      reply.send(replay.body ?? undefined);
    });

    /** Reserves the request's key; the stored answer when the request is a retry (nothing reserved). */
    const reserve = (request: FastifyRequest, reply: FastifyReply, header: string | string[]): StoredAnswer | null => {
      const key = parseIdempotencyKey(header);
      const caller = request.tokenName ?? 'anonymous';
      const scoped = idempotencyKeyOf(caller, key);
      const fingerprint = fingerprintOf(request);
      const path = request.url;
      if (inFlight.has(scoped)) {
        reply.header('retry-after', '1');
        throw new IommufdError('EIDEMPOTENCY_BUSY', `a request with Idempotency-Key "${key}" is still being processed: retry later`, {
          title: 'Idempotency key in use',
        });
      }
      const stored = service.storedAnswer(caller, key);
      if (stored) {
        if (stored.fingerprint !== fingerprint) {
          throw new IommufdError(
            'EIDEMPOTENCY_MISMATCH',
            `Idempotency-Key "${key}" was used for another request (${stored.method} ${stored.path}${stored.method === request.method && stored.path === path ? ' with another body' : ''}): use a new key for a new request`,
            { title: 'Idempotency key reused' },
          );
        }
        stats.replayed++;
        return stored;
      }
      const reservation: Reservation = {
        request: { caller, key, fingerprint, method: request.method, path, ttlMs, shape: REPLIES[`${request.method} ${request.routeOptions.url}`]?.(service) ?? null, stored: null },
        scoped,
        holds: 1,
        responseHeld: true,
        answered: false,
      };
      inFlight.set(scoped, reservation);
      request.idempotency = reservation;
      return null;
    };

    app.addHook('onSend', (request, reply, payload, done) => {
      const reservation = request.idempotency;
      if (!reservation || reservation.answered) return done(null, payload);
      reservation.answered = true;
      const stored = reservation.request.stored;
      if (stored) {
        // Committed with the write: that is the answer, now and on every retry.
        stats.storedWithWrite++;
        const live = typeof payload === 'string' && payload !== '' ? payload : null;
        if (reply.statusCode !== stored.status || live !== stored.body) {
          stats.divergent++;
          request.log.warn({ route: request.routeOptions.url, status: reply.statusCode, storedStatus: stored.status }, 'idempotent answer differs from the reply built after the commit; the stored one is sent');
        }
        reply.code(stored.status);
        if (stored.contentType) reply.type(stored.contentType);
        return done(null, stored.body ?? '');
      }
      if (reply.statusCode >= 500) return done(null, payload);
      if (payload !== undefined && payload !== null && typeof payload !== 'string') return done(null, payload);
      const body = payload === undefined || payload === null || payload === '' ? null : payload;
      const type = reply.getHeader('content-type');
      const storing = (async () => service.storeAnswer(reservation.request, { status: reply.statusCode, body, contentType: body === null || type === undefined ? null : String(type) }))();
      storing.then(
        (answer) => {
          reservation.request.stored = answer;
          stats.storedAlone++;
          done(null, payload);
        },
        (err: unknown) => {
          // The answer goes out unstored: a retry runs the request again (it wrote nothing).
          request.log.error({ err }, 'could not store the idempotent answer');
          done(null, payload);
        },
      );
    });

    app.addHook('onResponse', (request, _reply, done) => {
      releaseResponse(request.idempotency);
      done();
    });
    app.addHook('onRequestAbort', (request, done) => {
      releaseResponse(request.idempotency);
      done();
    });

    // Expired answers are purged in the background (an expired key is free again before that).
    const timer = setInterval(() => {
      if (service.store.closing) return;
      service.purgeExpiredAnswers().catch((err) => app.log.warn({ err }, 'could not purge expired idempotency keys'));
    }, Math.min(ttlMs, 10 * 60_000));
    timer.unref();
    app.addHook('onClose', async () => clearInterval(timer));
  },
  { name: 'idempotency' },
);

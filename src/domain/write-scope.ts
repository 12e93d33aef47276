/**
 * Who a write is made for, carried from the request to the Store without threading it through
 * every service method: the API layer runs a request's handler inside `runInWriteScope`, and
 * `Store.write` picks the scope up where it is called. The Store then records, in the same
 * transaction as the write itself, the audit entry (who, what, when) and, for a request made with
 * an Idempotency-Key, the answer the request gets.
 *
 * The scope lasts for the synchronous part of the handler only — a plain variable, not
 * AsyncLocalStorage: on Node 20 AsyncLocalStorage turns on promise hooks for every promise of the
 * process, which cost 6–8 % of the CPU of an invalidation request (bench/RESULTS.md). It is
 * enough because every service method stages its write (calls `Store.write`) before its first
 * `await`: `Store.write` takes the scope at call time. A write that comes later, without a scope,
 * is refused by the Store (`WriteOutsideScopeError`, an internal error), so a method that breaks
 * the rule fails its tests instead of writing an unattributed change.
 */
import type { IdempotencyRec, WriteOrigin } from './types.js';
import type { Reader } from './reader.js';

export type { WriteOrigin } from './types.js';

/** The answer a request gets: status and JSON body (null: empty, as for 204). */
export interface ShapedAnswer {
  status: number;
  body: unknown;
}

/**
 * Turns the write's result into the request's answer, against the transaction (it sees the
 * write's own changes, not yet committed): the route's reply, built inside the transaction.
 */
export type AnswerShaper = (result: unknown, r: Reader) => ShapedAnswer;

/** A request made with an Idempotency-Key (the API layer fills it in; the Store completes it). */
export interface IdempotentRequest {
  caller: string;
  key: string;
  fingerprint: string;
  method: string;
  path: string;
  /** How long the answer is kept. */
  ttlMs: number;
  /** The route's reply built from the write's result; null: the answer is stored after the reply. */
  shape: AnswerShaper | null;
  /** The answer committed with the request's write (set by the Store once committed). */
  stored: IdempotencyRec | null;
}

export interface WriteScope {
  origin: WriteOrigin;
  idempotency: IdempotentRequest | null;
}

let current: WriteScope | null = null;

/** Runs `fn` with `scope` as the scope of the writes it starts before its first `await`. */
export function runInWriteScope<T>(scope: WriteScope, fn: () => T): T {
  const outer = current;
  current = scope;
  try {
    return fn();
  } finally {
    current = outer;
  }
}

/** The scope of the code running now, or null (outside every request and system write). */
export function currentWriteScope(): WriteScope | null {
  return current;
}

/** A write started outside every write scope: a service method awaited before staging it. */
export class WriteOutsideScopeError extends Error {
  constructor() {
    super('Store.write called outside a write scope: stage the write before the first await, or pass a scope');
    this.name = 'WriteOutsideScopeError';
  }
}

/** The scope of the service's own writes (the topology loaded at start, housekeeping). */
export function systemScope(operation: string): WriteScope {
  return { origin: { requestId: null, actor: 'system', method: null, route: 'service', path: null, operation }, idempotency: null };
}

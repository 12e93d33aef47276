/**
 * The audit trail and the stored answers of idempotent requests: both are rows written by the
 * Store in the same transaction as the write they describe (store.ts), derived here.
 *
 * Audit: every accepted write that changed the iommufd state gets one entry — who (the token's
 * name), what (method, route, the SMMUs, devices, contexts and objects it created, changed and
 * destroyed, from the transaction's staged changes), when, and the request id. The newest
 * `auditRetention` entries are kept; older ones are deleted by the commit that goes over.
 */
import { fail } from './errors.js';
import type { StagedChange, TxBase } from './graph.js';
import type { ObjectRec } from './objects/index.js';
import type { Reader } from './reader.js';
import { STATE_TABLES, idempotencyKeyOf, type AuditRec, type DeviceRec, type IdempotencyRec, type MappingRec, type EventRec } from './types.js';
import type { IdempotentRequest, WriteOrigin } from './write-scope.js';

export const DEFAULT_AUDIT_RETENTION = 10_000;
export const DEFAULT_IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;

const ascending = (ids: Iterable<number>): number[] => [...new Set(ids)].sort((a, b) => a - b);

/**
 * The audit entry of one write from its staged changes (`base`: the state before it), or null
 * when the write changed nothing of the iommufd state (a read of an empty vEVENTQ, an unmap of
 * nothing, an answer stored alone).
 */
export function auditEntryOf(seq: number, at: Date, origin: WriteOrigin, changes: readonly StagedChange[], base: TxBase): AuditRec | null {
  const state = changes.filter((c) => STATE_TABLES.has(c.table));
  if (state.length === 0) return null;
  const created = new Set<number>();
  const destroyed = new Set<number>();
  const changed = new Set<number>();
  const contexts = new Set<number>();
  const objects = new Map<string, ObjectRec | null>();
  for (const c of state) if (c.table === 'objects') objects.set(c.key, c.record as ObjectRec | null);
  const objectContext = (id: number): void => {
    const o = objects.get(String(id)) ?? (base.get('objects', String(id)) as ObjectRec | undefined);
    if (o) contexts.add(o.contextId);
  };
  for (const c of state) {
    switch (c.table) {
      case 'smmus':
      case 'devices':
      case 'contexts':
      case 'objects': {
        const id = Number(c.key);
        if (c.record === null) destroyed.add(id);
        else if (c.created) created.add(id);
        else changed.add(id);
        const before = c.record === null || !c.created ? base.get(c.table, c.key) : undefined;
        if (c.table === 'contexts') contexts.add(id);
        if (c.table === 'objects') {
          for (const o of [c.record, before] as Array<ObjectRec | null | undefined>) if (o) contexts.add(o.contextId);
        }
        if (c.table === 'devices') {
          for (const d of [c.record, before] as Array<DeviceRec | null | undefined>) if (d && d.contextId !== null) contexts.add(d.contextId);
        }
        break;
      }
      case 'mappings': {
        const ioasId = c.record ? (c.record as MappingRec).ioasId : Number(c.key.split(':')[0]);
        changed.add(ioasId);
        objectContext(ioasId);
        break;
      }
      case 'events': {
        const eventqId = c.record ? (c.record as EventRec).eventqId : Number(c.key.split(':')[0]);
        changed.add(eventqId);
        objectContext(eventqId);
        break;
      }
      default:
        // Guest pages belong to host memory, not to one object: the route and path say which IOAS.
        break;
    }
  }
  // An IOAS created or destroyed with its mappings is reported once, as created or destroyed.
  for (const id of [...created, ...destroyed]) changed.delete(id);
  return {
    seq,
    at,
    requestId: origin.requestId,
    actor: origin.actor,
    method: origin.method,
    route: origin.route,
    path: origin.path,
    operation: origin.operation,
    contextIds: ascending(contexts),
    created: ascending(created),
    changed: ascending(changed),
    destroyed: ascending(destroyed),
  };
}

export interface AuditQuery {
  limit?: number;
  cursor?: string;
  contextId?: number;
  objectId?: number;
  /** The token's name ("anonymous", "system"). */
  token?: string;
}

/** GET /v1/audit: oldest first by `seq`, the cursor is the last `seq` returned (api.md "Lists"). */
export function listAudit(r: Reader, q: AuditQuery): { items: AuditRec[]; nextCursor: string | null } {
  const limit = q.limit ?? 100;
  const after = q.cursor ? Number(q.cursor) : 0;
  if (!Number.isSafeInteger(after) || after < 0) fail('EINVAL', 'cursor is not one this service returned');
  const items: AuditRec[] = [];
  let more = false;
  const matches = (a: AuditRec): boolean =>
    a.seq > after &&
    (q.contextId === undefined || a.contextIds.includes(q.contextId)) &&
    (q.token === undefined || a.actor === q.token) &&
    (q.objectId === undefined || a.created.includes(q.objectId) || a.changed.includes(q.objectId) || a.destroyed.includes(q.objectId));
  // The table is kept in commit order, which is `seq` order.
  for (const a of r.values('audit') as Iterable<AuditRec>) {
    if (!matches(a)) continue;
    if (items.length === limit) {
      more = true;
      break;
    }
    items.push(a);
  }
  return { items, nextCursor: more ? String(items[items.length - 1].seq) : null };
}

/** The stored answer of `key` for `caller`, unless it has expired (an expired key is free again). */
export function storedAnswer(r: Reader, caller: string, key: string, now: Date): IdempotencyRec | null {
  const rec = r.get('idempotency', idempotencyKeyOf(caller, key)) as IdempotencyRec | undefined;
  return rec && rec.expiresAt.getTime() > now.getTime() ? rec : null;
}

/** The row that stores `answer` for the idempotent request. */
export function answerRecord(req: IdempotentRequest, answer: { status: number; body: string | null; contentType: string | null }, now: Date): IdempotencyRec {
  return {
    caller: req.caller,
    key: req.key,
    fingerprint: req.fingerprint,
    method: req.method,
    path: req.path,
    status: answer.status,
    body: answer.body,
    contentType: answer.contentType,
    createdAt: now,
    expiresAt: new Date(now.getTime() + req.ttlMs),
  };
}

/** Keys whose answers have expired. */
export function expiredKeys(r: Reader, now: Date): string[] {
  const out: string[] = [];
  for (const rec of r.values('idempotency') as Iterable<IdempotencyRec>) {
    if (rec.expiresAt.getTime() <= now.getTime()) out.push(idempotencyKeyOf(rec.caller, rec.key));
  }
  return out;
}

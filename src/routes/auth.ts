/**
 * Bearer tokens with roles (api.md "Operations"): viewer reads (REST GETs, GraphQL queries and
 * subscriptions), operator also writes inside contexts, admin also changes the inventory and
 * injects faults. With API_TOKENS unset the service is open (every caller is admin).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Kind, type DocumentNode, type OperationDefinitionNode } from 'graphql';
import { IommufdError } from '../domain/errors.js';

export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];
const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

declare module 'fastify' {
  interface FastifyRequest {
    role: Role;
  }
}

/** Paths anyone may read: liveness, readiness and the API description. */
const OPEN = new Set(['/healthz', '/readyz', '/openapi.json']);
const ADMIN_MUTATIONS = new Set(['createSmmu', 'deleteSmmu', 'createDevice', 'deleteDevice']);

/** The role a REST request needs. */
export function requiredRole(method: string, path: string): Role | null {
  if (OPEN.has(path)) return null;
  if (method === 'GET' || method === 'HEAD') return 'viewer';
  if (path === '/graphql') return 'viewer'; // refined per operation in the preExecution hook
  if (/^\/v1\/smmus(\/|$)/.test(path)) return 'admin';
  if (method === 'POST' && path === '/v1/devices') return 'admin';
  if (method === 'DELETE' && /^\/v1\/devices\/[^/]+$/.test(path)) return 'admin';
  if (/^\/v1\/viommus\/[^/]+\/events$/.test(path)) return 'admin';
  return 'operator';
}

export function installAuth(app: FastifyInstance, tokens: ReadonlyMap<string, Role> | null): void {
  app.decorateRequest('role', 'admin' as Role);
  if (tokens === null) return;
  app.addHook('onRequest', async (request: FastifyRequest) => {
    const path = request.url.split('?')[0];
    const needed = requiredRole(request.method, path);
    if (needed === null) return;
    const header = request.headers.authorization;
    const token = typeof header === 'string' && header.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
    const role = token === undefined ? undefined : tokens.get(token);
    if (role === undefined) throw new IommufdError('EUNAUTHENTICATED', 'a valid bearer token is required');
    request.role = role;
    if (RANK[role] < RANK[needed]) throw new IommufdError('EPERM', `role ${role} may not ${request.method} ${path} (needs ${needed})`);
  });
}

/** GraphQL: mutations need operator (inventory mutations admin); queries and subscriptions viewer. */
export function graphqlRoleCheck(document: DocumentNode, role: Role): void {
  for (const def of document.definitions) {
    if (def.kind !== Kind.OPERATION_DEFINITION) continue;
    const op = def as OperationDefinitionNode;
    if (op.operation !== 'mutation') continue;
    for (const sel of op.selectionSet.selections) {
      if (sel.kind !== Kind.FIELD) continue;
      const needed: Role = ADMIN_MUTATIONS.has(sel.name.value) ? 'admin' : 'operator';
      if (RANK[role] < RANK[needed]) throw new IommufdError('EPERM', `role ${role} may not run mutation ${sel.name.value} (needs ${needed})`);
    }
  }
}

/** API_TOKENS: "token:role,token:role". */
export function parseTokens(value: string): Map<string, Role> {
  const map = new Map<string, Role>();
  for (const part of value.split(',').map((p) => p.trim()).filter(Boolean)) {
    const i = part.lastIndexOf(':');
    const token = part.slice(0, i);
    const role = part.slice(i + 1) as Role;
    if (i <= 0 || !ROLES.includes(role) || token.length < 8) throw new Error(`"${part.replace(/^(.{3}).*(:.*)$/, '$1…$2')}" is not token:viewer|operator|admin with a token of 8+ characters`);
    map.set(token, role);
  }
  return map;
}

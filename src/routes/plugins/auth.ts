/**
 * Bearer tokens with roles (api.md "Operations"): viewer reads (REST GETs, GraphQL queries and
 * subscriptions), operator also writes inside contexts, admin also changes the inventory and
 * injects faults. With API_TOKENS unset the service is open (every caller is admin).
 *
 * Each route declares the role it needs in its options, `config: { role }` (`roleConfig` below):
 * `null` for the open routes, `'admin'` for the inventory and fault injection. A route that
 * declares nothing needs `viewer` to read (GET, HEAD) and `operator` to write.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { Kind, type DocumentNode, type OperationDefinitionNode } from 'graphql';
import { IommufdError } from '../../domain/errors.js';

export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];
const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

declare module 'fastify' {
  interface FastifyRequest {
    role: Role;
  }
  interface FastifyContextConfig {
    /** The role this route needs; null: open to anyone. Unset: viewer to read, operator to write. */
    role?: Role | null;
  }
}

const ADMIN_MUTATIONS = new Set(['createSmmu', 'deleteSmmu', 'createDevice', 'deleteDevice']);

/** Route options declaring the role a route needs (spread into the route's options). */
export const roleConfig = (role: Role | null) => ({ config: { role } });

/** The role a request needs: what its route declares, else by method. */
export function requiredRole(request: Pick<FastifyRequest, 'method' | 'routeOptions'>): Role | null {
  const declared = request.routeOptions.config?.role;
  if (declared !== undefined) return declared;
  return request.method === 'GET' || request.method === 'HEAD' ? 'viewer' : 'operator';
}

export const authPlugin = fp<{ tokens: ReadonlyMap<string, Role> | null }>(
  async (app, { tokens }) => {
    app.decorateRequest('role', 'admin' as Role);
    if (tokens !== null) installTokenCheck(app, tokens);
  },
  { name: 'auth' },
);

function installTokenCheck(app: FastifyInstance, tokens: ReadonlyMap<string, Role>): void {
  app.addHook('onRequest', async (request: FastifyRequest) => {
    const path = request.url.split('?')[0];
    const needed = requiredRole(request);
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

/**
 * Bearer tokens with roles (api.md "Operations"): viewer reads (REST GETs, GraphQL queries and
 * subscriptions), operator also writes inside contexts, admin also changes the inventory and
 * injects faults. With API_TOKENS unset the service is open (every caller is admin) and listens
 * on loopback only (config.ts).
 *
 * Each route declares the role it needs in its options, `config: { role }` (`roleConfig` below):
 * `null` for the open routes, `'admin'` for the inventory and fault injection. A route that
 * declares nothing needs `viewer` to read (GET, HEAD) and `operator` to write.
 *
 * A token may be limited to contexts (`token:role:3|7`, context ids): `request.contexts` is then
 * that set, and src/routes/plugins/scope.ts makes everything of other contexts ENOENT to it.
 * Tokens are compared in constant time (SHA-256 digests, `timingSafeEqual` against every stored
 * token); the token itself is never kept on the request nor logged (the logger redacts the
 * header: plugins/server-options.ts).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { Kind, type DocumentNode, type OperationDefinitionNode } from 'graphql';
import { IommufdError } from '../../domain/errors.js';

export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];
const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

/** What a token grants: its role, the contexts it is limited to (null: all), and its name. */
export interface TokenGrant {
  role: Role;
  contexts: ReadonlySet<number> | null;
  /** The token's name in logs and the audit trail: never the token, a fingerprint of it. */
  name: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    role: Role;
    /** The contexts the caller may see; null: every context (no token limits it). */
    contexts: ReadonlySet<number> | null;
    /** The name of the caller's token (TokenGrant.name); null without API_TOKENS. */
    tokenName: string | null;
  }
  interface FastifyContextConfig {
    /** The role this route needs; null: open to anyone. Unset: viewer to read, operator to write. */
    role?: Role | null;
  }
}

const ADMIN_MUTATIONS = new Set(['createSmmu', 'deleteSmmu', 'createDevice', 'deleteDevice', 'injectEvent']);

/** Route options declaring the role a route needs (spread into the route's options). */
export const roleConfig = (role: Role | null) => ({ config: { role } });

/** The role a request needs: what its route declares, else by method. */
export function requiredRole(request: Pick<FastifyRequest, 'method' | 'routeOptions'>): Role | null {
  const declared = request.routeOptions.config?.role;
  if (declared !== undefined) return declared;
  return request.method === 'GET' || request.method === 'HEAD' ? 'viewer' : 'operator';
}

export const authPlugin = fp<{ tokens: ReadonlyMap<string, TokenGrant> | null }>(
  async (app, { tokens }) => {
    app.decorateRequest('role', 'admin' as Role);
    app.decorateRequest('contexts', null);
    app.decorateRequest('tokenName', null);
    if (tokens !== null) installTokenCheck(app, tokens);
  },
  { name: 'auth' },
);

const digest = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

/** Finds a token's grant comparing its digest with every stored one, in constant time. */
export function tokenMatcher(tokens: ReadonlyMap<string, TokenGrant>): (presented: string) => TokenGrant | undefined {
  const stored = [...tokens].map(([token, grant]) => ({ digest: digest(token), grant }));
  return (presented) => {
    const d = digest(presented);
    let found: TokenGrant | undefined;
    // No early exit: every stored token is compared whatever matched.
    for (const s of stored) if (timingSafeEqual(d, s.digest)) found = s.grant;
    return found;
  };
}

const BEARER = /^bearer[ \t]+(\S+)[ \t]*$/i;

/** The bearer token of a request's Authorization header, if it carries one (the scheme name is case-insensitive, RFC 9110 §11.1). */
export function bearerToken(request: Pick<FastifyRequest, 'headers'>): string | undefined {
  const header = request.headers.authorization;
  return typeof header === 'string' ? BEARER.exec(header)?.[1] : undefined;
}

/** The challenge a 401 carries (RFC 6750 §3): `invalid_token` when a token was presented. */
export const bearerChallenge = (presented: boolean): string => (presented ? 'Bearer realm="vsmmu-control", error="invalid_token"' : 'Bearer realm="vsmmu-control"');

function installTokenCheck(app: FastifyInstance, tokens: ReadonlyMap<string, TokenGrant>): void {
  const match = tokenMatcher(tokens);
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const needed = requiredRole(request);
    if (needed === null) return;
    const token = bearerToken(request);
    const grant = token === undefined ? undefined : match(token);
    if (grant === undefined) {
      reply.header('www-authenticate', bearerChallenge(request.headers.authorization !== undefined));
      throw new IommufdError('EUNAUTHENTICATED', 'a valid bearer token is required');
    }
    request.role = grant.role;
    request.contexts = grant.contexts;
    request.tokenName = grant.name;
    if (RANK[grant.role] < RANK[needed]) throw new IommufdError('EPERM', `role ${grant.role} may not ${request.method} ${request.url.split('?')[0]} (needs ${needed})`);
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

const CONTEXT_LIST = /^[1-9][0-9]{0,9}(\|[1-9][0-9]{0,9})*$/;
const isRole = (s: string | undefined): s is Role => (ROLES as readonly string[]).includes(s ?? '');

/**
 * API_TOKENS: "token:role,token:role:ctx|ctx". The optional third field limits the token to those
 * contexts (their ids). A token may itself contain ':' (the role is found from the end).
 */
export function parseTokens(value: string): Map<string, TokenGrant> {
  const map = new Map<string, TokenGrant>();
  for (const part of value.split(',').map((p) => p.trim()).filter(Boolean)) {
    const fields = part.split(':');
    let contexts: Set<number> | null = null;
    if (!isRole(fields[fields.length - 1]) && fields.length >= 3 && isRole(fields[fields.length - 2]) && CONTEXT_LIST.test(fields[fields.length - 1])) {
      contexts = new Set(fields.pop()!.split('|').map(Number));
    }
    const role = fields.pop();
    const token = fields.join(':');
    // The message shows the token's first 3 characters only.
    const shown = `"${part.slice(0, 3)}…${isRole(role) ? `:${role}` : ''}"`;
    if (!isRole(role) || token.length < 8) throw new Error(`${shown} is not token:viewer|operator|admin[:ctx|ctx…] with a token of 8+ characters`);
    if (map.has(token)) throw new Error(`${shown}: the same token is listed twice`);
    map.set(token, { role, contexts, name: `${role}-${digest(token).toString('hex').slice(0, 8)}` });
  }
  return map;
}

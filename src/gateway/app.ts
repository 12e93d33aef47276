/**
 * The fleet gateway's app: Fastify + Mercurius (the service's own stack) serving the gateway
 * schema at /graphql, `GET /healthz`, and with API_TOKENS a bearer token on everything else (any
 * role: the gateway only reads). main.ts only listens.
 */
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import mercurius from 'mercurius';
import { typeDefs } from '../routes/graphql/schema.js';
import { bearerToken, tokenMatcher } from '../routes/plugins/auth.js';
import { problemFor, sendProblem } from '../routes/plugins/problem.js';
import { loggerOptions } from '../routes/plugins/server-options.js';
import type { GatewayConfig } from './config.js';
import { FleetMember, hostSchema, type OutcomeListener } from './fleet.js';
import { buildGatewaySchema } from './schema.js';

export interface Gateway {
  app: FastifyInstance;
  members: FleetMember[];
}

export interface GatewayOptions {
  /** Where the log goes (tests read it); stdout by default. */
  logStream?: NodeJS.WritableStream;
}

export async function buildGateway(config: GatewayConfig, opts: GatewayOptions = {}): Promise<Gateway> {
  const base = loggerOptions(config.logLevel);
  const logger: FastifyServerOptions['logger'] = base && opts.logStream ? { ...(base as object), stream: opts.logStream } : base;
  const app = Fastify({ logger });

  // A host's trouble is reported once per query and host: warn when it gave no answer.
  const report: OutcomeListener = (context, host, outcome) => {
    if (outcome.errors.size === 0) return;
    const log = (context as { reply?: { log?: FastifyInstance['log'] } }).reply?.log ?? app.log;
    const entry = { host: host.name, up: outcome.up, error: [...outcome.errors].join('; ') };
    if (outcome.up) log.info(entry, 'fleet host answered with errors');
    else log.warn(entry, 'fleet host gave no answer');
  };
  const remote = hostSchema(typeDefs);
  const members = config.hosts.map((h) => new FleetMember(h, remote, config.timeoutMs, report));
  const schema = buildGatewaySchema(typeDefs, members);

  if (config.apiTokens !== null) {
    const match = tokenMatcher(config.apiTokens);
    app.addHook('onRequest', async (request, reply) => {
      if (request.url === '/healthz') return;
      const token = bearerToken(request);
      if (token === undefined || match(token) === undefined) {
        return sendProblem(reply, problemFor('EUNAUTHENTICATED', 'a valid bearer token is required', String(request.id)));
      }
    });
  }

  app.get('/healthz', async () => ({ status: 'ok' }));
  await app.register(mercurius, { schema, graphiql: false, path: '/graphql' });

  app.addHook('onClose', async () => {
    await Promise.all(members.map((m) => m.dispose()));
  });
  return { app, members };
}

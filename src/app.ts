/**
 * The app factory: opens the database (migrations applied, WAL checked), loads the object graph,
 * and registers the plugins — problem+json errors, auth, the iommufd service, metrics, OpenAPI —
 * then the REST API, GraphQL and the operations endpoints. server.ts only listens.
 */
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Config } from './config.js';
import { Iommufd } from './domain/service.js';
import { openDatabase, type OpenedDatabase } from './storage/database.js';
import { PrismaRepository } from './storage/prisma-repository.js';
import { graphqlApi } from './routes/graphql/index.js';
import { operationsRoutes } from './routes/operations.js';
import { authPlugin } from './routes/plugins/auth.js';
import { iommufdPlugin } from './routes/plugins/iommufd.js';
import { lifecyclePlugin } from './routes/plugins/lifecycle.js';
import { overloadPlugin } from './routes/plugins/overload.js';
import { scopePlugin } from './routes/plugins/scope.js';
import { serverOptions } from './routes/plugins/server-options.js';
import { metricsPlugin } from './routes/plugins/metrics.js';
import { openapiPlugin } from './routes/plugins/openapi.js';
import { problemPlugin } from './routes/plugins/problem.js';
import { queryParametersPlugin } from './routes/plugins/query-params.js';
import { restApi } from './routes/rest/index.js';

export interface App {
  app: FastifyInstance;
  service: Iommufd;
  database: OpenedDatabase;
  repository: PrismaRepository;
  topologyLoaded: boolean;
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

export async function buildApp(config: Config): Promise<App> {
  const database = await openDatabase(config.databaseUrl, { walCheckpoints: config.walCheckpoints });
  const repository = new PrismaRepository(database);
  const { service, topologyLoaded } = await Iommufd.open(repository, config.topology, {
    maxInvalidationEntries: config.maxInvalidationEntries,
    guestMemoryLimit: config.guestMemoryLimit,
    idempotencyTtlMs: config.idempotencyTtlMs,
    auditRetention: config.auditRetention,
  });

  const app = Fastify({
    // Logger (Authorization redacted), timeouts, header limit, problem+json client errors.
    ...serverOptions(config),
    bodyLimit: config.bodyLimit,
    // A caller's well-formed X-Request-Id is kept so logs of both sides line up.
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    requestIdHeader: false,
  });

  // Callback style, as every per-request hook: an async hook costs a promise on every request.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });
  await app.register(problemPlugin);
  // Before every plugin with routes: it adds its check to the routes outside /v1 as they register.
  await app.register(queryParametersPlugin);
  await app.register(lifecyclePlugin, { retryAfterSeconds: config.overload.retryAfterSeconds });
  await app.register(overloadPlugin, { ...config.overload, bodyLimit: config.bodyLimit });
  await app.register(authPlugin, { tokens: config.apiTokens });
  await app.register(iommufdPlugin, { service });
  await app.register(scopePlugin, { tokens: config.apiTokens });
  // Before every plugin with routes: @fastify/swagger collects the routes registered after it.
  await app.register(openapiPlugin);
  await app.register(metricsPlugin, { storage: { transactions: () => repository.commits(), checkpoints: () => database.checkpoints() } });

  await app.register(restApi, { prefix: '/v1', sseHeartbeatMs: config.sseHeartbeatMs });
  await app.register(graphqlApi, { maxCost: config.graphqlMaxCost });
  await app.register(operationsRoutes, { database });

  // Writes queued before the close still commit; the database closes after them.
  app.addHook('onClose', async () => {
    service.store.closing = true;
    await service.store.drain();
    await database.close();
  });

  return { app, service, database, repository, topologyLoaded };
}

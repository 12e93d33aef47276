/**
 * The app factory: opens the database (migrations applied, WAL checked), loads the object graph,
 * and registers the REST API, GraphQL and the operations endpoints. server.ts only listens.
 */
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';
import type { Config } from './config.js';
import { Iommufd } from './domain/service.js';
import { openDatabase, type OpenedDatabase } from './storage/database.js';
import { PrismaRepository } from './storage/prisma-repository.js';
import { restApi } from './routes/rest.js';
import { installAuth } from './routes/auth.js';
import { graphqlApi } from './routes/graphql/index.js';
import { operationsRoutes } from './routes/operations.js';
import { installMetrics } from './routes/metrics.js';
import { problemFor, sendProblem, toProblem } from './routes/problem.js';

export interface App {
  app: FastifyInstance;
  service: Iommufd;
  database: OpenedDatabase;
  repository: PrismaRepository;
  topologyLoaded: boolean;
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

export async function buildApp(config: Config): Promise<App> {
  const database = await openDatabase(config.databaseUrl);
  const repository = new PrismaRepository(database);
  const { service, topologyLoaded } = await Iommufd.open(repository, config.topology, {
    maxInvalidationEntries: config.maxInvalidationEntries,
    guestMemoryLimit: config.guestMemoryLimit,
  });

  const app = Fastify({
    logger: config.logLevel === 'silent' ? false : { level: config.logLevel },
    bodyLimit: config.bodyLimit,
    // A caller's well-formed X-Request-Id is kept so logs of both sides line up.
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    requestIdHeader: false,
  });

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  installAuth(app, config.apiTokens);
  installMetrics(app, service, { transactions: () => repository.commits() });
  // Outside the REST scope (GraphQL, operations) errors take the same shape.
  app.setErrorHandler((error, request, reply) => {
    const body = toProblem(error, request);
    if (body.status >= 500) request.log.error({ err: error }, 'request failed');
    return sendProblem(reply, body);
  });
  app.setNotFoundHandler((request, reply) => sendProblem(reply, problemFor('ENOENT', `no route ${request.method} ${request.url}`, String(request.id))));

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'vsmmu-control', version: '1', description: 'The iommufd vIOMMU object graph over HTTP (api.md)' },
    },
    // Only the REST routes carry zod schemas; GraphQL and the operations routes stay out of it.
    transform: (args) => (args.url.startsWith('/v1') ? jsonSchemaTransform(args) : { schema: { ...args.schema, hide: true }, url: args.url }),
  });
  await app.register(restApi, { prefix: '/v1', service });
  await app.register(graphqlApi, { service, repository });
  await app.register(operationsRoutes, { service, database });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  app.addHook('onClose', async () => {
    service.store.closing = true;
    await service.store.drain();
    await database.close();
  });

  return { app, service, database, repository, topologyLoaded };
}

/**
 * The REST API under /v1. The zod validator and serializer compilers are set inside this
 * plugin's scope only: set on the root instance they would also apply to Mercurius' routes.
 */
import type { FastifyPluginAsync } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Iommufd } from '../domain/service.js';
import { contextRoutes } from './contexts.js';
import { inventoryRoutes } from './inventory.js';
import { objectRoutes } from './objects.js';
import { hardwareRoutes } from './hardware.js';
import { eventRoutes } from './events.js';
import { problemFor, sendProblem, toProblem } from './problem.js';

export const restApi: FastifyPluginAsync<{ service: Iommufd }> = async (app, { service }) => {
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  const zapp = app.withTypeProvider<ZodTypeProvider>();
  // Raw invalidation entries, guest memory: bytes as sent.
  zapp.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  zapp.setErrorHandler((error, request, reply) => {
    const body = toProblem(error, request);
    if (body.status >= 500) request.log.error({ err: error }, 'request failed');
    return sendProblem(reply, body);
  });
  zapp.setNotFoundHandler((request, reply) => sendProblem(reply, problemFor('ENOENT', `no route ${request.method} ${request.url}`, String(request.id))));

  await zapp.register(inventoryRoutes, { service });
  await zapp.register(contextRoutes, { service });
  await zapp.register(objectRoutes, { service });
  await zapp.register(hardwareRoutes, { service });
  await zapp.register(eventRoutes, { service });
};

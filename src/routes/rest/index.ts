/**
 * The REST API under /v1. The zod validator and serializer compilers are set inside this
 * plugin's scope only: set on the root instance they would also apply to Mercurius' routes.
 * Errors reach the app's one error handler (plugins/problem.ts). Every write runs in its write
 * scope and honours Idempotency-Key (plugins/idempotency.ts).
 */
import type { FastifyPluginAsync } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { idempotencyPlugin } from '../plugins/idempotency.js';
import { auditRoutes } from './audit.js';
import { contextRoutes } from './contexts.js';
import { eventRoutes } from './events.js';
import { hardwareRoutes } from './hardware.js';
import { inventoryRoutes } from './inventory.js';
import { objectRoutes } from './objects.js';

export const restApi: FastifyPluginAsync = async (app) => {
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  const zapp = app.withTypeProvider<ZodTypeProvider>();
  // Raw invalidation entries, guest memory: bytes as sent.
  zapp.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  // Before the routes: every write route registered after it runs in its write scope (audit)
  // and honours Idempotency-Key.
  await zapp.register(idempotencyPlugin);
  await zapp.register(inventoryRoutes);
  await zapp.register(contextRoutes);
  await zapp.register(objectRoutes);
  await zapp.register(hardwareRoutes);
  await zapp.register(eventRoutes);
  await zapp.register(auditRoutes);
};

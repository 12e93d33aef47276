/**
 * The REST API under /v1. The zod validator and the serializer compilers are set inside this
 * plugin's scope only: set on the root instance they would also apply to Mercurius' routes.
 * Errors reach the app's one error handler (plugins/problem.ts). Every write runs in its write
 * scope and honours Idempotency-Key (plugins/idempotency.ts).
 */
import type { FastifyPluginAsync, FastifySerializerCompiler } from 'fastify';
import { validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { idempotencyPlugin } from '../plugins/idempotency.js';
import { auditRoutes } from './audit.js';
import { contextRoutes } from './contexts.js';
import { eventRoutes } from './events.js';
import { hardwareRoutes } from './hardware.js';
import { inventoryRoutes } from './inventory.js';
import { objectRoutes } from './objects.js';

/**
 * Replies are serialized with JSON.stringify; their zod response schemas (src/schema/views.ts)
 * are never run. fastify-type-provider-zod's `serializerCompiler` would `safeEncode` every reply
 * through its schema before JSON.stringify — a full zod parse of every answer, on the hot routes
 * (invalidate, translate, queue commands) as on the rest — only to re-check what the views
 * already built. The response schemas are so documentation (/openapi.json) and the tests'
 * contract: test/helper.ts validates every answer against the document (strict by default), and
 * TypeScript checks each handler's return type against its schema's output type.
 *
 * What the zod compiler did for a reply without a schema is kept, as Fastify never calls a
 * compiler for those: they are JSON.stringify'd by Fastify's default serializer, as before. The
 * one difference on schema'd replies: zod's encode dropped fields a schema does not declare; here
 * nothing is dropped, and the tests fail on an undeclared field instead (the schemas are closed).
 */
export const jsonSerializerCompiler: FastifySerializerCompiler<unknown> = () => (data) => JSON.stringify(data);

export const restApi: FastifyPluginAsync = async (app) => {
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(jsonSerializerCompiler);
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

/**
 * The OpenAPI 3.1 document at /openapi.json, generated from the zod schemas of the REST routes
 * (fastify-type-provider-zod's transform); GraphQL and the operations routes stay out of it.
 */
import swagger from '@fastify/swagger';
import fp from 'fastify-plugin';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';
import { roleConfig } from './auth.js';

export const openapiPlugin = fp(
  async (app) => {
    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: { title: 'vsmmu-control', version: '1', description: 'The iommufd vIOMMU object graph over HTTP (api.md)' },
      },
      transform: (args) => (args.url.startsWith('/v1') ? jsonSchemaTransform(args) : { schema: { ...args.schema, hide: true }, url: args.url }),
    });
    app.get('/openapi.json', { schema: { hide: true }, ...roleConfig(null) }, async () => app.swagger());
  },
  { name: 'openapi' },
);

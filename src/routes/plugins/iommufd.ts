/**
 * The iommufd service as the app's decorator `app.iommufd`: routes (REST and GraphQL) reach the
 * domain through it, as fastify/demo's plugins hand services to routes.
 */
import fp from 'fastify-plugin';
import type { Iommufd } from '../../domain/service.js';

declare module 'fastify' {
  interface FastifyInstance {
    iommufd: Iommufd;
  }
}

export const iommufdPlugin = fp<{ service: Iommufd }>(
  async (app, { service }) => {
    app.decorate('iommufd', service);
  },
  { name: 'iommufd' },
);

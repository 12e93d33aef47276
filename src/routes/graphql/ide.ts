/**
 * A GraphQL IDE for people at /altair (Altair GraphQL Client, `altair-fastify-plugin`): its page,
 * scripts, styles and icons come from the `altair-static` npm package and are served by the
 * service itself, so it works on a host without internet (nothing from a CDN), like /docs.
 *
 * Open like /docs (`roleConfig(null)`): a browser loading the page sends no token. The page itself
 * reads nothing; its requests go to /graphql, which keeps its roles (set the bearer token in
 * Altair's headers when API_TOKENS is set). Outside /v1, so not in /openapi.json.
 */
import type { FastifyInstance } from 'fastify';
import { AltairFastify } from 'altair-fastify-plugin';
import { roleConfig } from '../plugins/auth.js';

/** Where the IDE is served; its assets are under `${IDE_PATH}/`. */
export const IDE_PATH = '/altair';

export async function graphqlIde(app: FastifyInstance): Promise<void> {
  // This scope only: the IDE's page and assets are open (plugins/auth.ts `requiredRole`).
  app.addHook('onRoute', (route) => {
    route.config = { ...route.config, ...roleConfig(null).config };
  });
  await app.register(AltairFastify, { path: IDE_PATH, baseURL: `${IDE_PATH}/`, endpointURL: '/graphql' });
}

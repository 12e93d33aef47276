/**
 * A GraphQL IDE for people at /altair (Altair GraphQL Client): its page, scripts, styles and icons
 * come from the `altair-static` npm package and are served by the service itself, so it works on
 * a host without internet (nothing from a CDN), like /docs.
 *
 * What `altair-fastify-plugin` does (its assets through @fastify/static under `/altair/`, the page
 * from `renderAltair`), except that the package is loaded on the first request for the page, not
 * at start: its 530 KB bundle held ~12 MB of a service that nobody may ever open the IDE of
 * (issue 13's resident-memory figures, bench/RESULTS.md). The assets' directory is found without
 * loading it (`altairDist`, the same directory as its `getDistDirectory()`: a test checks).
 *
 * Open like /docs (`roleConfig(null)`): a browser loading the page sends no token. The page itself
 * reads nothing; its requests go to /graphql, which keeps its roles (set the bearer token in
 * Altair's headers when API_TOKENS is set). Outside /v1, so not in /openapi.json.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { roleConfig } from '../plugins/auth.js';

/** Where the IDE is served; its assets are under `${IDE_PATH}/`. */
export const IDE_PATH = '/altair';

/** altair-static's `dist` directory (its entry point's sibling), resolved without loading the package. */
export const altairDist = (): string => path.join(path.dirname(createRequire(import.meta.url).resolve('altair-static')), 'dist');

let page: Promise<string> | undefined;

/** The IDE's page, rendered once, on first use; a failed load is tried again on the next request. */
function idePage(): Promise<string> {
  page ??= import('altair-static')
    .then(({ renderAltair }) => renderAltair({ baseURL: `${IDE_PATH}/`, endpointURL: '/graphql' }))
    .catch((err: unknown) => {
      page = undefined;
      throw err;
    });
  return page;
}

export async function graphqlIde(app: FastifyInstance): Promise<void> {
  // This scope only: the IDE's page and assets are open (plugins/auth.ts `requiredRole`).
  app.addHook('onRoute', (route) => {
    route.config = { ...route.config, ...roleConfig(null).config };
  });
  await app.register(fastifyStatic, { root: altairDist(), prefix: `${IDE_PATH}/` });
  app.get(IDE_PATH, async (_request, reply) => reply.type('text/html').send(await idePage()));
}

/**
 * /healthz (alive), /readyz (database reachable, migrations applied, not shutting down).
 *
 * Both are open (an orchestrator's probes carry no token) and are probes (`probe: true`): exempt
 * from the rate limit and from load shedding (plugins/overload.ts), so they stay fast while the
 * service sheds. /readyz turns 503 ESHUTDOWN as soon as a shutdown begins (plugins/lifecycle.ts).
 */
import type { FastifyPluginAsync } from 'fastify';
import type { OpenedDatabase } from '../storage/database.js';
import { problemFor, sendProblem } from './plugins/problem.js';

/** Open, not rate-limited, never shed. */
const PROBE = { config: { role: null, rateLimit: false, probe: true } } as const;

export const operationsRoutes: FastifyPluginAsync<{ database: OpenedDatabase }> = async (app, { database }) => {
  const service = app.iommufd;
  app.get('/healthz', PROBE, async () => ({ status: 'ok' }));
  app.get('/readyz', PROBE, async (request, reply) => {
    if (app.lifecycle.draining || service.store.closing) {
      reply.header('retry-after', '1');
      return sendProblem(reply, problemFor('ESHUTDOWN', 'shutting down', String(request.id)));
    }
    try {
      // A prepared statement on the connection (storage/database.ts): a Prisma query here would
      // load Prisma's query compiler (~41 MB of RSS) for this probe alone.
      return { status: 'ready', migrations: database.finishedMigrations(), journalMode: database.journalMode };
    } catch {
      return sendProblem(reply, { ...problemFor('EIO', 'database unreachable', String(request.id)), status: 503 });
    }
  });
};

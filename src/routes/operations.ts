/** /healthz (alive), /readyz (database reachable, migrations applied, not shutting down). */
import type { FastifyPluginAsync } from 'fastify';
import type { OpenedDatabase } from '../storage/database.js';
import { roleConfig } from './plugins/auth.js';
import { problemFor, sendProblem } from './plugins/problem.js';

export const operationsRoutes: FastifyPluginAsync<{ database: OpenedDatabase }> = async (app, { database }) => {
  const service = app.iommufd;
  // Probes are open: an orchestrator's liveness and readiness checks carry no token.
  app.get('/healthz', roleConfig(null), async () => ({ status: 'ok' }));
  app.get('/readyz', roleConfig(null), async (request, reply) => {
    if (service.store.closing) return sendProblem(reply, problemFor('EBUSY', 'shutting down', String(request.id)));
    try {
      const rows = await database.db.$queryRawUnsafe<Array<{ n: bigint }>>('SELECT COUNT(*) AS n FROM _prisma_migrations WHERE finished_at IS NOT NULL');
      return { status: 'ready', migrations: Number(rows[0]?.n ?? 0), journalMode: database.journalMode };
    } catch {
      return sendProblem(reply, { ...problemFor('EIO', 'database unreachable', String(request.id)), status: 503 });
    }
  });
};

/** /healthz (alive), /readyz (database reachable, migrations applied, not shutting down). */
import type { FastifyPluginAsync } from 'fastify';
import type { Iommufd } from '../domain/service.js';
import type { OpenedDatabase } from '../storage/database.js';
import { problemFor, sendProblem } from './problem.js';

export const operationsRoutes: FastifyPluginAsync<{ service: Iommufd; database: OpenedDatabase }> = async (app, { service, database }) => {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (request, reply) => {
    if (service.store.closing) return sendProblem(reply, problemFor('EBUSY', 'shutting down', String(request.id)));
    try {
      const rows = await database.db.$queryRawUnsafe<Array<{ n: bigint }>>('SELECT COUNT(*) AS n FROM _prisma_migrations WHERE finished_at IS NOT NULL');
      return { status: 'ready', migrations: Number(rows[0]?.n ?? 0), journalMode: database.journalMode };
    } catch {
      return sendProblem(reply, { ...problemFor('EIO', 'database unreachable', String(request.id)), status: 503 });
    }
  });
};

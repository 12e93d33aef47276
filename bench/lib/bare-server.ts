/**
 * The baseline of read_vs_bare and create_vs_bare: a bare Fastify 5 server (no plugins, no hooks,
 * no logger), in its own process as the service is, with
 *   GET  /bare/viommu → the JSON of BARE_VIOMMU (the service's own answer for the vIOMMU);
 *   POST /bare/ioas   → parses the JSON body (Fastify's default parser, as the service's route
 *                       gets it) and answers 201 with BARE_IOAS's shape, a new id each time.
 * Prints `listening <port>` on stdout once it listens on 127.0.0.1.
 */
import Fastify from 'fastify';

const viommu = JSON.parse(process.env.BARE_VIOMMU ?? '{}');
const ioas = JSON.parse(process.env.BARE_IOAS ?? '{}');
let nextId = 1_000_000;

const app = Fastify({ logger: false });
app.get('/bare/viommu', async () => viommu);
app.post('/bare/ioas', async (request, reply) => {
  const body = request.body as { contextId: number };
  reply.code(201);
  return { ...ioas, id: nextId++, contextId: body.contextId };
});
await app.listen({ port: 0, host: '127.0.0.1' });
process.stdout.write(`listening ${(app.server.address() as { port: number }).port}\n`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));

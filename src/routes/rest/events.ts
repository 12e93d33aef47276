/** Guest memory through an IOAS, vEVENTQs (read, SSE stream) and admin event injection. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { IommufdError } from '../../domain/errors.js';
import { idParams, scopedListQueryShape } from '../../schema/common.js';
import { allocEventqBody, injectEventBody, lastEventIdHeader, memoryQuery, readEventqBody } from '../../schema/events.js';
import { roleConfig } from '../plugins/auth.js';
import { addr64 } from '../../domain/format.js';
import { eventView, objectPageView, objectView } from '../views.js';

export const eventRoutes: FastifyPluginAsyncZod = async (app) => {
  const service = app.iommufd;
  // Open SSE streams end when the server closes, so a shutdown never waits on a client.
  const streams = new Set<() => void>();
  app.addHook('onClose', async () => {
    for (const stop of [...streams]) stop();
  });

  app.put('/ioas/:id/memory', { schema: { tags: ['memory'], params: idParams, querystring: memoryQuery } }, async (req) => {
    const body = req.body;
    if (!Buffer.isBuffer(body)) throw new IommufdError('EINVAL', 'guest memory is written as application/octet-stream');
    if (body.length !== req.query.length) throw new IommufdError('EINVAL', `the body is ${body.length} bytes, length says ${req.query.length}`);
    const written = await service.writeMemory(req.params.id, req.query.iova, new Uint8Array(body));
    return { iova: addr64(written.iova), length: written.length };
  });
  app.get('/ioas/:id/memory', { schema: { tags: ['memory'], params: idParams, querystring: memoryQuery } }, async (req, reply) =>
    reply.type('application/octet-stream').send(Buffer.from(service.readMemory(req.params.id, req.query.iova, req.query.length))),
  );

  app.post('/eventqs', { schema: { tags: ['events'], body: allocEventqBody } }, async (req, reply) => reply.code(201).send(objectView(service, await service.allocEventq(req.body))));
  app.get('/eventqs', { schema: { tags: ['events'], querystring: scopedListQueryShape } }, async (req) => objectPageView(service, service.listObjects({ ...req.query, types: ['veventq'] })));
  app.get('/eventqs/:id', { schema: { tags: ['events'], params: idParams } }, async (req) => objectView(service, service.getObject(req.params.id, ['veventq'], 'vEVENTQ')));
  app.post('/eventqs/:id/read', { schema: { tags: ['events'], params: idParams, body: readEventqBody } }, async (req) => {
    const { type, records } = await service.readEventq(req.params.id, req.body.max ?? 64);
    return { records: records.map((e) => eventView(e, type)) };
  },
  );

  // Server-Sent Events: the records still queued after Last-Event-ID, then each new one as it is
  // queued. Event ids are delivery positions, so a reconnect resumes where it left off.
  app.get('/eventqs/:id/stream', { schema: { tags: ['events'], params: idParams } }, async (req, reply) => {
    const header = req.headers['last-event-id'];
    const parsed = lastEventIdHeader.safeParse(header);
    const after = header === undefined ? 0 : parsed.success ? Number(parsed.data) : -1;
    if (after < 0) throw new IommufdError('EINVAL', 'Last-Event-ID must be an event id this stream sent');
    const backlog = service.pendingAfter(req.params.id, after);
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-request-id': String(req.id),
    });
    const send = (ord: number, view: unknown) => raw.write(`id: ${ord}\nevent: vevent\ndata: ${JSON.stringify(view)}\n\n`);
    raw.write(': vEVENTQ stream\n\n');
    for (const e of backlog.records) send(e.ord, eventView(e, backlog.type));
    const unsubscribe = service.onEvent(req.params.id, (e, type) => send(e.ord, eventView(e, type)));
    const stop = () => {
      if (!streams.delete(stop)) return;
      unsubscribe();
      raw.end();
    };
    streams.add(stop);
    req.raw.on('close', stop);
  });

  app.post('/viommus/:id/events', { schema: { tags: ['events'], params: idParams, body: injectEventBody }, ...roleConfig('admin') }, async (req, reply) =>
    reply.code(201).send(await service.injectEvent(req.params.id, req.body.type, req.body.record).then(({ type, record }) => eventView(record, type))),
  );
};

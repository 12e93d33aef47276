/** Guest memory through an IOAS, vEVENTQs (read, SSE stream) and admin event injection. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { IommufdError } from '../../domain/errors.js';
import { idParams, scopedListQueryShape } from '../../schema/common.js';
import { allocEventqBody, injectEventBody, lastEventIdHeader, memoryQuery, readEventqBody } from '../../schema/events.js';
import { binary, eventList, eventqPage, eventqView, eventView as eventSchema, memoryWrittenView } from '../../schema/views.js';
import { roleConfig } from '../plugins/auth.js';
import { errnos } from '../plugins/openapi.js';
import { addr64 } from '../../domain/format.js';
import * as views from '../views.js';

/** The SSE stream's body (documentation: the route writes it itself). */
const eventStream = z
  .string()
  .describe(
    'text/event-stream: a comment line, then one event per queued record — `id:` its delivery position (send it back as Last-Event-ID to resume), `event: vevent`, `data:` the record as JSON (the `Event` schema); `: heartbeat` comments while idle; `event: destroyed` last when the vEVENTQ is destroyed',
  );

export const eventRoutes: FastifyPluginAsyncZod<{ sseHeartbeatMs: number }> = async (app, { sseHeartbeatMs }) => {
  const service = app.iommufd;
  // Open SSE streams end when the server closes, so a shutdown never waits on a client.
  const streams = new Set<() => void>();
  app.addHook('onClose', async () => {
    for (const stop of [...streams]) stop();
  });

  let tags = ['memory'];
  const MEMORY_ERRORS = {
    ENOENT: 'no such IOAS, or a byte of the range is not mapped (nothing is written)',
    EINVAL: 'a malformed iova or length, more than 1 MiB, a body that is not length bytes of application/octet-stream',
  };
  app.put(
    '/ioas/:id/memory',
    {
      schema: {
        tags,
        summary: "Write the guest's memory through the IOAS mappings",
        description: errnos({ ...MEMORY_ERRORS, ENOMEM: '507: GUEST_MEMORY_LIMIT reached' }),
        params: idParams,
        querystring: memoryQuery,
        documentedBody: { 'application/octet-stream': binary.describe('exactly `length` bytes') },
        response: { 200: memoryWrittenView },
      },
    },
    async (req) => {
      const body = req.body;
      if (!Buffer.isBuffer(body)) throw new IommufdError('EINVAL', 'guest memory is written as application/octet-stream');
      if (body.length !== req.query.length) throw new IommufdError('EINVAL', `the body is ${body.length} bytes, length says ${req.query.length}`);
      const written = await service.writeMemory(req.params.id, req.query.iova, new Uint8Array(body));
      return { iova: addr64(written.iova), length: written.length };
    },
  );
  app.get(
    '/ioas/:id/memory',
    {
      schema: {
        tags,
        summary: "Read the guest's memory through the IOAS mappings (zero where never written)",
        description: errnos(MEMORY_ERRORS),
        params: idParams,
        querystring: memoryQuery,
        response: { 200: { description: 'The `length` bytes at `iova`', content: { 'application/octet-stream': { schema: binary } } } },
      },
    },
    async (req, reply) => reply.type('application/octet-stream').send(Buffer.from(service.readMemory(req.params.id, req.query.iova, req.query.length))),
  );

  tags = ['events'];
  app.post(
    '/eventqs',
    {
      schema: {
        tags,
        summary: 'Allocate a vEVENTQ on a vIOMMU (IOMMU_VEVENTQ_ALLOC)',
        description: errnos({
          ENOENT: 'no such vIOMMU',
          EINVAL: 'depth 0, a malformed body',
          EOPNOTSUPP: 'type default',
          EEXIST: 'the vIOMMU has a vEVENTQ of that type',
        }),
        body: allocEventqBody,
        response: { 201: eventqView },
      },
    },
    async (req, reply) => reply.code(201).send(views.objectView(service, await service.allocEventq(req.body))),
  );
  app.get(
    '/eventqs',
    { schema: { tags, summary: 'List vEVENTQs', description: errnos({ EINVAL: 'a malformed limit, cursor or filter' }), querystring: scopedListQueryShape, response: { 200: eventqPage } } },
    async (req) => views.objectPageView<'veventq'>(service, service.listObjects({ ...req.query, types: ['veventq'] })),
  );
  app.get(
    '/eventqs/:id',
    { schema: { tags, summary: 'Get a vEVENTQ (depth, pending, next sequence)', description: errnos({ ENOENT: 'no such vEVENTQ' }), params: idParams, response: { 200: eventqView } } },
    async (req) => views.objectView(service, service.getObject(req.params.id, ['veventq'], 'vEVENTQ')),
  );
  app.post(
    '/eventqs/:id/read',
    {
      schema: {
        tags,
        summary: 'Read and remove up to `max` items (read(2) on the vEVENTQ fd)',
        description: errnos({ ENOENT: 'no such vEVENTQ', EINVAL: 'a malformed body' }),
        params: idParams,
        body: readEventqBody,
        response: { 200: eventList },
      },
    },
    async (req) => {
      const { type, records } = await service.readEventq(req.params.id, req.body.max ?? 64);
      return { records: records.map((e) => views.eventView(e, type)) };
    },
  );

  // Server-Sent Events: the records still queued after Last-Event-ID, then each new one as it is
  // queued. Event ids are delivery positions, so a reconnect resumes where it left off.
  app.get(
    '/eventqs/:id/stream',
    {
      schema: {
        tags,
        summary: 'Server-Sent Events: the records still queued after Last-Event-ID, then each new one',
        description: errnos({ ENOENT: 'no such vEVENTQ', EINVAL: 'a Last-Event-ID this stream did not send' }, 'The stream removes nothing; a comment line (`: heartbeat`) is sent every SSE_HEARTBEAT_MS (15 s by default); when the vEVENTQ is destroyed a last `event: destroyed` (`data: {"eventqId":…}`) is sent and the stream ends; it also ends when the client leaves or the service shuts down.'),
        params: idParams,
        response: { 200: { description: 'The event stream', content: { 'text/event-stream': { schema: eventStream } } } },
      },
    },
    async (req, reply) => {
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
    for (const e of backlog.records) send(e.ord, views.eventView(e, backlog.type));
    const id = req.params.id;
    const unsubscribe = service.onEvent(id, (e, type) => send(e.ord, views.eventView(e, type)));
    // Destroyed (IOMMU_DESTROY, or its vIOMMU's context closed): a last `destroyed` event, then
    // the response ends — a client's EventSource would otherwise wait on a queue that is gone.
    const gone = service.store.onCommit((changes) => {
      if (!changes.some((c) => c.table === 'objects' && c.record === null && c.key === String(id))) return;
      raw.write(`event: destroyed\ndata: ${JSON.stringify({ eventqId: id })}\n\n`);
      stop();
    });
    // Heartbeats: a comment line when idle, so proxies and load balancers keep the stream open.
    const heartbeat = sseHeartbeatMs > 0 ? setInterval(() => raw.write(': heartbeat\n\n'), sseHeartbeatMs) : null;
    heartbeat?.unref();
    const stop = () => {
      if (!streams.delete(stop)) return;
      if (heartbeat) clearInterval(heartbeat);
      unsubscribe();
      gone();
      raw.end();
    };
    streams.add(stop);
    req.raw.on('close', stop);
  },
  );

  app.post(
    '/viommus/:id/events',
    {
      schema: {
        tags,
        summary: "Queue a raw record on the vIOMMU's vEVENTQ of that type (fault injection, for contract tests of VMMs)",
        description: errnos({
          ENOENT: 'no such vIOMMU',
          EINVAL: 'a record of the wrong number of words, a malformed body',
          EOPNOTSUPP: 'the vIOMMU has no vEVENTQ of that type',
        }),
        params: idParams,
        body: injectEventBody,
        response: { 201: eventSchema },
      },
      ...roleConfig('admin'),
    },
    async (req, reply) => reply.code(201).send(await service.injectEvent(req.params.id, req.body.type, req.body.record).then(({ type, record }) => views.eventView(record, type))),
  );
};

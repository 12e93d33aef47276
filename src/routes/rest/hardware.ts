/**
 * The hardware side: guest invalidation through a vIOMMU (JSON or raw little-endian 16-byte
 * entries), vIOMMU statistics and the SMMU model's state.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { IommufdError } from '../../domain/errors.js';
import { idParams } from '../../schema/common.js';
import { ackHwQueueBody, allocHwQueueBody, invalidateBody, patchHwQueueBody, queueCommandsBody, smmuStateQuery, translateBody } from '../../schema/hardware.js';
import { scopedListQueryShape } from '../../schema/common.js';
import { sendProblem, toProblem } from '../plugins/problem.js';
import { objectPageView, objectView, smmuStateView, translateView } from '../views.js';

const ENTRY_BYTES = 16;

/** The request body as raw entries: octet-stream as sent, JSON converted to the same layout. */
export function invalidationEntries(request: FastifyRequest, schema: typeof invalidateBody | typeof queueCommandsBody = invalidateBody): { dataType: string; buf: Uint8Array; count: number } {
  const body = request.body;
  if (Buffer.isBuffer(body)) {
    if (body.length % ENTRY_BYTES !== 0) {
      throw new IommufdError('EINVAL', `the body is ${body.length} bytes, not a whole number of 16-byte entries`, {
        entriesProcessed: 0,
        errors: [{ path: 'body', message: 'length is not a multiple of 16' }],
      });
    }
    // Copy: the entries are converted in place and the caller's bytes stay as sent.
    return { dataType: 'arm_smmuv3', buf: new Uint8Array(body), count: body.length / ENTRY_BYTES };
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const errors = parsed.error.issues.map((i) => ({ path: ['body', ...i.path].join('/'), message: i.message }));
    throw new IommufdError('EINVAL', `request body is invalid: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, { entriesProcessed: 0, errors });
  }
  const { entries } = parsed.data;
  const dataType = 'dataType' in parsed.data ? String(parsed.data.dataType) : 'arm_smmuv3';
  const buf = new Uint8Array(entries.length * ENTRY_BYTES);
  const view = new DataView(buf.buffer);
  entries.forEach(([w0, w1], i) => {
    view.setBigUint64(i * ENTRY_BYTES, w0, true);
    view.setBigUint64(i * ENTRY_BYTES + 8, w1, true);
  });
  return { dataType, buf, count: entries.length };
}

/**
 * api.md: an invalidation failure is a problem with `entriesProcessed`. Failures before the route
 * runs (a bad path id, malformed JSON, an oversized body, a wrong content type) processed nothing.
 */
function invalidationErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const body = toProblem(error, request);
  if (body.status >= 500) request.log.error({ err: error }, 'request failed');
  return sendProblem(reply, { ...body, entriesProcessed: body.entriesProcessed ?? 0 });
}

export const hardwareRoutes: FastifyPluginAsyncZod = async (app) => {
  const service = app.iommufd;
  app.post('/viommus/:id/invalidate', { schema: { tags: ['hardware'], params: idParams }, errorHandler: invalidationErrorHandler }, async (req) =>
    service.invalidate(req.params.id, () => invalidationEntries(req), 'viommu'),
  );
  app.post('/hwpts/:id/invalidate', { schema: { tags: ['hardware'], params: idParams }, errorHandler: invalidationErrorHandler }, async (req) =>
    service.invalidate(req.params.id, () => invalidationEntries(req)),
  );
  app.post('/objects/:id/invalidate', { schema: { tags: ['hardware'], params: idParams }, errorHandler: invalidationErrorHandler }, async (req) =>
    service.invalidate(req.params.id, () => invalidationEntries(req)),
  );
  app.post('/devices/:id/translate', { schema: { tags: ['hardware'], params: idParams, body: translateBody } }, async (req) =>
    translateView(await service.translate(req.params.id, req.body)),
  );
  app.post('/hw-queues', { schema: { tags: ['hw-queues'], body: allocHwQueueBody } }, async (req, reply) =>
    reply.code(201).send(objectView(service, await service.allocHwQueue(req.body))),
  );
  app.get('/hw-queues', { schema: { tags: ['hw-queues'], querystring: scopedListQueryShape } }, async (req) => objectPageView(service, service.listObjects({ ...req.query, types: ['hw_queue'] })));
  app.get('/hw-queues/:id', { schema: { tags: ['hw-queues'], params: idParams } }, async (req) => objectView(service, service.getObject(req.params.id, ['hw_queue'], 'HW queue')));
  app.patch('/hw-queues/:id', { schema: { tags: ['hw-queues'], params: idParams, body: patchHwQueueBody } }, async (req) => {
    const { queue, run } = await service.setQueueEnabled(req.params.id, req.body.enabled);
    return { ...objectView(service, queue), run };
  },
  );
  app.post('/hw-queues/:id/commands', { schema: { tags: ['hw-queues'], params: idParams } }, async (req) => {
    const { buf, count } = invalidationEntries(req, queueCommandsBody);
    return service.pushQueueCommands(req.params.id, buf, count);
  });
  app.post('/hw-queues/:id/error/ack', { schema: { tags: ['hw-queues'], params: idParams, body: ackHwQueueBody } }, async (req) =>
    service.acknowledgeQueue(req.params.id, req.body?.replaceWithSync ?? false),
  );
  app.get('/viommus/:id/stats', { schema: { tags: ['hardware'], params: idParams } }, async (req) => service.viommuStats(req.params.id));
  app.get('/smmus/:id/state', { schema: { tags: ['hardware'], params: idParams, querystring: smmuStateQuery } }, async (req) =>
    smmuStateView(service.smmuState(req.params.id, req.query.commands ?? 0)),
  );
};

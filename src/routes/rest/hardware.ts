/**
 * The hardware side: guest invalidation through a vIOMMU (JSON or raw little-endian 16-byte
 * entries), vIOMMU statistics and the SMMU model's state.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod, ZodTypeProvider } from 'fastify-type-provider-zod';
import { IommufdError } from '../../domain/errors.js';
import { idParams } from '../../schema/common.js';
import { ackHwQueueBody, allocHwQueueBody, fastCommandEntries, invalidateBody, patchHwQueueBody, queueCommandsBody, smmuStateQuery, translateBody } from '../../schema/hardware.js';
import { scopedListQueryShape } from '../../schema/common.js';
import { binary, hwQueueEnabledView, hwQueuePage, hwQueueView, invalidationView, queueRunView, smmuStateView, translationView, viommuStatsView } from '../../schema/views.js';
import { errnos } from '../plugins/openapi.js';
import { sendProblem, toProblem } from '../plugins/problem.js';
import * as views from '../views.js';

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
    // Invalidation converts the entries in place (a copy keeps the caller's bytes as sent); a
    // queue's commands are only copied into guest memory and the consumer's ring (domain/hwqueue.ts).
    const buf = schema === queueCommandsBody ? body : new Uint8Array(body);
    return { dataType: 'arm_smmuv3', buf, count: body.length / ENTRY_BYTES };
  }
  const fast = fastCommandEntries(body, schema === invalidateBody);
  if (fast) return fast;
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

/** Invalidation request bodies: JSON entries, or the same entries raw (documentation only, see `invalidationEntries`). */
const INVALIDATE_BODY = { 'application/json': invalidateBody, 'application/octet-stream': binary.describe('raw little-endian 16-byte entries (struct iommu_viommu_arm_smmuv3_invalidate)') };
const INVALIDATE_ERRORS = {
  ENOENT: 'no such target (checked before the entries are read)',
  EINVAL: 'a malformed body, no entries, more than MAX_INVALIDATION_ENTRIES, data type not arm_smmuv3, a target of another type',
  EOPNOTSUPP: 'a nested HWPT (the ARM driver invalidates through the vIOMMU)',
  EIO: 'an entry the conversion refuses (unknown opcode, a vSID without a vDEVICE): `entriesProcessed` is its index, everything before it is applied',
};
const COMMANDS_BODY = { 'application/json': queueCommandsBody, 'application/octet-stream': binary.describe('raw little-endian 16-byte commands') };

export const hardwareRoutes: FastifyPluginAsyncZod = async (app) => {
  const service = app.iommufd;
  let tags = ['hardware'];
  const invalidate = (summary: string, extra: Record<string, string> = {}) => ({
    tags,
    summary,
    description: errnos(
      { ...INVALIDATE_ERRORS, ...extra },
      'Every problem answer carries `entriesProcessed`. A command the SMMU refuses inside an issued batch is skipped as the host driver does, and the call still succeeds.',
    ),
    params: idParams,
    documentedBody: INVALIDATE_BODY,
    response: { 200: invalidationView },
  });
  app.post('/viommus/:id/invalidate', { schema: invalidate('Invalidate guest TLB, ATC and CD caches through a vIOMMU (IOMMU_HWPT_INVALIDATE)'), errorHandler: invalidationErrorHandler }, async (req) =>
    service.invalidate(req.params.id, () => invalidationEntries(req), 'viommu'),
  );
  app.post('/hwpts/:id/invalidate', { schema: invalidate('IOMMU_HWPT_INVALIDATE on an id: a vIOMMU invalidates, a nested HWPT is EOPNOTSUPP'), errorHandler: invalidationErrorHandler }, async (req) =>
    service.invalidate(req.params.id, () => invalidationEntries(req)),
  );
  app.post('/objects/:id/invalidate', { schema: invalidate('IOMMU_HWPT_INVALIDATE dispatched on the id\'s type'), errorHandler: invalidationErrorHandler }, async (req) =>
    service.invalidate(req.params.id, () => invalidationEntries(req)),
  );
  app.post(
    '/devices/:id/translate',
    {
      schema: {
        tags,
        summary: 'A DMA by the device through its SMMU',
        description: errnos(
          { ENOENT: 'no such device', EINVAL: 'a malformed body' },
          "A fault is a 200 answer with `fault`, the `event` record (null when not recorded) and where the device's vmaster `forwarded` it.",
        ),
        params: idParams,
        body: translateBody,
        response: { 200: translationView },
      },
    },
    async (req) => views.translateView(await service.translate(req.params.id, req.body)),
  );

  tags = ['hw-queues'];
  app.post(
    '/hw-queues',
    {
      schema: {
        tags,
        summary: 'Allocate a Tegra241 VCMDQ in guest memory (IOMMU_HW_QUEUE_ALLOC)',
        description: errnos({
          ENOENT: 'no such vIOMMU, or the range is not mapped in its nest parent',
          EINVAL: 'length 0, not a power of two from 32 bytes, a base not aligned to it, an index beyond the VINTF',
          EOVERFLOW: 'nestingParentIova + length overflows 64 bits',
          EOPNOTSUPP: 'type default, a vIOMMU that is not tegra241_cmdqv',
          ERANGE: 'too many pages to pin',
          EFAULT: 'the queue memory is not contiguous',
          EEXIST: 'the index is taken',
          EIO: 'the index below is not allocated (ascending order)',
        }),
        body: allocHwQueueBody,
        response: { 201: hwQueueView },
      },
    },
    async (req, reply) => reply.code(201).send(views.objectView(service, await service.allocHwQueue(req.body))),
  );
  app.get(
    '/hw-queues',
    { schema: { tags, summary: 'List HW queues', description: errnos({ EINVAL: 'a malformed limit, cursor or filter' }), querystring: scopedListQueryShape, response: { 200: hwQueuePage } } },
    async (req) => views.objectPageView<'hw_queue'>(service, service.listObjects({ ...req.query, types: ['hw_queue'] })),
  );
  app.get(
    '/hw-queues/:id',
    { schema: { tags, summary: "A HW queue, with the guest's VCMDQ page", description: errnos({ ENOENT: 'no such HW queue' }), params: idParams, response: { 200: hwQueueView } } },
    async (req) => views.objectView(service, service.getObject(req.params.id, ['hw_queue'], 'HW queue')),
  );
  app.patch(
    '/hw-queues/:id',
    {
      schema: {
        tags,
        summary: 'Enable or disable the queue (CONFIG.EN); enabling runs what is queued',
        description: errnos({ ENOENT: 'no such HW queue', EINVAL: 'a malformed body' }),
        params: idParams,
        body: patchHwQueueBody,
        response: { 200: hwQueueEnabledView },
      },
    },
    async (req) => {
      const { queue, run } = await service.setQueueEnabled(req.params.id, req.body.enabled);
      return { ...views.objectView(service, queue), run };
    },
  );
  app.post(
    '/hw-queues/:id/commands',
    {
      schema: {
        tags,
        summary: 'The guest writes commands at PROD and bumps it; the SMMU consumes them',
        description: errnos(
          { ENOENT: 'no such HW queue', EINVAL: 'a malformed body, no commands', ENOSPC: 'more commands than free slots (nothing is written)' },
          'A command the queue refuses stops it with `error` (CERROR_ILL at that index) in a 200 answer.',
        ),
        params: idParams,
        documentedBody: COMMANDS_BODY,
        response: { 200: queueRunView },
      },
    },
    async (req) => {
      const { buf, count } = invalidationEntries(req, queueCommandsBody);
      return service.pushQueueCommands(req.params.id, buf, count);
    },
  );
  // The body is optional (README): no body, an empty body announced as JSON, or {}. Fastify's
  // JSON parser refuses an empty body, so this one route has a parser that takes it as none (in
  // its own scope); unknown fields are still EINVAL (the schema is strict).
  await app.register(async (ack) => {
    const json = ack.getDefaultJsonParser('error', 'error');
    ack.removeContentTypeParser('application/json');
    ack.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => (body === '' ? done(null, undefined) : json(req, String(body), done)));
    ack.withTypeProvider<ZodTypeProvider>().post(
      '/hw-queues/:id/error/ack',
      {
        schema: {
          tags,
          summary: 'Acknowledge the error (GERRORN), optionally replacing the failing slot by a CMD_SYNC',
          description: errnos({ ENOENT: 'no such HW queue', EINVAL: 'a malformed body' }, 'The body is optional: none, an empty one or `{}` is a plain acknowledgement.'),
          params: idParams,
          body: ackHwQueueBody,
          response: { 200: queueRunView },
        },
        // No body is a plain acknowledgement, as {} (Fastify would validate it as null); a JSON
        // `null` is parsed to null and stays EINVAL.
        preValidation: async (req) => {
          if (req.body === undefined) req.body = {};
        },
      },
      async (req) => service.acknowledgeQueue(req.params.id, req.body?.replaceWithSync ?? false),
    );
  });

  tags = ['hardware'];
  app.get(
    '/viommus/:id/stats',
    { schema: { tags, summary: "A vIOMMU's invalidations, IOTLB share and ATC entries", description: errnos({ ENOENT: 'no such vIOMMU' }), params: idParams, response: { 200: viommuStatsView } } },
    async (req) => service.viommuStats(req.params.id),
  );
  app.get(
    '/smmus/:id/state',
    {
      schema: {
        tags,
        summary: "The SMMU model's state and its last executed commands",
        description: errnos({ ENOENT: 'no such SMMU', EINVAL: 'commands beyond 1024', EPERM: 'a token limited to contexts (host-wide view)' }),
        params: idParams,
        querystring: smmuStateQuery,
        response: { 200: smmuStateView },
      },
    },
    async (req) => views.smmuStateView(service.smmuState(req.params.id, req.query.commands ?? 0)),
  );
};

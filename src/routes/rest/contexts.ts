/** Contexts (one per VM) and device bind / unbind. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { idParams, listQuery } from '../../schema/common.js';
import { bindDeviceBody, contextDeviceParams, createContextBody } from '../../schema/objects.js';
import { contextView, deviceView, pageView } from '../views.js';

export const contextRoutes: FastifyPluginAsyncZod = async (app) => {
  const service = app.iommufd;
  app.post('/contexts', { schema: { tags: ['contexts'], body: createContextBody } }, async (req, reply) =>
    reply.code(201).send(contextView(await service.createContext(req.body.name))),
  );
  app.get('/contexts', { schema: { tags: ['contexts'], querystring: listQuery } }, async (req) => pageView(service.listContexts(req.query), contextView));
  app.get('/contexts/:id', { schema: { tags: ['contexts'], params: idParams } }, async (req) => contextView(service.getContext(req.params.id)));
  app.delete('/contexts/:id', { schema: { tags: ['contexts'], params: idParams } }, async (req) => service.deleteContext(req.params.id));
  app.post('/contexts/:id/devices', { schema: { tags: ['contexts'], params: idParams, body: bindDeviceBody } }, async (req, reply) =>
    reply.code(201).send(deviceView(await service.bindDevice(req.params.id, req.body.deviceId))),
  );
  app.get('/contexts/:id/devices', { schema: { tags: ['contexts'], params: idParams, querystring: listQuery } }, async (req) => {
    service.getContext(req.params.id);
    return pageView(service.listDevices({ ...req.query, contextId: req.params.id }), deviceView);
  });
  app.delete('/contexts/:id/devices/:deviceId', { schema: { tags: ['contexts'], params: contextDeviceParams } }, async (req) =>
    service.unbindDevice(req.params.id, req.params.deviceId),
  );
};

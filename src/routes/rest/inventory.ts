/** Host inventory: SMMUs, devices, GET_HW_INFO. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { idParams, listQuery } from '../../schema/common.js';
import { createDeviceBody, createSmmuBody, deviceListQuery, hwInfoQuery } from '../../schema/inventory.js';
import { roleConfig } from '../plugins/auth.js';
import { deviceDetailView, deviceView, pageView, smmuView } from '../views.js';

export const inventoryRoutes: FastifyPluginAsyncZod = async (app) => {
  const service = app.iommufd;
  // The inventory is the host's: changing it is the admin's.
  app.get('/smmus', { schema: { tags: ['inventory'], querystring: listQuery } }, async (req) => pageView(service.listSmmus(req.query), smmuView));
  app.get('/smmus/:id', { schema: { tags: ['inventory'], params: idParams } }, async (req) => smmuView(service.getSmmu(req.params.id)));
  app.post('/smmus', { schema: { tags: ['inventory'], body: createSmmuBody }, ...roleConfig('admin') }, async (req, reply) => reply.code(201).send(smmuView(await service.createSmmu(req.body))));
  app.delete('/smmus/:id', { schema: { tags: ['inventory'], params: idParams }, ...roleConfig('admin') }, async (req, reply) => {
    await service.deleteSmmu(req.params.id);
    return reply.code(204).send();
  });

  app.get('/devices', { schema: { tags: ['inventory'], querystring: deviceListQuery } }, async (req) => pageView(service.listDevices(req.query), deviceView));
  app.get('/devices/:id', { schema: { tags: ['inventory'], params: idParams } }, async (req) => deviceDetailView(service, service.getDevice(req.params.id)));
  app.post('/devices', { schema: { tags: ['inventory'], body: createDeviceBody }, ...roleConfig('admin') }, async (req, reply) => reply.code(201).send(deviceView(await service.createDevice(req.body))));
  app.delete('/devices/:id', { schema: { tags: ['inventory'], params: idParams }, ...roleConfig('admin') }, async (req, reply) => {
    await service.deleteDevice(req.params.id);
    return reply.code(204).send();
  });
  app.get('/devices/:id/hw-info', { schema: { tags: ['inventory'], params: idParams, querystring: hwInfoQuery } }, async (req) =>
    service.hwInfo(req.params.id, req.query.type ?? 'default'),
  );
};

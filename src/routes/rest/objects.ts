/** The iommufd objects: generic object access, IOAS, HWPTs, attachment, vIOMMUs, vDEVICEs. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { destroyIdParams, idParams } from '../../schema/common.js';
import {
  allocHwptBody,
  allocVdeviceBody,
  allocViommuBody,
  attachBody,
  createIoasBody,
  mapBody,
  objectListQuery,
  pasidParams,
  scopedListQuery,
  unmapQuery,
} from '../../schema/objects.js';
import { addr64 } from '../../domain/format.js';
import { deviceDetailView, mappingView, objectPageView, objectView } from '../views.js';

export const objectRoutes: FastifyPluginAsyncZod = async (app) => {
  const service = app.iommufd;
  app.get('/objects', { schema: { tags: ['objects'], querystring: objectListQuery } }, async (req) =>
    objectPageView(service, service.listObjects({ ...req.query, types: req.query.type ? [req.query.type] : undefined })),
  );
  app.get('/objects/:id', { schema: { tags: ['objects'], params: idParams } }, async (req) => objectView(service, service.getObject(req.params.id)));
  app.delete('/objects/:id', { schema: { tags: ['objects'], params: destroyIdParams } }, async (req, reply) => {
    await service.destroy(req.params.id);
    return reply.code(204).send();
  });

  // IOAS
  app.post('/ioas', { schema: { tags: ['ioas'], body: createIoasBody } }, async (req, reply) => reply.code(201).send(objectView(service, await service.createIoas(req.body.contextId))));
  app.get('/ioas', { schema: { tags: ['ioas'], querystring: scopedListQuery } }, async (req) => objectPageView(service, service.listObjects({ ...req.query, types: ['ioas'] })));
  app.get('/ioas/:id', { schema: { tags: ['ioas'], params: idParams } }, async (req) => objectView(service, service.getObject(req.params.id, ['ioas'], 'IOAS')));
  app.post('/ioas/:id/mappings', { schema: { tags: ['ioas'], params: idParams, body: mapBody } }, async (req, reply) =>
    reply.code(201).send(mappingView(await service.mapIoas(req.params.id, { iova: req.body.iova, length: req.body.length, read: req.body.read ?? true, write: req.body.write ?? true }))),
  );
  app.get('/ioas/:id/mappings', { schema: { tags: ['ioas'], params: idParams } }, async (req) => ({ items: service.listMappings(req.params.id).map(mappingView) }));
  app.delete('/ioas/:id/mappings', { schema: { tags: ['ioas'], params: idParams, querystring: unmapQuery } }, async (req) => {
    const { iova, length } = req.query;
    const out = await service.unmapIoas(req.params.id, iova !== undefined && length !== undefined ? { iova, length } : null);
    return { unmapped: addr64(out.unmapped) };
  });

  // HWPTs and attachment
  app.post('/hwpts', { schema: { tags: ['hwpts'], body: allocHwptBody } }, async (req, reply) =>
    reply.code(201).send(objectView(service, await service.allocHwpt({ deviceId: req.body.deviceId, ptId: req.body.ptId, flags: req.body.flags ?? [], data: req.body.data }))),
  );
  app.get('/hwpts', { schema: { tags: ['hwpts'], querystring: scopedListQuery } }, async (req) =>
    objectPageView(service, service.listObjects({ ...req.query, types: ['hwpt_paging', 'hwpt_nested'] })),
  );
  app.get('/hwpts/:id', { schema: { tags: ['hwpts'], params: idParams } }, async (req) => objectView(service, service.getObject(req.params.id, ['hwpt_paging', 'hwpt_nested'], 'HWPT')));
  app.put('/devices/:id/attachment', { schema: { tags: ['hwpts'], params: idParams, body: attachBody } }, async (req) =>
    deviceDetailView(service, await service.attachDevice(req.params.id, req.body.ptId)),
  );
  app.delete('/devices/:id/attachment', { schema: { tags: ['hwpts'], params: idParams } }, async (req) =>
    deviceDetailView(service, await service.detachDevice(req.params.id)),
  );
  app.put('/devices/:id/pasids/:pasid/attachment', { schema: { tags: ['hwpts'], params: pasidParams, body: attachBody } }, async (req) =>
    deviceDetailView(service, await service.attachPasid(req.params.id, req.params.pasid, req.body.ptId)),
  );
  app.delete('/devices/:id/pasids/:pasid/attachment', { schema: { tags: ['hwpts'], params: pasidParams } }, async (req) =>
    deviceDetailView(service, await service.detachPasid(req.params.id, req.params.pasid)),
  );

  // vIOMMUs and vDEVICEs
  app.post('/viommus', { schema: { tags: ['viommus'], body: allocViommuBody } }, async (req, reply) => reply.code(201).send(objectView(service, await service.allocViommu(req.body))));
  app.get('/viommus', { schema: { tags: ['viommus'], querystring: scopedListQuery } }, async (req) => objectPageView(service, service.listObjects({ ...req.query, types: ['viommu'] })));
  app.get('/viommus/:id', { schema: { tags: ['viommus'], params: idParams } }, async (req) => objectView(service, service.getObject(req.params.id, ['viommu'], 'vIOMMU')));
  app.post('/vdevices', { schema: { tags: ['viommus'], body: allocVdeviceBody } }, async (req, reply) => reply.code(201).send(objectView(service, await service.allocVdevice(req.body))));
  app.get('/vdevices', { schema: { tags: ['viommus'], querystring: scopedListQuery } }, async (req) => objectPageView(service, service.listObjects({ ...req.query, types: ['vdevice'] })));
  app.get('/vdevices/:id', { schema: { tags: ['viommus'], params: idParams } }, async (req) => objectView(service, service.getObject(req.params.id, ['vdevice'], 'vDEVICE')));
};

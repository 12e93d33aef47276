/** Contexts (one per VM) and device bind / unbind. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { idParams, listQuery } from '../../schema/common.js';
import { bindDeviceBody, contextDeviceParams, createContextBody } from '../../schema/objects.js';
import { contextDeletedView, contextPage, contextView, devicePage, deviceUnboundView, deviceView } from '../../schema/views.js';
import { errnos } from '../plugins/openapi.js';
import * as views from '../views.js';

const tags = ['contexts'];

export const contextRoutes: FastifyPluginAsyncZod = async (app) => {
  const service = app.iommufd;
  app.post(
    '/contexts',
    {
      schema: {
        tags,
        summary: 'Open a context (one iommufd per VM)',
        description: errnos({ EINVAL: 'a malformed body', EPERM: 'a token limited to contexts may not create one' }),
        body: createContextBody,
        response: { 201: contextView },
      },
    },
    async (req, reply) => reply.code(201).send(views.contextView(await service.createContext(req.body.name))),
  );
  app.get(
    '/contexts',
    { schema: { tags, summary: 'List contexts', description: errnos({ EINVAL: 'a malformed limit or cursor' }), querystring: listQuery, response: { 200: contextPage } } },
    async (req) => views.pageView(service.listContexts(req.query), views.contextView),
  );
  app.get(
    '/contexts/:id',
    { schema: { tags, summary: 'Get a context', description: errnos({ ENOENT: 'no such context' }), params: idParams, response: { 200: contextView } } },
    async (req) => views.contextView(service.getContext(req.params.id)),
  );
  app.delete(
    '/contexts/:id',
    {
      schema: {
        tags,
        summary: 'Close a context: destroy every object leaf-first and unbind its devices',
        description: errnos({ ENOENT: 'no such context' }, 'Never EBUSY. Answers what it destroyed (200, not 204).'),
        params: idParams,
        response: { 200: contextDeletedView },
      },
    },
    async (req) => service.deleteContext(req.params.id),
  );
  app.post(
    '/contexts/:id/devices',
    {
      schema: {
        tags,
        summary: 'Bind a device to the context (VFIO bind)',
        description: errnos({ ENOENT: 'no such context or device', EBUSY: 'the device is bound to a context (`blockedBy`)' }),
        params: idParams,
        body: bindDeviceBody,
        response: { 201: deviceView },
      },
    },
    async (req, reply) => reply.code(201).send(views.deviceView(await service.bindDevice(req.params.id, req.body.deviceId))),
  );
  app.get(
    '/contexts/:id/devices',
    {
      schema: {
        tags,
        summary: 'List the devices bound to the context',
        description: errnos({ ENOENT: 'no such context', EINVAL: 'a malformed limit or cursor' }),
        params: idParams,
        querystring: listQuery,
        response: { 200: devicePage },
      },
    },
    async (req) => {
      service.getContext(req.params.id);
      return views.pageView(service.listDevices({ ...req.query, contextId: req.params.id }), views.deviceView);
    },
  );
  app.delete(
    '/contexts/:id/devices/:deviceId',
    {
      schema: {
        tags,
        summary: 'Unbind a device (VFIO unbind): detach it and destroy its vDEVICE',
        description: errnos({ ENOENT: 'no such context, or the device is not bound to it' }, 'Answers the vDEVICE it destroyed (200, not 204).'),
        params: contextDeviceParams,
        response: { 200: deviceUnboundView },
      },
    },
    async (req) => service.unbindDevice(req.params.id, req.params.deviceId),
  );
};

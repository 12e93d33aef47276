/** Host inventory: SMMUs, devices, GET_HW_INFO. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { idParams, listQuery } from '../../schema/common.js';
import { createDeviceBody, createSmmuBody, deviceListQuery, hwInfoQuery } from '../../schema/inventory.js';
import { deviceDetailView, devicePage, deviceView, hwInfoView, noContent, smmuPage, smmuView } from '../../schema/views.js';
import { roleConfig } from '../plugins/auth.js';
import { errnos } from '../plugins/openapi.js';
import * as views from '../views.js';

const tags = ['inventory'];

export const inventoryRoutes: FastifyPluginAsyncZod = async (app) => {
  const service = app.iommufd;
  // The inventory is the host's: changing it is the admin's.
  app.get(
    '/smmus',
    { schema: { tags, summary: 'List SMMUs', description: errnos({ EINVAL: 'a malformed limit or cursor' }), querystring: listQuery, response: { 200: smmuPage } } },
    async (req) => views.pageView(service.listSmmus(req.query), views.smmuView),
  );
  app.get(
    '/smmus/:id',
    { schema: { tags, summary: 'Get an SMMU', description: errnos({ ENOENT: 'no such SMMU' }), params: idParams, response: { 200: smmuView } } },
    async (req) => views.smmuView(service.getSmmu(req.params.id)),
  );
  app.post(
    '/smmus',
    {
      schema: {
        tags,
        summary: 'Add an SMMU',
        description: errnos({ EINVAL: 'a malformed body, an IDR the model cannot run, a CMDQV parameter that is not a power of two', EEXIST: 'an SMMU of that name exists' }),
        body: createSmmuBody,
        response: { 201: smmuView },
      },
      ...roleConfig('admin'),
    },
    async (req, reply) => reply.code(201).send(views.smmuView(await service.createSmmu(req.body))),
  );
  app.delete(
    '/smmus/:id',
    {
      schema: {
        tags,
        summary: 'Remove an SMMU',
        description: errnos({ ENOENT: 'no such SMMU', EBUSY: 'it still has devices or objects (`blockedBy`)' }),
        params: idParams,
        response: { 204: noContent },
      },
      ...roleConfig('admin'),
    },
    async (req, reply) => {
      await service.deleteSmmu(req.params.id);
      return reply.code(204).send();
    },
  );

  app.get(
    '/devices',
    {
      schema: { tags, summary: 'List devices', description: errnos({ EINVAL: 'a malformed limit, cursor or filter' }), querystring: deviceListQuery, response: { 200: devicePage } },
    },
    async (req) => views.pageView(service.listDevices(req.query), views.deviceView),
  );
  app.get(
    '/devices/:id',
    {
      schema: {
        tags,
        summary: 'Get a device, with its STE and CD table',
        description: errnos({ ENOENT: 'no such device' }),
        params: idParams,
        response: { 200: deviceDetailView },
      },
    },
    async (req) => views.deviceDetailView(service, service.getDevice(req.params.id)),
  );
  app.post(
    '/devices',
    {
      schema: {
        tags,
        summary: 'Add a device behind an SMMU',
        description: errnos({
          EINVAL: "a malformed body, a StreamID beyond the SMMU's SIDSIZE",
          ENOENT: 'no such SMMU',
          EEXIST: 'the StreamID is used on that SMMU, or a device of that name exists',
        }),
        body: createDeviceBody,
        response: { 201: deviceView },
      },
      ...roleConfig('admin'),
    },
    async (req, reply) => reply.code(201).send(views.deviceView(await service.createDevice(req.body))),
  );
  app.delete(
    '/devices/:id',
    {
      schema: {
        tags,
        summary: 'Remove a device',
        description: errnos({ ENOENT: 'no such device', EBUSY: 'it is bound (`blockedBy` its context) or named by objects (`blockedBy` them)' }),
        params: idParams,
        response: { 204: noContent },
      },
      ...roleConfig('admin'),
    },
    async (req, reply) => {
      await service.deleteDevice(req.params.id);
      return reply.code(204).send();
    },
  );
  app.get(
    '/devices/:id/hw-info',
    {
      schema: {
        tags,
        summary: 'IOMMU_GET_HW_INFO of a bound device',
        description: errnos({ ENOENT: 'the device is not bound to a context', EOPNOTSUPP: 'a type the SMMU does not support (tegra241_cmdqv without a CMDQV, intel_vtd, amd)' }),
        params: idParams,
        querystring: hwInfoQuery,
        response: { 200: hwInfoView },
      },
    },
    async (req) => views.hwInfoView(service.hwInfo(req.params.id, req.query.type ?? 'default')),
  );
};

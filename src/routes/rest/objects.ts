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
  mappingListQuery,
  objectListQuery,
  pasidParams,
  scopedListQuery,
  unmapQuery,
} from '../../schema/objects.js';
import {
  deviceDetailView,
  hwptPage,
  hwptView,
  ioasPage,
  ioasView,
  mappingList,
  mappingView,
  noContent,
  objectPage,
  objectView,
  unmappedView,
  vdevicePage,
  vdeviceView,
  viommuPage,
  viommuView,
} from '../../schema/views.js';
import { addr64 } from '../../domain/format.js';
import { errnos } from '../plugins/openapi.js';
import * as views from '../views.js';

const LIST_ERRORS = { EINVAL: 'a malformed limit, cursor or filter' };

export const objectRoutes: FastifyPluginAsyncZod = async (app) => {
  const service = app.iommufd;
  let tags = ['objects'];
  app.get(
    '/objects',
    { schema: { tags, summary: 'List objects of any type', description: errnos(LIST_ERRORS), querystring: objectListQuery, response: { 200: objectPage } } },
    async (req) => views.objectPageView(service, service.listObjects({ ...req.query, types: req.query.type ? [req.query.type] : undefined })),
  );
  app.get(
    '/objects/:id',
    { schema: { tags, summary: 'Get any object, with its type', description: errnos({ ENOENT: 'no such object' }), params: idParams, response: { 200: objectView } } },
    async (req) => views.objectView(service, service.getObject(req.params.id)),
  );
  app.delete(
    '/objects/:id',
    {
      schema: {
        tags,
        summary: 'Destroy an object (IOMMU_DESTROY)',
        description: errnos({
          ENOENT: 'no such object (id 0 included)',
          EBUSY: 'something still holds it (`blockedBy` the ids), or the id is a bound device (unbind it instead)',
        }),
        params: destroyIdParams,
        response: { 204: noContent },
      },
    },
    async (req, reply) => {
      await service.destroy(req.params.id);
      return reply.code(204).send();
    },
  );

  // IOAS
  tags = ['ioas'];
  app.post(
    '/ioas',
    {
      schema: { tags, summary: 'Allocate an IOAS (IOMMU_IOAS_ALLOC)', description: errnos({ ENOENT: 'no such context' }), body: createIoasBody, response: { 201: ioasView } },
    },
    async (req, reply) => reply.code(201).send(views.objectView(service, await service.createIoas(req.body.contextId))),
  );
  app.get(
    '/ioas',
    { schema: { tags, summary: 'List IOASes', description: errnos(LIST_ERRORS), querystring: scopedListQuery, response: { 200: ioasPage } } },
    async (req) => views.objectPageView<'ioas'>(service, service.listObjects({ ...req.query, types: ['ioas'] })),
  );
  app.get(
    '/ioas/:id',
    { schema: { tags, summary: 'Get an IOAS', description: errnos({ ENOENT: 'no such IOAS' }), params: idParams, response: { 200: ioasView } } },
    async (req) => views.objectView(service, service.getObject(req.params.id, ['ioas'], 'IOAS')),
  );
  app.post(
    '/ioas/:id/mappings',
    {
      schema: {
        tags,
        summary: 'Map a range, backed by simulated host memory (IOMMU_IOAS_MAP)',
        description: errnos({
          ENOENT: 'no such IOAS',
          EINVAL: 'iova or length not 4 KiB aligned, length 0, neither read nor write',
          EOVERFLOW: 'iova + length overflows 64 bits',
          EEXIST: 'it overlaps a mapping',
        }),
        params: idParams,
        body: mapBody,
        response: { 201: mappingView },
      },
    },
    async (req, reply) =>
      reply.code(201).send(views.mappingView(await service.mapIoas(req.params.id, { iova: req.body.iova, length: req.body.length, read: req.body.read ?? true, write: req.body.write ?? true }))),
  );
  app.get(
    '/ioas/:id/mappings',
    {
      schema: {
        tags,
        summary: "List an IOAS's mappings, by IOVA (a page, as every list)",
        description: errnos({ ENOENT: 'no such IOAS', EINVAL: 'limit outside 1..500, or a cursor this service did not return' }),
        params: idParams,
        querystring: mappingListQuery,
        response: { 200: mappingList },
      },
    },
    async (req) => {
      const { limit, cursor } = req.query;
      return views.pageView(service.listMappings(req.params.id, { limit, cursor: cursor === undefined ? undefined : BigInt(cursor) }), views.mappingView);
    },
  );
  app.delete(
    '/ioas/:id/mappings',
    {
      schema: {
        tags,
        summary: 'Unmap a range, or everything without iova and length (IOMMU_IOAS_UNMAP)',
        description: errnos({
          ENOENT: 'no such IOAS, nothing mapped there, or the range splits a mapping',
          EBUSY: 'a HW queue pins the range',
          EOVERFLOW: 'iova + length overflows 64 bits',
          EINVAL: 'length 0, or only one of iova and length',
        }),
        params: idParams,
        querystring: unmapQuery,
        response: { 200: unmappedView },
      },
    },
    async (req) => {
      const { iova, length } = req.query;
      const out = await service.unmapIoas(req.params.id, iova !== undefined && length !== undefined ? { iova, length } : null);
      return { unmapped: addr64(out.unmapped) };
    },
  );

  // HWPTs and attachment
  tags = ['hwpts'];
  app.post(
    '/hwpts',
    {
      schema: {
        tags,
        summary: 'Allocate a paging HWPT on an IOAS, or a nested HWPT on a vIOMMU (IOMMU_HWPT_ALLOC)',
        description: errnos({
          ENOENT: 'the device is not bound to the context of ptId',
          EINVAL: 'ptId is not an IOAS or vIOMMU of that context, a device of another SMMU, data without a type',
          EOPNOTSUPP: 'flags or data the SMMU or the object type does not take (nest_parent without nesting, dirty_tracking without HTTU, …)',
          EIO: 'a guest STE arm_smmu_validate_vste refuses',
          ENOSPC: 'no VMID or ASID left',
        }),
        body: allocHwptBody,
        response: { 201: hwptView },
      },
    },
    async (req, reply) =>
      reply.code(201).send(views.objectView(service, await service.allocHwpt({ deviceId: req.body.deviceId, ptId: req.body.ptId, flags: req.body.flags ?? [], data: req.body.data }))),
  );
  app.get(
    '/hwpts',
    { schema: { tags, summary: 'List HWPTs (paging and nested)', description: errnos(LIST_ERRORS), querystring: scopedListQuery, response: { 200: hwptPage } } },
    async (req) => views.objectPageView<'hwpt_paging' | 'hwpt_nested'>(service, service.listObjects({ ...req.query, types: ['hwpt_paging', 'hwpt_nested'] })),
  );
  app.get(
    '/hwpts/:id',
    {
      schema: { tags, summary: 'Get a HWPT (a nested one with its decoded vSTE)', description: errnos({ ENOENT: 'no such HWPT' }), params: idParams, response: { 200: hwptView } },
    },
    async (req) => views.objectView(service, service.getObject(req.params.id, ['hwpt_paging', 'hwpt_nested'], 'HWPT')),
  );
  app.put(
    '/devices/:id/attachment',
    {
      schema: {
        tags,
        summary: "Attach (or replace) a device's RID to an IOAS or a HWPT",
        description: errnos({
          ENOENT: 'the device is not bound, ptId is not an object of its context, an S1-translate nested HWPT without a vDEVICE of the device on that vIOMMU',
          EINVAL: 'ptId is a device or another type, a HWPT of another SMMU, a domain without pasid while PASIDs are attached',
          ENOSPC: 'no ASID left for the auto HWPT',
        }),
        params: idParams,
        body: attachBody,
        response: { 200: deviceDetailView },
      },
    },
    async (req) => views.deviceDetailView(service, await service.attachDevice(req.params.id, req.body.ptId)),
  );
  app.delete(
    '/devices/:id/attachment',
    {
      schema: {
        tags,
        summary: "Detach a device's RID (a detached device: nothing changes)",
        description: errnos({ ENOENT: 'the device is not bound' }, 'Answers the device (200, not 204).'),
        params: idParams,
        response: { 200: deviceDetailView },
      },
    },
    async (req) => views.deviceDetailView(service, await service.detachDevice(req.params.id)),
  );
  app.put(
    '/devices/:id/pasids/:pasid/attachment',
    {
      schema: {
        tags,
        summary: 'Attach (or replace) a PASID of a device to a stage-1 HWPT or an IOAS',
        description: errnos({
          ENOENT: 'the device is not bound, or ptId is unknown',
          EINVAL:
            "PASID 0, a HWPT not allocated with pasid, a PASID beyond the device's width, a domain of another SMMU or of stage 2, ptId a device or another type",
        }),
        params: pasidParams,
        body: attachBody,
        response: { 200: deviceDetailView },
      },
    },
    async (req) => views.deviceDetailView(service, await service.attachPasid(req.params.id, req.params.pasid, req.body.ptId)),
  );
  app.delete(
    '/devices/:id/pasids/:pasid/attachment',
    {
      schema: {
        tags,
        summary: 'Detach a PASID (an unattached PASID: nothing changes)',
        description: errnos({ ENOENT: 'the device is not bound', EINVAL: 'PASID 0' }, 'Answers the device (200, not 204).'),
        params: pasidParams,
        response: { 200: deviceDetailView },
      },
    },
    async (req) => views.deviceDetailView(service, await service.detachPasid(req.params.id, req.params.pasid)),
  );

  // vIOMMUs and vDEVICEs
  tags = ['viommus'];
  app.post(
    '/viommus',
    {
      schema: {
        tags,
        summary: 'Allocate a vIOMMU over a nest-parent HWPT (IOMMU_VIOMMU_ALLOC); it owns a VMID',
        description: errnos({
          ENOENT: 'the device is not bound, or hwptId is not a paging HWPT of the context',
          EINVAL: 'hwptId was not allocated with nest_parent',
          EOPNOTSUPP: 'type default, a type the SMMU does not support, an SMMU without nesting or without a CMDQV',
          ENOSPC: 'no VMID or VINTF left',
        }),
        body: allocViommuBody,
        response: { 201: viommuView },
      },
    },
    async (req, reply) => reply.code(201).send(views.objectView(service, await service.allocViommu(req.body))),
  );
  app.get(
    '/viommus',
    { schema: { tags, summary: 'List vIOMMUs', description: errnos(LIST_ERRORS), querystring: scopedListQuery, response: { 200: viommuPage } } },
    async (req) => views.objectPageView<'viommu'>(service, service.listObjects({ ...req.query, types: ['viommu'] })),
  );
  app.get(
    '/viommus/:id',
    { schema: { tags, summary: 'Get a vIOMMU', description: errnos({ ENOENT: 'no such vIOMMU' }), params: idParams, response: { 200: viommuView } } },
    async (req) => views.objectView(service, service.getObject(req.params.id, ['viommu'], 'vIOMMU')),
  );
  app.post(
    '/vdevices',
    {
      schema: {
        tags,
        summary: "Allocate a vDEVICE: the guest's vSID of a device on a vIOMMU (IOMMU_VDEVICE_ALLOC)",
        description: errnos({
          ENOENT: 'no such vIOMMU, or the device is not bound to its context',
          EINVAL: 'a device of another SMMU, a vSID beyond u32',
          EEXIST: 'the device has a vDEVICE, or the vSID is used on that vIOMMU',
          ENOSPC: 'no Tegra241 SID slot left',
        }),
        body: allocVdeviceBody,
        response: { 201: vdeviceView },
      },
    },
    async (req, reply) => reply.code(201).send(views.objectView(service, await service.allocVdevice(req.body))),
  );
  app.get(
    '/vdevices',
    { schema: { tags, summary: 'List vDEVICEs', description: errnos(LIST_ERRORS), querystring: scopedListQuery, response: { 200: vdevicePage } } },
    async (req) => views.objectPageView<'vdevice'>(service, service.listObjects({ ...req.query, types: ['vdevice'] })),
  );
  app.get(
    '/vdevices/:id',
    { schema: { tags, summary: 'Get a vDEVICE', description: errnos({ ENOENT: 'no such vDEVICE' }), params: idParams, response: { 200: vdeviceView } } },
    async (req) => views.objectView(service, service.getObject(req.params.id, ['vdevice'], 'vDEVICE')),
  );
};

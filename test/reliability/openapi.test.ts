/**
 * OpenAPI (issue 12 "Proof", and the OpenAPI-completeness issue): /openapi.json passes an OpenAPI
 * 3.1 validator (@seriousme/openapi-schema-validator); every operation documents a success
 * response with its schema (or a 204 without content), its errors as the one problem+json
 * schema, and its `security` (the bearer scheme, with the role its route needs); and the
 * service's answers match the document — over a walk that calls every operation of the document
 * against the bad-input fixture graph, successes and failures, and in every other test through
 * the helper's check (test/helper.ts: strict by default; test/reliability/openapi-responses.ts).
 * The document is also proven usable by a client generated from it: test/reliability/openapi-client.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { responseMismatches, startApp, type TestApp } from '../helper.js';
import { FAILING_KINDS } from './openapi-responses.js';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { A, Fixture, RECORD, hex } from '../bad-input/harness.js';
import { OpenApiResponseChecker, summarize, type ResponseMismatch } from './openapi-responses.js';

/** Operations the walk does not call: an SSE stream never ends under inject. */
const NOT_WALKED = new Set(['GET /v1/eventqs/{id}/stream']);

describe('OpenAPI: the document is valid 3.1 and the answers match it', () => {
  let t: TestApp;
  let doc: Record<string, any>;
  beforeAll(async () => {
    t = await startApp();
    doc = (await t.req('GET', '/openapi.json')).body;
  });
  afterAll(() => t?.close());

  it('openapi: /openapi.json passes the OpenAPI 3.1 schema validator (@seriousme/openapi-schema-validator)', async () => {
    const validator = new Validator();
    const res = await validator.validate(structuredClone(doc));
    expect(res.errors ?? [], JSON.stringify(res.errors, null, 1)?.slice(0, 4000)).toEqual([]);
    expect(res.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it('openapi: every operation documents its errors — 4XX and 5XX as application/problem+json with the Problem schema (errno, status, requestId)', () => {
    expect(doc.components.schemas.Problem).toMatchObject({ type: 'object', required: expect.arrayContaining(['errno', 'status', 'requestId']) });
    let operations = 0;
    for (const [p, item] of Object.entries<Record<string, any>>(doc.paths)) {
      for (const [method, op] of Object.entries<any>(item)) {
        operations++;
        for (const range of ['4XX', '5XX']) {
          expect(op.responses?.[range]?.content?.['application/problem+json']?.schema, `${method.toUpperCase()} ${p} ${range}`).toEqual({ $ref: '#/components/schemas/Problem' });
        }
      }
    }
    expect(operations).toBeGreaterThan(50);
  });

  it('openapi: the response checker finds an undocumented status, a wrong content type and a body that breaks the documented schema', () => {
    const fake = {
      openapi: '3.1.0',
      paths: {
        '/v1/things/{id}': {
          get: {
            responses: {
              '200': { description: 'ok', content: { 'application/json': { schema: { type: 'object', required: ['id'], properties: { id: { type: 'integer' } } } } } },
              '4XX': { description: 'problem', content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } },
            },
          },
        },
      },
      components: { schemas: { Problem: { type: 'object', required: ['errno'] } } },
    };
    const checker = new OpenApiResponseChecker(fake);
    const json = { 'content-type': 'application/json' };
    expect(checker.check('GET', '/v1/things/1', { status: 200, headers: json, body: { id: 1 }, raw: '{"id":1}' })).toEqual([]);
    expect(checker.check('GET', '/v1/things/1', { status: 201, headers: json, body: { id: 1 }, raw: '{"id":1}' }).map((m) => m.kind)).toEqual(['status']);
    expect(checker.check('GET', '/v1/things/1', { status: 200, headers: { 'content-type': 'text/plain' }, body: 'x', raw: 'x' }).map((m) => m.kind)).toEqual(['content-type']);
    expect(checker.check('GET', '/v1/things/1', { status: 200, headers: json, body: { id: 'x' }, raw: '{"id":"x"}' }).map((m) => m.kind)).toEqual(['schema']);
    expect(checker.check('GET', '/v1/things/1', { status: 404, headers: { 'content-type': 'application/problem+json' }, body: {}, raw: '{}' }).map((m) => m.kind)).toEqual(['schema']);
    expect(checker.check('GET', '/v1/things/1', { status: 404, headers: { 'content-type': 'application/problem+json' }, body: { errno: 'ENOENT' }, raw: '{}' })).toEqual([]);
    expect(checker.check('DELETE', '/v1/things/1', { status: 204, headers: {}, body: undefined, raw: '' }).map((m) => m.kind)).toEqual(['method']);
    // An undocumented method answered as an unknown route (404 ENOENT) is an unknown route: not checked.
    expect(checker.check('DELETE', '/v1/things/1', { status: 404, headers: { 'content-type': 'application/problem+json' }, body: { errno: 'ENOENT' }, raw: '{}' })).toEqual([]);
    // HEAD is checked against GET, without a body; a GET without its documented body is not.
    expect(checker.check('HEAD', '/v1/things/1', { status: 200, headers: json, body: undefined, raw: '' })).toEqual([]);
    expect(checker.check('GET', '/v1/things/1', { status: 200, headers: json, body: undefined, raw: '' }).map((m) => m.kind)).toEqual(['schema']);
    // A body the document has no schema for.
    const bare = new OpenApiResponseChecker({ openapi: '3.1.0', paths: { '/x': { get: { responses: { '200': { description: 'ok' } }, post: { responses: {} } }, put: { responses: { '200': { description: 'ok', content: { 'application/json': {} } } } } } } });
    expect(bare.check('GET', '/x', { status: 200, headers: json, body: { a: 1 }, raw: '{"a":1}' }).map((m) => m.kind)).toEqual(['no-schema']);
    expect(bare.check('PUT', '/x', { status: 200, headers: json, body: { a: 1 }, raw: '{"a":1}' }).map((m) => m.kind)).toEqual(['no-schema']);
    // Text and bytes are validated as the raw text (not as what JSON.parse makes of it).
    const text = new OpenApiResponseChecker({ openapi: '3.1.0', paths: { '/m': { get: { responses: { '200': { description: 'ok', content: { 'text/plain': { schema: { type: 'string' } }, 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } } } } } } });
    expect(text.check('GET', '/m', { status: 200, headers: { 'content-type': 'text/plain; version=0.0.4' }, body: 42, raw: '42' })).toEqual([]);
    expect(text.check('GET', '/m', { status: 200, headers: { 'content-type': 'application/octet-stream' }, body: 7, raw: '7' })).toEqual([]);
    expect(checker.check('GET', '/healthz', { status: 200, headers: json, body: {}, raw: '{}' })).toEqual([]);
  });

  it('openapi: a walk over every operation of the document (success and failure) — every answer is its documented status, media type and schema', async () => {
    const fx = new Fixture();
    await fx.start();
    const ft = fx.t;
    const ids = fx.ids;
    const checker = new OpenApiResponseChecker(doc);
    const mismatches: ResponseMismatch[] = [];
    const walked = new Set<string>();
    const statuses: string[] = [];
    const call = async (method: string, url: string, body?: unknown, headers?: Record<string, string>) => {
      const res = await ft.req(method as 'GET', url, body, headers);
      const route = checker.route(url);
      if (route) walked.add(`${method} ${route.template}`);
      statuses.push(`${method} ${url} ${res.status}`);
      mismatches.push(...checker.check(method, url, res));
      return res;
    };
    try {
      const { ctx, dev, dev2, freeDev, ioas, parent, viommu, nested, vdev, eventq, smmu0, tdev, tviommu, hwq } = ids;
      const octets = { 'content-type': 'application/octet-stream' };
      // Reads
      for (const url of [
        '/v1/smmus',
        `/v1/smmus/${smmu0}`,
        `/v1/smmus/${smmu0}/state?commands=4`,
        '/v1/devices',
        `/v1/devices/${dev}`,
        `/v1/devices/${dev}/hw-info`,
        `/v1/devices/${tdev}/hw-info?type=tegra241_cmdqv`,
        '/v1/contexts',
        `/v1/contexts/${ctx}`,
        `/v1/contexts/${ctx}/devices`,
        '/v1/objects',
        `/v1/objects/${nested}`,
        '/v1/ioas',
        `/v1/ioas/${ioas}`,
        `/v1/ioas/${ioas}/mappings`,
        `/v1/ioas/${ioas}/memory?iova=${hex(A)}&length=16`,
        '/v1/hwpts',
        `/v1/hwpts/${nested}`,
        '/v1/viommus',
        `/v1/viommus/${viommu}`,
        `/v1/viommus/${viommu}/stats`,
        '/v1/vdevices',
        `/v1/vdevices/${vdev}`,
        '/v1/hw-queues',
        `/v1/hw-queues/${hwq}`,
        '/v1/eventqs',
        `/v1/eventqs/${eventq}`,
      ]) {
        await call('GET', url);
      }
      // Every other collection the document lists (no path parameter).
      for (const [p, item] of Object.entries<Record<string, unknown>>(doc.paths)) if (item.get && !p.includes('{') && !walked.has(`GET ${p}`)) await call('GET', p);
      // Writes that succeed, each route once
      await call('POST', `/v1/eventqs/${eventq}/read`, { max: 1 });
      await call('POST', `/v1/viommus/${viommu}/events`, { type: 'arm_smmuv3', record: RECORD });
      await call('POST', `/v1/viommus/${viommu}/invalidate`, { dataType: 'arm_smmuv3', entries: [['0x10', '0x0']] });
      await call('POST', `/v1/objects/${viommu}/invalidate`, Buffer.from('10000000000000000000000000000000', 'hex'), octets);
      await call('POST', `/v1/hwpts/${nested}/invalidate`, { dataType: 'arm_smmuv3', entries: [['0x10', '0x0']] });
      await call('POST', `/v1/devices/${dev}/translate`, { iova: hex(A), access: 'read' });
      await call('PATCH', `/v1/hw-queues/${hwq}`, { enabled: true });
      await call('POST', `/v1/hw-queues/${hwq}/commands`, { entries: [['0x30', '0x0']] });
      await call('POST', `/v1/hw-queues/${hwq}/error/ack`, { replaceWithSync: true });
      await call('PUT', `/v1/ioas/${ioas}/memory?iova=${hex(A)}&length=16`, Buffer.alloc(16, 0xa5), octets);
      await call('POST', `/v1/ioas/${ioas}/mappings`, { iova: '0x50000000', length: '0x1000' });
      await call('DELETE', `/v1/ioas/${ioas}/mappings?iova=0x50000000&length=0x1000`);
      const spare = (await call('POST', '/v1/ioas', { contextId: ctx })).body.id;
      await call('DELETE', `/v1/objects/${spare}`);
      await call('PUT', `/v1/devices/${dev2}/attachment`, { ptId: ioas });
      await call('DELETE', `/v1/devices/${dev2}/attachment`);
      await call('POST', `/v1/contexts/${ctx}/devices`, { deviceId: freeDev });
      const pasidHwpt = (await call('POST', '/v1/hwpts', { deviceId: freeDev, ptId: ioas, flags: ['pasid'] })).body.id;
      await call('PUT', `/v1/devices/${freeDev}/attachment`, { ptId: pasidHwpt });
      await call('PUT', `/v1/devices/${freeDev}/pasids/1/attachment`, { ptId: pasidHwpt });
      await call('DELETE', `/v1/devices/${freeDev}/pasids/1/attachment`);
      await call('DELETE', `/v1/contexts/${ctx}/devices/${freeDev}`);
      const v2 = (await call('POST', '/v1/viommus', { deviceId: dev, hwptId: parent, type: 'arm_smmuv3' })).body.id;
      await call('POST', '/v1/eventqs', { viommuId: v2, type: 'arm_smmuv3', depth: 4 });
      await call('POST', '/v1/vdevices', { viommuId: v2, deviceId: dev2, virtId: 0x20 });
      await call('POST', '/v1/hw-queues', { viommuId: tviommu, type: 'tegra241_cmdqv', index: 1, nestingParentIova: hex(A + 0x1000), length: '0x1000' });
      const c2 = (await call('POST', '/v1/contexts', { name: 'openapi-walk' })).body.id;
      await call('DELETE', `/v1/contexts/${c2}`);
      const s2 = (await call('POST', '/v1/smmus', { name: 'openapi-smmu' })).body.id;
      const d2 = (await call('POST', '/v1/devices', { name: 'openapi-dev', smmuId: s2, streamId: 1 })).body.id;
      await call('DELETE', `/v1/devices/${d2}`);
      await call('DELETE', `/v1/smmus/${s2}`);
      // Failures: validation, ENOENT, EBUSY, EOPNOTSUPP, E2BIG, EEXIST
      await call('GET', '/v1/objects/4294967295');
      await call('GET', '/v1/smmus/abc');
      await call('POST', '/v1/ioas', {});
      await call('DELETE', `/v1/objects/${viommu}`);
      await call('POST', '/v1/hw-queues', { viommuId: tviommu, type: 'default', index: 0, nestingParentIova: hex(A), length: '0x1000' });
      await call('POST', `/v1/viommus/${viommu}/invalidate`, Buffer.alloc(17), octets);
      await call('POST', '/v1/contexts', { name: 'x'.repeat(200) });
      await call('POST', `/v1/ioas/${ioas}/mappings`, { iova: hex(A), length: '0x1000' });

      // Outside /v1: the probes, /metrics and this document were read above; GraphQL both ways.
      await call('POST', '/graphql', { query: '{ smmus { id name } }' });
      await call('POST', '/graphql', { query: '{ nothing }' });
      await call('GET', `/graphql?query=${encodeURIComponent('{ contexts { id } }')}`);
      await call('POST', '/graphql', 'query { smmus { id } }', { 'content-type': 'application/graphql' });

      const documented = Object.entries<Record<string, any>>(doc.paths).flatMap(([p, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${p}`));
      expect(documented.filter((op) => !walked.has(op) && !NOT_WALKED.has(op)), 'operations of the document the walk did not call').toEqual([]);
      expect(statuses.filter((s) => / 5\d\d$/.test(s))).toEqual([]);
      // Every answer, success or failure, is the documented status, media type and schema.
      expect(summarize(mismatches), 'answers that do not match the document').toEqual([]);
      console.log(`openapi walk: ${statuses.length} requests over ${walked.size} operations, every answer as documented`);
    } finally {
      await fx.close();
    }
  });

  it('openapi: the helper checks every answer, strictly by default — a documented answer passes; an undocumented status or a body without a documented schema throws', async () => {
    expect([...FAILING_KINDS].sort()).toEqual(['content-type', 'method', 'no-schema', 'schema', 'status']);
    const s = await startApp();
    try {
      // The real document: a problem and a success pass (HEAD against the GET operation).
      expect((await s.req('GET', '/v1/objects/4294967295')).status).toBe(404);
      expect((await s.req('GET', '/v1/contexts')).status).toBe(200);
      expect((await s.req('HEAD', '/v1/contexts')).status).toBe(200);
    } finally {
      await s.close();
    }
    // A document that lacks the 201 of POST /v1/contexts and the schema of GET /v1/contexts.
    const lackingDocument = (app: TestApp['app']) => {
      const lacking = structuredClone(app.swagger() as Record<string, any>);
      delete lacking.paths['/v1/contexts'].post.responses['201'];
      delete lacking.paths['/v1/contexts'].get.responses['200'].content;
      (app as { swagger: () => unknown }).swagger = () => lacking;
    };
    const l = await startApp();
    try {
      lackingDocument(l.app);
      const before = responseMismatches.length;
      await expect(l.req('POST', '/v1/contexts', { name: 'strict' })).rejects.toThrow(/status 201 not documented/);
      await expect(l.req('GET', '/v1/contexts')).rejects.toThrow(/documents no content/);
      expect(responseMismatches.slice(before).map((m) => m.kind)).toEqual(['status', 'no-schema']);
    } finally {
      await l.close();
    }
    const r = await startApp({ checkResponses: 'record' });
    try {
      lackingDocument(r.app);
      const before = responseMismatches.length;
      expect((await r.req('POST', '/v1/contexts', { name: 'recorded' })).status).toBe(201);
      expect(responseMismatches.slice(before).map((m) => m.kind)).toEqual(['status']);
    } finally {
      await r.close();
    }
  });

  it('openapi: the response schemas are not run on replies — the REST routes serialize with JSON.stringify (no zod parse on the hot path); a value against its schema goes out as built', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vsmmu-serializer-'));
    const { app } = await buildApp(loadConfig({ DATABASE_URL: `file:${path.join(dir, 'vsmmu.db')}`, LOG_LEVEL: 'silent' }));
    try {
      const serializers: Array<((data: unknown) => string) | undefined> = [];
      app.addHook('onSend', async (request, reply, payload) => {
        if (request.url.startsWith('/v1/')) serializers.push(reply.getSerializationFunction(String(reply.statusCode)) as ((data: unknown) => string) | undefined);
        return payload;
      });
      await app.ready();
      for (const url of ['/v1/smmus', '/v1/smmus/1', '/v1/objects']) expect((await app.inject({ method: 'GET', url })).statusCode).toBe(200);
      expect(serializers).toHaveLength(3);
      for (const serialize of serializers) {
        expect(serialize).toBeTypeOf('function');
        // Neither checked nor stripped: what the route built is what is sent.
        const against = { id: 'not a number', extra: true };
        expect(serialize!(against)).toBe(JSON.stringify(against));
      }
    } finally {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('openapi: every operation documents a success response with its schema (or a 204 without content), a summary, its tags, and its security', () => {
    const missing: string[] = [];
    for (const [p, item] of Object.entries<Record<string, any>>(doc.paths)) {
      for (const [method, op] of Object.entries<any>(item)) {
        const name = `${method.toUpperCase()} ${p}`;
        const successes = Object.entries<any>(op.responses).filter(([status]) => /^2\d\d$/.test(status));
        if (successes.length === 0) missing.push(`${name}: no success response`);
        for (const [status, response] of successes) {
          if (!response.description || response.description === 'Default Response') missing.push(`${name} ${status}: no description`);
          if (status === '204') {
            if (response.content) missing.push(`${name} 204: has content`);
            continue;
          }
          const media = Object.entries<any>(response.content ?? {});
          if (media.length === 0) missing.push(`${name} ${status}: no content`);
          for (const [type, m] of media) if (!m.schema || Object.keys(m.schema).length === 0) missing.push(`${name} ${status} ${type}: no schema`);
        }
        if (!op.summary) missing.push(`${name}: no summary`);
        if (!op.tags?.length) missing.push(`${name}: no tags`);
        if (!Array.isArray(op.security)) missing.push(`${name}: no security`);
        for (const requirement of op.security ?? []) {
          for (const [scheme, roles] of Object.entries<string[]>(requirement)) {
            if (scheme !== 'bearer' || roles.length !== 1 || !['viewer', 'operator', 'admin'].includes(roles[0])) missing.push(`${name}: security ${JSON.stringify(requirement)}`);
          }
        }
      }
    }
    expect(missing).toEqual([]);
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    // 64-bit values are typed as the hex strings they are, words with their 16 digits.
    expect(doc.components.schemas.Mapping.properties.iova).toMatchObject({ type: 'string', pattern: expect.stringMatching(/^\^0x/) });
    expect(doc.components.schemas.HostConfig.properties.ste.items).toMatchObject({ type: 'string', pattern: '^0x[0-9a-f]{16}$' });
    // Octet-stream bodies, in and out, and the SSE stream.
    for (const p of ['/v1/viommus/{id}/invalidate', '/v1/hwpts/{id}/invalidate', '/v1/objects/{id}/invalidate', '/v1/hw-queues/{id}/commands']) {
      expect(Object.keys(doc.paths[p].post.requestBody.content).sort(), p).toEqual(['application/json', 'application/octet-stream']);
      expect(doc.paths[p].post.requestBody.content['application/octet-stream'].schema).toMatchObject({ type: 'string', format: 'binary' });
    }
    expect(doc.paths['/v1/ioas/{id}/memory'].put.requestBody.content['application/octet-stream'].schema).toMatchObject({ type: 'string', format: 'binary' });
    expect(doc.paths['/v1/ioas/{id}/memory'].get.responses['200'].content['application/octet-stream'].schema).toMatchObject({ type: 'string', format: 'binary' });
    expect(Object.keys(doc.paths['/v1/eventqs/{id}/stream'].get.responses['200'].content)).toEqual(['text/event-stream']);
    expect(Object.keys(doc.paths['/metrics'].get.responses['200'].content)).toEqual(['text/plain']);
    // Nothing unused: every component schema is referenced.
    const text = JSON.stringify(doc.paths) + JSON.stringify(doc.components.schemas);
    expect(Object.keys(doc.components.schemas).filter((name) => !text.includes(`"#/components/schemas/${name}"`))).toEqual([]);
  });

  it('openapi: the documented security is the one enforced — with API_TOKENS, an operation without security answers without a token, every other one is 401 without a token, 403 below its role, and passes with it', async () => {
    const TOKENS = 'viewer-token-1:viewer,operator-token-1:operator,admin-token-1:admin';
    const a = await startApp({ env: { API_TOKENS: TOKENS } });
    const as = (role: string) => ({ authorization: `Bearer ${role}-token-1` });
    const below: Record<string, string | null> = { viewer: null, operator: 'viewer', admin: 'operator' };
    try {
      const wrong: string[] = [];
      for (const [p, item] of Object.entries<Record<string, any>>(doc.paths)) {
        for (const [method, op] of Object.entries<any>(item)) {
          const url = p.replace(/\{[^}]+\}/g, '999999');
          const body = p === '/graphql' ? { query: '{ smmus { id } }' } : method === 'get' ? undefined : {};
          const call = (headers: Record<string, string> = {}) => a.req(method.toUpperCase() as 'GET', url, body, headers);
          const name = `${method.toUpperCase()} ${p}`;
          const anonymous = await call();
          if (op.security.length === 0) {
            if (anonymous.status === 401 || anonymous.status === 403) wrong.push(`${name}: open, answered ${anonymous.status}`);
            continue;
          }
          const role = op.security[0].bearer[0] as string;
          if (anonymous.status !== 401) wrong.push(`${name}: no token answered ${anonymous.status}`);
          const lower = below[role];
          if (lower !== null && (await call(as(lower))).status !== 403) wrong.push(`${name}: role ${lower} was not refused`);
          const allowed = await call(as(role));
          if (allowed.status === 401 || allowed.status === 403) wrong.push(`${name}: role ${role} answered ${allowed.status}`);
        }
      }
      expect(wrong).toEqual([]);
    } finally {
      await a.close();
    }
  });
});

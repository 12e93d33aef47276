/**
 * The REST validator's shortcut for an empty query and `{ id }` path parameters
 * (src/routes/rest/index.ts restValidatorCompiler) answers exactly what zod answers: the same
 * value for what it accepts, and zod's own errors for everything else (it falls through).
 */
import { describe, expect, it } from 'vitest';
import { validatorCompiler } from 'fastify-type-provider-zod';
import { NO_QUERY, restValidatorCompiler } from '../../src/routes/rest/index.js';
import { idParams } from '../../src/schema/common.js';
import { startApp } from '../helper.js';

type Result = { value?: unknown; error?: unknown };
const compile = (c: typeof restValidatorCompiler, schema: unknown) => c({ schema, method: 'GET', url: '/x', httpPart: 'params' } as never) as (data: unknown) => Result;
const nullProto = (o: Record<string, unknown>) => Object.assign(Object.create(null) as Record<string, unknown>, o);

describe('validation shortcut', () => {
  it('validation shortcut: `{ id }` parameters and an empty query validate as zod validates them, value and errors', () => {
    const cases: Array<[unknown, unknown]> = [
      [idParams, { id: '1' }],
      [idParams, { id: '42' }],
      [idParams, { id: '007' }],
      [idParams, { id: '4294967295' }],
      [idParams, { id: '4294967296' }],
      [idParams, { id: '9999999999' }],
      [idParams, { id: '0' }],
      [idParams, { id: '-1' }],
      [idParams, { id: '1e3' }],
      [idParams, { id: '0x10' }],
      [idParams, { id: ' 1' }],
      [idParams, { id: '' }],
      [idParams, { id: '12345678901' }],
      [idParams, { id: 5 }],
      [idParams, {}],
      [idParams, { id: '3', other: 'x' }],
      [idParams, nullProto({ id: '17' })],
      [idParams, null],
      [NO_QUERY, {}],
      [NO_QUERY, nullProto({})],
      [NO_QUERY, { a: '1' }],
      [NO_QUERY, nullProto({ contextid: '3' })],
      [NO_QUERY, null],
    ];
    for (const [schema, data] of cases) {
      const fast = compile(restValidatorCompiler, schema)(data);
      const zod = compile(validatorCompiler as typeof restValidatorCompiler, schema)(data);
      const label = `${schema === idParams ? 'idParams' : 'NO_QUERY'} ${JSON.stringify(data)}`;
      expect(fast.error === undefined, label).toBe(zod.error === undefined);
      if (zod.error === undefined) expect(fast.value, label).toEqual(zod.value);
      else expect(JSON.stringify(fast.error), label).toBe(JSON.stringify(zod.error));
    }
  });

  it('validation shortcut: over HTTP a good id is served, a bad one and an unknown query parameter are EINVAL naming them', async () => {
    const t = await startApp();
    try {
      expect((await t.req('GET', '/v1/smmus/1')).status).toBe(200);
      expect((await t.req('GET', '/v1/smmus/4294967295')).status).toBe(404);
      const bad = await t.req('GET', '/v1/smmus/4294967296');
      expect(bad.status).toBe(400);
      expect(bad.body.errors[0].path).toBe('params/id');
      const query = await t.req('GET', '/v1/smmus/1?contextid=3');
      expect(query.status).toBe(400);
      expect(query.body.detail).toContain('contextid');
    } finally {
      await t.close();
    }
  });
});

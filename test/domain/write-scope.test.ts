/**
 * The write scope (src/domain/write-scope.ts) lasts for the synchronous part of a handler: the
 * Store takes it when `write` is called. A write started outside every scope — for example after
 * an `await` — is refused instead of being committed without its audit entry's author.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runInWriteScope, systemScope, WriteOutsideScopeError } from '../../src/domain/write-scope.js';
import { startApp, type TestApp } from '../helper.js';

let t: TestApp;
beforeAll(async () => {
  t = await startApp();
});
afterAll(async () => t?.close());

const contextNames = async () => (await t.req('GET', '/v1/contexts')).body.items.map((c: { name: string }) => c.name);
const auditOperations = async () => (await t.req('GET', '/v1/audit?limit=500')).body.items.map((e: { operation: string | null }) => e.operation);

describe('write scope', () => {
  it('write scope: a write started outside every scope is refused (WriteOutsideScopeError) and changes nothing', async () => {
    const before = await contextNames();
    await expect(t.service.createContext('no-scope')).rejects.toBeInstanceOf(WriteOutsideScopeError);
    expect(await contextNames()).toEqual(before);
  });

  it('write scope: a write started inside the scope, before any await, is committed with the scope\'s origin as its audit entry', async () => {
    await runInWriteScope(systemScope('scoped-test'), () => t.service.createContext('in-scope'));
    expect(await contextNames()).toContain('in-scope');
    expect((await auditOperations()).at(-1)).toBe('scoped-test');
  });

  it('write scope: the scope ends with the synchronous part — a write after an await inside it is refused; nested scopes restore the outer one', async () => {
    const late = runInWriteScope(systemScope('late'), async () => {
      await Promise.resolve();
      return t.service.createContext('too-late');
    });
    await expect(late).rejects.toBeInstanceOf(WriteOutsideScopeError);
    expect(await contextNames()).not.toContain('too-late');

    const inner = runInWriteScope(systemScope('outer'), () => {
      runInWriteScope(systemScope('inner'), () => undefined);
      return t.service.createContext('after-nested');
    });
    await inner;
    expect((await auditOperations()).at(-1)).toBe('outer');
  });
});

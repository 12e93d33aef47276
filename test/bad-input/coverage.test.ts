/** The bad-input tables as a whole: every route of /openapi.json has one, and case names are unique. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { must, startApp, type TestApp } from '../helper.js';
import { contextTables } from './contexts.cases.js';
import { eventTables } from './events.cases.js';
import { hardwareTables } from './hardware.cases.js';
import type { Case } from './harness.js';
import { inventoryTables } from './inventory.cases.js';
import { objectTables } from './objects.cases.js';

/** All tables; an endpoint found in two modules keeps the cases of both. */
const tables: Record<string, Case[]> = {};
for (const module of [inventoryTables, contextTables, objectTables, hardwareTables, eventTables]) {
  for (const [endpoint, cases] of Object.entries(module)) tables[endpoint] = [...(tables[endpoint] ?? []), ...cases];
}
const ALL_CASES = Object.values(tables).flat();

let t: TestApp;
beforeAll(async () => {
  t = await startApp();
});
afterAll(async () => {
  await t?.close();
});

describe('bad input (REST): the contract answer, and nothing changes', () => {
  it('every REST route in /openapi.json has a table here', async () => {
    const doc = must(await t.req('GET', '/openapi.json'), 200);
    const missing: string[] = [];
    // The REST API (/v1); GraphQL's bad input is test/bad-input/graphql.test.ts, the probes take none.
    for (const [p, ops] of Object.entries(doc.paths as Record<string, Record<string, unknown>>).filter(([p]) => p.startsWith('/v1/'))) {
      for (const m of Object.keys(ops)) {
        const key = `${m.toUpperCase()} ${p}`;
        const covered = Object.keys(tables).some((k) => k === key || k === `${key} (list)`);
        // Plain collection GETs without parameters are covered by their list-query tables.
        if (!covered) missing.push(key);
      }
    }
    expect(missing).toEqual([]);
  });

  it('case names are unique', () => {
    const names = ALL_CASES.map((c) => c.name);
    expect(names.filter((n, i) => names.indexOf(n) !== i).join('\n')).toBe('');
  });
});

/** Bad input to the routes of src/routes/rest/contexts.ts: the tables of ./contexts.cases.ts, on an app of this file's own. */
import { afterAll, beforeAll } from 'vitest';
import { describeTables, Fixture } from './harness.js';
import { contextTables } from './contexts.cases.js';

const fixture = new Fixture();
beforeAll(() => fixture.start());
afterAll(() => fixture.close());

describeTables(contextTables, fixture);

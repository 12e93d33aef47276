/** Bad input to the routes of src/routes/rest/objects.ts: the tables of ./objects.cases.ts, on an app of this file's own. */
import { afterAll, beforeAll } from 'vitest';
import { describeTables, Fixture } from './harness.js';
import { objectTables } from './objects.cases.js';

const fixture = new Fixture();
beforeAll(() => fixture.start());
afterAll(() => fixture.close());

describeTables(objectTables, fixture);

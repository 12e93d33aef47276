/** Bad input to the routes of src/routes/rest/events.ts: the tables of ./events.cases.ts, on an app of this file's own. */
import { afterAll, beforeAll } from 'vitest';
import { describeTables, Fixture } from './harness.js';
import { eventTables } from './events.cases.js';

const fixture = new Fixture();
beforeAll(() => fixture.start());
afterAll(() => fixture.close());

describeTables(eventTables, fixture);

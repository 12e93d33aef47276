/** Bad input to the routes of src/routes/rest/hardware.ts: the tables of ./hardware.cases.ts, on an app of this file's own. */
import { afterAll, beforeAll } from 'vitest';
import { describeTables, Fixture } from './harness.js';
import { hardwareTables } from './hardware.cases.js';

const fixture = new Fixture();
beforeAll(() => fixture.start());
afterAll(() => fixture.close());

describeTables(hardwareTables, fixture);

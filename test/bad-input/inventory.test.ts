/** Bad input to the routes of src/routes/rest/inventory.ts: the tables of ./inventory.cases.ts, on an app of this file's own. */
import { afterAll, beforeAll } from 'vitest';
import { describeTables, Fixture } from './harness.js';
import { inventoryTables } from './inventory.cases.js';

const fixture = new Fixture();
beforeAll(() => fixture.start());
afterAll(() => fixture.close());

describeTables(inventoryTables, fixture);

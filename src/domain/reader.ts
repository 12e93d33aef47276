import type { ObjectGraph, WriteTx } from './graph.js';

/** Read access shared by the committed graph and a write transaction's view of it. */
export type Reader = Pick<WriteTx, 'get' | 'values' | 'indexed'> | Pick<ObjectGraph, 'get' | 'values' | 'indexed'>;

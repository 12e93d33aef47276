/** IOAS (IOMMU_IOAS_ALLOC): an I/O address space; its mappings go with it. Rules: ../ioas.ts. */
import { baseView, type ObjectBase, type ObjectDescriptor } from './descriptor.js';

export interface IoasRec extends ObjectBase {
  type: 'ioas';
}

export const ioas: ObjectDescriptor<IoasRec> = {
  type: 'ioas',
  name: 'IOAS',
  graphqlType: 'Ioas',
  columns: {},
  refs: () => [],
  changesStes: false,
  owns: ['mappings'],
  view: (o) => baseView(o),
};

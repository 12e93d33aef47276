/**
 * SMMUv3 hardware model (smmuv3.md): pure, synchronous, deterministic. Re-exports every module
 * of src/hw; nothing here imports outside src/hw.
 */
export * from './fields.js';
export * from './idr.js';
export * from './commands.js';
export * from './ste.js';
export * from './cd.js';
export * from './events.js';
export * from './tlb.js';
export * from './atc.js';
export * from './queue.js';
export * from './smmu.js';
export * from './strtab.js';
export * from './walk.js';

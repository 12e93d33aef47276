/**
 * SMMUv3 hardware model (smmuv3.md): pure, synchronous, deterministic. Re-exports every module
 * of src/hw; nothing here imports outside src/hw.
 *
 * Hardware: fields (the field language), registers, idr, commands, ste, cd, events, strtab,
 * config (STE/CD decode and config cache), cdtable (substreams: which CD, the CD table walk),
 * walk (page tables), translate, tlb, range-inval, atc, queue (generic consumer), execute
 * (command semantics), cmdq (main queue), smmu (the device); tegra241-cmdqv (the CMDQV's guest-owned VINTFs and VCMDQs, a second piece of hardware).
 * What the host driver does to it (STE makers, CMD_SYNC, error skip, command conversion) is
 * software, in src/domain/driver.
 */
export * from './fields.js';
export * from './registers.js';
export * from './idr.js';
export * from './commands.js';
export * from './ste.js';
export * from './cd.js';
export * from './events.js';
export * from './strtab.js';
export * from './config.js';
export * from './cdtable.js';
export * from './walk.js';
export * from './translate.js';
export * from './tlb.js';
export * from './range-inval.js';
export * from './atc.js';
export * from './queue.js';
export * from './execute.js';
export * from './cmdq.js';
export * from './smmu.js';
export * from './tegra241-cmdqv.js';

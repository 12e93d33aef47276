/**
 * The host driver (src/domain/driver/arm-smmu-v3.ts) works on the bare hardware (`Smmuv3`),
 * and no hardware module depends on it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { encodeCommand } from '../../src/hw/commands.js';
import { buildS2Ste, installSte, issueCmdlist, LINUX_CMD_SYNC, skipFailedCommand } from '../../src/domain/driver/arm-smmu-v3.js';
import { Smmuv3 } from '../../src/hw/smmu.js';
import { DEFAULT_IDR } from '../../src/hw/idr.js';
import { cmds } from '../hw/helpers.js';

describe('host driver functions on the bare SMMU', () => {
  it('LINUX_CMD_SYNC is the CMD_SYNC Linux ends a batch with: (0x0FC02046, 0)', () => {
    expect(LINUX_CMD_SYNC).toEqual([0x0fc02046n, 0n]);
  });

  it('installSte writes the STE, then CFGI_STE (leaf) + CMD_SYNC through the command queue drop the cached configuration (arm_smmu_sync_ste_for_sid)', () => {
    const smmu = new Smmuv3({ idr: DEFAULT_IDR }); // 48-bit OAS: the driver's S2 STE (S2T0SZ 16) is valid
    installSte(smmu, 8, buildS2Ste({ vmid: 3, s2ttb: 0n }));
    expect(smmu.fetchConfig(8)?.vmid).toBe(3);
    smmu.setSte(8, buildS2Ste({ vmid: 4, s2ttb: 0n }));
    expect(smmu.fetchConfig(8)?.vmid).toBe(3); // a plain memory write: the cache keeps its copy
    installSte(smmu, 8, buildS2Ste({ vmid: 5, s2ttb: 0n }));
    expect(smmu.fetchConfig(8)?.vmid).toBe(5);
    expect(smmu.stats().commands.executed).toBe(4);
    expect(smmu.executedCommands(2).commands).toEqual([encodeCommand('CFGI_STE', { SID: 8, LEAF: 1 }), LINUX_CMD_SYNC]);
  });

  it('skipFailedCommand replaces a CERROR_ILL command with LINUX_CMD_SYNC and restarts; ABT is only acknowledged', () => {
    const smmu = new Smmuv3({ idr: DEFAULT_IDR, cmdqLog2Size: 4 });
    const r = smmu.submitCommands(cmds(encodeCommand('TLBI_NSNH_ALL'), [0x07n, 0n], encodeCommand('TLBI_NSNH_ALL')));
    expect(r).toMatchObject({ consumed: 1, error: { code: 'CERROR_ILL', slot: 1 }, stopped: true });
    expect(skipFailedCommand(smmu)).toEqual({ consumed: 2, error: null });
    expect(smmu.executedCommands(2).commands).toEqual([LINUX_CMD_SYNC, encodeCommand('TLBI_NSNH_ALL')]);
    // Nothing stopped: acknowledging is harmless.
    expect(skipFailedCommand(smmu)).toEqual({ consumed: 0, error: null });
  });
});

describe('issueCmdlist', () => {
  it('issueCmdlist: a queue that does not drain (CMDQEN off) is the CMD_SYNC timing out — an error, never a silent no-op', () => {
    const smmu = new Smmuv3({ idr: DEFAULT_IDR });
    smmu.writeCr0(0);
    const buf = new Uint8Array(16);
    expect(() => issueCmdlist(smmu, buf, 0, 1)).toThrow(/did not complete/);
  });
});

describe('layout', () => {
  it('layout: src/hw is hardware only — no module of it imports anything outside src/hw', () => {
    const dir = new URL('../../src/hw/', import.meta.url);
    const files = readdirSync(dir, { recursive: true }).map(String).filter((f) => f.endsWith('.ts'));
    expect(files.length).toBeGreaterThan(10);
    for (const f of files) expect(readFileSync(new URL(f, dir), 'utf8'), f).not.toMatch(/from '\.\.\//);
  });
});

import { describe, expect, it } from 'vitest';
import { cmdSetSid, encodeCommand } from '../../src/hw/commands.js';
import { buildAbortSte } from '../../src/domain/driver/arm-smmu-v3.js';
import { encodeSte } from '../../src/hw/ste.js';
import { consumeQueue, createQueueState, CERROR, type CommandMemory } from '../../src/hw/queue.js';
import { setIdrField } from '../../src/hw/idr.js';
import { SmmuModel } from './helpers.js';
import { cmds, putSlot, QEMU_STAGE1_IDR, QEMU_STAGE2_IDR, tlbEntry, vectorSmmu } from './helpers.js';

const LINUX_SYNC: [bigint, bigint] = [0x0fc02046n, 0n];

function cacheConfigs(smmu: SmmuModel, sids: number[]): void {
  for (const sid of sids) {
    smmu.setSte(sid, buildAbortSte());
    expect(smmu.fetchConfig(sid)).not.toBeNull();
  }
}

describe('§8 A: command queue, errors, completion', () => {
  it('A1: CMD_SYNC in Linux form at index 0, PROD=1 → CONS=1, no interrupt', () => {
    const smmu = vectorSmmu();
    putSlot(smmu, 0, LINUX_SYNC);
    const r = smmu.writeCmdqProd(1);
    expect(r).toEqual({ consumed: 1, error: null });
    expect(smmu.readCmdqCons()).toBe(1);
    expect(smmu.stats().irqs).toEqual({ cmdSync: 0, gerror: 0 });
    expect(smmu.readGerror()).toBe(0);
  });

  it('A2: CMD_SYNC CS=IRQ pulses the CMD_SYNC IRQ even with IRQ_CTRL=0; reserved CS=3 too', () => {
    const smmu = vectorSmmu();
    smmu.writeIrqCtrl(0);
    putSlot(smmu, 0, [0x0fc01046n, 0x90000000n]);
    smmu.writeCmdqProd(1);
    expect(smmu.readCmdqCons()).toBe(1);
    expect(smmu.stats().irqs.cmdSync).toBe(1);
    putSlot(smmu, 1, [0x3046n, 0n]);
    smmu.writeCmdqProd(2);
    expect(smmu.readCmdqCons()).toBe(2);
    expect(smmu.stats().irqs.cmdSync).toBe(2);
    // CS=SEV (Linux form) and CS=NONE do not pulse.
    putSlot(smmu, 2, LINUX_SYNC);
    putSlot(smmu, 3, [0x0046n, 0n]);
    smmu.writeCmdqProd(4);
    expect(smmu.stats().irqs.cmdSync).toBe(2);
  });

  it('A3: opcode 0x7F at index 2 → CONS = 0x0100_0002, GERROR bit 0 set, GERROR IRQ pulsed', () => {
    const smmu = vectorSmmu();
    putSlot(smmu, 0, [0x1n, 0n]);
    putSlot(smmu, 1, [0x1n, 0n]);
    putSlot(smmu, 2, [0x7fn, 0n]);
    const r = smmu.writeCmdqProd(3);
    expect(r).toEqual({ consumed: 2, error: { code: 'CERROR_ILL', index: 2, opcode: 0x7f } });
    expect(smmu.readCmdqCons()).toBe(0x01000002);
    expect(smmu.readGerror() & 1).toBe(1);
    expect(smmu.stats().irqs.gerror).toBe(1);
    expect(smmu.cmdqState()).toMatchObject({ err: CERROR.ILL, stopped: true });
  });

  function stoppedAt2(): SmmuModel {
    const smmu = vectorSmmu();
    putSlot(smmu, 0, [0x1n, 0n]);
    putSlot(smmu, 1, [0x1n, 0n]);
    putSlot(smmu, 2, [0x7fn, 0n]);
    smmu.writeCmdqProd(3);
    putSlot(smmu, 3, LINUX_SYNC);
    return smmu;
  }

  it('A4: while CMDQ_ERR is active a new PROD consumes nothing', () => {
    const smmu = stoppedAt2();
    const r = smmu.writeCmdqProd(4);
    expect(r).toEqual({ consumed: 0, error: null });
    expect(smmu.readCmdqCons()).toBe(0x01000002);
    expect(smmu.cmdqState()).toMatchObject({ stopped: true, pending: 2 });
  });

  it('A5: GERRORN=1 without repairing slot 2 re-executes 0x7F, fails again, GERROR bit 0 flips to 0', () => {
    const smmu = stoppedAt2();
    smmu.writeCmdqProd(4);
    const r = smmu.writeGerrorn(0x1);
    expect(r.error).toEqual({ code: 'CERROR_ILL', index: 2, opcode: 0x7f });
    expect(smmu.readGerror() & 1).toBe(0);
    expect(smmu.readGerrorn() & 1).toBe(1);
    expect(smmu.readCmdqCons()).toBe(0x01000002);
    expect(smmu.cmdqState().stopped).toBe(true);
    expect(smmu.stats().commands.errors.CERROR_ILL).toBe(2);
  });

  it('A6: Linux recovery (slot 2 := CMD_SYNC, GERRORN = GERROR) consumes 2 and 3; ERR cleared (project decision)', () => {
    const smmu = stoppedAt2();
    smmu.writeCmdqProd(4);
    putSlot(smmu, 2, LINUX_SYNC);
    const r = smmu.writeGerrorn(smmu.readGerror());
    expect(r).toEqual({ consumed: 2, error: null });
    // QEMU would read 0x0100_0004 (stale ERR, flagged quirk); this model clears ERR on acknowledge.
    expect(smmu.readCmdqCons()).toBe(0x00000004);
    expect(smmu.cmdqState()).toMatchObject({ stopped: false, err: 0, pending: 0 });
  });

  it('A6 (skipFailedCommand): the failing slot is replaced by a CMD_SYNC and the queue drains', () => {
    const smmu = stoppedAt2();
    smmu.writeCmdqProd(4);
    const r = smmu.skipFailedCommand();
    expect(r).toEqual({ consumed: 2, error: null });
    expect(smmu.readCmdqCons()).toBe(4);
    expect(smmu.stats().commands.byOpcode.CMD_SYNC).toBe(2);
  });

  it('A7: opcodes 0x00, 0x07 and 0x47 are CERROR_ILL', () => {
    for (const op of [0x00n, 0x07n, 0x47n]) {
      const smmu = vectorSmmu();
      const r = smmu.submitCommands(cmds([op, 0n]));
      expect(r.error).toEqual({ code: 'CERROR_ILL', index: 0, opcode: Number(op), slot: 0 });
      expect(r.consumed).toBe(0);
      expect(smmu.readCmdqCons()).toBe(0x01000000);
    }
  });

  it('A8: a command slot in unbacked memory → CERROR_ABT, CONS not advanced', () => {
    const bytes = cmds(LINUX_SYNC, LINUX_SYNC);
    const view = new DataView(bytes.buffer);
    const mem: CommandMemory = { view, entryOffset: (i) => (i === 0 ? 0 : -1) };
    const q = createQueueState(4);
    q.prod = 2;
    const smmu = vectorSmmu();
    const r = smmu.consume(q, mem);
    expect(r).toEqual({ consumed: 1, error: { code: 'CERROR_ABT', index: 1, opcode: null } });
    expect(q.cons).toBe(0x02000001);
    expect(q.gerror & 1).toBe(1);
    expect(smmu.stats().commands.errors.CERROR_ABT).toBe(1);
  });

  it('A9: CFGI_STE with SSec → CERROR_ILL; without SSec drops SID 5 config, IOTLB unchanged', () => {
    const smmu = vectorSmmu();
    cacheConfigs(smmu, [5, 6]);
    smmu.iotlbInsert(tlbEntry(1, -1, 0x1000n));
    const bad = smmu.submitCommands(cmds([0x0000_0005_0000_0403n, 0n]));
    expect(bad.error?.code).toBe('CERROR_ILL');
    expect(smmu.configCacheSids()).toEqual([5, 6]);
    smmu.acknowledgeError(); // re-executes and fails again: the entry is not repaired
    const fresh = vectorSmmu();
    cacheConfigs(fresh, [5, 6]);
    fresh.iotlbInsert(tlbEntry(1, -1, 0x1000n));
    const ok = fresh.submitCommands(cmds([0x0000_0005_0000_0003n, 0n]));
    expect(ok).toMatchObject({ consumed: 1, error: null });
    expect(fresh.configCacheSids()).toEqual([6]);
    expect(fresh.iotlb.size).toBe(1);
  });

  it('A10: CFGI_ALL as Linux emits it (0x4, 0x1F) drops every cached config', () => {
    const smmu = vectorSmmu();
    cacheConfigs(smmu, [0, 8, 0x1234, 0xffff]);
    expect(encodeCommand('CFGI_ALL')).toEqual([0x4n, 0x1fn]);
    const r = smmu.submitCommands(cmds([0x4n, 0x1fn]));
    expect(r.error).toBeNull();
    expect(smmu.configCacheSids()).toEqual([]);
  });

  it('A11: CFGI_STE_RANGE SID 0x123 Range 3 drops 0x120..0x12F, keeps 0x130', () => {
    const smmu = vectorSmmu();
    cacheConfigs(smmu, [0x11f, 0x120, 0x123, 0x12f, 0x130]);
    smmu.submitCommands(cmds([0x0000_0123_0000_0004n, 0x3n]));
    expect(smmu.configCacheSids()).toEqual([0x11f, 0x130]);
  });

  it('A12: TLBI_EL2_ALL, TLBI_EL3_ALL, ATC_INV, PRI_RESP, RESUME, STALL_TERM are consumed silently', () => {
    const smmu = vectorSmmu();
    smmu.iotlbInsert(tlbEntry(1, -1, 0x1000n));
    const r = smmu.submitCommands(
      cmds(
        [0x20n, 0n],
        [0x18n, 0n],
        encodeCommand('ATC_INV', { SID: 8, SIZE: 52 }),
        encodeCommand('PRI_RESP', { SID: 8, RESP: 2 }),
        encodeCommand('RESUME', { SID: 8, STAG: 3 }),
        encodeCommand('STALL_TERM', { SID: 8 }),
      ),
    );
    expect(r).toEqual({ consumed: 6, enqueued: 6, error: null, stopped: false });
    expect(smmu.iotlb.size).toBe(1);
    expect(smmu.stats().commands.byOpcode).toEqual({
      TLBI_EL2_ALL: 1,
      TLBI_EL3_ALL: 1,
      ATC_INV: 1,
      PRI_RESP: 1,
      RESUME: 1,
      STALL_TERM: 1,
    });
  });

  it('A13: stage-2-only SMMU rejects TLBI_NH_ALL; stage-1-only rejects TLBI_S12_VMALL and TLBI_S2_IPA', () => {
    const s2 = vectorSmmu(QEMU_STAGE2_IDR);
    expect(s2.submitCommands(cmds([0x10n, 0n])).error?.code).toBe('CERROR_ILL');
    for (const op of [0x28n, 0x2an]) {
      const s1 = vectorSmmu(QEMU_STAGE1_IDR);
      expect(s1.submitCommands(cmds([op, 0n])).error).toMatchObject({ code: 'CERROR_ILL', opcode: Number(op) });
    }
  });

  it('A14: CR0.CMDQEN=0 holds the queue; enabling drains it; CR0ACK clears 0xFFFFFC20', () => {
    const smmu = vectorSmmu();
    smmu.writeCr0(0x5);
    putSlot(smmu, 0, LINUX_SYNC);
    putSlot(smmu, 1, LINUX_SYNC);
    expect(smmu.writeCmdqProd(2).consumed).toBe(0);
    expect(smmu.readCmdqCons()).toBe(0);
    expect(smmu.writeCr0(0xd).consumed).toBe(2);
    expect(smmu.readCmdqCons()).toBe(2);
    smmu.writeCr0(0xffffffff);
    expect(smmu.readCr0Ack()).toBe(0x3df);
    expect(smmu.readCr0()).toBe(0xffffffff);
  });

  it('A15: CMDQ_BASE LOG2SIZE=25 is treated as 2^19 entries, BASE reads back 25', () => {
    const smmu = vectorSmmu();
    smmu.writeCmdqBase(0x80000000n | 25n);
    expect(smmu.readCmdqBase()).toBe(0x80000019n);
    expect(smmu.cmdqState().log2Size).toBe(19);
    expect(smmu.cmdqRing().byteLength).toBe(16 << 19);
    // Even an IDR1 advertising CMDQS=31 is capped at the architectural 19.
    const wide = new SmmuModel({ idr: setIdrField(QEMU_STAGE1_IDR, 'CMDQS', 31), cmdqLog2Size: 25 });
    expect(wide.cmdqState().log2Size).toBe(19);
  });

  it('A16: queue wrap with log2size 2: CONS=0x3, PROD=0x5 executes slots 3 and 0, CONS=0x5', () => {
    const smmu = vectorSmmu();
    smmu.writeCmdqBase(0x80000000n | 2n);
    putSlot(smmu, 3, [0x20n, 0n]); // TLBI_EL2_ALL
    putSlot(smmu, 0, LINUX_SYNC);
    putSlot(smmu, 1, [0x00n, 0n]); // would be ILL if executed
    putSlot(smmu, 2, [0x00n, 0n]);
    smmu.writeCmdqCons(0x3);
    const r = smmu.writeCmdqProd(0x5);
    expect(r).toEqual({ consumed: 2, error: null });
    expect(smmu.readCmdqCons()).toBe(0x5);
    expect(smmu.stats().commands.byOpcode).toEqual({ TLBI_EL2_ALL: 1, CMD_SYNC: 1 });
  });
});

describe('command queue: batches through submitCommands', () => {
  it('a batch larger than the queue is chunked and fully consumed', () => {
    const smmu = vectorSmmu();
    const batch = cmds(...Array.from({ length: 40 }, () => LINUX_SYNC));
    const r = smmu.submitCommands(batch, 0, 40);
    expect(r).toEqual({ consumed: 40, enqueued: 40, error: null, stopped: false });
    expect(smmu.readCmdqCons()).toBe(smmu.readCmdqProd());
    expect(smmu.stats().commands.byOpcode.CMD_SYNC).toBe(40);
  });

  it('an error in the middle of a batch reports its batch index and stops the queue until acknowledged', () => {
    const smmu = vectorSmmu();
    const batch = cmds(LINUX_SYNC, LINUX_SYNC, [0x07n, 0n], LINUX_SYNC);
    const r = smmu.submitCommands(batch, 0, 4);
    expect(r).toEqual({
      consumed: 2,
      enqueued: 4,
      error: { code: 'CERROR_ILL', index: 2, opcode: 7, slot: 2 },
      stopped: true,
    });
    // A stopped queue consumes nothing, even new work.
    const again = smmu.submitCommands(cmds(LINUX_SYNC));
    expect(again).toMatchObject({ consumed: 0, enqueued: 1, error: null, stopped: true });
    const ack = smmu.skipFailedCommand();
    expect(ack).toEqual({ consumed: 3, error: null });
    expect(smmu.cmdqState()).toMatchObject({ stopped: false, err: 0, pending: 0 });
  });

  it('submitCommands honours offset and count', () => {
    const smmu = vectorSmmu();
    const batch = cmds([0x07n, 0n], LINUX_SYNC, LINUX_SYNC, [0x07n, 0n]);
    expect(smmu.submitCommands(batch, 16, 2)).toEqual({ consumed: 2, enqueued: 2, error: null, stopped: false });
    expect(() => smmu.submitCommands(batch, 16, 4)).toThrow(RangeError);
  });

  it('the generic consumer runs a caller queue with a filter that rewrites and rejects', () => {
    const smmu = new SmmuModel({ idr: QEMU_STAGE1_IDR });
    smmu.setSte(5, encodeSte({ V: 1, CONFIG: 4 }));
    smmu.fetchConfig(5);
    smmu.setSte(9, encodeSte({ V: 1, CONFIG: 4 }));
    smmu.fetchConfig(9);
    const bytes = cmds(encodeCommand('CFGI_STE', { SID: 0x10 }), encodeCommand('CMD_SYNC'), encodeCommand('CFGI_ALL'));
    const q = createQueueState(2);
    q.prod = 3;
    const seen: number[] = [];
    const r = consumeQueue(q, { view: new DataView(bytes.buffer), entryOffset: (i) => i * 16 }, {
      execute: (_view, _off, opcode) => {
        seen.push(opcode);
        return CERROR.NONE;
      },
    });
    expect(r.consumed).toBe(3);
    expect(seen).toEqual([0x03, 0x46, 0x04]);
    // Through the SMMU: vSID 0x10 → pSID 5 rewrite; CFGI_STE_RANGE refused with ILL.
    const q2 = createQueueState(2);
    q2.prod = 3;
    const mem: CommandMemory = { view: new DataView(bytes.buffer), entryOffset: (i) => i * 16 };
    const r2 = smmu.consume(q2, mem, (view, off, opcode) => {
      if (opcode === 0x04) return CERROR.ILL;
      if (opcode === 0x03) cmdSetSid(view, off, 5);
      return CERROR.NONE;
    });
    expect(r2).toEqual({ consumed: 2, error: { code: 'CERROR_ILL', index: 2, opcode: 0x04 } });
    expect(smmu.configCacheSids()).toEqual([9]);
    expect(q2.cons).toBe(0x01000002);
  });
});

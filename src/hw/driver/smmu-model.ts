/**
 * `SmmuModel`: the SMMU as src/domain drives it today — the hardware (`Smmuv3`, src/hw/smmu.ts)
 * with two of the host driver's operations as methods (src/hw/driver/arm-smmu-v3.ts). It exists
 * so that src/domain keeps its calls while the driver still lives in src/hw; once the domain
 * calls `installSte(smmu, …)` and `skipFailedCommand(smmu)` itself, `Smmuv3` is enough.
 */
import type { ConsumeResult } from '../queue.js';
import { Smmuv3 } from '../smmu.js';
import { installSte, skipFailedCommand } from './arm-smmu-v3.js';

export class SmmuModel extends Smmuv3 {
  /** `arm_smmu_write_ste`: setSte, then the SMMU drops its cached copy (src/hw/driver/arm-smmu-v3.ts). */
  installSte(sid: number, words: ArrayLike<bigint>): void {
    installSte(this, sid, words);
  }

  /** `__arm_smmu_cmdq_skip_err` + GERRORN on the main queue (src/hw/driver/arm-smmu-v3.ts). */
  skipFailedCommand(): ConsumeResult {
    return skipFailedCommand(this);
  }
}

import type { PreflightCheck } from './migration-errors.ts';
import type { ResolvedMigrationOptions } from './migration-options.ts';
import { switchoverPauseCostMs } from './policy/switchover-gate.ts';

/**
 * Whether maxDowntime leaves room for any memory after the pause's fixed
 * cost. A budget that the cost alone fills would be cancelled by the
 * downtime guarantee at the switchover, after the whole transfer (and a
 * brief pause of the guest): refused before anything moves instead.
 */
export function downtimeBudgetCheck(options: Pick<ResolvedMigrationOptions, 'maxDowntime' | 'switchoverCost'>, copyingDisks: boolean): PreflightCheck {
  const costMs = switchoverPauseCostMs(options.switchoverCost, copyingDisks);
  const cost = `switchoverCost ${options.switchoverCost} ms${copyingDisks ? ` + ${costMs - options.switchoverCost} ms to finish the disk mirrors` : ''}`;
  if (options.maxDowntime > costMs) return { check: 'downtime-budget', ok: true, message: `maxDowntime ${options.maxDowntime} ms: ${options.maxDowntime - costMs} ms for the last memory after the pause's fixed cost (${cost})` };
  return {
    check: 'downtime-budget',
    ok: false,
    message: `maxDowntime ${options.maxDowntime} ms cannot be kept: a switchover pauses the guest ${costMs} ms before any memory is sent (${cost}), so the downtime guarantee would cancel it after the whole transfer; allow more than ${costMs} ms, or set switchoverCost to what your hosts measure`,
  };
}

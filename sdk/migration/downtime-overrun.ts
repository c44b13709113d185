import type { SwitchoverEstimate } from './policy/switchover-gate.ts';
import { throttleSleepMs } from './policy/throttle-steps.ts';

/** A completed pre-copy switchover that paused the guest longer than maxDowntime: by how much, and what ferry knows of why. */
export interface DowntimeOverrun {
  /** QEMU's downtime beyond maxDowntime, ms. */
  byMs: number;
  reason: string;
}

/**
 * Whether QEMU's measured pause broke the budget the gate let through, and
 * the likeliest cause from what the gate saw. Post-copy and a permitted
 * pause accepted a longer stop, so they are not overruns.
 *
 * @example
 * downtimeOverrun({ downtimeMs: 997, maxDowntimeMs: 300, estimate: { estimateMs: 60, throttlePercent: 99 } })?.byMs // 697
 */
export function downtimeOverrun(input: { downtimeMs: number; maxDowntimeMs: number; estimate?: Pick<SwitchoverEstimate, 'estimateMs' | 'throttlePercent'>; accepted?: 'post-copy' | 'pause' }): DowntimeOverrun | undefined {
  if (input.accepted || input.downtimeMs <= input.maxDowntimeMs) return undefined;
  const head = `QEMU paused the guest ${input.downtimeMs} ms, over maxDowntime ${input.maxDowntimeMs} ms${input.estimate ? ` (ferry's estimate at the pause: ${input.estimate.estimateMs} ms)` : ''}`;
  const percent = input.estimate?.throttlePercent ?? 0;
  // bench/pause-overrun.ts: the 997 ms pause's final dirty-bitmap sync waited 988 ms for the vCPU.
  const why = percent > 0 && throttleSleepMs(percent) >= input.downtimeMs - input.maxDowntimeMs
    ? `QEMU was throttling the guest at ${percent} %, and a throttle sleep (${Math.round(throttleSleepMs(percent))} ms at ${percent} %) that starts just after the stop holds up the final dirty-bitmap sync (a QEMU defect, seen under TCG)`
    : 'the final send or the destination took longer than the gate foresaw: pages the guest wrote between QEMU\'s last dirty-bitmap sync and its stop, or a host starved of CPU';
  return { byMs: input.downtimeMs - input.maxDowntimeMs, reason: `${head}: ${why}` };
}

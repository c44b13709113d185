import type { SwitchoverEstimate } from './policy/switchover-gate.ts';
import { formatBytes } from './byte-units.ts';
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
export function downtimeOverrun(input: { downtimeMs: number; maxDowntimeMs: number; estimate?: Pick<SwitchoverEstimate, 'estimateMs' | 'throttlePercent'> & Partial<Pick<SwitchoverEstimate, 'remainingBytes' | 'vcpuSleepMs' | 'waitedMs'>>; downtimeBytes?: number; accepted?: 'post-copy' | 'pause' }): DowntimeOverrun | undefined {
  if (input.accepted || input.downtimeMs <= input.maxDowntimeMs) return undefined;
  const head = `QEMU paused the guest ${input.downtimeMs} ms, over maxDowntime ${input.maxDowntimeMs} ms${input.estimate ? ` (ferry's estimate at the pause: ${input.estimate.estimateMs} ms)` : ''}`;
  const percent = input.estimate?.throttlePercent ?? 0;
  // Seen by the guard at the pause: when that sleep ended, counted from the stop.
  const measured = input.estimate?.vcpuSleepMs ? input.estimate.vcpuSleepMs + (input.estimate.waitedMs ?? 0) : 0;
  // bench/pause-overrun.ts: the 997 ms pause's final dirty-bitmap sync waited 988 ms for the vCPU.
  const sleep = measured > 0 && measured >= input.downtimeMs - input.maxDowntimeMs
    ? `a vCPU was in QEMU's throttle sleep${percent > 0 ? ` (${percent} %)` : ''} until ${Math.round(measured)} ms after the stop (the guard read it at the pause): it began just after the stop, QEMU's last steps wait for it, and the guest would not have run sooner on the source (a QEMU defect); the switchover took ${Math.max(0, Math.round(input.downtimeMs - measured))} ms beyond it`
    : input.estimate?.vcpuSleepMs === undefined && percent > 0 && throttleSleepMs(percent) >= input.downtimeMs - input.maxDowntimeMs
      ? `QEMU was throttling the guest at ${percent} %, and a throttle sleep (${Math.round(throttleSleepMs(percent))} ms at ${percent} %) that starts just after the stop holds up the final dirty-bitmap sync (a QEMU defect, seen under TCG)`
      : undefined;
  const left = input.estimate?.remainingBytes;
  const sent = input.downtimeBytes;
  // The busy Debian guest on QEMU 7.2 (bench/busy-guest.ts): 0.25 MB reported at the pause, 55 MB sent in it, 403 ms.
  const unseen = left !== undefined && sent !== undefined && sent > Math.max(4 * left, left + UNSEEN_BYTES_MIN)
    ? `QEMU sent ${formatBytes(sent)} in the pause where ${formatBytes(left)} were left when it paused: pages the guest wrote between QEMU's last dirty-bitmap sync and its stop, which the gate cannot see`
    : undefined;
  const why = unseen && sleep ? `${unseen}; and ${sleep}` : (unseen ?? sleep ?? 'the final send or the destination took longer than the gate foresaw: pages the guest wrote between QEMU\'s last dirty-bitmap sync and its stop, or a host starved of CPU');
  return { byMs: input.downtimeMs - input.maxDowntimeMs, reason: `${head}: ${why}` };
}

/** Beyond four times what was left, a pause that sent this much more than QEMU reported found pages the gate never saw. */
const UNSEEN_BYTES_MIN = 8 * 1024 * 1024;


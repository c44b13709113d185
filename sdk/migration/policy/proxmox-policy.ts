import { definePolicy, type ConvergenceSample } from './convergence-policy.ts';

const POLLS_WITHOUT_PROGRESS = 5;

/**
 * After Proxmox VE's `qemu-server`: auto-converge always on (Proxmox also
 * turns XBZRLE on; ferry leaves it to the caller, as it corrupted busy
 * guests on QEMU 7.2), 100 ms downtime to begin with, doubled once 5 polls since the last change
 * saw the remaining bytes grow or stand still. Like Proxmox it never gives up by itself:
 * the caller's timeout does.
 */
export const proxmoxPolicy = definePolicy(
  'proxmox',
  ({ sample, history, settings, limits }) => {
    if (sample.pass < 2) return undefined;
    const since = history.filter((earlier) => earlier.elapsedMs >= settings.downtimeLimitSetAtMs);
    if (pollsWithoutProgress([...since, sample]) < POLLS_WITHOUT_PROGRESS) return undefined;
    const wanted = Math.min(settings.downtimeLimitMs * 2, limits.maxDowntimeMs);
    if (wanted > settings.downtimeLimitMs) return { type: 'downtime-limit', ms: wanted, reason: `${POLLS_WITHOUT_PROGRESS} polls without progress: Proxmox doubles the downtime` };
    return undefined;
  },
  { autoConverge: true, initialDowntimeMs: (max) => Math.min(100, max) },
);

/** Polls whose remaining bytes did not fall below the poll before (Proxmox counts them, it does not reset). */
function pollsWithoutProgress(samples: readonly ConvergenceSample[]): number {
  let count = 0;
  for (let i = 1; i < samples.length; i++) {
    if ((samples[i]?.remainingBytes ?? 0) >= (samples[i - 1]?.remainingBytes ?? 0)) count++;
  }
  return count;
}

import { definePolicy } from './convergence-policy.ts';
import { stalledPasses } from './stall-detector.ts';

/** oVirt's "minimal downtime" schedule, by consecutive stalled passes. */
const SCHEDULE_MS = [100, 150, 200, 300, 400, 500, 5000] as const;

/**
 * After oVirt's migration policies: start at 100 ms, step through 150…500 ms
 * as the migration stalls, then 5 s ("suspend workload if needed"), then
 * post-copy when permitted, else abort.
 */
export const ovirtPolicy = definePolicy(
  'ovirt',
  ({ passes, newPass, settings, limits }) => {
    if (!newPass) return undefined;
    const stalled = stalledPasses(passes);
    if (stalled >= SCHEDULE_MS.length) {
      if (limits.allowPostcopy && !settings.postcopy) return { type: 'postcopy', reason: `stalled for ${stalled} passes after oVirt's last downtime step` };
      if (!settings.postcopy) return { type: 'cancel', reason: `stalled for ${stalled} passes after oVirt's last downtime step (oVirt aborts)` };
      return undefined;
    }
    const wanted = Math.min(SCHEDULE_MS[stalled] ?? 5000, limits.maxDowntimeMs);
    if (wanted > settings.downtimeLimitMs) return { type: 'downtime-limit', ms: wanted, reason: `stalled for ${stalled} pass${stalled === 1 ? '' : 'es'}: oVirt's schedule step ${stalled}` };
    return undefined;
  },
  { initialDowntimeMs: (max) => Math.min(100, max) },
);

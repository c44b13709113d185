import { definePolicy, type ConvergenceAction } from './convergence-policy.ts';
import { outpaced, stalledPasses } from './stall-detector.ts';

/**
 * ferry's default. XBZRLE from the start (a re-dirtied page is usually a
 * few changed words: its delta is far smaller than the page), the caller's
 * whole downtime budget from the start (the switchover gate, not a low
 * limit, is what keeps the pause within it), and once a whole pass shows
 * the guest outpacing the link: throttle hard, then post-copy if permitted,
 * then pause if permitted, else cancel early rather than wait for the
 * timeout. Every step is judged per pass, so a slow link is not a stall.
 */
export const ferryPolicy = definePolicy(
  'ferry',
  ({ sample, passes, newPass, settings, limits }) => {
    const actions: ConvergenceAction[] = [];
    if (!newPass || settings.postcopy || settings.paused) return actions;
    const stalled = stalledPasses(passes);
    if (!outpaced(passes) && stalled < 2) return actions;
    const last = passes.at(-1);
    const why = last ? `pass ${last.pass}: dirty set ${mib(last.startRemainingBytes)} → ${mib(last.endRemainingBytes)} MiB, guest dirtied ${mib(last.dirtyRate)} MiB/s vs link ${mib(last.throughput)} MiB/s` : `pass ${sample.pass}`;
    if (limits.allowPostcopy) return [{ type: 'postcopy', reason: `${why}: switching to post-copy (permitted)` }];
    if (limits.canThrottle && settings.throttlePercent < 99) {
      const percent = settings.throttlePercent < 50 ? 50 : settings.throttlePercent < 80 ? 80 : 99;
      return [{ type: 'throttle', percent, reason: `${why}: throttling the guest up to ${percent}%` }];
    }
    if (limits.allowPause) return [{ type: 'pause', reason: `${why}; throttled to the maximum: pausing the guest to finish (permitted)` }];
    if (stalled >= 3) actions.push({ type: 'cancel', reason: `${why}; stalled ${stalled} passes at the maximum throttle, and neither post-copy nor a pause is permitted` });
    return actions;
  },
  { autoConverge: true, xbzrle: true, initialThrottlePercent: 1 },
);

function mib(bytes: number): string {
  return (bytes / 1024 ** 2).toFixed(1);
}

import { definePolicy, type ConvergenceAction } from './convergence-policy.ts';
import { clearRate, outpaced, outpacedLive, stalledPasses } from './stall-detector.ts';
import { HEAVY_THROTTLE, heavyThrottleMs, hopelessAtMaximum, MAX_THROTTLE, nextThrottleStep, PASSES_AT_MAXIMUM } from './throttle-steps.ts';

/**
 * ferry's default. No XBZRLE: with it, busy guests on QEMU 7.2 arrived with
 * stale memory and panicked after migrations QEMU called completed (issue
 * 14: 4 of 7 with it, 0 of 12 without). A caller may still ask for it
 * (`xbzrle: true`). A downtime
 * target of 100 ms at most to begin with (a guest that converges reaches a
 * small dirty set in a few short passes anyway, and pauses less), the
 * whole budget once a pass fails to shrink the set, and once a whole pass shows
 * the guest outpacing the link: throttle hard, then post-copy if permitted,
 * then pause if permitted, else cancel early rather than wait for the
 * timeout; and never longer than `heavyThrottleLimit` (a minute by
 * default) at a heavy throttle. Every step is judged per pass, so a slow
 * link is not a stall.
 * The guest's dirty rate sampled live (not QEMU's per-pass figure, capped
 * by the working set) shows it outpacing the link as early as pass 1 ends;
 * Nova waits for a second pass that makes no progress.
 */
export const ferryPolicy = definePolicy(
  'ferry',
  ({ sample, passes, newPass, settings, limits }) => {
    const actions: ConvergenceAction[] = [];
    if (!newPass || settings.postcopy || settings.paused) return actions;
    // However the passes look, a guest is not starved at a heavy throttle for minutes.
    const heavyMs = heavyThrottleMs(passes);
    if (heavyMs > limits.heavyThrottleLimitMs) {
      const starved = `QEMU has throttled the guest at ${HEAVY_THROTTLE}% or more for ${(heavyMs / 1000).toFixed(1)} s (its vCPUs run a twentieth of each second or less), longer than ${limits.heavyThrottleLimitMs / 1000} s (heavyThrottleLimit)`;
      if (limits.allowPostcopy) return [{ type: 'postcopy', reason: `${starved}: switching to post-copy (permitted)` }];
      if (limits.allowPause) return [{ type: 'pause', reason: `${starved}: pausing the guest to finish (permitted)` }];
      return [{ type: 'cancel', reason: `${starved}: giving up rather than starve it longer; neither post-copy nor a pause is permitted` }];
    }
    const stalled = stalledPasses(passes);
    if (stalled >= 1 && settings.downtimeLimitMs < limits.maxDowntimeMs) {
      const last = passes.at(-1);
      actions.push({ type: 'downtime-limit', ms: limits.maxDowntimeMs, reason: `pass ${last?.pass ?? sample.pass} did not shrink the dirty set (${mib(last?.startRemainingBytes ?? 0)} → ${mib(last?.endRemainingBytes ?? 0)} MiB): the whole budget` });
    }
    const live = outpacedLive(passes, sample, limits.maxDowntimeMs);
    if (!live && !outpaced(passes) && stalled < 2) return actions;
    const last = passes.at(-1);
    const why = live && last && sample.sampledDirtyRate !== undefined
      ? `pass ${last.pass}: the guest dirties ${mib(sample.sampledDirtyRate)} MiB/s (sampled live) and the pass cleared ${mib(clearRate(last))} MiB/s; ${mib(sample.remainingBytes)} MiB left`
      : last ? `pass ${last.pass}: dirty set ${mib(last.startRemainingBytes)} → ${mib(last.endRemainingBytes)} MiB, guest dirtied ${mib(last.dirtyRate)} MiB/s vs link ${mib(last.throughput)} MiB/s` : `pass ${sample.pass}`;
    if (limits.allowPostcopy) return [{ type: 'postcopy', reason: `${why}: switching to post-copy (permitted)` }];
    const dirty = sample.sampledDirtyRate ?? last?.dirtyRate;
    const percent = limits.canThrottle ? nextThrottleStep(settings.throttlePercent, dirty, last && clearRate(last)) : undefined;
    if (percent !== undefined) return [...actions, { type: 'throttle', percent, reason: `${why}: throttling the guest up to ${percent}%` }];
    if (limits.allowPause) return [{ type: 'pause', reason: `${why}; throttled to the maximum: pausing the guest to finish (permitted)` }];
    // Give up only on what QEMU applied, not on what ferry allowed (auto-converge raises the throttle
    // only after two bad syncs in a row), and only when no pass at the full throttle came near a fit:
    // at 99 % the set a sync finds swings with the guest's 10 ms slices (throttle-steps.ts).
    if (stalled >= 3 && hopelessAtMaximum(passes, limits.maxDowntimeMs)) actions.push({ type: 'cancel', reason: `${why}; ${PASSES_AT_MAXIMUM} passes with QEMU throttling the guest at ${MAX_THROTTLE}% and none came within three budgets of fitting ${limits.maxDowntimeMs} ms; neither post-copy nor a pause is permitted` });
    return actions;
  },
  { autoConverge: true, initialThrottlePercent: 1, initialDowntimeMs: (max) => Math.min(max, 100) },
);

function mib(bytes: number): string {
  return (bytes / 1024 ** 2).toFixed(1);
}

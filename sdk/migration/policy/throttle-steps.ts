// The throttle ferry asks QEMU's auto-converge for, in steps up to 99 %.
//
// QEMU throttles a vCPU by making it sleep 10 ms × p / (100 − p) per time
// slice (990 ms at 99 %). A sleep under way ends when the guest is stopped
// (cpu-throttle.c checks cpu->stop): on the lab, QMP `stop` of a guest
// throttled to 99 % returned in 1–5 ms (QEMU 7.2), and raw QMP moved the
// issue's 64 MiB/s guest at 99 % with 10–53 ms of downtime (73–200 ms with
// pause-before-switchover), 10 of 10 within 300 ms.
//
// But not always. Under TCG each dirty-bitmap sync waits for every vCPU
// (run_on_cpu), so at 99 % a sync lasts until the vCPU's sleep ends (QEMU's
// trace: about 1 s each), and QEMU decides to switch over at the start of
// the vCPU's 10 ms slice, near the throttle timer's next tick. In 1 of 55
// switchovers (bench/pause-overrun.ts, QEMU 7.2) the final sync, in the
// pause, took 988 ms: a 997 ms downtime for a 300 ms budget, the gate's
// estimate 60 ms. QEMU's code reads as a sleep queued by the tick just
// before the stop and picked up after it (qemu_cpu_stop has cleared
// cpu->stop by then), which nothing ends early. The gate cannot see it;
// the result reports it (downtimeOverrun). ferry still goes to 99 %: short
// of it the lab's fast guests do not converge at all, and the other 54
// of 55 paused 10–88 ms.

import { clearRate } from './stall-detector.ts';
import type { PassStats } from './convergence-policy.ts';

export const MAX_THROTTLE = 99;

/** How long QEMU's throttle puts a vCPU to sleep per time slice at `percent`, ms (990 at 99 %). */
export function throttleSleepMs(percent: number): number {
  return percent <= 0 ? 0 : (10 * percent) / (100 - Math.min(percent, 99));
}

const STEPS = [50, 80, 90, 95, MAX_THROTTLE] as const;

/**
 * The next throttle above `current`: the lowest step that would bring the
 * guest's dirtying to half of what a pass clears, if the throttle cut it in
 * proportion, and at least the step after `current`; undefined at 99 %.
 * Promptly there: QEMU applies each step only after two bad syncs.
 */
export function nextThrottleStep(current: number, dirtyRate?: number, clearRateBytes?: number): number | undefined {
  const wanted = dirtyRate && clearRateBytes && dirtyRate > 0 ? 100 * (1 - (0.5 * clearRateBytes) / dirtyRate) : 0;
  return STEPS.find((step) => step > current && step >= Math.min(wanted, MAX_THROTTLE)) ?? STEPS.find((step) => step > current);
}

/** Passes at the applied maximum throttle before ferry may give up on a guest that never came near a fit. */
export const PASSES_AT_MAXIMUM = 8;

/**
 * Whether a pass ended near a fit: its dirty set within three budgets' worth
 * of what it cleared. At 99 % a guest runs 10 ms a second, and whether a
 * sync lands before or after such a slice decides the set it finds: raw
 * QMP needed 6 to 25 syncs at 99 % to catch a small one. A pass that came
 * near says the next ones may fit.
 */
export function nearFit(pass: PassStats, maxDowntimeMs: number): boolean {
  return pass.endRemainingBytes <= (3 * clearRate(pass) * maxDowntimeMs) / 1000;
}

/**
 * At the maximum throttle, give up only after PASSES_AT_MAXIMUM passes that
 * QEMU really ran at it (cpu-throttle-percentage), none of them near a fit.
 */
export function hopelessAtMaximum(passes: readonly PassStats[], maxDowntimeMs: number): boolean {
  const atMaximum = latestPassesAtLeast(passes, MAX_THROTTLE);
  return atMaximum.length >= PASSES_AT_MAXIMUM && !atMaximum.some((pass) => nearFit(pass, maxDowntimeMs));
}

/** The latest unbroken run of passes QEMU ran at `percent` or more (cpu-throttle-percentage), oldest first. */
function latestPassesAtLeast(passes: readonly PassStats[], percent: number): PassStats[] {
  let first = passes.length;
  while (first > 0 && (passes[first - 1]?.throttlePercent ?? 0) >= percent) first--;
  return passes.slice(first);
}

/** From this applied throttle on, a vCPU runs a twentieth of each second or less (at 99 %, 10 ms). */
export const HEAVY_THROTTLE = 95;

/**
 * The default `heavyThrottleLimit`: the longest ferry keeps a guest at a
 * heavy throttle (as QEMU applies it) before it finishes otherwise
 * (post-copy or a pause, if permitted) or gives up. The guest's users see
 * it all but stopped meanwhile: the busy Debian guest (bench/busy-guest.ts,
 * QEMU 10.0, TCG, 2 vCPUs) spent 150–360 s at 99 % in 7 moves of 3 runs
 * before completing (at 99 % the e2e's guest left its probe unanswered up
 * to 3 s at a time). (Such moves were often followed by a migration that
 * moved no byte for 15 s, but so was one of 24 s: the bound is not its
 * cure.) The lab's 64 MiB/s guest (the convergence e2e) completes in
 * 12–36 s from the start of its migration; with the bound the busy guest's
 * run cancelled 3 moves of 20 at 60 s, where runs without it completed
 * such moves minutes later.
 */
export const HEAVY_THROTTLE_LIMIT_MS = 60_000;

/** How long the latest unbroken run of passes has had QEMU throttling the guest at HEAVY_THROTTLE or more, ms. */
export function heavyThrottleMs(passes: readonly PassStats[]): number {
  const heavy = latestPassesAtLeast(passes, HEAVY_THROTTLE);
  const [first, last] = [heavy[0], heavy.at(-1)];
  return first && last ? last.startedAtMs + last.durationMs - first.startedAtMs : 0;
}

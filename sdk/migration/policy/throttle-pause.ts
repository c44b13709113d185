// QEMU's auto-converge throttles a vCPU by making it sleep: for a throttle of
// p %, a sleep of 10 ms × p / (100 − p) every time slice (cpus/cpu-throttle.c:
// CPU_THROTTLE_TIMESLICE_NS), 990 ms at 99 %. A sleep that is under way when
// the guest is stopped for the switchover runs to its end before QEMU can
// read the vCPU's state: on the lab a guest throttled to 99 % paused 1015 and
// 1050 ms for a switchover planned at about 100 ms (2 of 7 runs). So the
// throttle ferry asks for is bounded by the downtime budget, and the
// switchover check counts the sleep of the throttle in force.

const TIMESLICE_MS = 10;
const STEPS = [50, 80, 90, 95, 97, 98, 99] as const;

/** The longest sleep QEMU puts a vCPU in at `percent` throttle, ms. */
export function throttleSleepMs(percent: number): number {
  if (percent <= 0) return 0;
  const p = Math.min(99, percent);
  return (TIMESLICE_MS * p) / (100 - p);
}

/** The highest throttle step whose sleep takes at most half the budget (50 % at least: a throttle must bite). */
export function maxThrottleFor(maxDowntimeMs: number): number {
  let best: number = STEPS[0];
  for (const step of STEPS) if (throttleSleepMs(step) <= maxDowntimeMs / 2) best = step;
  return best;
}

/** The next throttle step above `current`, at most `max`; undefined when `current` is there already. */
export function nextThrottleStep(current: number, max: number): number | undefined {
  const next = STEPS.find((step) => step > current && step <= max) ?? (current < max ? max : undefined);
  return next;
}

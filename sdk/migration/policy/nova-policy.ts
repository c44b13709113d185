import { definePolicy } from './convergence-policy.ts';

const STEPS = 10;
const MAX_DOWNTIME_MS = 500;
const DELAY_MS_PER_GIB = 75_000;
const COMPLETION_TIMEOUT_MS_PER_GIB = 800_000;

/**
 * After OpenStack Nova's libvirt driver: the downtime limit climbs in 10
 * equal steps to 500 ms, one step every 75 s per GiB of RAM
 * (`live_migration_downtime*`); with post-copy permitted it switches as
 * soon as a poll after the first pass shows less than 10% progress
 * (`should_switch_to_postcopy`); past 800 s per GiB it aborts
 * (`live_migration_completion_timeout`).
 */
export const novaPolicy = definePolicy(
  'nova',
  ({ sample, passes, settings, limits }) => {
    const gib = Math.max(limits.memoryBytes / 1024 ** 3, 1 / 1024);
    const top = Math.min(MAX_DOWNTIME_MS, limits.maxDowntimeMs);
    const base = top / STEPS;
    const step = Math.min(STEPS, Math.floor(sample.elapsedMs / (DELAY_MS_PER_GIB * gib)));
    const wanted = Math.round(base + ((top - base) / STEPS) * step);
    if (sample.elapsedMs > COMPLETION_TIMEOUT_MS_PER_GIB * gib) return { type: 'cancel', reason: `not done after ${COMPLETION_TIMEOUT_MS_PER_GIB / 1000} s per GiB (Nova's completion timeout)` };
    if (limits.allowPostcopy && !settings.postcopy && sample.pass > 1) {
      const previous = passes.at(-1);
      const progress = previous ? (previous.startRemainingBytes - sample.remainingBytes) / previous.startRemainingBytes : 1;
      if (progress < 0.1 && sample.elapsedMs - (previous?.startedAtMs ?? 0) > 500) {
        return { type: 'postcopy', reason: `pass ${sample.pass}: less than 10% progress since the last pass (Nova switches to post-copy)` };
      }
    }
    if (wanted > settings.downtimeLimitMs) return { type: 'downtime-limit', ms: wanted, reason: `step ${step}/${STEPS} of Nova's downtime ramp` };
    return undefined;
  },
  { initialDowntimeMs: (max) => Math.round(Math.min(MAX_DOWNTIME_MS, max) / STEPS) },
);

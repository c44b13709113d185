import type { ConvergenceSample, PassStats } from './convergence-policy.ts';

/** A pass that leaves more than this share of its dirty set made no progress (the policies' and the prediction's one rule). */
export const STALL_SHRINK = 0.9;

/**
 * The guest outpaces the link when it dirties at least 90% as fast as a
 * pass clears its dirty set: pre-copy then shrinks the set by under 10%
 * a pass, a stall. Used live by ferry's policy and before a migration by
 * the prediction.
 */
export function outpacesLink(dirtyRate: number, clearRate: number): boolean {
  return clearRate > 0 && dirtyRate >= STALL_SHRINK * clearRate;
}

/**
 * How many of the last finished passes failed to shrink the dirty set by at
 * least `1 - shrink` (default: by 10%). Judged per pass, never per second:
 * on a slow link a pass takes long but still shrinks, and that is progress.
 * The first pass (all of RAM) never counts.
 *
 * @example
 * stalledPasses([{ pass: 2, startRemainingBytes: 64e6, endRemainingBytes: 63e6, … }]) // 1
 */
export function stalledPasses(passes: readonly PassStats[], shrink = STALL_SHRINK): number {
  let count = 0;
  for (let i = passes.length - 1; i >= 0; i--) {
    const pass = passes[i];
    if (!pass || pass.pass < 2) break;
    if (pass.endRemainingBytes < pass.startRemainingBytes * shrink) break;
    count++;
  }
  return count;
}

/**
 * The migration cannot converge at the current settings: the guest dirties
 * at least as fast as the link sends, measured over a whole pass (QEMU's
 * dirty rate is itself a per-pass figure), and the last pass did not shrink.
 */
export function outpaced(passes: readonly PassStats[]): boolean {
  const last = passes.at(-1);
  if (!last || last.pass < 2) return false;
  return stalledPasses(passes) > 0 && last.dirtyRate >= 0.8 * last.throughput;
}

/**
 * Outpaced, by the live sample: the guest dirties at least 90% as fast as
 * the last pass cleared its dirty set (page bytes/s: with XBZRLE a pass
 * clears more than the link carries), and the set left is not about to
 * fit the budget. Known as a pass ends, often the first: QEMU's own
 * per-pass rate would need a pass or two more to show it.
 */
export function outpacedLive(passes: readonly PassStats[], sample: ConvergenceSample, maxDowntimeMs: number): boolean {
  const last = passes.at(-1);
  const dirty = sample.sampledDirtyRate;
  if (!last || dirty === undefined || !(last.durationMs > 0)) return false;
  const cleared = clearRate(last);
  return outpacesLink(dirty, cleared) && (sample.remainingBytes / cleared) * 1000 > maxDowntimeMs;
}

/** How fast a finished pass cleared its dirty set, bytes/s; pass 1's set is all RAM, mostly zero pages, so its link rate stands in. */
export function clearRate(pass: PassStats): number {
  return pass.pass === 1 ? pass.throughput : (pass.startRemainingBytes / Math.max(1, pass.durationMs)) * 1000;
}

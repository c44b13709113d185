import type { PassStats } from './convergence-policy.ts';

/**
 * How many of the last finished passes failed to shrink the dirty set by at
 * least `1 - shrink` (default: by 10%). Judged per pass, never per second:
 * on a slow link a pass takes long but still shrinks, and that is progress.
 * The first pass (all of RAM) never counts.
 *
 * @example
 * stalledPasses([{ pass: 2, startRemainingBytes: 64e6, endRemainingBytes: 63e6, … }]) // 1
 */
export function stalledPasses(passes: readonly PassStats[], shrink = 0.9): number {
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

/**
 * The link's rate to plan the pause with, kept across looks. Of each look's
 * two measures (ferry's window, QEMU's last 100 ms) the lower counts, since
 * either can read high on a burst. Both also read low for reasons that say
 * nothing about the link: a pass with little left to send, a scan of zero
 * pages that cost a few bytes each. So the figure is the best seen in this
 * migration. A figure that decayed (halving every 5 s) sank to 1.2 MiB/s
 * through an idle guest's tiny passes, and QEMU was never allowed to switch
 * over its 0.4 MiB; a link that really slows is what the gate's quarter
 * covers.
 */
export class LinkRate {
  #planning = 0;
  #qemuPeak = 0;

  /** Takes one look's measures (bytes/s, 0 when unknown) and returns the rate to plan with. */
  update(windowRate: number, qemuRate: number): number {
    this.#planning = Math.max(this.#planning, planningThroughput(windowRate, qemuRate));
    if (qemuRate > 0 && Number.isFinite(qemuRate)) this.#qemuPeak = Math.max(this.#qemuPeak, qemuRate);
    return this.#planning;
  }

  get planning(): number {
    return this.#planning;
  }

  /**
   * The most QEMU's own 100 ms bandwidth has read in this migration: what
   * its switchover threshold (that bandwidth × downtime-limit) may use at
   * the moment it decides. Steering with QEMU's last reading let it decide
   * in a faster window: at a 50 ms budget the 200 MB/s lab guest paused
   * with 4.1 MiB for a 1.8 MiB allowance, 4 times in 20 (bench/convergence.ts
   * calibrate). Whatever made it read that high once (a burst into the
   * socket's buffers too) can again at the decision.
   */
  get qemuPeak(): number {
    return this.#qemuPeak;
  }
}

/** The lower of a look's known measures (0 or not finite: unknown); 0 when none is known. */
export function planningThroughput(...measures: number[]): number {
  const known = measures.filter((m) => m > 0 && Number.isFinite(m));
  return known.length ? Math.min(...known) : 0;
}

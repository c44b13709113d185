const HALF_LIFE_MS = 5000;
// A look whose dirty set the link would clear in less than this was limited by what there was to send, not by the link.
const DEMAND_LIMITED_MS = 500;

/**
 * The link's rate to plan the pause with, kept across looks. Of each look's two
 * measures (ferry's window, QEMU's last 100 ms) the lower counts, since
 * either can read high on a burst. When a pass has little left to send,
 * both read low for want of pages, which says nothing about the link: the
 * figure then holds. When there is plenty to send it follows the link, as
 * a peak that halves every 5 s so an old burst stops counting.
 */
export class LinkRate {
  #planning = 0;
  #atMs = 0;

  /** Takes one look (bytes/s, 0 when unknown; remaining in bytes) and returns the planning rate. */
  update(nowMs: number, remainingBytes: number, windowRate: number, qemuRate: number): number {
    const measure = planningThroughput(windowRate, qemuRate);
    const demandLimited = this.#planning > 0 && remainingBytes < (this.#planning * DEMAND_LIMITED_MS) / 1000;
    const held = demandLimited ? this.#planning : this.#planning * 0.5 ** (Math.max(0, nowMs - this.#atMs) / HALF_LIFE_MS);
    this.#planning = Math.max(held, measure);
    this.#atMs = nowMs;
    return this.#planning;
  }

  get planning(): number {
    return this.#planning;
  }
}

/** The lower of a look's known measures (0 or not finite: unknown); 0 when none is known. */
export function planningThroughput(...measures: number[]): number {
  const known = measures.filter((m) => m > 0 && Number.isFinite(m));
  return known.length ? Math.min(...known) : 0;
}

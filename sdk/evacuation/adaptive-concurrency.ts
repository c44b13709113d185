/** One look at a running migration, as the limiter needs it. */
export interface ConcurrencySample {
  /** Transfer under way (QEMU `active`): only then do its figures count. */
  active: boolean;
  throughput: number;
  remainingBytes: number;
  pass: number;
}

/** Why the limiter decided what it did: reported as an evacuation event. */
export interface ConcurrencyDecision {
  start: boolean;
  reason: string;
  /** Aggregate throughput of the level just measured, bytes/s. */
  throughput?: number;
}

interface Track {
  samples: Array<{ at: number } & ConcurrencySample>;
}

/**
 * Decides whether to start another migration: a hill climb on aggregate
 * throughput. With k migrations running (all transferring, none started or
 * ended for a whole window), their summed throughput is compared with what
 * k-1 achieved; another starts only if it grew by `growth` and every running
 * migration still converges (remaining bytes fell over the window). The
 * first level that does not pay becomes the ceiling; a migration that stops
 * converging lowers it. Below a level already proven, slots refill at once.
 *
 * @example
 * const limiter = new AdaptiveConcurrency({ max: 8 });
 * limiter.sample('web', performance.now(), { active: true, throughput, remainingBytes, pass });
 * if (limiter.decide(performance.now()).start) startNext();
 */
export class AdaptiveConcurrency {
  readonly max: number;
  readonly windowMs: number;
  readonly growth: number;
  #ceiling: number;
  #proven = 1;
  readonly #throughputAt = new Map<number, number>();
  readonly #running = new Map<string, Track>();
  #changedAt = 0;

  constructor(options: { max?: number; windowMs?: number; growth?: number } = {}) {
    this.max = Math.max(1, options.max ?? 8);
    this.windowMs = options.windowMs ?? 1500;
    this.growth = options.growth ?? 0.1;
    this.#ceiling = this.max;
  }

  /** The most migrations it will run at once, as learned so far. */
  get ceiling(): number {
    return this.#ceiling;
  }

  get running(): number {
    return this.#running.size;
  }

  started(id: string, at: number): void {
    this.#running.set(id, { samples: [] });
    this.#changedAt = at;
  }

  ended(id: string, at: number): void {
    if (this.#running.delete(id)) this.#changedAt = at;
  }

  sample(id: string, at: number, sample: ConcurrencySample): void {
    const track = this.#running.get(id);
    if (!track) return;
    track.samples.push({ at, ...sample });
    // Keep two windows: enough to judge a trend.
    while (track.samples.length > 2 && (track.samples[0]?.at ?? at) < at - 2 * this.windowMs) track.samples.shift();
  }

  decide(at: number): ConcurrencyDecision {
    const running = this.#running.size;
    if (running === 0) return { start: true, reason: 'nothing running' };
    if (running >= this.#ceiling) return { start: false, reason: `at the ceiling of ${this.#ceiling}` };
    if (running < this.#proven) return { start: true, reason: `below ${this.#proven}, a level that paid` };
    const level = this.#measure(at);
    if (level === undefined) return { start: false, reason: `measuring ${running} running` };
    if (level.stalled) {
      this.#ceiling = Math.max(1, running - 1);
      return { start: false, reason: `${level.stalled} stopped converging: ceiling ${this.#ceiling}`, throughput: level.throughput };
    }
    const previous = this.#throughputAt.get(running - 1);
    this.#throughputAt.set(running, level.throughput);
    if (previous !== undefined && level.throughput < previous * (1 + this.growth)) {
      this.#ceiling = Math.max(1, running - 1);
      return { start: false, reason: `${running} moved ${rate(level.throughput)}, ${running - 1} moved ${rate(previous)}: no gain, ceiling ${this.#ceiling}`, throughput: level.throughput };
    }
    this.#proven = running;
    return {
      start: true,
      reason: previous === undefined ? `${running} moving ${rate(level.throughput)}: try ${running + 1}` : `${running} moved ${rate(level.throughput)} vs ${rate(previous)} with ${running - 1}: try ${running + 1}`,
      throughput: level.throughput,
    };
  }

  /** The level's throughput over the last window, once every migration transferred through all of it. */
  #measure(at: number): { throughput: number; stalled?: string } | undefined {
    const from = at - this.windowMs;
    if (this.#changedAt > from) return undefined;
    let throughput = 0;
    for (const [id, track] of this.#running) {
      const window = track.samples.filter((sample) => sample.at >= from && sample.active);
      const first = window[0];
      const last = window.at(-1);
      if (!first || !last || window.length < 2 || last.at - first.at < this.windowMs / 2) return undefined;
      throughput += window.reduce((sum, sample) => sum + sample.throughput, 0) / window.length;
      // Past the first pass, remaining bytes that do not fall mean the guest outruns its share of the link.
      if (last.pass > 1 && last.remainingBytes >= first.remainingBytes) return { throughput, stalled: id };
    }
    return { throughput };
  }
}

function rate(bytesPerSecond: number): string {
  return `${Math.round(bytesPerSecond / 1024 ** 2)} MiB/s`;
}

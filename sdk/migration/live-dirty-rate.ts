import type { QmpClient } from '../qmp/index.ts';
import { SAMPLE_PAGES_PER_GIB, sampledRateBytes } from './dirty-rate-sample.ts';

const SAMPLE_SECONDS = 1;

/**
 * The guest's dirty rate measured while it migrates, by QEMU's
 * `calc-dirty-rate` (page sampling) over one second, once per pass. QEMU's
 * own per-pass figure counts pages dirtied since the last sync, so over a
 * long pass it is bounded by the working set: a guest rewriting 64 MiB at
 * 40 MB/s reads 8 MiB/s across an 8 s pass. The sample says 30–40 before
 * that pass ends. Driven from the transfer's watch loop on the connection
 * it holds (QEMU serves one QMP client per socket); any error turns it off.
 */
export class LiveDirtyRate {
  readonly #qmp: Pick<QmpClient, 'execute'>;
  #running: { pass: number; startedAtMs: number } | undefined;
  #measuredPass = 0;
  #off = false;

  constructor(qmp: Pick<QmpClient, 'execute'>) {
    this.#qmp = qmp;
  }

  /** Starts a measure when this pass has none; returns bytes/s when one completes. */
  async look(pass: number, nowMs: number): Promise<number | undefined> {
    if (this.#off || pass < 1) return undefined;
    try {
      if (!this.#running) {
        if (pass === this.#measuredPass) return undefined;
        await this.#qmp.execute('calc-dirty-rate', { 'calc-time': SAMPLE_SECONDS, 'sample-pages': SAMPLE_PAGES_PER_GIB, mode: 'page-sampling' });
        this.#running = { pass, startedAtMs: nowMs };
        return undefined;
      }
      if (nowMs - this.#running.startedAtMs < SAMPLE_SECONDS * 1000) return undefined;
      const info = await this.#qmp.execute('query-dirty-rate');
      if (info.status !== 'measured') {
        if (nowMs - this.#running.startedAtMs > SAMPLE_SECONDS * 5000) this.#off = true;
        return undefined;
      }
      this.#measuredPass = this.#running.pass;
      this.#running = undefined;
      return sampledRateBytes(info);
    } catch {
      // An older QEMU, or a measure already running that is not ours: do without.
      this.#off = true;
      return undefined;
    }
  }
}

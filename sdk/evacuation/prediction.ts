import type { JournalLine } from './evacuation-journal.ts';

// Starting the destination QEMU, preflight and cleanup: what a migration costs beside its bytes (lab figure).
export const FIXED_COST_MS = 1500;
// Throughput assumed when nothing was measured: a QEMU migration stream on one busy core (lab figure).
export const DEFAULT_THROUGHPUT = 150 * 1024 ** 2;

/** How predictions are made: bytes over a throughput, and where that throughput came from. */
export interface Predictor {
  throughput: number;
  basis: string;
  predictMs(bytesToMove: number): number;
}

/**
 * Predicts a migration's time from the bytes it must send (its QEMU's
 * resident memory) over a throughput: the caller's, else the median of the
 * migrations this journal recorded, else DEFAULT_THROUGHPUT. It does not
 * know the guest's dirty rate, so a busy guest takes longer than predicted.
 *
 * @example
 * const predictor = makePredictor(readJournal(path), undefined);
 * predictor.predictMs(300 * 1024 ** 2);
 */
export function makePredictor(journal: readonly JournalLine[], throughput: number | undefined): Predictor {
  let rate = throughput;
  let basis = throughput !== undefined ? `bytes / ${mibps(throughput)} MiB/s (given)` : '';
  if (rate === undefined) {
    const rates = journal
      .filter((line): line is Extract<JournalLine, { kind: 'moved' }> => line.kind === 'moved' && line.wallTimeMs > FIXED_COST_MS && (line.bytesToMove ?? 0) > 0)
      // Measured against the same estimate predictions start from (resident memory), not QEMU's transferred bytes (zero pages cost nothing).
      .map((line) => (line.bytesToMove ?? 0) / ((line.wallTimeMs - FIXED_COST_MS) / 1000))
      .sort((x, y) => x - y);
    const median = rates[Math.floor(rates.length / 2)];
    if (median !== undefined) {
      rate = median;
      basis = `bytes / ${mibps(median)} MiB/s (median of ${rates.length} migrations in the journal)`;
    }
  }
  const used = rate ?? DEFAULT_THROUGHPUT;
  return {
    throughput: used,
    basis: (basis || `bytes / ${mibps(used)} MiB/s (assumed; nothing measured yet)`) + ` + ${FIXED_COST_MS} ms each`,
    predictMs: (bytes) => Math.round(FIXED_COST_MS + (bytes / used) * 1000),
  };
}

/**
 * The whole evacuation's predicted time: migrations share the link, so their
 * transfers add up; only the fixed costs overlap when `concurrency` > 1.
 */
export function predictMakespanMs(stepsMs: readonly number[], concurrency: number): number {
  const transfer = stepsMs.reduce((sum, ms) => sum + Math.max(0, ms - FIXED_COST_MS), 0);
  const fixed = stepsMs.length * FIXED_COST_MS;
  return Math.round(transfer + fixed / Math.max(1, Math.min(concurrency, stepsMs.length)));
}

function mibps(bytesPerSecond: number): number {
  return Math.round(bytesPerSecond / 1024 ** 2);
}

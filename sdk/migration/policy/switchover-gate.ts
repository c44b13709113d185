/**
 * The downtime guarantee's last check. With `pause-before-switchover` QEMU
 * stops the guest and waits before sending the final dirty set; ferry then
 * estimates how long the pause will be and lets it go on only if that fits
 * the caller's maxDowntime. The wait itself is part of the pause, so it is
 * counted too.
 */
export interface SwitchoverEstimate {
  remainingBytes: number;
  /** Bytes/s, ferry's own measure of what the link carried lately. */
  throughput: number;
  /** Stopping, device state, and starting on the destination: fixed costs measured on the lab (TCG). */
  overheadMs: number;
  /** How long the guest has been paused already while ferry decided. */
  waitedMs: number;
  estimateMs: number;
  maxDowntimeMs: number;
  fits: boolean;
}

/**
 * Fixed cost of a switchover beyond sending RAM: device state, the stop and
 * the start on the destination. Measured on the lab's TCG guests (idle
 * guests with a near-empty dirty set); see bench/convergence.ts.
 */
export const SWITCHOVER_OVERHEAD_MS = 40;

/**
 * @example
 * estimateSwitchover({ remainingBytes: 8 << 20, throughput: 64 << 20, waitedMs: 3, maxDowntimeMs: 300 }).fits // true (≈ 168 ms)
 */
export function estimateSwitchover(input: { remainingBytes: number; throughput: number; waitedMs: number; maxDowntimeMs: number; overheadMs?: number }): SwitchoverEstimate {
  const overheadMs = input.overheadMs ?? SWITCHOVER_OVERHEAD_MS;
  const sendMs = input.throughput > 0 ? (input.remainingBytes / input.throughput) * 1000 : input.remainingBytes > 0 ? Number.POSITIVE_INFINITY : 0;
  const estimateMs = sendMs + overheadMs + input.waitedMs;
  return {
    remainingBytes: input.remainingBytes,
    throughput: input.throughput,
    overheadMs,
    waitedMs: input.waitedMs,
    estimateMs: Number.isFinite(estimateMs) ? Math.round(estimateMs) : estimateMs,
    maxDowntimeMs: input.maxDowntimeMs,
    fits: estimateMs <= input.maxDowntimeMs,
  };
}

/**
 * The downtime limit to give QEMU for a target pause: QEMU counts only the
 * RAM it still has to send, at its own (optimistic) bandwidth figure, so
 * the fixed overhead is taken off and a margin kept for the pages dirtied
 * between its last look and the stop.
 */
export function qemuDowntimeLimitMs(targetMs: number, overheadMs = SWITCHOVER_OVERHEAD_MS): number {
  // Half, not three quarters: at 0.75 a 300 ms budget still saw QEMU take
  // 303 ms (it had estimated 112) when two TCG guests stopped at once.
  return Math.max(1, Math.round((targetMs - overheadMs) * QEMU_LIMIT_SHARE));
}

/** The share of (budget − overhead) QEMU may plan to pause for. */
export const QEMU_LIMIT_SHARE = 0.5;

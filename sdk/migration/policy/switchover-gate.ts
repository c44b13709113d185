import { DISK_COPY_SWITCHOVER_OVERHEAD_MS } from '../storage/disk-copy.ts';

/** The stream still on its way to a destination that lags behind it, and how fast that destination reads. */
export interface StreamInFlight {
  bytes: number;
  bytesPerSecond: number;
}

/**
 * The downtime guarantee, in two halves.
 *
 * Steering: QEMU switches over once its dirty set is below its threshold,
 * its own last-100-ms bandwidth × `downtime-limit`. That bandwidth counts
 * wire bytes (a zero page is a few bytes) while the dirty set counts whole
 * pages, so left alone QEMU may stop the guest with hundreds of MiB still
 * unscanned. ferry sets `downtime-limit` so that QEMU's threshold equals
 * what ferry itself allows to remain: the budget at a cautious rate.
 *
 * The gate: with `pause-before-switchover` QEMU stops the guest and waits;
 * ferry estimates the pause and lets it go on only if it fits maxDowntime.
 * Steering leaves the gate a margin, so it says go unless QEMU decided on
 * figures that changed under it.
 */
export interface SwitchoverEstimate {
  remainingBytes: number;
  /**
   * The stream still in the sockets at the pause of a destination that lags (its unread receive queue and the
   * source's send queue), and the pace its QEMU read at: the pause waits for it to load.
   */
  inFlight?: StreamInFlight;
  /** Bytes/s the link carried lately, as LinkRate keeps it. */
  throughput: number;
  /** The rate the estimate assumes for the final send: a share of `throughput` (see PAUSE_RATE_SHARE). */
  pauseRate: number;
  /**
   * The pause's fixed cost (switchoverPauseCostMs: stopping, device state, starting on the destination, the disk mirrors' finish),
   * and the rest of the pause foreseen from the wait so far (PAUSE_AFTER_WAIT_FACTOR × waitedMs, up to PAUSE_AFTER_WAIT_CAP_MS of it).
   */
  overheadMs: number;
  /** How long the guest has been paused already while ferry decided. */
  waitedMs: number;
  /** The longest of the source's recent QMP round trips (ms): how busy its host is. */
  roundTripMs?: number;
  estimateMs: number;
  maxDowntimeMs: number;
  fits: boolean;
  /** Who let the switchover go or cancelled it: the gate next to QEMU in the source's guard, or ferry's own. */
  decidedBy?: 'source' | 'ferry';
  /** The throttle QEMU applied when it paused (`cpu-throttle-percentage`), if any. */
  throttlePercent?: number;
  /**
   * How long a vCPU had yet to sleep in QEMU's throttle when the source's guard looked at the pause, `waitedMs` into
   * it (ms, read from /proc; 0: none). QEMU's last steps wait for it, and the guest would not run sooner on the
   * source either, so it is said, not counted against the budget (a cancel would not shorten it).
   */
  vcpuSleepMs?: number;
}

/**
 * Fixed cost of a switchover beyond sending RAM: device state, the stop and
 * the start on the destination, and (since the destination confirms over
 * the return path that it loaded everything, and QEMU's pause is answered
 * through ferry's guard) the round trips that now sit inside the pause.
 * Measured on the lab's TCG guests with a near-empty dirty set, 15
 * switchovers: 9–18 ms in 11, then 36, 45, 61 and 94 ms with both cores
 * busy (two TCG guests, sshd, the guards). Planning 50 ms keeps all but the
 * worst of those inside the budget; the cost is that a budget of 50 ms or less
 * hardly ever switches over (it is cancelled, the guest running on).
 * Checked against QEMU's own downtime (bench/convergence.ts calibrate, 109
 * switchovers on the 2-core lab machine shared with other work, load
 * average 1–7): beyond the send and the wait the pause took 7 ms at the
 * median, 35 ms at the 90th percentile, 67 ms at the 95th and up to 118 ms,
 * and nothing measured before the pause told the long ones apart (not the
 * QMP round trips, only partly the wait). Any lower figure would have let
 * 50 ms switchovers through that QEMU then measured at 46–53 ms. A higher
 * one (about 80 covers every pause seen, with PAUSE_AFTER_WAIT_FACTOR) also
 * shrinks steering's allowance below STEERING_MARGIN's design: not changed yet.
 * Some of those long pauses were later told apart: a destination loading
 * slower than the link (on the lab, memory its machine had handed back to
 * its hypervisor) leaves ~10 MiB of the stream in the sockets at the pause,
 * which the estimate now counts (SwitchoverEstimate.inFlight).
 */
export const SWITCHOVER_OVERHEAD_MS = 50;

/**
 * The pause's fixed cost beyond sending RAM: the switchover's own on these
 * hosts (the `switchoverCost` option, SWITCHOVER_OVERHEAD_MS unless the
 * caller measured theirs), and the disk mirrors' finish when disks are copied.
 */
export function switchoverPauseCostMs(switchoverCostMs: number, copyingDisks: boolean): number {
  return switchoverCostMs + (copyingDisks ? DISK_COPY_SWITCHOVER_OVERHEAD_MS : 0);
}

/**
 * What the wait so far says about the rest of the pause. The gate's own
 * wait is one QMP round trip through the source's sshd and QEMU's main
 * loop; what follows the decision goes through the same, starved, path
 * several times (migrate-continue's trip, the migration thread's wake, the
 * destination's load and its return-path reply). Calibrated on the lab's
 * estimate-vs-QEMU pairs (bench/convergence.ts calibrate; 60 switchovers,
 * idle, 50 and 200 MB/s guests, with and without two busy loops on the
 * source): with the fixed overhead and the send alone, 2 pauses came out
 * longer than estimated, both under the hog after a long wait (82 ms after
 * 5 ms waited, estimate 62; 76 ms after 8 ms, estimate 58). Four more of
 * the wait covers both, exactly; five keeps a margin (the 82 ms pause
 * estimated at 87 ms). Only ever adds, so the gate cancels more, never less.
 * A second run of 49 on a busier machine found pauses it does not cover
 * (80–132 ms after 1–9 ms waited, estimated at 58–110): see SWITCHOVER_OVERHEAD_MS.
 * Only the first PAUSE_AFTER_WAIT_CAP_MS of the wait count: a long wait did
 * not foretell a long rest. The busy Debian guest (bench/busy-guest.ts,
 * QEMU 10.0) waited 54 and 99 ms and paused 41 and 151 ms in all; five
 * times the whole wait would have cancelled both at 300 ms.
 */
export const PAUSE_AFTER_WAIT_FACTOR = 5;
export const PAUSE_AFTER_WAIT_CAP_MS = 10;

/**
 * The final send does not run at the link's rate when the host is short
 * of CPU: on the lab with both cores busy it ran at 50–300 MiB/s after
 * 200–300 MiB/s during the passes before it, and once at a sixth. The gate
 * assumes a quarter.
 */
export const PAUSE_RATE_SHARE = 0.25;

/**
 * The rate the final send is planned at. A quarter of the link's, for a
 * send that is CPU-bound; but under a bandwidth cap that binds, the link
 * measured is the cap and the final send (never rate-limited) is bound by
 * a link at least that fast, so the cap itself: a quarter of it cancelled
 * an idle guest's 75 ms pause on a 32 MiB/s cap.
 */
export function pauseRateFor(throughput: number, capBytesPerSecond?: number): number {
  const cautious = throughput * PAUSE_RATE_SHARE;
  // The cap binds when the link ran at (nearly) the cap; a cap far above what the link did says nothing.
  const binds = capBytesPerSecond !== undefined && throughput >= 0.8 * capBytesPerSecond;
  return binds ? Math.max(cautious, Math.min(throughput, capBytesPerSecond)) : cautious;
}

/** Steering asks QEMU for half of what the gate accepts, so a bandwidth that moves between two looks does not end in a cancel. */
export const STEERING_MARGIN = 0.5;

/**
 * @example
 * estimateSwitchover({ remainingBytes: 8 << 20, throughput: 256 << 20, waitedMs: 3, maxDowntimeMs: 300 }).fits // true (125 + 50 + 15 + 3 ≈ 193 ms)
 */
export function estimateSwitchover(input: { remainingBytes: number; inFlight?: StreamInFlight | undefined; throughput: number; waitedMs: number; maxDowntimeMs: number; capBytesPerSecond?: number; fixedCostMs?: number; roundTripMs?: number }): SwitchoverEstimate {
  const overheadMs = pauseOverheadMs(input.fixedCostMs ?? SWITCHOVER_OVERHEAD_MS, input.waitedMs);
  const pauseRate = pauseRateFor(input.throughput, input.capBytesPerSecond);
  const sendMs = pauseRate > 0 ? (input.remainingBytes / pauseRate) * 1000 : input.remainingBytes > 0 ? Number.POSITIVE_INFINITY : 0;
  const inFlight = input.inFlight && input.inFlight.bytes > 0 ? input.inFlight : undefined;
  const drainMs = inFlight ? (inFlight.bytesPerSecond > 0 ? (inFlight.bytes / inFlight.bytesPerSecond) * 1000 : Number.POSITIVE_INFINITY) : 0;
  const estimateMs = sendMs + drainMs + overheadMs + input.waitedMs;
  return {
    remainingBytes: input.remainingBytes,
    ...(inFlight && { inFlight: { ...inFlight } }),
    throughput: input.throughput,
    pauseRate,
    overheadMs: Math.round(overheadMs),
    waitedMs: input.waitedMs,
    ...(input.roundTripMs !== undefined && { roundTripMs: Math.round(input.roundTripMs * 10) / 10 }),
    estimateMs: Number.isFinite(estimateMs) ? Math.round(estimateMs) : estimateMs,
    maxDowntimeMs: input.maxDowntimeMs,
    fits: estimateMs <= input.maxDowntimeMs,
  };
}

/** The pause beyond the send and the wait: its fixed cost, and the rest foreseen from the wait (PAUSE_AFTER_WAIT_FACTOR). */
function pauseOverheadMs(fixedCostMs: number, waitedMs: number): number {
  return fixedCostMs + PAUSE_AFTER_WAIT_FACTOR * Math.min(PAUSE_AFTER_WAIT_CAP_MS, Math.max(0, waitedMs));
}

/**
 * What may remain at switchover for a pause of `targetMs`: half of what the
 * gate would accept, after the pause's fixed cost (`fixedCostMs`: the
 * switchover's own, and the disk mirrors' finish when disks are copied).
 */
export function switchoverAllowanceBytes(targetMs: number, throughput: number, capBytesPerSecond?: number, fixedCostMs = SWITCHOVER_OVERHEAD_MS): number {
  return (Math.max(0, targetMs - fixedCostMs) / 1000) * pauseRateFor(throughput, capBytesPerSecond) * STEERING_MARGIN;
}

/**
 * The `downtime-limit` that makes QEMU's threshold (its bandwidth × limit)
 * equal ferry's allowance. Before any bandwidth is known, 1 ms: QEMU then
 * only switches over a dirty set it can send in a millisecond.
 *
 * @example
 * qemuDowntimeLimitFor(300, 200 << 20, 400 << 20) // 15: QEMU sees twice the rate ferry plans with
 */
export function qemuDowntimeLimitFor(targetMs: number, throughput: number, qemuBandwidth: number, capBytesPerSecond?: number, fixedCostMs = SWITCHOVER_OVERHEAD_MS): number {
  if (!(throughput > 0) || !(qemuBandwidth > 0)) return 1;
  // QEMU's threshold uses its bandwidth at the moment it decides: a low reading (a throttled or
  // stalled moment) would give a limit that lets QEMU stop the guest with twice the allowance once
  // its rate recovers. Steer with the higher of QEMU's figure (the caller passes the most it read,
  // LinkRate.qemuPeak) and the link ferry plans with (seen: 123.5 MiB left for an allowance of 62).
  const rate = Math.max(qemuBandwidth, throughput);
  const limit = (switchoverAllowanceBytes(targetMs, throughput, capBytesPerSecond, fixedCostMs) / rate) * 1000;
  // Whole milliseconds, rounded down: at a tight budget the limit is a few ms, and rounding 1.7 up to 2
  // would raise QEMU's threshold by a sixth over the allowance.
  return Math.max(1, Math.min(Math.floor(limit), Math.max(1, targetMs - fixedCostMs)));
}

/**
 * What ferry sets on the source QEMU to keep its switchover threshold at
 * ferry's allowance. QEMU 8.2 added `avail-switchover-bandwidth`: when set,
 * QEMU's threshold is that bandwidth × `downtime-limit`, and its own
 * last-100-ms reading no longer counts (migration_update_counters). ferry
 * gives it the rate it plans the pause with, and the limit that makes the
 * product its allowance: exact, whatever a burst into the socket's buffers
 * made QEMU read at the moment it decides. Before 8.2, only the limit
 * (qemuDowntimeLimitFor, planned with the most QEMU has read).
 */
export interface QemuSteering {
  downtimeLimitMs: number;
  /** Bytes/s for `avail-switchover-bandwidth` (QEMU 8.2+; 0: QEMU's own reading); absent where QEMU has no such parameter. */
  availSwitchoverBandwidth?: number;
}

/**
 * @example
 * qemuSteeringFor(300, 200 << 20, 400 << 20, undefined, 50, true) // { downtimeLimitMs: 125, availSwitchoverBandwidth: 52428800 }: 125 ms at a quarter of 200 MiB/s
 */
export function qemuSteeringFor(targetMs: number, throughput: number, qemuBandwidth: number, capBytesPerSecond: number | undefined, fixedCostMs: number, hasSwitchoverBandwidth: boolean): QemuSteering {
  if (!hasSwitchoverBandwidth) return { downtimeLimitMs: qemuDowntimeLimitFor(targetMs, throughput, qemuBandwidth, capBytesPerSecond, fixedCostMs) };
  const rate = Math.floor(pauseRateFor(throughput, capBytesPerSecond));
  // Nothing measured yet: QEMU's own reading for a millisecond's worth, as before 8.2.
  if (!(rate > 0)) return { downtimeLimitMs: 1, availSwitchoverBandwidth: 0 };
  // The allowance is the pause rate × the target's time after the fixed cost × STEERING_MARGIN: so that time, in
  // whole ms rounded down (the rate too), keeps QEMU's threshold (rate × limit) within it.
  return { downtimeLimitMs: Math.max(1, Math.floor(Math.max(0, targetMs - fixedCostMs) * STEERING_MARGIN)), availSwitchoverBandwidth: rate };
}

/**
 * The waits (ms) the gate next to QEMU (the source's guard, `switchoverGate:
 * 'source'`) is given an allowance for. It answers one local QMP round trip
 * after the pause: about a millisecond on a quiet host, more on a starved one,
 * and past the last row the pause is left to ferry.
 */
export const SOURCE_GATE_WAITS_MS = [1, 2, 4, 7, 10] as const;

/** One row of the source gate's table: at a wait of up to `waitMs`, at most `bytes` of RAM may remain. */
export interface SourceGateRow {
  waitMs: number;
  bytes: number;
}

/** What the estimate plans with, but the remaining bytes and the wait: what the source gate's table is computed from. */
export type SwitchoverBasis = Omit<Parameters<typeof estimateSwitchover>[0], 'remainingBytes' | 'inFlight' | 'waitedMs' | 'roundTripMs'>;

/**
 * The most RAM that may remain for `estimateSwitchover` to fit after a wait
 * of `waitedMs`: its sum, solved for the remaining bytes (0 when nothing fits).
 *
 * @example
 * largestFittingRemaining({ throughput: 256 << 20, maxDowntimeMs: 300 }, 2) // 15.2 MiB: (300 - 50 - 5 × 2 - 2) ms at 64 MiB/s
 */
export function largestFittingRemaining(basis: SwitchoverBasis, waitedMs: number): number {
  const sendMs = basis.maxDowntimeMs - pauseOverheadMs(basis.fixedCostMs ?? SWITCHOVER_OVERHEAD_MS, waitedMs) - waitedMs;
  return sendMs > 0 ? Math.floor((sendMs / 1000) * pauseRateFor(basis.throughput, basis.capBytesPerSecond)) : 0;
}

/** The source gate's table for `basis`: a row per wait of SOURCE_GATE_WAITS_MS at which anything fits. */
export function sourceGateTable(basis: SwitchoverBasis): SourceGateRow[] {
  return SOURCE_GATE_WAITS_MS.map((waitMs) => ({ waitMs, bytes: largestFittingRemaining(basis, waitMs) })).filter((row) => row.bytes > 0);
}

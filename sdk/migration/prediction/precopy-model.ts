import { STALL_SHRINK } from '../policy/stall-detector.ts';

/**
 * Pre-copy, pass by pass: each pass sends the dirty set at `throughput`,
 * while the guest dirties `dirtyRate` (never more than its working set).
 * The migration switches over once the dirty set is at most
 * `switchoverBytes` (ferry steers QEMU's threshold there), or, without it,
 * once the dirty set fits the downtime limit. Rates in bytes/s, times in
 * ms. Pure: used before a migration (prediction) and during one (ETA).
 */
export interface PrecopyModelInput {
  /** What the first pass must send (non-zero RAM; zero pages cost little). */
  firstPassBytes: number;
  throughput: number;
  dirtyRate: number;
  /** The most the guest can dirty between two passes (default: firstPassBytes). */
  workingSetBytes?: number;
  downtimeLimitMs: number;
  /** The dirty set the switchover waits for (default: what `throughput` sends in the downtime limit less the overhead). */
  switchoverBytes?: number;
  /** The dirty set a stalled pass lets through: a policy that raises its target to the whole budget once the set stops shrinking (ferry's). */
  stalledSwitchoverBytes?: number;
  overheadMs: number;
  /** Fixed start cost (setup, zero-page scan). */
  setupMs?: number;
}

export interface PrecopyModelOutcome {
  converges: boolean;
  totalMs: number;
  passes: number;
  downtimeMs: number;
}

/** @example simulatePrecopy({ firstPassBytes: 170e6, throughput: 16.8e6, dirtyRate: 10e6, downtimeLimitMs: 300, overheadMs: 40 }) */
export function simulatePrecopy(input: PrecopyModelInput): PrecopyModelOutcome {
  const cap = input.workingSetBytes ?? input.firstPassBytes;
  const fits = input.switchoverBytes ?? Math.max(0, ((input.downtimeLimitMs - input.overheadMs) / 1000) * input.throughput);
  let send = input.firstPassBytes;
  let elapsed = input.setupMs ?? 0;
  for (let pass = 1; pass <= 60; pass++) {
    const seconds = send / input.throughput;
    elapsed += seconds * 1000;
    const dirtied = Math.min(input.dirtyRate * seconds, cap);
    const finalMs = (dirtied / input.throughput) * 1000;
    const downtimeMs = Math.round(finalMs + input.overheadMs);
    if (dirtied <= fits) return { converges: true, totalMs: Math.round(elapsed + downtimeMs), passes: pass + 1, downtimeMs };
    const stalled = pass > 1 && dirtied >= send * STALL_SHRINK;
    if (stalled && input.stalledSwitchoverBytes !== undefined && dirtied <= input.stalledSwitchoverBytes) {
      return { converges: true, totalMs: Math.round(elapsed + downtimeMs), passes: pass + 1, downtimeMs };
    }
    if (stalled) return { converges: false, totalMs: Number.POSITIVE_INFINITY, passes: pass, downtimeMs };
    send = dirtied;
  }
  return { converges: false, totalMs: Number.POSITIVE_INFINITY, passes: 60, downtimeMs: Number.POSITIVE_INFINITY };
}

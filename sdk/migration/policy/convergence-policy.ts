/**
 * What a convergence policy sees and what it may ask for. A policy is a
 * plain function of the migration's samples; ferry calls it as the
 * migration goes, applies what it returns (within the caller's limits) and
 * records every action with its reason. Rates in bytes/s, times in ms.
 */

/** One look at the transfer, from `query-migrate`. */
export interface ConvergenceSample {
  /** Pre-copy pass (QEMU's dirty-sync-count). */
  pass: number;
  remainingBytes: number;
  totalBytes: number;
  transferredBytes: number;
  /** How fast the guest dirties memory (QEMU's figure for the last pass). */
  dirtyRate: number;
  /**
   * The guest's dirty rate as sampled live over one second of this or an
   * earlier pass (`calc-dirty-rate`; undefined until measured). Unlike
   * `dirtyRate` it is not capped by the working set over a long pass.
   */
  sampledDirtyRate?: number;
  /** What the link carried lately (ferry's own measure over the last second or so). */
  throughput: number;
  expectedDowntimeMs: number | undefined;
  throttlePercent: number;
  /** Since `migrate` was issued. */
  elapsedMs: number;
}

/** One finished pre-copy pass. */
export interface PassStats {
  pass: number;
  startedAtMs: number;
  durationMs: number;
  /** The dirty set this pass began with (bytes to send). */
  startRemainingBytes: number;
  /** What was left when the next pass began (after its dirty-bitmap sync). */
  endRemainingBytes: number;
  sentBytes: number;
  dirtyRate: number;
  throughput: number;
  throttlePercent: number;
  downtimeLimitMs: number;
}

/** What ferry has set so far; policies read it to decide the next step. */
export interface ConvergenceSettings {
  downtimeLimitMs: number;
  /** When the downtime limit was last changed (ms since `migrate`). */
  downtimeLimitSetAtMs: number;
  bandwidth: number | 'unlimited';
  /** The most throttle QEMU may apply now (0: none asked for). */
  throttlePercent: number;
  postcopy: boolean;
  paused: boolean;
}

/** The caller's bounds: no action goes past them. */
export interface ConvergenceLimits {
  maxDowntimeMs: number;
  allowPostcopy: boolean;
  allowPause: boolean;
  /** Whether QEMU can throttle (auto-converge was on from the start). */
  canThrottle: boolean;
  /** The longest the guest may be throttled at HEAVY_THROTTLE (95 %) or more, ms (option `heavyThrottleLimit`). */
  heavyThrottleLimitMs: number;
  timeoutMs: number;
  memoryBytes: number;
}

export interface PolicyInput {
  sample: ConvergenceSample;
  /** Finished passes, oldest first. */
  passes: readonly PassStats[];
  /** Earlier samples, one per policy call (about one a second), oldest first; at most the last 120. */
  history: readonly ConvergenceSample[];
  /** True on the first call after a pass ended. */
  newPass: boolean;
  settings: ConvergenceSettings;
  limits: ConvergenceLimits;
}

/** One step a policy asks for; `reason` is for people and is recorded as given. */
export type ConvergenceAction =
  | { type: 'downtime-limit'; ms: number; reason: string }
  /** Let QEMU's auto-converge throttle the guest's vCPUs up to `percent` (1–99). */
  | { type: 'throttle'; percent: number; reason: string }
  | { type: 'bandwidth'; bytesPerSecond: number | 'unlimited'; reason: string }
  | { type: 'postcopy'; reason: string }
  | { type: 'pause'; reason: string }
  | { type: 'cancel'; reason: string };

export type ConvergenceActionType = ConvergenceAction['type'];

/**
 * A convergence policy. Capabilities cannot change once QEMU migrates, so a
 * policy that throttles or relies on XBZRLE says so up front in `needs`.
 *
 * @example
 * const patient: ConvergencePolicy = ({ sample, settings, limits }) =>
 *   sample.elapsedMs > 60_000 && settings.downtimeLimitMs < limits.maxDowntimeMs
 *     ? { type: 'downtime-limit', ms: limits.maxDowntimeMs, reason: 'a minute without converging' }
 *     : [];
 * await vm.migrateTo('b', { policy: patient, maxDowntime: 1000 });
 */
export interface ConvergencePolicy {
  (input: PolicyInput): ConvergenceAction | readonly ConvergenceAction[] | undefined;
  readonly policyName?: string;
  readonly needs?: PolicyNeeds;
}

/** Capabilities a policy needs from the start of the transfer. */
export interface PolicyNeeds {
  autoConverge?: boolean;
  xbzrle?: boolean;
  /**
   * With autoConverge: the throttle QEMU may reach before the policy asks
   * for more (default 99, QEMU's own ramp; 1 keeps it all but off).
   */
  initialThrottlePercent?: number;
  /** Where the policy starts the downtime limit (default: the caller's maxDowntime). */
  initialDowntimeMs?: (maxDowntimeMs: number) => number;
}

/** Gives a policy function a name and its needs. */
export function definePolicy(name: string, decide: (input: PolicyInput) => ConvergenceAction | readonly ConvergenceAction[] | undefined, needs: PolicyNeeds = {}): ConvergencePolicy {
  return Object.assign((input: PolicyInput) => decide(input), { policyName: name, needs });
}

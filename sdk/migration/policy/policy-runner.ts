import type { MigrationInfo } from '../../qmp/index.ts';
import type {
  ConvergenceAction, ConvergenceLimits, ConvergencePolicy, ConvergenceSample, ConvergenceSettings, PassStats,
} from './convergence-policy.ts';

/** An action as ferry took it (or refused it), for the progress stream and the result. */
export interface ConvergenceActionRecord {
  type: ConvergenceAction['type'];
  /** Human-readable: what was done, e.g. `downtime-limit 100 → 150 ms`. */
  action: string;
  reason: string;
  atMs: number;
  pass: number;
  /** False when ferry refused it (no permission); `action` then says why. */
  applied: boolean;
}

const HISTORY = 120;
const DECIDE_EVERY_MS = 1000;
const THROUGHPUT_WINDOW_MS = 1500;

/**
 * Turns `query-migrate` replies into samples and per-pass statistics, asks
 * the policy what to do (on every new pass, and about once a second), and
 * checks each action against the caller's limits. Pure bookkeeping: the QMP
 * side is in perform-src.
 */
export class PolicyRunner {
  readonly passes: PassStats[] = [];
  readonly history: ConvergenceSample[] = [];
  readonly records: ConvergenceActionRecord[] = [];
  readonly settings: ConvergenceSettings;
  readonly limits: ConvergenceLimits;
  readonly #policy: ConvergencePolicy | undefined;
  #current: { pass: number; startedAtMs: number; startRemaining: number; startTransferred: number } | undefined;
  #window: Array<{ atMs: number; transferred: number }> = [];
  #lastDecisionAtMs = Number.NEGATIVE_INFINITY;
  #passEnded = false;
  #last: ConvergenceSample | undefined;
  #sampledDirtyRate: number | undefined;
  readonly #refused = new Set<string>();

  constructor(policy: ConvergencePolicy | undefined, limits: ConvergenceLimits, settings: ConvergenceSettings) {
    this.#policy = policy;
    this.limits = limits;
    this.settings = settings;
  }

  get lastSample(): ConvergenceSample | undefined {
    return this.#last;
  }

  /** Records one reply; returns the sample it makes. */
  observe(info: MigrationInfo, elapsedMs: number): ConvergenceSample {
    const ram = info.ram;
    const transferred = ram?.transferred ?? 0;
    const remaining = ram?.remaining ?? ram?.total ?? 0;
    const pass = ram?.['dirty-sync-count'] ?? 0;
    this.#window.push({ atMs: elapsedMs, transferred });
    while (this.#window.length > 2 && elapsedMs - (this.#window[1]?.atMs ?? elapsedMs) >= THROUGHPUT_WINDOW_MS) this.#window.shift();
    const first = this.#window[0];
    const span = first ? elapsedMs - first.atMs : 0;
    const measured = first && span >= 200 ? ((transferred - first.transferred) / span) * 1000 : ((ram?.mbps ?? 0) * 1e6) / 8;
    const sample: ConvergenceSample = {
      pass,
      remainingBytes: remaining,
      totalBytes: ram?.total ?? 0,
      transferredBytes: transferred,
      dirtyRate: (ram?.['dirty-pages-rate'] ?? 0) * (ram?.['page-size'] ?? 4096),
      ...(this.#sampledDirtyRate !== undefined && { sampledDirtyRate: this.#sampledDirtyRate }),
      throughput: Math.max(0, Math.round(measured)),
      expectedDowntimeMs: info['expected-downtime'],
      throttlePercent: info['cpu-throttle-percentage'] ?? 0,
      elapsedMs: Math.round(elapsedMs),
    };
    if (pass > 0 && (!this.#current || pass > this.#current.pass)) {
      if (this.#current) {
        const durationMs = Math.max(1, elapsedMs - this.#current.startedAtMs);
        const sentBytes = transferred - this.#current.startTransferred;
        this.passes.push({
          pass: this.#current.pass,
          startedAtMs: Math.round(this.#current.startedAtMs),
          durationMs: Math.round(durationMs),
          startRemainingBytes: this.#current.startRemaining,
          endRemainingBytes: remaining,
          sentBytes,
          dirtyRate: sample.dirtyRate,
          throughput: Math.round((sentBytes / durationMs) * 1000),
          throttlePercent: sample.throttlePercent,
          downtimeLimitMs: this.settings.downtimeLimitMs,
        });
        this.#passEnded = true;
      }
      this.#current = { pass, startedAtMs: elapsedMs, startRemaining: pass === 1 ? Math.max(remaining, sample.totalBytes) : remaining, startTransferred: transferred };
    }
    this.#last = sample;
    return sample;
  }

  /** A live dirty-rate measure (bytes/s, see LiveDirtyRate): samples carry it from now on. */
  sampledDirtyRate(bytesPerSecond: number): void {
    this.#sampledDirtyRate = Math.round(bytesPerSecond);
  }

  /**
   * The caller changed maxDowntime mid-flight (Migration.setMaxDowntime()):
   * the new budget bounds the policy from now on, and the downtime target
   * becomes the budget the caller just asked for.
   */
  setBudget(maxDowntimeMs: number): void {
    this.limits.maxDowntimeMs = maxDowntimeMs;
    this.settings.downtimeLimitMs = maxDowntimeMs;
  }

  /** What the policy asks for now, each checked against the limits (refusals are recorded, not returned). */
  decide(sample: ConvergenceSample): ConvergenceAction[] {
    if (!this.#policy) return [];
    const newPass = this.#passEnded;
    if (!newPass && sample.elapsedMs - this.#lastDecisionAtMs < DECIDE_EVERY_MS) return [];
    this.#passEnded = false;
    this.#lastDecisionAtMs = sample.elapsedMs;
    const asked = this.#policy({ sample, passes: this.passes, history: this.history, newPass, settings: { ...this.settings }, limits: this.limits });
    this.history.push(sample);
    if (this.history.length > HISTORY) this.history.shift();
    const actions = asked === undefined ? [] : Array.isArray(asked) ? (asked as readonly ConvergenceAction[]) : [asked as ConvergenceAction];
    const allowed: ConvergenceAction[] = [];
    for (const action of actions) {
      const checked = this.#check(action, sample);
      if (checked) allowed.push(checked);
    }
    return allowed;
  }

  /** Records an action once applied, updating the settings policies read. */
  applied(action: ConvergenceAction, sample: ConvergenceSample): ConvergenceActionRecord {
    let text: string = action.type;
    switch (action.type) {
      case 'downtime-limit':
        text = `downtime-limit ${this.settings.downtimeLimitMs} → ${action.ms} ms`;
        this.settings.downtimeLimitMs = action.ms;
        this.settings.downtimeLimitSetAtMs = sample.elapsedMs;
        break;
      case 'throttle':
        text = `throttle up to ${action.percent}%`;
        this.settings.throttlePercent = action.percent;
        break;
      case 'bandwidth':
        text = `bandwidth ${describeBandwidth(this.settings.bandwidth)} → ${describeBandwidth(action.bytesPerSecond)}`;
        this.settings.bandwidth = action.bytesPerSecond;
        break;
      case 'postcopy':
        text = 'switch to post-copy';
        this.settings.postcopy = true;
        break;
      case 'pause':
        text = 'pause the guest to finish';
        this.settings.paused = true;
        break;
      case 'cancel':
        text = 'cancel';
        break;
    }
    return this.#record({ type: action.type, action: text, reason: action.reason, atMs: sample.elapsedMs, pass: sample.pass, applied: true });
  }

  #check(action: ConvergenceAction, sample: ConvergenceSample): ConvergenceAction | undefined {
    const refuse = (why: string) => {
      // Said once: a policy that keeps asking is not news.
      if (this.#refused.has(action.type)) return undefined;
      this.#refused.add(action.type);
      this.#record({ type: action.type, action: `refused ${action.type}: ${why}`, reason: action.reason, atMs: sample.elapsedMs, pass: sample.pass, applied: false });
      return undefined;
    };
    switch (action.type) {
      case 'downtime-limit': {
        const ms = Math.min(Math.round(action.ms), this.limits.maxDowntimeMs);
        if (!(ms > 0) || ms === this.settings.downtimeLimitMs) return undefined;
        return { ...action, ms };
      }
      case 'throttle': {
        if (!this.limits.canThrottle) return refuse('auto-converge was not on from the start (set the policy\'s needs.autoConverge or autoConverge: true)');
        const percent = Math.min(99, Math.max(1, Math.round(action.percent)));
        return percent === this.settings.throttlePercent ? undefined : { ...action, percent };
      }
      case 'bandwidth':
        return action.bytesPerSecond === this.settings.bandwidth ? undefined : action;
      case 'postcopy':
        if (this.settings.postcopy) return undefined;
        return this.limits.allowPostcopy ? action : refuse('post-copy is not permitted (postcopy: true)');
      case 'pause':
        if (this.settings.paused) return undefined;
        return this.limits.allowPause ? action : refuse('pausing the guest is not permitted (allowPause: true)');
      case 'cancel':
        return action;
    }
  }

  #record(record: ConvergenceActionRecord): ConvergenceActionRecord {
    this.records.push(record);
    return record;
  }
}

function describeBandwidth(value: number | 'unlimited'): string {
  return value === 'unlimited' ? 'unlimited' : `${(value / 1024 ** 2).toFixed(1)} MiB/s`;
}

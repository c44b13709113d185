import type { MigrationInfo } from '../qmp/index.ts';
import type { DiskCopyProgress } from './storage/disk-copy.ts';
import type { MigrationPhase } from './migration-phase.ts';
import { transferState, type TransferState } from './qemu-migration-status.ts';

/** One look at a migration in flight. Rates in bytes/s, times in ms. */
export interface MigrationProgress {
  phase: MigrationPhase;
  transfer: TransferState;
  /** 0–100; never runs backwards, even when the guest dirties memory faster than it is sent. */
  percent: number;
  transferredBytes: number;
  remainingBytes: number;
  totalBytes: number;
  /** How fast the guest dirties memory. */
  dirtyRate: number;
  /** How fast the link carries it. */
  throughput: number;
  /** Pre-copy pass (QEMU's dirty-sync-count). */
  pass: number;
  expectedDowntimeMs: number | undefined;
  throttlePercent: number;
  /** The downtime limit the policy has set so far (ferry's target; at most maxDowntime). */
  downtimeLimitMs?: number;
  /**
   * Estimated time to completion at the current dirty rate and throughput;
   * undefined while the guest dirties as fast as the link sends (it will
   * not converge unless the policy acts).
   */
  etaMs?: number;
  elapsedMs: number;
  /** Why the figures moved the way they did, when that needs saying. */
  note?: string;
  /** The live copy of disks that are not on shared storage (it runs first; RAM follows once every mirror is ready). */
  disks?: DiskCopyProgress;
}

/**
 * Progress while the disks are copied, before any RAM moves: bytes are the
 * disks', and the ETA is what is left at the copy's average rate so far.
 */
export function diskCopyPhaseProgress(phase: MigrationPhase, disks: DiskCopyProgress, elapsedMs: number): MigrationProgress {
  const throughput = elapsedMs > 0 ? (disks.copiedBytes / elapsedMs) * 1000 : 0;
  const remaining = Math.max(0, disks.totalBytes - disks.copiedBytes);
  return {
    phase,
    transfer: 'transferring',
    percent: disks.totalBytes > 0 ? Math.round((disks.copiedBytes / disks.totalBytes) * 1000) / 10 : 0,
    transferredBytes: disks.copiedBytes,
    remainingBytes: remaining,
    totalBytes: disks.totalBytes,
    dirtyRate: 0,
    throughput: Math.round(throughput),
    pass: 0,
    expectedDowntimeMs: undefined,
    throttlePercent: 0,
    ...(throughput > 0 && { etaMs: Math.round((remaining / throughput) * 1000) }),
    elapsedMs: Math.round(elapsedMs),
    note: disks.ready ? 'disks copied; now following the guest\'s writes' : 'copying disks (memory follows)',
    disks,
  };
}

/**
 * Turns `query-migrate` replies into progress. The percentage counts what
 * has reached the destination against what it must still send, and holds
 * still (with a note) when remaining bytes grow, rather than going back.
 */
export class ProgressTracker {
  #percent = 0;
  #lastRemaining: number | undefined;
  #lastPass = 0;

  #lastActionAt = -1;

  /** `extra` carries ferry's own figures: a steadier throughput than QEMU's 100 ms one, the live-sampled dirty rate, the policy's state. */
  update(
    info: MigrationInfo,
    phase: MigrationPhase,
    elapsedMs: number,
    extra: { throughput?: number; sampledDirtyRate?: number; downtimeLimitMs?: number; lastAction?: { action: string; reason: string; atMs: number; pass: number } } = {},
  ): MigrationProgress {
    const ram = info.ram;
    const transfer = transferState(info.status);
    const total = ram?.total ?? 0;
    const remaining = ram?.remaining ?? total;
    const pass = ram?.['dirty-sync-count'] ?? 0;
    let note: string | undefined;
    if (transfer === 'completed') this.#percent = 100;
    else if (total > 0) {
      const done = Math.min(99.9, ((total - remaining) / total) * 100);
      if (done >= this.#percent) this.#percent = done;
      else if (this.#lastRemaining !== undefined && remaining > this.#lastRemaining) {
        note = `pass ${pass}: the guest dirtied memory faster than the link sent it`;
      }
    }
    if (pass > this.#lastPass && pass > 1 && !note) note = `pass ${pass}: re-sending ${Math.round(remaining / 1024 ** 2)} MiB the guest dirtied`;
    const action = extra.lastAction;
    if (action && action.atMs !== this.#lastActionAt) {
      this.#lastActionAt = action.atMs;
      note = `pass ${action.pass}: ${action.action} (${action.reason})${note ? `; ${note}` : ''}`;
    }
    // QEMU's per-pass figure is capped by the working set over a long pass; a live sample is not.
    const dirtyRate = Math.max((ram?.['dirty-pages-rate'] ?? 0) * (ram?.['page-size'] ?? 4096), extra.sampledDirtyRate ?? 0);
    const throughput = extra.throughput ?? ((ram?.mbps ?? 0) * 1e6) / 8;
    const etaMs = transfer === 'completed' ? 0 : etaOf(remaining, dirtyRate, throughput);
    this.#lastPass = pass;
    this.#lastRemaining = remaining;
    return {
      phase,
      transfer,
      percent: Math.round(this.#percent * 10) / 10,
      transferredBytes: ram?.transferred ?? 0,
      remainingBytes: remaining,
      totalBytes: total,
      dirtyRate,
      throughput: Math.round(throughput),
      pass,
      expectedDowntimeMs: info['expected-downtime'],
      throttlePercent: info['cpu-throttle-percentage'] ?? 0,
      ...(extra.downtimeLimitMs !== undefined && { downtimeLimitMs: extra.downtimeLimitMs }),
      ...(etaMs !== undefined && { etaMs }),
      elapsedMs: Math.round(elapsedMs),
      ...(note !== undefined && { note }),
    };
  }
}

/** What is left shrinks at (throughput − dirty rate): the continuous form of pre-copy's passes. */
function etaOf(remaining: number, dirtyRate: number, throughput: number): number | undefined {
  const net = throughput - dirtyRate;
  if (!(throughput > 0) || net <= throughput * 0.05) return undefined;
  return Math.round((remaining / net) * 1000);
}

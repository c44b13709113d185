import type { DowntimeOverrun } from './downtime-overrun.ts';
import type { GuestCheckReport } from './guest-check.ts';
import type { SideSettings } from './parameter-plan.ts';
import type { MigrationStageEntry } from './migration-stage.ts';
import type { ResolvedMigrationOptions } from './migration-options.ts';
import type { MigrationStep } from './migration-plan.ts';
import type { PassStats } from './policy/convergence-policy.ts';
import type { ConvergenceActionRecord } from './policy/policy-runner.ts';
import type { SwitchoverEstimate } from './policy/switchover-gate.ts';

/** How the migration converged: the policy's actions with reasons, each pass, and the switchover check. */
export interface ConvergenceReport {
  /** The policy's name (`ferry`, `nova`, …, `none`, or a custom function's). */
  policy: string;
  actions: ConvergenceActionRecord[];
  passStats: PassStats[];
  /** The downtime guarantee's estimate when QEMU paused before switchover (expected downtime). */
  switchover?: SwitchoverEstimate;
}

/** What a completed migration did. Times in ms, sizes in bytes, rates in bytes/s. */
export interface MigrationResult {
  status: 'completed' | 'planned';
  id: string;
  vm: string;
  source: string;
  destination: string;
  /** Wall time of the whole call, preflight to cleanup. */
  wallTimeMs: number;
  /** Starting the destination QEMU and connecting to it. */
  destinationStartMs: number;
  /** QEMU's own figures for the transfer. */
  totalTimeMs: number;
  setupTimeMs: number;
  /** The pause the guest saw at switchover, as QEMU measured it. */
  downtimeMs: number;
  transferredBytes: number;
  /** What QEMU sent while the guest was paused (its `downtime-bytes`). */
  downtimeBytes: number;
  passes: number;
  throughput: number;
  /** Whether post-copy was used to finish. */
  postcopy: boolean;
  /** Set when QEMU's pause broke maxDowntime although the gate let it through (not for post-copy or a permitted pause): by how much, and why as far as ferry can tell. */
  downtimeOverrun?: DowntimeOverrun;
  /** The options finally in effect (after any policy action). */
  options: ResolvedMigrationOptions;
  /** How long each phase took. */
  phases: Partial<Record<'preflight' | 'prepare' | 'perform' | 'finish' | 'confirm', number>>;
  /** What was done to the two QEMUs, and when (ms from the start): source-claimed … source-ended. */
  stages?: MigrationStageEntry[];
  /** Policy, actions and per-pass statistics (absent on a dry run). */
  convergence?: ConvergenceReport;
  /** A dry run's steps (status 'planned'), touching nothing. */
  plan?: MigrationStep[];
  /** The capabilities and parameters set on each side (a dry run: would be set), from the one parameter plan. */
  settings?: { source: SideSettings; destination: SideSettings };
  /** Each disk and what happened to it (a dry run: would happen): opened as it is on shared storage, or copied. */
  disks?: MigrationDiskReport[];
  /** How long the live disk copy ran before memory started to move (ms). */
  diskCopyMs?: number;
  /** Whether the guest lives on the destination, as far as ferry could tell (and your guestCheck). */
  guestCheck?: GuestCheckReport;
}

/** One disk in a migration's result. */
export interface MigrationDiskReport {
  device: string;
  path: string;
  format: string;
  virtualSizeBytes: number;
  action: 'shared' | 'copy';
  /** A line for people: what was (or would be) done. */
  description: string;
}

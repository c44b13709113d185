import type { MigrationResult } from '../migration/migration-result.ts';
import type { VmLocation } from '../migration/migration-errors.ts';

/** A VM that reached its destination. */
export interface MovedVm {
  status: 'moved';
  vm: string;
  from: string;
  to: string;
  attempts: number;
  /** The migration's result; absent when an earlier, interrupted run moved it (see `fromJournal`). */
  result?: MigrationResult;
  /** Moved by an earlier run of this evacuation that was interrupted, as its journal says. */
  fromJournal?: boolean;
}

/** A VM whose migration failed (after any retry). `runsOn` says where it is now. */
export interface FailedVm {
  status: 'failed';
  vm: string;
  from: string;
  /** The destination of the last attempt. */
  to: string;
  attempts: number;
  error: { name: string; code: string; message: string; phase?: string };
  vmState: VmLocation;
  /** The host it runs on now, or `unknown` (check both hosts). */
  runsOn: string;
}

/** A VM not moved on purpose, and why (fits nowhere, anti-affinity, cancelled). */
export interface SkippedVm {
  status: 'skipped';
  vm: string;
  from: string;
  reason: string;
}

/** A dry run's step: where the VM would go, in which order, and how long it should take. */
export interface PlannedVm {
  status: 'planned';
  vm: string;
  from: string;
  to: string;
  order: number;
  memoryBytes: number;
  /** Bytes a migration would send (its QEMU's resident memory). */
  bytesToMove: number;
  predictedMs: number;
}

export type VmOutcome = MovedVm | FailedVm | SkippedVm | PlannedVm;

/** What an evacuation did (or, for a dry run, would do). It never throws halfway: look here. */
export interface EvacuationReport {
  /** `completed`: every VM moved; `partial`: some failed or were skipped; `cancelled`; `planned` (dry run); `failed`: it could not start (see `error`). */
  status: 'completed' | 'partial' | 'cancelled' | 'planned' | 'failed';
  id: string;
  mode: 'evacuate' | 'move-back';
  host: string;
  /** Every VM, in the order they were (or would be) handled. */
  vms: VmOutcome[];
  moved: MovedVm[];
  failed: FailedVm[];
  skipped: SkippedVm[];
  /** Dry run: the steps, in order. */
  plan?: PlannedVm[];
  /** Dry run: the whole evacuation's predicted time; otherwise its wall time. */
  predictedMs?: number;
  wallTimeMs: number;
  /** Fixed N, or adaptive with the most it ran at once. */
  concurrency: { mode: 'fixed' | 'adaptive'; limit: number; peak: number };
  /** Bytes the completed migrations sent. */
  transferredBytes: number;
  /** This run picked up an interrupted one from its journal. */
  resumed: boolean;
  journal: string | undefined;
  /** How predictions were made (engine prediction, or bytes over an assumed throughput). */
  predictionBasis?: string;
  /** Why it could not start at all (status `failed`). */
  error?: { name: string; code: string; message: string };
}

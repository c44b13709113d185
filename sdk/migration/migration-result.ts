import type { ResolvedMigrationOptions } from './migration-options.ts';
import type { MigrationStep } from './migration-plan.ts';

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
  passes: number;
  throughput: number;
  /** Whether post-copy was used to finish. */
  postcopy: boolean;
  /** The options finally in effect (after any policy action). */
  options: ResolvedMigrationOptions;
  /** How long each phase took. */
  phases: Partial<Record<'preflight' | 'prepare' | 'perform' | 'finish' | 'confirm', number>>;
  /** A dry run's steps (status 'planned'), touching nothing. */
  plan?: MigrationStep[];
}

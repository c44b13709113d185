import type { Host } from '../model/host.ts';
import type { Vm } from '../model/vm.ts';
import type { MigrationCapabilityStatus, MigrationParameters, QmpClient } from '../qmp/index.ts';
import type { GuardChannel } from './guard/guard-channel.ts';
import { MigrationError, type VmLocation } from './migration-errors.ts';
import type { MigrationEvents } from './migration-events.ts';
import type { MigrationRecord } from './migration-lock.ts';
import { assertTransition, type MigrationPhase } from './migration-phase.ts';
import type { MigrationProgress } from './migration-progress.ts';
import type { MigrationStage, StageHistory } from './migration-stage.ts';
import type { ResolvedMigrationOptions } from './migration-options.ts';
import type { TlsSetup } from './tls/tls-settings.ts';

/** Everything one migration knows as it goes; each phase adds to it, rollback reads it. */
export interface MigrationContext {
  id: string;
  vm: Vm;
  source: Host;
  destination: Host;
  options: ResolvedMigrationOptions;
  rewriteCommandLine: ((argv: string[], context: { source: string; destination: string; vm: string }) => string[]) | undefined;
  /** The caller's check that the guest lives on the destination (options.guestCheck). */
  guestCheck?: import('./guest-check.ts').GuestCheckHook | undefined;
  /** Aborted by cancel() or the caller's signal. Rollback never uses it. */
  signal: AbortSignal;
  events: MigrationEvents;
  phase: MigrationPhase;
  startedAt: number;
  phaseStartedAt: number;
  phaseTimes: Partial<Record<MigrationPhase, number>>;
  record: MigrationRecord;
  /** What has been done to the two QEMUs so far (see migration-stage.ts). */
  stages: StageHistory;
  sourceArgv?: string[];
  sourceMemoryBytes?: number;
  /** The versioned machine type the source really runs (an alias such as `pc` resolved). */
  sourceMachineType?: string | undefined;
  sourceWasRunning?: boolean;
  /** The guards on each host: ferry's QMP goes through them, and they settle the migration if ferry is lost. */
  srcGuard?: GuardChannel;
  dstGuard?: GuardChannel;
  srcQmp?: QmpClient;
  dstQmp?: QmpClient;
  /**
   * TLS as preflight settled it: the destination's name, the source's
   * identity, and the ids of the credentials objects on each side, which the
   * NBD server and client reuse (libvirt's one alias).
   */
  tls?: TlsSetup;
  /** What ferry set on each side (the parameter plan it applied), for the result. */
  settings?: { source: import('./parameter-plan.ts').SideSettings; destination: import('./parameter-plan.ts').SideSettings };
  /** Source settings before ferry changed them, restored if the VM stays there. */
  savedSource?: { capabilities: MigrationCapabilityStatus[]; parameters: Partial<MigrationParameters> };
  destinationArgv?: string[];
  destinationStartMs: number;
  lastProgress?: MigrationProgress;
  lastInfo?: import('../qmp/index.ts').MigrationInfo;
  /** What happens to each disk (preflight decides), and the live copy of those that are not shared. */
  /** What ferry could tell about the guest on the destination after the switchover. */
  guestCheckReport?: import('./guest-check.ts').GuestCheckReport;
  /** How long the disk copy took until every mirror was ready. */
  diskCopyMs?: number;
  storage?: { plans: import('./storage/storage-plan.ts').DiskPlan[]; copy: import('./storage/disk-copy.ts').DiskCopy };
  /** Filled by perform: the policy's actions, passes and the switchover check. */
  convergence?: import('./migration-result.ts').ConvergenceReport;
}

export function setPhase(context: MigrationContext, phase: MigrationPhase): void {
  const previous = context.phase;
  assertTransition(previous, phase);
  const now = performance.now();
  if (previous !== 'pending') context.phaseTimes[previous] = Math.round(now - context.phaseStartedAt);
  context.phase = phase;
  context.phaseStartedAt = now;
  context.record.phase = phase;
  context.events.emit('phase', phase, previous);
  log(context, 'info', `phase ${phase}`);
}

/**
 * Moves the migration to `stage` (checked against the stage table), and keeps
 * the record on the source in step at once: a `recover` after ferry is lost
 * reads what was happening from it.
 */
export function enterStage(context: MigrationContext, stage: MigrationStage): void {
  if (!context.stages.enter(stage, performance.now() - context.startedAt)) return;
  context.record.stage = stage;
  log(context, 'debug', `stage ${stage}`);
  const guard = context.srcGuard;
  if (guard && !guard.closed && stage !== 'settling' && stage !== 'settled') guard.send(`record ${JSON.stringify(context.record)}`);
}

/** The guest may have run on the destination: post-copy started, or the source committed. */
export function switchedOver(context: MigrationContext): boolean {
  return context.stages.reached('postcopy') || context.stages.reached('committed');
}

export function log(context: MigrationContext, level: 'debug' | 'info' | 'warn', message: string): void {
  context.events.emit('log', { level, message, atMs: Math.round(performance.now() - context.startedAt) });
}

/** A MigrationError for this migration, in its current phase. */
export function migrationError(context: MigrationContext, code: string, vmState: VmLocation, message: string, cause?: unknown): MigrationError {
  return new MigrationError(
    code,
    { vm: context.vm.name, source: context.source.name, destination: context.destination.name, phase: context.phase, vmState },
    message,
    cause === undefined ? undefined : { cause },
  );
}

import { AbortedError, FerryError, throwIfAborted } from '../ferry-error.ts';
import { QmpError, type MigrationInfo } from '../qmp/index.ts';
import { confirmSrc } from './confirm-src.ts';
import { finishDst } from './finish-dst.ts';
import { log, setPhase, type MigrationContext } from './migration-context.ts';
import { MigrationCancelledError, MigrationError, type VmLocation } from './migration-errors.ts';
import type { MigrationResult } from './migration-result.ts';
import { completedFiguresSrc, performSrc } from './perform-src.ts';
import { preflight, preflightDstFacts } from './preflight.ts';
import { claimSourceVm } from './source-claim.ts';
import { prepareDst } from './prepare-dst.ts';
import { startDstGuardEarly } from './early-dst-guard.ts';
import type { GuardChannel } from './guard/guard-channel.ts';
import { lostGuardMessage } from './guard/lost-guard-message.ts';
import { rollback } from './rollback.ts';
import { diskReports } from './storage/disk-report.ts';
import { downtimeOverrun } from './downtime-overrun.ts';
import { checkGuestDst } from './guest-check.ts';
import { removeObjects } from './tls/tls-apply.ts';
import { MigrationTlsError, relocatedTlsError } from './tls/tls-errors.ts';

const HEARTBEAT_MS = 1000;

/**
 * Runs one migration through its phases. On any failure or cancel the VM
 * is left running in exactly one place, and the MigrationError says which.
 */
export async function runMigration(context: MigrationContext): Promise<MigrationResult> {
  let heartbeat: NodeJS.Timeout | undefined;
  let earlyDstGuard: Promise<GuardChannel | undefined> | undefined;
  try {
    setPhase(context, 'preflight');
    throwIfAborted(context.signal);
    // The destination's facts need nothing from the source and change nothing: read them while the
    // source is claimed, so that both hosts' SSH connections are set up at once.
    const dstFacts = preflightDstFacts(context);
    dstFacts.catch(() => undefined); // judged by preflight; a failed claim leaves it unread
    // The destination's guard starts now too, waiting for its launch: prepare then only sends it.
    earlyDstGuard = startDstGuardEarly(context);
    // The source's guard first: it takes the lock, and from then on settles the migration if ferry is lost.
    await claimSourceVm(context);
    heartbeat = startRecordHeartbeat(context);
    await preflight(context, dstFacts);
    throwIfAborted(context.signal);

    setPhase(context, 'prepare');
    const uri = await prepareDst(context, await earlyDstGuard);
    throwIfAborted(context.signal);

    setPhase(context, 'perform');
    const info = await performSrc(context, uri);

    setPhase(context, 'finish');
    await finishDst(context);
    // Does the guest live there? Watched while the source is cleaned up, not after.
    const checking = checkGuestDst(context, context.guestCheck, context.options.guestCheckMs);
    const figures = await completedFiguresSrc(context, info);
    // The VM runs on the destination: its next migration must not inherit this one's credentials.
    if (context.dstQmp) await removeObjects(context.dstQmp, context.settings?.destination.objects ?? []);
    setPhase(context, 'confirm');
    await confirmSrc(context);
    context.guestCheckReport = await checking;
    await Promise.all([context.srcGuard?.finish(), context.dstGuard?.finish()]);
    setPhase(context, 'completed');
    const result = resultOf(context, figures);
    if (result.downtimeOverrun) log(context, 'warn', result.downtimeOverrun.reason);
    return result;
  } catch (error) {
    clearInterval(heartbeat);
    heartbeat = undefined;
    const failedPhase = context.phase;
    // A destination guard still waiting for its launch holds nothing: closed, it just exits
    // (not awaited: the error need not wait for a slow destination's SSH connection).
    void earlyDstGuard?.then((early) => (early && early !== context.dstGuard ? early.close(1000) : undefined));
    // A guard gone before ferry let it go means ferry lost that host (or was frozen too long): say so.
    const lost = [context.srcGuard, context.dstGuard].filter((guard) => guard?.closed).map((guard) => lostGuardMessage(guard as GuardChannel, guard === context.srcGuard ? 'source' : 'destination'));
    const location = await rollback(context);
    // The QMP error that follows a lost session says nothing more; any other error is kept beside it.
    const then = error instanceof QmpError ? '' : `; then: ${error instanceof Error ? error.message : String(error)}`;
    const final = finalError(context, lost.length > 0 && !(error instanceof MigrationError) ? new FerryError('CONTROLLER_LINK_LOST', `${lost.join('; ')}${then}`, { cause: error }) : error, failedPhase, location);
    setPhase(context, final instanceof MigrationCancelledError ? 'cancelled' : 'failed');
    throw final;
  } finally {
    clearInterval(heartbeat);
    await Promise.allSettled([context.srcQmp?.close(), context.dstQmp?.close()]);
  }
}

/** Keeps the record in the source's lock fresh (through its guard): what observers (a REPL's .watch, `ferry ls`) read. */
function startRecordHeartbeat(context: MigrationContext): NodeJS.Timeout {
  const timer = setInterval(() => {
    const guard = context.srcGuard;
    if (!guard || guard.closed) return;
    context.record.heartbeatAt = new Date().toISOString();
    if (context.lastProgress) context.record.progress = context.lastProgress;
    // Other processes see the policy's actions only through the record.
    if (context.convergence) context.record.actions = context.convergence.actions.slice(-10);
    context.record.options = { maxDowntime: context.options.maxDowntime, policy: context.options.policy };
    guard.send(`record ${JSON.stringify(context.record)}`);
  }, HEARTBEAT_MS);
  timer.unref();
  return timer;
}

function finalError(context: MigrationContext, error: unknown, phase: MigrationContext['phase'], settled: VmLocation | undefined): MigrationError {
  // Nothing was touched: an error that already says where the VM is stands as it is.
  if (settled === undefined && error instanceof MigrationError) return error;
  const location = settled ?? 'running-on-source';
  const details = { vm: context.vm.name, source: context.source.name, destination: context.destination.name, phase, vmState: location };
  const cancelled = error instanceof AbortedError || (error instanceof FerryError && (error.code === 'MIGRATION_CANCELLED' || error.code === 'MIGRATION_TIMEOUT'));
  if (cancelled) {
    const code = error instanceof FerryError && error.code === 'MIGRATION_TIMEOUT' ? 'MIGRATION_TIMEOUT' : 'MIGRATION_CANCELLED';
    // A cancel ferry decided (policy, downtime guarantee) carries its own reason.
    const why = code === 'MIGRATION_TIMEOUT' ? (error as Error).message.replace(/ \[.*$/, '') : reasonOf(context.signal) || ownReason(error);
    return new MigrationCancelledError(code, details, `migration ${code === 'MIGRATION_TIMEOUT' ? 'timed out' : 'cancelled'}${why ? `: ${why}` : ''}`, { cause: error });
  }
  // Keep the original (a PreflightError, say) when it already tells the truth about the VM.
  if (error instanceof MigrationError && error.phase === phase && (error.vmState === location || error.vmState === 'not-found')) return error;
  const code = error instanceof FerryError ? error.code : 'MIGRATION_FAILED';
  // Drop the original's own "[… phase …]" suffix: the new one states where the VM is now.
  const message = error instanceof Error ? error.message.replace(/ \[[^\]]*phase [^\]]*\]$/, '') : String(error);
  if (error instanceof MigrationTlsError) return relocatedTlsError(error, details, message);
  return new MigrationError(code, details, message, { cause: error });
}

function ownReason(error: unknown): string {
  return error instanceof MigrationError ? error.message.replace(/ \[.*$/, '').replace(/^cancelled$/, '') : '';
}

function reasonOf(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  if (typeof reason === 'string') return reason;
  if (reason instanceof Error && reason.name !== 'AbortError') return reason.message;
  return '';
}

function resultOf(context: MigrationContext, info: MigrationInfo): MigrationResult {
  const ram = info.ram;
  const totalTimeMs = info['total-time'] ?? 0;
  const postcopy = context.stages.reached('postcopy');
  const paused = context.convergence?.actions.some((action) => action.type === 'pause' && action.applied) ?? false;
  const overrun = downtimeOverrun({ downtimeMs: info.downtime ?? 0, maxDowntimeMs: context.options.maxDowntime, ...(context.convergence?.switchover && { estimate: context.convergence.switchover }), ...(ram?.['downtime-bytes'] !== undefined && { downtimeBytes: ram['downtime-bytes'] }), ...(postcopy ? { accepted: 'post-copy' as const } : paused ? { accepted: 'pause' as const } : {}) });
  return {
    status: 'completed',
    id: context.id,
    vm: context.vm.name,
    source: context.source.name,
    destination: context.destination.name,
    wallTimeMs: Math.round(performance.now() - context.startedAt),
    destinationStartMs: context.destinationStartMs,
    totalTimeMs,
    setupTimeMs: info['setup-time'] ?? 0,
    downtimeMs: info.downtime ?? 0,
    transferredBytes: ram?.transferred ?? 0,
    downtimeBytes: ram?.['downtime-bytes'] ?? 0,
    passes: ram?.['dirty-sync-count'] ?? 0,
    throughput: totalTimeMs > 0 ? Math.round(((ram?.transferred ?? 0) / totalTimeMs) * 1000) : 0,
    postcopy,
    ...(overrun && { downtimeOverrun: overrun }),
    ...(context.settings && { settings: context.settings }),
    ...(context.storage && context.storage.plans.length > 0 && { disks: diskReports(context.storage.plans, context.destination.name) }),
    ...(context.diskCopyMs !== undefined && { diskCopyMs: context.diskCopyMs }),
    ...(context.guestCheckReport && { guestCheck: context.guestCheckReport }),
    stages: context.stages.entries,
    options: context.options,
    ...(context.convergence && { convergence: context.convergence }),
    phases: {
      preflight: context.phaseTimes.preflight,
      prepare: context.phaseTimes.prepare,
      perform: context.phaseTimes.perform,
      finish: context.phaseTimes.finish,
      confirm: context.phaseTimes.confirm,
    },
  };
}

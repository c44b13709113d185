import { FerryError } from '../ferry-error.ts';
import { switchedOver, type MigrationContext } from './migration-context.ts';
import { MigrationOptionsError } from './migration-errors.ts';
import { downtimeBudgetCheck } from './downtime-budget-check.ts';
import type { MigrationPhase } from './migration-phase.ts';
import { resolveMigrationOptions } from './migration-options.ts';

/** A migration can be steered only while its transfer runs (phase perform, before switchover). */
export class MigrationNotSteerableError extends FerryError {
  readonly phase: MigrationPhase;
  constructor(what: string, phase: MigrationPhase, why: string) {
    super('MIGRATION_NOT_STEERABLE', `${what}: ${why} (phase ${phase})`);
    this.phase = phase;
  }
}

/**
 * Steering happens over the source QMP connection the migration already
 * holds: QEMU serves one QMP client per socket, so nobody else could.
 * Each step is announced as an 'action' event, like a policy's.
 */
export async function setMaxDowntimeSrc(context: MigrationContext | undefined, ms: number, reason: string): Promise<void> {
  transferQmp(context, 'setMaxDowntime()'); // throws unless the transfer runs
  const { maxDowntime } = resolveMigrationOptions({ maxDowntime: ms });
  // A budget the pause's fixed cost fills would only end in the guarantee's cancel: refused, the transfer goes on.
  const budget = downtimeBudgetCheck({ maxDowntime, switchoverCost: context!.options.switchoverCost }, context!.storage?.copy.active === true);
  if (!budget.ok) throw new MigrationOptionsError('maxDowntime', budget.message);
  // The transfer's watch loop sees the new budget on its next look (within
  // 50 ms) and steers QEMU's own limit to it, as it does for the policy's.
  context!.options = { ...context!.options, maxDowntime };
  announce(context!, `downtime limit ${maxDowntime} ms`, reason);
}

export async function startPostcopySrc(context: MigrationContext | undefined, reason: string): Promise<void> {
  const qmp = transferQmp(context, 'startPostcopy()');
  if (!context!.options.postcopy) throw new MigrationOptionsError('postcopy', 'post-copy was not allowed when this migration started (start it with postcopy: true)');
  await qmp.execute('migrate-start-postcopy');
  announce(context!, 'switch to post-copy', reason);
}

function transferQmp(context: MigrationContext | undefined, what: string) {
  if (!context) throw new MigrationNotSteerableError(what, 'pending', 'the transfer has not started');
  if (context.phase !== 'perform' || !context.stages.reached('transferring') || !context.srcQmp) {
    throw new MigrationNotSteerableError(what, context.phase, switchedOver(context) ? 'the VM has already switched over' : 'the transfer is not running');
  }
  if (switchedOver(context)) throw new MigrationNotSteerableError(what, context.phase, 'the VM has already switched over');
  return context.srcQmp;
}

function announce(context: MigrationContext, action: string, reason: string): void {
  context.events.emit('action', { action, reason, atMs: Math.round(performance.now() - context.startedAt) });
}

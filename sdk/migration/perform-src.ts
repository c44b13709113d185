import { setTimeout as sleep } from 'node:timers/promises';
import type { MigrationInfo, MigrationParameters } from '../qmp/index.ts';
import { log, migrationError, type MigrationContext } from './migration-context.ts';
import { capabilitiesFor, effectiveTimeoutMs, parametersFor } from './migration-options.ts';
import { ProgressTracker } from './migration-progress.ts';
import { transferState } from './qemu-migration-status.ts';

/** Why ferry itself asked QEMU to stop migrating. */
export type CancelReason = 'cancelled' | 'timeout';

/**
 * Perform, on the source: save the settings ferry will change, set
 * capabilities and parameters, `migrate`, and watch until QEMU reports the
 * transfer completed. Progress comes from `query-migrate` polling woken by
 * QEMU's MIGRATION events, faster as the end nears. Cancellation (and a
 * timeout whose action is cancel) asks QEMU to cancel and waits for it.
 */
export async function performSrc(context: MigrationContext, uri: string): Promise<MigrationInfo> {
  const qmp = context.srcQmp;
  if (!qmp) throw new Error('ferry bug: perform without a source QMP connection');
  const { options, signal } = context;
  const [capabilities, parameters] = await Promise.all([
    qmp.execute('query-migrate-capabilities', {}, { signal }),
    qmp.execute('query-migrate-parameters', {}, { signal }),
  ]);
  const wantedCapabilities = [{ capability: 'events' as const, state: true }, ...capabilitiesFor(options, 'source')];
  const wantedParameters = parametersFor(options, 'source');
  context.savedSource = {
    capabilities: capabilities.filter((saved) => wantedCapabilities.some((wanted) => wanted.capability === saved.capability)),
    parameters: Object.fromEntries(Object.keys(wantedParameters).map((key) => [key, parameters[key as keyof MigrationParameters]])) as Partial<MigrationParameters>,
  };
  await qmp.execute('migrate-set-capabilities', { capabilities: wantedCapabilities }, { signal });
  await qmp.execute('migrate-set-parameters', wantedParameters, { signal });

  const events = qmp.events(['MIGRATION', 'MIGRATION_PASS']);
  try {
    context.transferStarted = true;
    await qmp.execute('migrate', { uri }, { signal });
    return await watchSrc(context, () => events.next().then(() => undefined));
  } finally {
    events.close();
  }
}

async function watchSrc(context: MigrationContext, nextEvent: () => Promise<void>): Promise<MigrationInfo> {
  const qmp = context.srcQmp;
  if (!qmp) throw new Error('ferry bug: watch without a source QMP connection');
  const tracker = new ProgressTracker();
  const started = performance.now();
  const timeoutMs = effectiveTimeoutMs(context.options, context.sourceMemoryBytes ?? 0);
  let cancelSent: CancelReason | undefined;
  let timeoutActed = false;
  // One pending wake-up at a time: the next QEMU event, shared across polls.
  let eventWake: Promise<void> | undefined;
  for (;;) {
    // Not passing the signal: a cancel must still be able to query and cancel.
    const info = await qmp.execute('query-migrate');
    context.lastInfo = info;
    const elapsed = performance.now() - started;
    const progress = tracker.update(info, context.phase, elapsed);
    context.lastProgress = progress;
    context.events.emit('progress', progress);
    switch (progress.transfer) {
      case 'completed':
        context.switchedOver = true;
        return await settledFigures(context, info);
      case 'failed':
        throw migrationError(context, 'MIGRATION_FAILED', 'unknown', `QEMU reports the migration failed: ${info['error-desc'] ?? 'no reason given'}`);
      case 'cancelled':
        throw migrationError(context, cancelSent === 'timeout' ? 'MIGRATION_TIMEOUT' : 'MIGRATION_CANCELLED', 'unknown', cancelSent === 'timeout' ? `timed out after ${timeoutMs} ms` : 'cancelled');
      case 'postcopy':
        context.switchedOver = true;
        context.postcopyStarted = true;
        break;
      default:
        break;
    }
    if (!cancelSent && !context.switchedOver && context.signal.aborted) {
      cancelSent = 'cancelled';
      log(context, 'info', 'cancelling: migrate_cancel');
      await qmp.execute('migrate_cancel');
    }
    if (!timeoutActed && !cancelSent && elapsed > timeoutMs) {
      timeoutActed = true;
      cancelSent = await actOnTimeout(context, timeoutMs, elapsed);
    }
    eventWake ??= nextEvent().finally(() => (eventWake = undefined));
    const stop = new AbortController();
    try {
      await Promise.race([
        sleep(pollIntervalMs(info), undefined, { signal: stop.signal }).catch(() => undefined),
        eventWake,
        abortWake(context.signal, cancelSent !== undefined, stop.signal),
      ]);
    } finally {
      stop.abort(); // removes this round's timer and abort listener
    }
  }
}

/** Poll fast when the end is near (or QEMU is switching over), slowly otherwise. */
function pollIntervalMs(info: MigrationInfo): number {
  const state = transferState(info.status);
  if (state === 'setting-up' || state === 'switching-over' || state === 'cancelling') return 5;
  const remaining = info.ram?.remaining ?? Number.POSITIVE_INFINITY;
  const bytesPerMs = ((info.ram?.mbps ?? 0) * 1e6) / 8 / 1000;
  if (bytesPerMs > 0 && remaining / bytesPerMs < 500) return 10;
  return 50;
}

async function actOnTimeout(context: MigrationContext, timeoutMs: number, elapsed: number): Promise<CancelReason | undefined> {
  const qmp = context.srcQmp;
  if (!qmp) return undefined;
  const reason = `no convergence after ${Math.round(elapsed)} ms (timeout ${timeoutMs} ms)`;
  const act = (action: string) => context.events.emit('action', { action, reason, atMs: Math.round(performance.now() - context.startedAt) });
  switch (context.options.onTimeout) {
    case 'postcopy':
      act('switch to post-copy');
      await qmp.execute('migrate-start-postcopy');
      return undefined;
    case 'pause':
      act('pause the guest to finish');
      await qmp.execute('stop');
      return undefined;
    case 'cancel':
      act('cancel');
      await qmp.execute('migrate_cancel');
      return 'timeout';
  }
}

/**
 * QEMU reports `completed` a moment before it computes total-time and
 * downtime (LAB.md); until then both read 0. Ask again until they are set.
 */
async function settledFigures(context: MigrationContext, info: MigrationInfo): Promise<MigrationInfo> {
  const qmp = context.srcQmp;
  let settled = info;
  for (let i = 0; i < 100 && qmp && !((settled['total-time'] ?? 0) > 0); i++) {
    await sleep(10);
    settled = await qmp.execute('query-migrate');
  }
  context.lastInfo = settled;
  return settled;
}

/** Resolves when `signal` aborts, so a cancel does not wait for the next poll; its listener goes when `until` aborts. */
function abortWake(signal: AbortSignal, alreadyHandled: boolean, until: AbortSignal): Promise<void> {
  if (alreadyHandled) return new Promise(() => {});
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const onAbort = () => resolve();
    signal.addEventListener('abort', onAbort, { once: true });
    until.addEventListener('abort', () => signal.removeEventListener('abort', onAbort), { once: true });
  });
}

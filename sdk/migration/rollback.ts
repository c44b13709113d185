import { enterStage, log, type MigrationContext } from './migration-context.ts';
import type { VmLocation } from './migration-errors.ts';
import type { GuardChannel } from './guard/guard-channel.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { locationOf, readQemuSide, type QemuSide } from './vm-location.ts';

// Long enough for a guard to cancel a transfer, resume the source and end the destination QEMU.
const GUARD_SETTLE_MS = 30_000;

/**
 * After a failure or cancel, the migration is settled the same way as when
 * ferry itself is lost, so that there is one path to trust: ferry lets both
 * guards go without telling them all is done, and each acts on its own
 * QEMU's state (the source's first, whose rollback it passes on). Before the source committed, the transfer is cancelled, the
 * source runs again with ferry's settings undone, the lock is released and
 * the destination QEMU is ended with its files; once the source committed,
 * the destination runs and the source QEMU is ended. Then where the VM is
 * is read again from QEMU on both hosts, never assumed. Returns undefined
 * when nothing had been touched (no guard was started).
 */
export async function rollback(context: MigrationContext): Promise<VmLocation | undefined> {
  const guards = [context.srcGuard, context.dstGuard].filter((guard): guard is GuardChannel => guard !== undefined);
  if (guards.length === 0) {
    enterStage(context, 'settled');
    return undefined;
  }
  enterStage(context, 'settling');
  await Promise.allSettled([context.srcQmp?.close(), context.dstQmp?.close()]);
  // The source first: a destination's guard whose stream is still open waits for it to end (it may be
  // the source's last state, after a pause the source's guard let go), unless the source rolled back.
  if (context.srcGuard) await letGo(context, context.srcGuard);
  if (context.dstGuard) {
    if (context.srcGuard?.resolved?.startsWith('rolled back')) context.dstGuard.send('source-kept');
    await letGo(context, context.dstGuard);
  }
  const { src, dst, location } = await readLocation(context);
  enterStage(context, 'settled');
  log(context, 'info', `after rollback: ${context.source.name} ${describeSide(src)}; ${dst ? `${context.destination.name} ${describeSide(dst)}` : `nothing was started on ${context.destination.name}`}`);
  return location;
}

// An unknown is the worst answer ferry can give: while a host cannot be read, it keeps trying this long.
const TRUTH_RETRY_MS = 90_000;

/** Where the VM is, from QEMU on both hosts; tried again while a host is out of reach (its network may come back). */
async function readLocation(context: MigrationContext): Promise<{ src: QemuSide; dst: QemuSide | undefined; location: VmLocation }> {
  const deadline = performance.now() + TRUTH_RETRY_MS;
  for (let attempt = 0; ; attempt++) {
    const [src, dst] = await Promise.all([
      readQemuSide(context.source, context.vm.name, { timeoutMs: 10_000 }),
      context.stages.reached('destination-started') ? readQemuSide(context.destination, context.vm.name, { timeoutMs: 10_000 }) : Promise.resolve(undefined),
    ]);
    const location = locationOf(src, dst);
    if (location !== 'unknown' || performance.now() > deadline) return { src, dst, location };
    if (attempt === 0) log(context, 'warn', `cannot read where the VM is yet (${[src.note, dst?.note].filter(Boolean).join('; ')}); trying again for up to ${TRUTH_RETRY_MS / 1000} s`);
    await sleep(2000);
  }
}

async function letGo(context: MigrationContext, guard: GuardChannel): Promise<void> {
  const stop = guard.onControl((line) => {
    if (line.startsWith('resolved ')) log(context, 'info', `guard on ${guard.host}: ${line.slice(9)}`);
  });
  try {
    await guard.close(GUARD_SETTLE_MS);
  } finally {
    stop();
  }
  if (!guard.closed) log(context, 'warn', `the guard on ${guard.host} is still settling after ${GUARD_SETTLE_MS / 1000} s`);
}

function describeSide(side: QemuSide): string {
  if (!side.reachable) return `unreachable (${side.note ?? ''})`;
  if (!side.present) return 'has no QEMU of the VM';
  return side.runState ? `${side.runState} (migration ${side.migration ?? 'none'})` : `has a QEMU that did not answer (${side.note ?? ''})`;
}

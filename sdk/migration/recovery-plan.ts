import type { QemuSide } from './vm-location.ts';

/** One thing recovery does; each is safe to repeat. */
export type RecoveryStep =
  | { step: 'cancel-source'; why: string }
  | { step: 'cont-source'; why: string }
  | { step: 'restore-source'; why: string }
  | { step: 'quit-source'; why: string }
  | { step: 'cont-destination'; why: string }
  | { step: 'end-destination'; why: string }
  | { step: 'resume-postcopy'; why: string }
  | { step: 'release-lock'; why: string }
  | { step: 'wait'; why: string }
  | { step: 'refuse'; why: string };

const BEFORE_SWITCHOVER = new Set(['setup', 'active', 'pre-switchover', 'wait-unplug', 'device', 'cancelling']);
const STOPPED_BY_MIGRATION = new Set(['postmigrate', 'finish-migrate']);

/**
 * What to do with an interrupted migration, from QEMU's own state on both
 * hosts (libvirt's qemuProcessRecoverMigration, made for a controller with
 * no daemon). The commit point is sacred: once the source reported
 * `completed` (with the return path, the destination has loaded everything),
 * the source runs again only when the destination QEMU is proven gone (its
 * host reached, no live process). Post-copy is never cancelled.
 */
export function planRecovery(src: QemuSide, dst: QemuSide | undefined): RecoveryStep[] {
  const dName = dst?.host ?? 'the destination';
  if (!src.reachable) return [{ step: 'refuse', why: `cannot reach ${src.host}: ${src.note ?? 'no answer'}` }];
  if (src.present && src.runState === undefined) return [{ step: 'refuse', why: `the source QEMU on ${src.host} does not answer on QMP (${src.note ?? 'no answer'})` }];
  const status = src.migration ?? 'none';
  const committed = status === 'completed' || status.startsWith('postcopy');
  if (dst && !dst.reachable && (committed || !src.present)) {
    return [{ step: 'refuse', why: `the source ${src.present ? `reports ${status}` : 'QEMU is gone'}, and ${dName} cannot be reached (${dst.note ?? 'no answer'}): the VM may run there, so ${src.host} is left as it is` }];
  }
  const dstHere = dst?.present === true;
  const dstRunning = dstHere && dst?.runState === 'running';
  const dstCommitted = dstHere && dst?.runState === 'paused' && (dst?.migration === 'completed' || dst?.migration?.startsWith('postcopy') === true);
  const endDst: RecoveryStep[] = dstHere && !dstRunning ? [{ step: 'end-destination', why: `its waiting QEMU on ${dName} never took over` }] : [];
  const release: RecoveryStep = { step: 'release-lock', why: 'the migration is settled' };

  if (!src.present) {
    if (dstRunning) return [release];
    if (dstCommitted) return [{ step: 'cont-destination', why: `the transfer completed and the source QEMU is gone` }, release];
    return [...endDst, release];
  }
  if (BEFORE_SWITCHOVER.has(status)) {
    return [
      { step: 'cancel-source', why: `the transfer (${status}) was never committed` },
      { step: 'cont-source', why: 'the guest belongs to the source until switchover' },
      { step: 'restore-source', why: "ferry's migration settings are undone" },
      ...endDst,
      release,
    ];
  }
  if (status === 'completed') {
    if (dstRunning) return [{ step: 'quit-source', why: `the VM runs on ${dName}; this copy is stale` }, release];
    if (dstCommitted) return [{ step: 'cont-destination', why: `the destination loaded everything (completed) and waits` }, { step: 'quit-source', why: 'this copy is stale' }, release];
    if (dst && !dstHere) return [{ step: 'cont-source', why: `the destination QEMU on ${dName} is gone (its host reached, no process), so the source copy is the only one` }, { step: 'restore-source', why: "ferry's migration settings are undone" }, release];
    return [{ step: 'refuse', why: `the source completed but ${dName}'s QEMU is ${dst?.runState ?? 'unknown'} (${dst?.migration ?? '?'}): check it by hand` }];
  }
  if (status === 'postcopy-paused') {
    // A paused destination's main loop may be blocked on a missing page, so it may not answer QMP at all.
    if (dstHere && (dst?.migration === undefined || dst.migration.startsWith('postcopy'))) return [{ step: 'resume-postcopy', why: 'both halves of the post-copy are paused' }];
    return [{ step: 'refuse', why: `post-copy is paused on the source, and ${dName} is ${dst?.migration ?? 'not there'}: it cannot be resumed` }];
  }
  if (status.startsWith('postcopy')) return [{ step: 'wait', why: `post-copy is ${status}: it finishes by itself (or pauses if the link breaks)` }];

  // No migration in flight on the source (none, cancelled, failed).
  if (src.runState === 'running') {
    if (dstRunning) return [{ step: 'refuse', why: `the VM runs on both ${src.host} and ${dName}: stop one by hand` }];
    return [{ step: 'restore-source', why: "ferry's migration settings are undone" }, ...endDst, release];
  }
  if (dstRunning) return [{ step: 'quit-source', why: `the VM runs on ${dName}; this copy is stale` }, release];
  if (dstCommitted) return [{ step: 'cont-destination', why: 'the destination holds the whole guest and waits' }, { step: 'quit-source', why: 'this copy is stale' }, release];
  const resume: RecoveryStep[] = src.runState !== undefined && STOPPED_BY_MIGRATION.has(src.runState) ? [{ step: 'cont-source', why: `the migration left it ${src.runState}` }] : [];
  return [...resume, { step: 'restore-source', why: "ferry's migration settings are undone" }, ...endDst, release];
}

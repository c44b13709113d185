import { connect } from 'node:net';
import { onQmpMessages } from './local-qmp.ts';
import { vcpuSleepEnd } from './vcpu-sleep.ts';

/** What the source's own QEMU said of the migration, read over a monitor ferry does not use. */
export interface WatchedMigration {
  /** The last migration status seen before the QEMU went away (or the watch was stopped). */
  status: string;
  /**
   * QEMU's downtime, ms: its own `downtime` figure when a poll caught it
   * before the quit (it reads 0 for a moment after `completed`), else the
   * time from its STOP event to its `completed` event (up to 2 ms short).
   */
  downtimeMs?: number;
  downtimeFrom?: 'query-migrate' | 'events';
  totalTimeMs?: number;
  /** The highest cpu-throttle-percentage seen. */
  maxThrottlePercent: number;
  /** QEMU's MIGRATION events in order, with QEMU's timestamps (ms since the epoch): how it ended, not only where. */
  events: { status: string; at: number }[];
  /** QEMU's error-desc, when a poll caught one. */
  errorDesc?: string;
  /**
   * With `qemuPid`: when a vCPU's throttle sleep that was under way at QEMU's STOP
   * (read from /proc right after the event) ended, ms after the stop.
   */
  vcpuSleepEndsAfterStopMs?: number;
}

/**
 * Polls `query-migrate` on a lab guest's second monitor (GuestSpec
 * `watchMonitor`, Lab.watchSocket) every few ms until its QEMU quits, and
 * notes its STOP and `completed` events: the tests' raw reading
 * of the downtime, not ferry's report. ferry reads the downtime before it
 * quits the source, so a 5 ms poll sees it too.
 */
export function watchMigration(socketPath: string, intervalMs = 5, qemuPid?: number): { done: Promise<WatchedMigration>; stop: () => void } {
  const seen: WatchedMigration = { status: 'none', maxThrottlePercent: 0, events: [] };
  const socket = connect({ path: socketPath });
  let timer: NodeJS.Timeout | undefined;
  let stoppedAt: number | undefined;
  let completedAt: number | undefined;
  let vcpus: number[] = [];
  // A sleep begins as the vCPU takes its queued work after the stop: looked at thrice over 10 ms.
  const lookForSleep = (stop: number): void => {
    if (qemuPid === undefined || vcpus.length === 0) return;
    for (const after of [0, 5, 10]) {
      setTimeout(() => {
        void vcpuSleepEnd(qemuPid, vcpus).then((end) => {
          if (end !== undefined && end - stop > (seen.vcpuSleepEndsAfterStopMs ?? 0)) seen.vcpuSleepEndsAfterStopMs = Math.round(end - stop);
        }, () => undefined);
      }, after);
    }
  };
  const ask = (): void => {
    socket.write(JSON.stringify({ execute: 'query-migrate' }) + '\n');
  };
  const done = new Promise<WatchedMigration>((resolve) => {
    const finish = (): void => {
      clearTimeout(timer);
      if (seen.downtimeMs === undefined && stoppedAt !== undefined && completedAt !== undefined) Object.assign(seen, { downtimeMs: Math.round(completedAt - stoppedAt), downtimeFrom: 'events' });
      socket.destroy();
      resolve(seen);
    };
    socket.on('error', finish);
    socket.on('close', finish);
    onQmpMessages(socket, (message) => {
      // Events reach every monitor, stamped by QEMU: they tell the end even when the quit beats a poll.
      if (message['event'] === 'STOP') {
        stoppedAt = eventTime(message);
        lookForSleep(stoppedAt);
      }
      const status = message['event'] === 'MIGRATION' ? (message['data'] as { status?: string } | undefined)?.status : undefined;
      if (status) {
        seen.status = status;
        seen.events.push({ status, at: eventTime(message) });
      }
      if (status === 'completed') completedAt = eventTime(message);
      if ('QMP' in message) socket.write(JSON.stringify({ execute: 'qmp_capabilities', id: 'caps' }) + '\n');
      else if (message['id'] === 'caps') {
        if (qemuPid !== undefined) socket.write(JSON.stringify({ execute: 'query-cpus-fast', id: 'cpus' }) + '\n');
        ask();
      } else if (message['id'] === 'cpus') vcpus = ((message['return'] ?? []) as { 'thread-id'?: number }[]).map((cpu) => cpu['thread-id'] ?? 0).filter((tid) => tid > 0);
      else if ('return' in message) {
        const info = message['return'] as Record<string, unknown>;
        if (typeof info['status'] === 'string') seen.status = info['status'];
        if (typeof info['error-desc'] === 'string') seen.errorDesc = info['error-desc'];
        seen.maxThrottlePercent = Math.max(seen.maxThrottlePercent, Number(info['cpu-throttle-percentage'] ?? 0));
        if (Number(info['downtime'] ?? 0) > 0) Object.assign(seen, { downtimeMs: Number(info['downtime']), downtimeFrom: 'query-migrate' });
        if (Number(info['total-time'] ?? 0) > 0) seen.totalTimeMs = Number(info['total-time']);
        timer = setTimeout(ask, intervalMs);
      }
    });
  });
  return { done, stop: () => socket.destroy() };
}

/** An event's QEMU timestamp, ms. */
function eventTime(message: Record<string, unknown>): number {
  const stamp = message['timestamp'] as { seconds: number; microseconds: number } | undefined;
  return stamp ? stamp.seconds * 1000 + stamp.microseconds / 1000 : performance.now();
}

/**
 * Did the cancel ferry applied at `cancelledAt` (ms since the epoch, when its
 * action was emitted: just after QEMU answered migrate_cancel) end this
 * migration, by QEMU's own account? QEMU 7.2 ends a cancel `cancelled`, or
 * `failed` in two races of its own, the VM running where it was:
 * - migrate_fd_cancel shuts the return path's socket, which the stream
 *   shares, before it marks the cancel: a write under way fails first
 *   ("Broken pipe"), and no `cancelling` is said;
 * - a cancel that lands as QEMU's switchover begins goes `cancelling` →
 *   `failed` (migration_completion's `state == CANCELLING → goto fail`).
 * A failure said more than a second from the cancel is not the cancel's.
 */
export function endedByCancel(watched: WatchedMigration, finalStatus: string | undefined, cancelledAt: number | undefined): boolean {
  if (finalStatus === 'cancelled') return true;
  const failed = watched.events.find((event) => event.status === 'failed');
  return finalStatus === 'failed' && failed !== undefined && cancelledAt !== undefined && Math.abs(failed.at - cancelledAt) <= 1000;
}

/** QEMU's MIGRATION events as a line for a diagnostic. */
export function eventsText(watched: WatchedMigration): string {
  return watched.events.map((event) => event.status).join(' → ') + (watched.errorDesc ? ` (${watched.errorDesc})` : '');
}

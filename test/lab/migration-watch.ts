import { connect } from 'node:net';
import { onQmpMessages } from './local-qmp.ts';

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
  /** QEMU's MIGRATION events in order: how it ended, not only where. */
  events: string[];
  /** QEMU's error-desc, when a poll caught one. */
  errorDesc?: string;
}

/**
 * Polls `query-migrate` on a lab guest's second monitor (GuestSpec
 * `watchMonitor`, Lab.watchSocket) every few ms until its QEMU quits, and
 * notes its STOP and `completed` events: the tests' raw reading
 * of the downtime, not ferry's report. ferry reads the downtime before it
 * quits the source, so a 5 ms poll sees it too.
 */
export function watchMigration(socketPath: string, intervalMs = 5): { done: Promise<WatchedMigration>; stop: () => void } {
  const seen: WatchedMigration = { status: 'none', maxThrottlePercent: 0, events: [] };
  const socket = connect({ path: socketPath });
  let timer: NodeJS.Timeout | undefined;
  let stoppedAt: number | undefined;
  let completedAt: number | undefined;
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
      if (message['event'] === 'STOP') stoppedAt = eventTime(message);
      const status = message['event'] === 'MIGRATION' ? (message['data'] as { status?: string } | undefined)?.status : undefined;
      if (status) {
        seen.status = status;
        seen.events.push(status);
      }
      if (status === 'completed') completedAt = eventTime(message);
      if ('QMP' in message) socket.write(JSON.stringify({ execute: 'qmp_capabilities', id: 'caps' }) + '\n');
      else if (message['id'] === 'caps') ask();
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
 * Did a cancel end this migration, by QEMU's own account? Its last status is
 * `cancelled`, or `failed` right after `cancelling`: a cancel that lands as
 * QEMU's own switchover begins ends `failed` (migration_completion's
 * `state == CANCELLING → goto fail`, "this ends up going from
 * CANCELLING->FAILED" in its review), the VM running on where it was.
 */
export function endedByCancel(watched: WatchedMigration, finalStatus: string | undefined): boolean {
  if (finalStatus === 'cancelled') return true;
  return finalStatus === 'failed' && watched.events.includes('cancelling') && watched.events.at(-1) !== 'cancelling' && !watched.events.includes('completed');
}

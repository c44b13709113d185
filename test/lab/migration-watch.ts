import { connect } from 'node:net';
import { onQmpMessages } from './local-qmp.ts';

/** What the source's own QEMU said of the migration, read over a monitor ferry does not use. */
export interface WatchedMigration {
  /** The last migration status seen before the QEMU went away (or the watch was stopped). */
  status: string;
  /** QEMU's measured downtime, ms, once it reported one (it reads 0 for a moment after `completed`). */
  downtimeMs?: number;
  totalTimeMs?: number;
  /** The highest cpu-throttle-percentage seen. */
  maxThrottlePercent: number;
}

/**
 * Polls `query-migrate` on a lab guest's second monitor (GuestSpec
 * `watchMonitor`) every few ms until its QEMU quits: the tests' raw reading
 * of the downtime, not ferry's report. ferry reads the downtime before it
 * quits the source, so a 5 ms poll sees it too.
 */
export function watchMigration(socketPath: string, intervalMs = 5): { done: Promise<WatchedMigration>; stop: () => void } {
  const seen: WatchedMigration = { status: 'none', maxThrottlePercent: 0 };
  const socket = connect({ path: socketPath });
  let timer: NodeJS.Timeout | undefined;
  const ask = (): void => {
    socket.write(JSON.stringify({ execute: 'query-migrate' }) + '\n');
  };
  const done = new Promise<WatchedMigration>((resolve) => {
    const finish = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(seen);
    };
    socket.on('error', finish);
    socket.on('close', finish);
    onQmpMessages(socket, (message) => {
      if ('QMP' in message) socket.write(JSON.stringify({ execute: 'qmp_capabilities', id: 'caps' }) + '\n');
      else if (message['id'] === 'caps') ask();
      else if ('return' in message) {
        const info = message['return'] as Record<string, unknown>;
        if (typeof info['status'] === 'string') seen.status = info['status'];
        seen.maxThrottlePercent = Math.max(seen.maxThrottlePercent, Number(info['cpu-throttle-percentage'] ?? 0));
        if (Number(info['downtime'] ?? 0) > 0) seen.downtimeMs = Number(info['downtime']);
        if (Number(info['total-time'] ?? 0) > 0) seen.totalTimeMs = Number(info['total-time']);
        timer = setTimeout(ask, intervalMs);
      }
    });
  });
  return { done, stop: () => socket.destroy() };
}

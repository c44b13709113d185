import { setTimeout as sleep } from 'node:timers/promises';
import type { GuestSpec, Lab } from './lab.ts';
import { RawQmp } from './raw-qmp.ts';

export interface RawMigrationFigures {
  /** Wall time from `migrate` until the guest runs on the destination, as the script saw it. */
  wallMs: number;
  /** Time to start the destination QEMU and connect to it (not part of wallMs). */
  destinationStartMs: number;
  totalTimeMs: number;
  downtimeMs: number;
  setupTimeMs: number;
  transferredBytes: number;
  /** False when the script gave up (`giveUpAfterMs`): cancelled, the VM still runs on the source. */
  completed: boolean;
}

/** The raw script's own settings: QEMU's downtime-limit, and when it cancels a migration that does not converge. */
export interface RawMigrationLimits {
  downtimeLimitMs?: number;
  giveUpAfterMs?: number;
}

/**
 * Live-migrates `name` from `source` to `destination` with nothing but raw
 * QMP over SSH: what an operator's hand-written script does, and the
 * baseline ferry is measured against. The destination QEMU is started from
 * the same lab command line with `-incoming`.
 */
export async function rawMigrate(lab: Lab, source: string, destination: string, name: string, spec: GuestSpec = {}, port = 4444, limits: RawMigrationLimits = {}): Promise<RawMigrationFigures> {
  const destinationStart = performance.now();
  await lab.startVm(destination, name, { ...spec, incoming: `tcp:${lab.hostAddress(destination)}:${port}` });
  const src = await RawQmp.connect(lab, source, `${lab.runDir(source)}/${name}.qmp`);
  const dst = await RawQmp.connect(lab, destination, `${lab.runDir(destination)}/${name}.qmp`);
  const destinationStartMs = performance.now() - destinationStart;
  try {
    // QEMU's default 128 MiB/s cap is far below the link; lift it.
    await src.execute('migrate-set-parameters', { 'max-bandwidth': 10 * 1024 ** 3, 'downtime-limit': limits.downtimeLimitMs ?? 300 });
    const started = performance.now();
    await src.execute('migrate', { uri: `tcp:${lab.hostAddress(destination)}:${port}` });
    let info: Record<string, unknown>;
    for (;;) {
      info = (await src.execute('query-migrate')) as Record<string, unknown>;
      if (info['status'] === 'completed') break;
      if (info['status'] === 'failed' || info['status'] === 'cancelled') throw new Error(`raw migration ${info['status']}: ${JSON.stringify(info)}`);
      if (limits.giveUpAfterMs !== undefined && performance.now() - started > limits.giveUpAfterMs) {
        await src.execute('migrate_cancel');
        for (let status = ''; status !== 'cancelled'; await sleep(10)) status = ((await src.execute('query-migrate')) as { status: string }).status;
        await dst.execute('quit').catch(() => undefined);
        return { wallMs: performance.now() - started, destinationStartMs, totalTimeMs: 0, downtimeMs: 0, setupTimeMs: 0, transferredBytes: 0, completed: false };
      }
      await sleep(10);
    }
    // Done when the guest runs on the destination (it is `inmigrate` for a moment after `completed`).
    for (let status = ''; status !== 'running'; await sleep(5)) {
      status = ((await dst.execute('query-status')) as { status: string }).status;
      if (status !== 'running' && status !== 'inmigrate') throw new Error(`raw migration: destination is ${status}`);
    }
    const wallMs = performance.now() - started;
    // total-time and downtime read 0 until a moment after `completed` (LAB.md).
    while (!(Number(info['total-time'] ?? 0) > 0)) {
      await sleep(20);
      info = (await src.execute('query-migrate')) as Record<string, unknown>;
    }
    await src.execute('quit').catch(() => undefined);
    const ram = info['ram'] as { transferred: number };
    return {
      wallMs,
      destinationStartMs,
      totalTimeMs: Number(info['total-time']),
      downtimeMs: Number(info['downtime']),
      setupTimeMs: Number(info['setup-time']),
      transferredBytes: ram.transferred,
      completed: true,
    };
  } finally {
    src.close();
    dst.close();
  }
}

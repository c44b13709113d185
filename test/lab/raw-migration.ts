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
}

/** What a caller may change from the operator's usual script. */
export interface RawMigrationOptions {
  /** QEMU's `downtime-limit` (default 300 ms). */
  downtimeLimitMs?: number;
  /** Migration capabilities to turn on at the source first (default none). */
  capabilities?: string[];
  /** Cancel (`migrate_cancel`, the guest runs on at the source) and throw RawMigrationTimeout after this long; default: wait forever. */
  timeoutMs?: number;
}

/** A raw migration that did not complete within its timeout and was cancelled: the guest runs on at the source. */
export class RawMigrationTimeout extends Error {
  readonly lastInfo: Record<string, unknown>;
  constructor(timeoutMs: number, lastInfo: Record<string, unknown>) {
    super(`raw migration not completed within ${timeoutMs} ms (status ${String(lastInfo['status'])}); cancelled`);
    this.lastInfo = lastInfo;
  }
}

/**
 * Live-migrates `name` from `source` to `destination` with nothing but raw
 * QMP over SSH: what an operator's hand-written script does, and the
 * baseline ferry is measured against. The destination QEMU is started from
 * the same lab command line with `-incoming`.
 */
export async function rawMigrate(lab: Lab, source: string, destination: string, name: string, spec: GuestSpec = {}, port = 4444, options: RawMigrationOptions = {}): Promise<RawMigrationFigures> {
  const destinationStart = performance.now();
  await lab.startVm(destination, name, { ...spec, incoming: `tcp:${lab.hostAddress(destination)}:${port}` });
  const src = await RawQmp.connect(lab, source, `${lab.runDir(source)}/${name}.qmp`);
  const dst = await RawQmp.connect(lab, destination, `${lab.runDir(destination)}/${name}.qmp`);
  const destinationStartMs = performance.now() - destinationStart;
  try {
    if (options.capabilities?.length) await src.execute('migrate-set-capabilities', { capabilities: options.capabilities.map((capability) => ({ capability, state: true })) });
    // QEMU's default 128 MiB/s cap is far below the link; lift it.
    await src.execute('migrate-set-parameters', { 'max-bandwidth': 10 * 1024 ** 3, 'downtime-limit': options.downtimeLimitMs ?? 300 });
    const started = performance.now();
    await src.execute('migrate', { uri: `tcp:${lab.hostAddress(destination)}:${port}` });
    let info: Record<string, unknown>;
    for (;;) {
      info = (await src.execute('query-migrate')) as Record<string, unknown>;
      if (info['status'] === 'completed') break;
      if (info['status'] === 'failed' || info['status'] === 'cancelled') throw new Error(`raw migration ${info['status']}: ${JSON.stringify(info)}`);
      if (options.timeoutMs !== undefined && performance.now() - started > options.timeoutMs) {
        await src.execute('migrate_cancel');
        // The source runs on once QEMU reports `cancelled` (the destination QEMU exits by itself).
        let status = '';
        while (!['cancelled', 'failed', 'completed'].includes((status = String(((await src.execute('query-migrate')) as Record<string, unknown>)['status'])))) await sleep(10);
        if (status === 'completed') continue; // it finished before the cancel took: the next look sees it
        throw new RawMigrationTimeout(options.timeoutMs, info);
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
    };
  } finally {
    src.close();
    dst.close();
  }
}

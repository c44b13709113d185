import { setTimeout as sleep } from 'node:timers/promises';
import type { QmpClient } from '../qmp/index.ts';
import { isTransferOver, transferState, type TransferState } from './qemu-migration-status.ts';

/**
 * Asks the source QEMU to cancel a transfer in flight and waits (up to ~6 s)
 * until QEMU says it is over. Returns how it ended: `cancelled`, or
 * `completed`/`failed` when QEMU got there first, or `idle` when nothing ran.
 */
export async function cancelTransferSrc(qmp: QmpClient): Promise<TransferState> {
  let state = transferState((await qmp.execute('query-migrate')).status);
  if (isTransferOver(state) || state === 'idle') return state;
  await qmp.execute('migrate_cancel');
  for (let i = 0; i < 300 && !isTransferOver(state); i++) {
    await sleep(20);
    state = transferState((await qmp.execute('query-migrate')).status);
  }
  return state;
}

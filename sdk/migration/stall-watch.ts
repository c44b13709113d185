import type { MigrationInfo } from '../qmp/index.ts';
import { transferState } from './qemu-migration-status.ts';

/**
 * Notices a transfer that moves nothing: QEMU's migration sockets have no
 * keepalive, so a link cut for good leaves both sides `active` until TCP
 * gives up (minutes to hours). Only pre-copy states count; a pause before
 * switchover is the downtime gate's business, post-copy is never cancelled.
 */
export class StallWatch {
  readonly #timeoutMs: number;
  #bytes = -1;
  #since = 0;

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
  }

  /** True once nothing was sent for the whole timeout while QEMU says it is setting up or transferring. */
  stalled(info: MigrationInfo, elapsedMs: number): boolean {
    const state = transferState(info.status);
    const bytes = info.ram?.transferred ?? 0;
    if ((state !== 'setting-up' && state !== 'transferring') || bytes !== this.#bytes) {
      this.#bytes = bytes;
      this.#since = elapsedMs;
      return false;
    }
    return elapsedMs - this.#since > this.#timeoutMs;
  }
}

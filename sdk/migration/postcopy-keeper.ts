import type { Host } from '../model/host.ts';
import type { MigrationInfo, QmpClient } from '../qmp/index.ts';
import { log, migrationError, type MigrationContext } from './migration-context.ts';

// How often a paused post-copy is offered its link again.
const RESUME_EVERY_MS = 3000;

/**
 * Keeps a post-copy going; it never cancels one (the destination owns the
 * newest memory, and QEMU destroys the VM on cancel). A post-copy that moves
 * nothing for `stallTimeout` is paused on both sides (`migrate-pause`:
 * recoverable; QEMU's sockets have no keepalive to notice a dead link), and
 * a paused one, whatever paused it, is resumed as soon as the link lets it.
 * Past `giveUpMs` paused, the migration ends with the VM `postcopy-paused`
 * for `ferry recover`.
 */
export class PostcopyKeeper {
  readonly #context: MigrationContext;
  readonly #stallMs: number;
  readonly #giveUpMs: number;
  #bytes = -1;
  #movedAt = 0;
  #pausedAt: number | undefined;
  #triedAt = Number.NEGATIVE_INFINITY;

  constructor(context: MigrationContext, giveUpMs: number) {
    this.#context = context;
    this.#stallMs = context.options.stallTimeout;
    this.#giveUpMs = giveUpMs;
  }

  async look(info: MigrationInfo, elapsedMs: number): Promise<void> {
    const context = this.#context;
    if (info.status === 'postcopy-active') {
      this.#pausedAt = undefined;
      const bytes = info.ram?.transferred ?? 0;
      if (bytes !== this.#bytes) {
        this.#bytes = bytes;
        this.#movedAt = elapsedMs;
      } else if (elapsedMs - this.#movedAt > this.#stallMs) {
        log(context, 'warn', `post-copy moved nothing for ${Math.round(this.#stallMs / 1000)} s: pausing it on both sides (recoverable)`);
        await context.srcQmp?.execute('migrate-pause').catch(() => undefined);
        await context.dstQmp?.execute('migrate-pause').catch(() => undefined);
        this.#movedAt = elapsedMs;
      }
      return;
    }
    if (info.status !== 'postcopy-paused') return;
    this.#pausedAt ??= elapsedMs;
    if (elapsedMs - this.#pausedAt > this.#giveUpMs) {
      throw migrationError(context, 'POSTCOPY_PAUSED', 'postcopy-paused', `the post-copy stayed paused for ${Math.round(this.#giveUpMs / 1000)} s: the link to ${context.destination.name} is down`);
    }
    if (elapsedMs - this.#triedAt < RESUME_EVERY_MS || !context.srcQmp || !context.dstQmp) return;
    this.#triedAt = elapsedMs;
    try {
      await resumePostcopy(context.srcQmp, context.dstQmp, context.destination);
      log(context, 'info', `post-copy resumed to ${context.destination.name}`);
    } catch (error) {
      log(context, 'warn', `post-copy is paused and cannot resume yet: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}

/**
 * Resumes a paused post-copy (QEMU 7.2's verified sequence): the destination
 * listens again (`migrate-recover`, on a free port of its migration address)
 * and the source reconnects with `migrate resume:true`.
 */
export async function resumePostcopy(src: QmpClient, dst: QmpClient, destination: Host): Promise<void> {
  // A destination that has not noticed the dead link is paused by hand first.
  if ((await dst.execute('query-migrate')).status === 'postcopy-active') await dst.execute('migrate-pause');
  const address = destination.migrationAddress;
  const host = address.includes(':') ? `[${address}]` : address;
  await dst.execute('migrate-recover', { uri: `tcp:${host}:0` });
  const socket = (await dst.execute('query-migrate'))['socket-address']?.find((candidate) => candidate.type === 'inet');
  if (socket?.type !== 'inet') throw new Error(`${destination.name} did not report the port it listens on`);
  await src.execute('migrate', { uri: `tcp:${host}:${socket.port}`, resume: true });
}

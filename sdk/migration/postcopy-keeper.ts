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
  readonly #uri: string;
  readonly #stallMs: number;
  readonly #giveUpMs: number;
  #bytes = -1;
  #movedAt = 0;
  #pausedAt: number | undefined;
  #triedAt = Number.NEGATIVE_INFINITY;

  constructor(context: MigrationContext, uri: string, giveUpMs: number) {
    this.#context = context;
    this.#uri = uri;
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
        await context.srcQmp?.executeOob('migrate-pause').catch(() => undefined);
        await context.dstQmp?.executeOob('migrate-pause').catch(() => undefined);
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
      await resumePostcopy(context.srcQmp, context.dstQmp, this.#uri);
      log(context, 'info', `post-copy resumed to ${context.destination.name}`);
    } catch (error) {
      log(context, 'warn', `post-copy is paused and cannot resume yet: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}

/**
 * Resumes a paused post-copy (QEMU 7.2's verified sequence): the destination
 * listens again on the migration's own URI (`migrate-recover`) and the source
 * reconnects with `migrate resume:true`. The destination is spoken to out of
 * band: while pages are missing its main loop may be blocked on one (a
 * device touching guest memory), and only OOB commands get through.
 */
export async function resumePostcopy(src: QmpClient, dst: QmpClient, uri: string): Promise<void> {
  // A destination that has not noticed the dead link (no error on a silent link) is paused by hand.
  await dst.executeOob('migrate-pause').catch(() => undefined);
  await dst.executeOob('migrate-recover', { uri });
  await src.execute('migrate', { uri, resume: true });
}

import { describeCommand, QmpCommandError, QmpDisconnectedError, QmpProtocolError } from './qmp-errors.ts';
import type { QmpIncoming, QmpJsonObject } from './qmp-framing.ts';

// Commands sent and not yet answered, keyed by the id QEMU echoes back. Kept
// apart from the client so that correlation, late replies and the
// all-at-once failure on disconnect can be read (and changed) in one place.

// Ids we stopped waiting for, so their late replies are dropped quietly;
// bounded in case QEMU never answers them.
const MAX_ABANDONED_IDS = 10_000;

interface PendingCommand {
  command: string;
  args: Record<string, unknown> | undefined;
  resolve(value: unknown): void;
  reject(error: Error): void;
}

type QmpReply = Extract<QmpIncoming, { id: unknown }>;

/**
 * @example
 * const pending = new PendingCommands('a/web');
 * const { id, reply } = pending.add('query-status', undefined);
 * pending.settle({ kind: 'return', id, value: { running: true } }, message); // 'settled'
 */
export class PendingCommands {
  readonly #label: string | undefined;
  readonly #waiting = new Map<number, PendingCommand>();
  readonly #abandoned = new Set<number>();
  #nextId = 1;

  constructor(label?: string) {
    this.#label = label;
  }

  get size(): number {
    return this.#waiting.size;
  }

  /** Registers a command under a fresh id; `reply` settles with its `return` or a typed error. */
  add(command: string, args: Record<string, unknown> | undefined): { id: number; reply: Promise<unknown> } {
    const id = this.#nextId++;
    const reply = new Promise<unknown>((resolve, reject) => this.#waiting.set(id, { command, args, resolve, reject }));
    return { id, reply };
  }

  /** Stops waiting for `id` (timed out or aborted); `reply` will never settle. */
  abandon(id: number): void {
    if (!this.#waiting.delete(id)) return;
    this.#abandoned.add(id);
    if (this.#abandoned.size > MAX_ABANDONED_IDS) {
      const oldest = this.#abandoned.values().next().value;
      if (oldest !== undefined) this.#abandoned.delete(oldest);
    }
  }

  /**
   * Hands a reply to the command it answers. Returns 'late' for a reply to an
   * abandoned command and 'unknown' when nothing was waiting for its id.
   */
  settle(reply: QmpReply, message: QmpJsonObject): 'settled' | 'late' | 'unknown' {
    const id = typeof reply.id === 'number' ? reply.id : undefined;
    const pending = id === undefined ? undefined : this.#waiting.get(id);
    if (id === undefined || pending === undefined) return id !== undefined && this.#abandoned.delete(id) ? 'late' : 'unknown';
    this.#waiting.delete(id);
    const label = this.#label;
    if (reply.kind === 'return') pending.resolve(reply.value);
    else if (reply.kind === 'error') {
      const { errorClass, description } = reply;
      pending.reject(new QmpCommandError({ command: pending.command, arguments: pending.args, errorClass, description, label }));
    } else {
      const sent = describeCommand(pending.command, pending.args);
      pending.reject(new QmpProtocolError({ problem: reply.problem, received: message, sent, label }));
    }
    return 'settled';
  }

  /** The connection is gone: every waiting command fails once, except `quit`. */
  failAll(reason: string, cause?: unknown): void {
    for (const { command, args, resolve, reject } of this.#waiting.values()) {
      // QEMU closes the socket as part of `quit`, sometimes before replying.
      if (command === 'quit') resolve({});
      else reject(new QmpDisconnectedError({ command, arguments: args, reason, label: this.#label, cause }));
    }
    this.#waiting.clear();
    this.#abandoned.clear();
  }
}

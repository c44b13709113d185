import { QmpError, QmpStateError } from './qmp-errors.ts';

// An explicit state machine, as QEMU's protocol.py Runstate, so that every
// public method states which states it works in and fails with a typed error
// otherwise. Unlike Runstate we end in `closed` rather than going back to
// `idle`: a QmpClient wraps one stream and is not reconnected.

export type QmpConnectionState = 'idle' | 'connecting' | 'running' | 'disconnecting' | 'closed';

/** Which state may follow which. `closed` is final. */
export const QMP_STATE_TRANSITIONS: Readonly<Record<QmpConnectionState, readonly QmpConnectionState[]>> = {
  idle: ['connecting'],
  connecting: ['running', 'disconnecting'],
  running: ['disconnecting'],
  disconnecting: ['closed'],
  closed: [],
};

/**
 * Holds the current state; `transition` enforces the table, `require`
 * guards public methods.
 *
 * @example
 * const state = new ConnectionStateMachine();
 * state.transition('connecting');
 * state.require('execute', 'running'); // throws QmpStateError: … while the QMP connection is connecting
 */
export class ConnectionStateMachine {
  #current: QmpConnectionState = 'idle';
  readonly #label: string | undefined;

  constructor(label?: string) {
    this.#label = label;
  }

  get current(): QmpConnectionState {
    return this.#current;
  }

  /** Moves to `next`; an illegal move is a bug in the client, not a user error. */
  transition(next: QmpConnectionState): void {
    if (!QMP_STATE_TRANSITIONS[this.#current].includes(next)) {
      throw new QmpError('QMP_INTERNAL', `bug: illegal QMP state transition ${this.#current} -> ${next}`, {
        label: this.#label,
      });
    }
    this.#current = next;
  }

  /** Throws a QmpStateError naming `method` unless the state is one of `allowed`. */
  require(method: string, ...allowed: QmpConnectionState[]): void {
    if (!allowed.includes(this.#current)) {
      throw new QmpStateError({ method, state: this.#current, allowed, label: this.#label });
    }
  }

  /** True once the connection is going or gone. */
  get isEnding(): boolean {
    return this.#current === 'disconnecting' || this.#current === 'closed';
  }
}

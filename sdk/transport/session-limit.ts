import type { AbortRace } from './abort-race.ts';
import { raceAbort } from './abort-race.ts';

/**
 * A counting semaphore for the session channels open on one SSH connection
 * (sshd refuses more than MaxSessions, 10 by default). Waiters are served in order.
 */
export class SessionLimit {
  #limit: number;
  #active = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(limit: number) {
    this.#limit = limit;
  }

  get active(): number {
    return this.#active;
  }

  /**
   * Wait for a free session; resolves with the function that frees it (safe to call twice).
   *
   * @example
   * const release = await sessions.acquire([{ signal }]);
   * try { … } finally { release(); }
   */
  async acquire(stops: readonly AbortRace[] = []): Promise<() => void> {
    if (this.#active >= this.#limit || this.#waiting.length > 0) {
      let wake = (): void => {};
      const turn = new Promise<void>((resolve) => (wake = resolve));
      this.#waiting.push(wake);
      try {
        await raceAbort(turn, stops);
      } catch (error) {
        const index = this.#waiting.indexOf(wake);
        if (index >= 0) this.#waiting.splice(index, 1);
        else this.#release(); // woken at the same moment: pass the turn on
        throw error;
      }
    } else {
      this.#active++;
    }
    let released = false;
    return () => {
      if (!released) this.#release();
      released = true;
    };
  }

  /** The server refused a session: allow one fewer than are open now (at least one). */
  shrink(): void {
    this.#limit = Math.max(1, Math.min(this.#limit, this.#active - 1));
  }

  #release(): void {
    const next = this.#active <= this.#limit ? this.#waiting.shift() : undefined;
    if (next) next(); // the slot passes straight to the next waiter
    else this.#active--;
  }
}

import { abortedWhile } from './deadline.ts';
import type { QmpAnyEvent } from './qmp-types.ts';

// Each listener has its own filtered, bounded queue (as QEMU's events.py
// EventListener), so a slow consumer of BLOCK_JOB_* events cannot hold up or
// starve one waiting for MIGRATION.

/** Which events a listener takes: a name, several names, or a predicate. */
export type QmpEventFilter = string | readonly string[] | ((event: QmpAnyEvent) => boolean);

export interface EventListenerOptions {
  /** Closes the listener when aborted (iteration ends; it is not an error). */
  signal?: AbortSignal | undefined;
  /** Events held for a slow consumer; beyond it the oldest is dropped. Default 1000. */
  maxQueue?: number | undefined;
}

export const DEFAULT_MAX_EVENT_QUEUE = 1000;

// Method syntax keeps Waiter covariant in E, so EventListener<QmpEvent<'STOP'>> is an EventListener<QmpAnyEvent>.
interface Waiter<E> {
  resolve(result: IteratorResult<E, undefined>): void;
  reject(error: unknown): void;
  detach(): void;
}

/**
 * A filtered queue of QMP events. Get one from `client.events(filter)`.
 *
 * Ending: `close()`, the listener's signal, breaking out of `for await`, or
 * the client disconnecting all close it. After that `next()` still hands out
 * the events already queued (a SHUTDOWN that arrived just before QEMU exited
 * is worth seeing), then resolves `{ done: true }`; it never rejects for
 * closing. Only a `next({ signal })` whose own signal aborts rejects, with
 * AbortedError.
 *
 * When more than `maxQueue` events wait unread, the oldest are dropped and
 * counted in `dropped`: newest state wins, memory stays bounded.
 *
 * @example
 * const migration = client.events('MIGRATION');
 * for await (const { data } of migration) if (data.status === 'completed') break;
 */
export class EventListener<E = QmpAnyEvent> implements AsyncIterable<E> {
  readonly #accepts: (event: QmpAnyEvent) => boolean;
  readonly #maxQueue: number;
  readonly #queue: E[] = [];
  readonly #waiters: Array<Waiter<E>> = [];
  readonly #signal: AbortSignal | undefined;
  readonly #onClosed: (() => void) | undefined;
  #closed = false;
  #dropped = 0;

  /** `onClosed` lets the owning client forget the listener; users call `client.events()` instead. */
  constructor(filter: QmpEventFilter | undefined, options: EventListenerOptions = {}, onClosed?: () => void) {
    this.#accepts = toPredicate(filter);
    this.#maxQueue = Math.max(1, options.maxQueue ?? DEFAULT_MAX_EVENT_QUEUE);
    this.#onClosed = onClosed;
    this.#signal = options.signal;
    if (this.#signal?.aborted) this.close();
    else this.#signal?.addEventListener('abort', this.close, { once: true });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Events dropped because the queue was full. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Events queued and not yet read. */
  get size(): number {
    return this.#queue.length;
  }

  /** Offers an event; returns whether this listener took it. Called by the client. */
  deliver(event: QmpAnyEvent): boolean {
    if (this.#closed || !this.#accepts(event)) return false;
    const typed = event as E; // the filter chose the event names that make E true
    const waiter = this.#waiters.shift();
    if (waiter) {
      waiter.detach();
      waiter.resolve({ done: false, value: typed });
      return true;
    }
    this.#queue.push(typed);
    if (this.#queue.length > this.#maxQueue) {
      this.#queue.shift();
      this.#dropped++;
    }
    return true;
  }

  /**
   * The next event, or `{ done: true }` once closed and drained.
   *
   * @example
   * const { done, value } = await listener.next({ signal: AbortSignal.timeout(5000) });
   */
  next(options: { signal?: AbortSignal | undefined } = {}): Promise<IteratorResult<E, undefined>> {
    const queued = this.#queue.shift();
    if (queued !== undefined) return Promise.resolve({ done: false, value: queued });
    if (this.#closed) return Promise.resolve({ done: true, value: undefined });
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(abortedWhile({ waitingFor: 'a QMP event' }, signal));

    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        const index = this.#waiters.indexOf(waiter);
        if (index !== -1) this.#waiters.splice(index, 1);
        reject(abortedWhile({ waitingFor: 'a QMP event' }, signal!));
      };
      const waiter: Waiter<E> = { resolve, reject, detach: () => signal?.removeEventListener('abort', onAbort) };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  /** Stops taking events; idempotent. Queued events can still be read. */
  readonly close = (): void => {
    if (this.#closed) return;
    this.#closed = true;
    this.#signal?.removeEventListener('abort', this.close);
    for (const waiter of this.#waiters.splice(0)) {
      waiter.detach();
      waiter.resolve({ done: true, value: undefined });
    }
    this.#onClosed?.();
  };

  /** Breaking out of `for await` closes the listener. */
  [Symbol.asyncIterator](): AsyncIterator<E, undefined> {
    return {
      next: () => this.next(),
      return: () => {
        this.close();
        return Promise.resolve({ done: true, value: undefined });
      },
    };
  }
}

/**
 * A filter as a predicate.
 *
 * @example
 * toPredicate(['STOP', 'RESUME'])({ event: 'STOP', timestamp }) // true
 */
export function toPredicate(filter: QmpEventFilter | undefined): (event: QmpAnyEvent) => boolean {
  if (filter === undefined) return () => true;
  if (typeof filter === 'function') return filter;
  if (typeof filter === 'string') return (event) => event.event === filter;
  const names = new Set(filter);
  return (event) => names.has(event.event);
}

/**
 * A filter in words, for error messages.
 *
 * @example
 * describeFilter(['STOP', 'RESUME']) // 'event STOP or RESUME'
 */
export function describeFilter(filter: QmpEventFilter | undefined): string {
  if (filter === undefined) return 'any event';
  if (typeof filter === 'function') return 'a matching event';
  if (typeof filter === 'string') return `event ${filter}`;
  return `event ${filter.join(' or ')}`;
}

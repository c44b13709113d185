import type { TypedEvents } from './typed-events.ts';

/**
 * What a long operation's handle offers besides its own steering (a
 * migration, an evacuation): typed events to listen to, and being
 * awaitable for its outcome. The subclass starts the work and says where
 * its outcome is.
 */
export abstract class AwaitableOperation<Result, EventMap extends { [K in keyof EventMap]: unknown[] }> implements PromiseLike<Result> {
  readonly #listeners: TypedEvents<EventMap>;

  protected constructor(events: TypedEvents<EventMap>) {
    this.#listeners = events;
  }

  /** The operation's outcome, once started. */
  protected abstract get outcome(): Promise<Result>;

  on<K extends keyof EventMap & string>(event: K, listener: (...args: EventMap[K]) => void): this {
    this.#listeners.on(event, listener);
    return this;
  }

  off<K extends keyof EventMap & string>(event: K, listener: (...args: EventMap[K]) => void): this {
    this.#listeners.off(event, listener);
    return this;
  }

  then<T = Result, E = never>(
    onFulfilled?: ((value: Result) => T | PromiseLike<T>) | null,
    onRejected?: ((reason: unknown) => E | PromiseLike<E>) | null,
  ): Promise<T | E> {
    return this.outcome.then(onFulfilled, onRejected);
  }

  catch<E = never>(onRejected?: ((reason: unknown) => E | PromiseLike<E>) | null): Promise<Result | E> {
    return this.outcome.catch(onRejected);
  }

  finally(onFinally?: (() => void) | null): Promise<Result> {
    return this.outcome.finally(onFinally);
  }
}

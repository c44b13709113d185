import { throwIfAborted } from '../ferry-error.ts';

/** A reason to stop waiting: the caller's signal (AbortedError) or an internal one with its own error. */
export interface AbortRace {
  signal: AbortSignal | undefined;
  /** The error to reject with; default: AbortedError from the signal's reason. */
  error?: () => Error;
}

/**
 * Wait for `promise` unless one of `stops` aborts first (first reason wins). A value that
 * arrives after giving up goes to `onLate` (to close a channel nobody will use).
 * Listeners are removed when it settles.
 *
 * @example
 * const channel = await raceAbort(opening, [{ signal }], (late) => late.close());
 */
export function raceAbort<T>(promise: Promise<T>, stops: readonly AbortRace[], onLate?: (value: T) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const listeners: (() => void)[] = [];
    const finish = (): boolean => {
      if (done) return false;
      done = true;
      stops.forEach((stop, i) => stop.signal?.removeEventListener('abort', listeners[i] ?? (() => {})));
      return true;
    };
    const stopWith = (stop: AbortRace): void => {
      if (!finish()) return;
      try {
        if (stop.error) throw stop.error();
        throwIfAborted(stop.signal);
      } catch (error) {
        reject(error);
      }
    };
    for (const stop of stops) {
      const listener = (): void => stopWith(stop);
      listeners.push(listener);
      if (stop.signal?.aborted) stopWith(stop);
      else stop.signal?.addEventListener('abort', listener, { once: true });
    }
    promise.then(
      (value) => (finish() ? resolve(value) : onLate?.(value)),
      (error: unknown) => finish() && reject(error),
    );
  });
}

import { AbortedError } from '../ferry-error.ts';

// Waiting on the network is always raced against a timeout and an
// AbortSignal; the first reason wins and both are removed when it settles,
// so no timer or abort listener outlives the wait.

export interface DeadlineOptions {
  signal?: AbortSignal | undefined;
  /** No timeout when undefined or not finite. */
  timeoutMs?: number | undefined;
  onTimeout: () => Error;
  /** Describes the cancelled wait, e.g. 'the reply to "migrate"'. */
  waitingFor: string;
  label?: string | undefined;
}

/**
 * Settles like `work` unless the timeout or the signal comes first.
 *
 * @example
 * await withDeadline(reply, { signal, timeoutMs: 5000, waitingFor: 'the reply', onTimeout: () => new Error('slow') });
 */
export function withDeadline<T>(work: Promise<T>, options: DeadlineOptions): Promise<T> {
  const { signal, timeoutMs } = options;
  if (signal?.aborted) return Promise.reject(abortedWhile(options, signal));
  const hasTimeout = timeoutMs !== undefined && Number.isFinite(timeoutMs);
  if (!signal && !hasTimeout) return work;

  return new Promise<T>((resolve, reject) => {
    const settle = (finish: () => void): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      finish();
    };
    const onAbort = (): void => settle(() => reject(abortedWhile(options, signal!)));
    const timer = hasTimeout ? setTimeout(() => settle(() => reject(options.onTimeout())), timeoutMs) : undefined;
    signal?.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => settle(() => resolve(value)),
      (error: unknown) => settle(() => reject(error)),
    );
  });
}

/**
 * The AbortedError for a wait cancelled by `signal`.
 *
 * @example
 * abortedWhile({ waitingFor: 'the QMP greeting' }, signal).message // 'stopped waiting for the QMP greeting: cancelled'
 */
export function abortedWhile(options: { waitingFor: string; label?: string | undefined }, signal: AbortSignal): AbortedError {
  const reason: unknown = signal.reason;
  const why =
    reason instanceof Error && reason.name !== 'AbortError'
      ? `cancelled: ${reason.message}`
      : typeof reason === 'string'
        ? `cancelled: ${reason}`
        : 'cancelled';
  const prefix = options.label === undefined ? '' : `${options.label}: `;
  return new AbortedError(`${prefix}stopped waiting for ${options.waitingFor} (${why})`, { cause: reason });
}

import { constants } from 'node:os';
import { AbortedError, throwIfAborted } from '../ferry-error.ts';
import type { CommandResult, ExecOptions } from './host-transport.ts';
import { CommandFailedError, CommandTimeoutError, TransportError } from './transport-errors.ts';

/** Which command this is, for error messages. */
export interface CommandSpec {
  host: string;
  argv?: readonly string[];
  script?: string;
}

/** How a process ended, as a transport observed it. */
export interface ProcessEnd {
  stdout: string;
  stderr: string;
  /** null when a signal ended it. */
  exitCode: number | null;
  /** 'SIGTERM' style, or null. */
  signal: string | null;
}

/**
 * Waits for a started command, racing its end against the caller's abort signal,
 * its timeout and the transport closing (first reason wins). On abort or timeout
 * it calls `kill` and rejects at once rather than waiting for the process to die.
 * Every listener and timer it adds is removed when it settles.
 */
export function awaitCommand(
  spec: CommandSpec,
  options: ExecOptions,
  ended: Promise<ProcessEnd>,
  kill: () => void,
  closing?: AbortSignal,
): Promise<CommandResult> {
  ended.catch(() => {}); // it may settle after we have already rejected
  return new Promise<CommandResult>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const cleanup = (): void => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      closing?.removeEventListener('abort', onClosing);
    };
    const stop = (error: Error): void => {
      cleanup();
      kill();
      reject(error);
    };
    const onAbort = (): void => {
      try {
        throwIfAborted(options.signal);
      } catch (error) {
        stop(error as Error);
      }
    };
    const onClosing = (): void => {
      const reason: unknown = closing?.reason;
      stop(reason instanceof TransportError ? reason : new AbortedError('the transport was closed'));
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    closing?.addEventListener('abort', onClosing, { once: true });
    if (options.timeoutMs !== undefined) timer = setTimeout(() => stop(new CommandTimeoutError(spec, options.timeoutMs ?? 0)), options.timeoutMs);
    if (options.signal?.aborted) onAbort();
    else if (closing?.aborted) onClosing();
    ended.then(
      (end) => {
        cleanup();
        const result = toResult(end);
        if (result.exitCode === 0 || options.allowFailure) resolve(result);
        else reject(new CommandFailedError({ ...spec, ...end, exitCode: result.exitCode, signal: result.signal ?? null }));
      },
      (error: unknown) => {
        cleanup();
        reject(error);
      },
    );
  });
}

function toResult(end: ProcessEnd): CommandResult {
  const exitCode = end.exitCode ?? 128 + signalNumber(end.signal);
  return { stdout: end.stdout, stderr: end.stderr, exitCode, signal: end.signal };
}

function signalNumber(signal: string | null): number {
  const table = constants.signals as Record<string, number | undefined>;
  return (signal && table[signal]) || 0;
}

/** Bytes for a child's stdin. */
export function stdinBytes(stdin: string | Uint8Array): Buffer {
  return typeof stdin === 'string' ? Buffer.from(stdin, 'utf8') : Buffer.from(stdin.buffer, stdin.byteOffset, stdin.byteLength);
}

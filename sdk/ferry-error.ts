/**
 * The root of every error ferry throws. Each subclass carries the structured
 * fields a caller needs to decide what to do next; `code` is stable for
 * scripts (and the CLI's `--json` output), `message` is for people.
 */
export class FerryError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }

  /** A plain-object view for `--json` output and logs (no stack). */
  toJSON(): Record<string, unknown> {
    const fields: Record<string, unknown> = { name: this.name, code: this.code, message: this.message };
    for (const [key, value] of Object.entries(this)) {
      if (key !== 'code' && typeof value !== 'function' && !(value instanceof Object && 'on' in value)) fields[key] = value;
    }
    if (this.cause instanceof FerryError) fields['cause'] = this.cause.toJSON();
    else if (this.cause instanceof Error) fields['cause'] = this.cause.message;
    return fields;
  }
}

/** Thrown when an operation is cancelled through its AbortSignal or `cancel()`. */
export class AbortedError extends FerryError {
  constructor(message = 'the operation was cancelled', options?: { cause?: unknown }) {
    super('ABORTED', message, options);
  }
}

/** Throws an AbortedError if `signal` is already aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortedError(reasonText(signal.reason), { cause: signal.reason });
}

function reasonText(reason: unknown): string {
  if (reason instanceof Error && reason.name !== 'AbortError') return `cancelled: ${reason.message}`;
  if (typeof reason === 'string') return `cancelled: ${reason}`;
  return 'the operation was cancelled';
}

import { FerryError } from '../ferry-error.ts';

// QMP errors carry what was sent and what came back, like QEMU's own
// python/qemu/qmp error.py (ExecuteError keeps `sent` and `received`), so a
// failed migration step can be diagnosed from the error alone.

/** Longest preview of a QMP message kept in an error (replies can be megabytes). */
export const PREVIEW_MAX_CHARS = 200;

/**
 * A short, single-line rendering of `value` for error messages.
 *
 * @example
 * preview({ uri: 'tcp:10.0.0.2:4444' }) // '{"uri":"tcp:10.0.0.2:4444"}'
 * preview('x'.repeat(500)).length      // a little over 200
 */
export function preview(value: unknown, maxChars = PREVIEW_MAX_CHARS): string {
  let text: string;
  if (typeof value === 'string') text = value;
  else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = String(value);
    }
  }
  text = text.replace(/\s*\r?\n\s*/g, ' ');
  return text.length > maxChars ? `${text.slice(0, maxChars)}… (${text.length} chars)` : text;
}

/**
 * How a command is named in messages: its name, then its arguments if any.
 *
 * @example
 * describeCommand('migrate', { uri: 'tcp:b:4444' }) // '"migrate" {"uri":"tcp:b:4444"}'
 */
export function describeCommand(command: string, args?: Record<string, unknown>): string {
  return args === undefined ? `"${command}"` : `"${command}" ${preview(args)}`;
}

interface LabelledOptions {
  /** Which QEMU this is about, e.g. "a/web" (host/vm); prefixes the message. */
  label?: string | undefined;
  cause?: unknown;
}

/** The base of every QMP-layer error; `label` names the QEMU it came from. */
export class QmpError extends FerryError {
  readonly label: string | undefined;

  constructor(code: string, message: string, options: LabelledOptions = {}) {
    const prefix = options.label === undefined ? '' : `${options.label}: `;
    super(code, prefix + message, options.cause === undefined ? undefined : { cause: options.cause });
    this.label = options.label;
  }
}

/** QEMU answered a command with `{"error": {"class", "desc"}}`. */
export class QmpCommandError extends QmpError {
  readonly command: string;
  readonly arguments: Record<string, unknown> | undefined;
  /** QEMU's error class, e.g. 'GenericError', 'CommandNotFound', 'DeviceNotActive'. */
  readonly errorClass: string;
  /** QEMU's human-readable description; not meant to be parsed. */
  readonly description: string;

  constructor(fields: {
    command: string;
    arguments?: Record<string, unknown> | undefined;
    errorClass: string;
    description: string;
    label?: string | undefined;
  }) {
    super(
      'QMP_COMMAND_FAILED',
      `QMP ${describeCommand(fields.command, fields.arguments)} failed: ${fields.errorClass}: ${fields.description}`,
      { label: fields.label },
    );
    this.command = fields.command;
    this.arguments = fields.arguments;
    this.errorClass = fields.errorClass;
    this.description = fields.description;
  }
}

/** The peer said something that is not QMP: bad JSON, an oversized line, a wrong greeting, a bad reply. */
export class QmpProtocolError extends QmpError {
  /** What went wrong, in words. */
  readonly problem: string;
  /** A truncated preview of what was received. */
  readonly received: string;
  /** The command this was a reply to, if known. */
  readonly sent: string | undefined;

  constructor(fields: { problem: string; received: unknown; sent?: string | undefined; label?: string | undefined; cause?: unknown }) {
    const received = preview(fields.received);
    const inReplyTo = fields.sent === undefined ? '' : ` in reply to ${fields.sent}`;
    super('QMP_PROTOCOL', `QMP protocol error: ${fields.problem}${inReplyTo}; received: ${received}`, fields);
    this.problem = fields.problem;
    this.received = received;
    this.sent = fields.sent;
  }
}

/** A method was called in a connection state that does not allow it. */
export class QmpStateError extends QmpError {
  readonly method: string;
  readonly state: string;

  constructor(fields: { method: string; state: string; allowed: readonly string[]; label?: string | undefined }) {
    const next = fields.state === 'closed' || fields.state === 'disconnecting' ? '; connect a new QmpClient' : '';
    super(
      'QMP_STATE',
      `cannot call ${fields.method}() while the QMP connection is ${fields.state} (needs: ${fields.allowed.join(' or ')})${next}`,
      { label: fields.label },
    );
    this.method = fields.method;
    this.state = fields.state;
  }
}

/** The connection went away while something was still waiting on it. */
export class QmpDisconnectedError extends QmpError {
  /** The command whose reply was pending, if it was a command. */
  readonly command: string | undefined;
  readonly reason: string;

  constructor(fields: {
    command: string | undefined;
    arguments?: Record<string, unknown> | undefined;
    /** Overrides "the reply to <command>" in the message, e.g. 'the QMP greeting'. */
    waitingFor?: string;
    reason: string;
    label?: string | undefined;
    cause?: unknown;
  }) {
    const waitingFor = fields.waitingFor ?? `the reply to ${describeCommand(fields.command ?? '?', fields.arguments)}`;
    super('QMP_DISCONNECTED', `QMP connection closed while waiting for ${waitingFor}: ${fields.reason}`, fields);
    this.command = fields.command;
    this.reason = fields.reason;
  }
}

/** Nothing came back in time. The command may still run in QEMU: QMP cannot cancel it. */
export class QmpTimeoutError extends QmpError {
  readonly command: string | undefined;
  readonly timeoutMs: number;

  constructor(fields: {
    command: string | undefined;
    arguments?: Record<string, unknown> | undefined;
    timeoutMs: number;
    waitingFor?: string;
    hint?: string;
    label?: string | undefined;
  }) {
    const waitingFor = fields.waitingFor ?? `reply to ${describeCommand(fields.command ?? '?', fields.arguments)}`;
    const hint = fields.hint === undefined ? '' : ` (${fields.hint})`;
    super('QMP_TIMEOUT', `no ${waitingFor} within ${fields.timeoutMs}ms${hint}`, { label: fields.label });
    this.command = fields.command;
    this.timeoutMs = fields.timeoutMs;
  }
}

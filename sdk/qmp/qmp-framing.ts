import { QmpProtocolError } from './qmp-errors.ts';
import type { QemuVersion, QmpAnyEvent, QmpGreeting } from './qmp-types.ts';

// The QMP wire protocol without any I/O (as in QEMU's protocol.py): bytes in,
// messages out. QEMU writes one JSON object per line ("\r\n"-terminated), so
// a line splitter is enough. Kept separate so it can be tested byte by byte.

/** Longest line accepted; QEMU's python library uses 10 MiB, libvirt similar. */
export const DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024;

export type QmpJsonObject = Record<string, unknown>;

/**
 * Splits a byte stream into parsed QMP messages, holding at most
 * `maxLineBytes` of an unfinished line.
 *
 * @example
 * const parser = new QmpLineParser();
 * for (const message of parser.push(Buffer.from('{"return": {}, "id": 1}\r\n'))) console.log(message);
 */
export class QmpLineParser {
  readonly maxLineBytes: number;
  readonly #label: string | undefined;
  readonly #partial: Buffer[] = [];
  #partialBytes = 0;
  // After a bad line the stream cannot be trusted to be in sync again.
  #failure: QmpProtocolError | undefined;

  constructor(options: { maxLineBytes?: number; label?: string } = {}) {
    this.maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    this.#label = options.label;
  }

  /**
   * Feeds a chunk; yields every complete message in it. Throws a
   * QmpProtocolError at the first malformed or oversized line, and again on
   * every later push. Stop iterating early only if you are giving up the
   * stream: the rest of the chunk is discarded.
   */
  *push(chunk: Buffer): Generator<QmpJsonObject, void, undefined> {
    if (this.#failure) throw this.#failure;
    let start = 0;
    while (start < chunk.length) {
      const newline = chunk.indexOf(0x0a, start);
      const end = newline === -1 ? chunk.length : newline;
      if (this.#partialBytes + (end - start) > this.maxLineBytes) {
        throw this.#fail(`a line exceeded ${this.maxLineBytes} bytes without a newline`, chunk.subarray(start, start + 200));
      }
      this.#partial.push(chunk.subarray(start, end));
      this.#partialBytes += end - start;
      if (newline === -1) return;
      start = newline + 1;
      const line = Buffer.concat(this.#partial).toString('utf8').trim();
      this.#partial.length = 0;
      this.#partialBytes = 0;
      if (line !== '') yield this.#parse(line);
    }
  }

  /** Bytes held of a line not yet terminated. */
  get bufferedBytes(): number {
    return this.#partialBytes;
  }

  #parse(line: string): QmpJsonObject {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw this.#fail(`malformed JSON (${error instanceof Error ? error.message : String(error)})`, line, error);
    }
    if (!isObject(value)) throw this.#fail('expected a JSON object', line);
    return value;
  }

  #fail(problem: string, received: unknown, cause?: unknown): QmpProtocolError {
    this.#partial.length = 0;
    this.#partialBytes = 0;
    this.#failure = new QmpProtocolError({ problem, received: String(received), label: this.#label, cause });
    return this.#failure;
  }
}

export interface QmpCommandMessage {
  execute: string;
  arguments?: Record<string, unknown> | undefined;
  id?: number | string;
  /** Send as `exec-oob`: QEMU runs it at once, even while its main loop is blocked. */
  oob?: boolean;
}

/**
 * One command as a line for the wire.
 *
 * @example
 * serializeCommand({ execute: 'query-status', id: 1 }) // '{"execute":"query-status","id":1}\n'
 */
export function serializeCommand(message: QmpCommandMessage): string {
  const wire: Record<string, unknown> = message.oob ? { 'exec-oob': message.execute } : { execute: message.execute };
  if (message.arguments !== undefined) wire['arguments'] = message.arguments;
  if (message.id !== undefined) wire['id'] = message.id;
  return `${JSON.stringify(wire)}\n`;
}

/**
 * Checks the first message is a QMP greeting and returns it typed.
 *
 * @example
 * parseGreeting({ QMP: { version: { qemu: { major: 7, minor: 2, micro: 0 }, package: '' }, capabilities: ['oob'] } })
 */
export function parseGreeting(message: QmpJsonObject, label?: string): QmpGreeting {
  const qmp = message['QMP'];
  const version = isObject(qmp) ? qmp['version'] : undefined;
  const qemu = isObject(version) ? version['qemu'] : undefined;
  const capabilities = isObject(qmp) ? qmp['capabilities'] : undefined;
  const numbers = isObject(qemu) && ['major', 'minor', 'micro'].every((key) => typeof qemu[key] === 'number');
  if (!numbers || !Array.isArray(capabilities) || !capabilities.every((c) => typeof c === 'string')) {
    throw new QmpProtocolError({
      problem: 'expected a QMP greeting {"QMP": {"version": …, "capabilities": […]}} (is this a QMP socket?)',
      received: message,
      label,
    });
  }
  const pkg = isObject(version) && typeof version['package'] === 'string' ? version['package'] : '';
  return { QMP: { version: { qemu: qemu as QemuVersion['qemu'], package: pkg }, capabilities } };
}

/** What an incoming message is, decided by peeking at its keys (as qmp_client.py does). */
export type QmpIncoming =
  | { kind: 'event'; event: QmpAnyEvent }
  | { kind: 'return'; id: unknown; value: unknown }
  | { kind: 'error'; id: unknown; errorClass: string; description: string }
  | { kind: 'malformed-reply'; id: unknown; problem: string }
  | { kind: 'greeting' };

/**
 * Routes a parsed message: an event, a reply (success or error), or junk.
 *
 * @example
 * classifyMessage({ return: {}, id: 3 }) // { kind: 'return', id: 3, value: {} }
 */
export function classifyMessage(message: QmpJsonObject): QmpIncoming {
  if ('QMP' in message) return { kind: 'greeting' };
  if ('event' in message) {
    if (typeof message['event'] !== 'string') return { kind: 'malformed-reply', id: undefined, problem: 'event name is not a string' };
    return { kind: 'event', event: message as unknown as QmpAnyEvent };
  }
  const id = message['id'];
  if ('return' in message) return { kind: 'return', id, value: message['return'] };
  const error = message['error'];
  if (isObject(error) && typeof error['class'] === 'string' && typeof error['desc'] === 'string') {
    return { kind: 'error', id, errorClass: error['class'], description: error['desc'] };
  }
  const problem = 'error' in message ? 'reply has a malformed "error" member' : 'reply has neither "return" nor "error"';
  return { kind: 'malformed-reply', id, problem };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

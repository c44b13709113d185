import { connect, type Socket } from 'node:net';

/** The Debian guest's sequence service (test/lab/debian/ferry-seq.c). */
export const SEQUENCE_PORT = 7778;

/** What one connection to the sequence service saw. */
export interface SequenceReport {
  /** Numbers received. */
  received: number;
  /** The last number received (the first is 1). */
  last: number;
  /** Times a number was skipped (data lost) or came again or out of order (data replayed). */
  gaps: number;
  repeats: number;
  /** The first such fault, e.g. "after 1234 came 1240". */
  firstFault: string | undefined;
  /** The longest time without data (ms): how long the connection stalled, e.g. across a switchover. */
  maxStallMs: number;
  /** The connection ended before close() (reset, or the guest closed it). */
  endedEarly: string | undefined;
}

/**
 * One TCP connection to a Debian guest's sequence service, checking every
 * line: the service sends 1, 2, 3, ... to each client, so a number lost or
 * repeated is data the connection lost or replayed (e.g. across a
 * migration).
 *
 * @example
 * const stream = await SequenceStream.open(vm.address);
 * // ... migrate ...
 * const report = await stream.close();
 * assert.equal(report.gaps + report.repeats, 0);
 */
export class SequenceStream {
  readonly #socket: Socket;
  #partial = '';
  #received = 0;
  #last = 0;
  #gaps = 0;
  #repeats = 0;
  #firstFault: string | undefined;
  #lastDataAt = 0;
  #maxStallMs = 0;
  #endedEarly: string | undefined;
  #closing = false;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => this.#onData(text));
    socket.on('error', (error) => this.#ended(error.message));
    socket.on('close', () => this.#ended('closed by the guest'));
  }

  /** Connects and resolves once the first number has arrived. */
  static open(address: string, options: { port?: number; timeoutMs?: number } = {}): Promise<SequenceStream> {
    const timeoutMs = options.timeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      const socket = connect({ host: address, port: options.port ?? SEQUENCE_PORT, noDelay: true });
      const stream = new SequenceStream(socket);
      const timer = setTimeout(() => fail(new Error(`sequence: no number from ${address} within ${timeoutMs} ms`)), timeoutMs);
      const fail = (error: Error): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(error);
      };
      socket.once('error', fail);
      socket.once('data', () => {
        clearTimeout(timer);
        socket.off('error', fail);
        resolve(stream);
      });
    });
  }

  report(): SequenceReport {
    return {
      received: this.#received,
      last: this.#last,
      gaps: this.#gaps,
      repeats: this.#repeats,
      firstFault: this.#firstFault,
      maxStallMs: Math.round(this.#maxStallMs * 10) / 10,
      endedEarly: this.#endedEarly,
    };
  }

  /** Closes the connection and reports. */
  async close(): Promise<SequenceReport> {
    this.#closing = true;
    const report = this.report();
    await new Promise<void>((resolve) => {
      if (this.#socket.destroyed) return resolve();
      this.#socket.once('close', () => resolve());
      this.#socket.destroy();
    });
    return report;
  }

  #onData(text: string): void {
    const now = performance.now();
    if (this.#lastDataAt > 0) this.#maxStallMs = Math.max(this.#maxStallMs, now - this.#lastDataAt);
    this.#lastDataAt = now;
    const lines = (this.#partial + text).split('\n');
    this.#partial = lines.pop() ?? '';
    for (const line of lines) {
      const number = Number(line);
      if (number === this.#last + 1) {
        this.#last = number;
      } else {
        if (number > this.#last + 1) this.#gaps++;
        else this.#repeats++;
        this.#firstFault ??= `after ${this.#last} came ${JSON.stringify(line)}`;
        if (number > this.#last) this.#last = number;
      }
      this.#received++;
    }
  }

  #ended(reason: string): void {
    if (!this.#closing) this.#endedEarly ??= reason;
  }
}

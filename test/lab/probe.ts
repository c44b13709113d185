import { createSocket, type Socket } from 'node:dgram';

/** What the probe saw: the guest-visible downtime and whether the guest kept its state. */
export interface ProbeReport {
  sent: number;
  received: number;
  /** Datagrams that got no reply by the time the probe stopped. */
  lost: number;
  /** The longest time between two replies (ms): the downtime the guest's users saw. */
  maxGapMs: number;
  /** When the longest gap ended (ms since the probe started). */
  maxGapEndedAtMs: number;
  /** The guest's counter went backwards: it rebooted or lost state. */
  counterWentBackwards: boolean;
  lastCounter: bigint;
  /**
   * The highest disk record the guest reported as acknowledged (written with
   * O_DIRECT|O_DSYNC): every record up to it must be on the disk. 0 for a
   * guest without a disk (or one built before replies carried it).
   */
  lastDiskRecord: bigint;
  /** The acknowledged record number went backwards: acknowledged writes were lost. */
  diskRecordWentBackwards: boolean;
}

/**
 * Sends a datagram to the guest's workload every `intervalMs` and watches the
 * replies. Each reply echoes the sequence number and carries the guest's
 * counter, which only ever increases while the guest lives, and (24-byte
 * replies) the last disk record the guest saw acknowledged.
 */
export class Probe {
  readonly #socket: Socket;
  readonly #address: string;
  readonly #port: number;
  #timer: NodeJS.Timeout | undefined;
  #sequence = 0n;
  #received = 0;
  #lastReplyAt = 0;
  #startedAt = 0;
  #maxGapMs = 0;
  #maxGapEndedAtMs = 0;
  #lastCounter = 0n;
  #backwards = false;
  #lastDiskRecord = 0n;
  #diskBackwards = false;
  readonly #firstReply: Promise<void>;
  #resolveFirst: () => void = () => {};

  constructor(address: string, port = 7777) {
    this.#address = address;
    this.#port = port;
    this.#socket = createSocket('udp4');
    this.#firstReply = new Promise((resolve) => (this.#resolveFirst = resolve));
    this.#socket.on('message', (message) => this.#onReply(message));
  }

  /** Starts probing; resolves once the guest has answered (or rejects after `timeoutMs`). */
  async start(intervalMs = 1, timeoutMs = 30_000): Promise<void> {
    this.#startedAt = performance.now();
    this.#timer = setInterval(() => this.#send(), intervalMs);
    let timeout: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.#firstReply,
        new Promise((_, reject) => {
          timeout = setTimeout(() => reject(new Error(`probe: no reply from ${this.#address}:${this.#port} within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } catch (error) {
      this.stop();
      throw error;
    } finally {
      clearTimeout(timeout);
    }
    // Gaps count from the first reply on, not from the guest's boot.
    this.#maxGapMs = 0;
  }

  /** Starts the longest-gap measure afresh: one migration's gap, not the guest's whole life. */
  resetGap(): void {
    this.#maxGapMs = 0;
  }

  /** The report so far, without stopping. */
  report(): ProbeReport {
    return {
      sent: Number(this.#sequence),
      received: this.#received,
      lost: Number(this.#sequence) - this.#received,
      maxGapMs: Math.round(this.#maxGapMs * 10) / 10,
      maxGapEndedAtMs: Math.round(this.#maxGapEndedAtMs),
      counterWentBackwards: this.#backwards,
      lastCounter: this.#lastCounter,
      lastDiskRecord: this.#lastDiskRecord,
      diskRecordWentBackwards: this.#diskBackwards,
    };
  }

  /** Waits `settleMs` for late replies, then stops and reports. */
  async finish(settleMs = 200): Promise<ProbeReport> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await new Promise((resolve) => setTimeout(resolve, settleMs));
    const report = this.report();
    this.stop();
    return report;
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#socket.removeAllListeners('message');
    try {
      this.#socket.close();
    } catch {
      // already closed
    }
  }

  #send(): void {
    const message = Buffer.alloc(8);
    message.writeBigUInt64LE(++this.#sequence);
    this.#socket.send(message, this.#port, this.#address, () => {});
  }

  #onReply(message: Buffer): void {
    if (message.length < 16) return;
    const now = performance.now();
    const counter = message.readBigUInt64LE(8);
    if (counter <= this.#lastCounter) this.#backwards = true;
    this.#lastCounter = counter;
    if (message.length >= 24) {
      const diskRecord = message.readBigUInt64LE(16);
      if (diskRecord < this.#lastDiskRecord) this.#diskBackwards = true;
      else this.#lastDiskRecord = diskRecord;
    }
    if (this.#received > 0 && now - this.#lastReplyAt > this.#maxGapMs) {
      this.#maxGapMs = now - this.#lastReplyAt;
      this.#maxGapEndedAtMs = now - this.#startedAt;
    }
    this.#lastReplyAt = now;
    this.#received++;
    this.#resolveFirst();
  }
}

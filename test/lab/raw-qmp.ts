import { readFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { Client } from 'ssh2';
import type { Lab } from './lab.ts';

/**
 * A deliberately minimal QMP-over-SSH client, independent of ferry's own
 * layers: the lab's proof that QMP reaches a guest's QEMU through sshd, and
 * the baseline that ferry is benchmarked against. One command at a time.
 */
export class RawQmp {
  readonly #ssh: Client | undefined;
  readonly #stream: Duplex;
  #buffer = '';
  #waiting: ((message: Record<string, unknown>) => void) | undefined;
  #failWaiting: ((error: Error) => void) | undefined;
  #closed = false;
  readonly #queue: Record<string, unknown>[] = [];
  readonly #eventListeners = new Set<(event: Record<string, unknown>) => void>();

  private constructor(ssh: Client | undefined, stream: Duplex) {
    this.#ssh = ssh;
    this.#stream = stream;
    stream.on('data', (chunk: Buffer) => this.#onData(chunk));
    // A QEMU that exits (or a channel that drops) fails the pending command instead of leaving it waiting forever.
    const closed = () => {
      this.#closed = true;
      this.#failWaiting?.(new Error('raw-qmp: the QMP connection closed'));
    };
    stream.on('end', closed);
    stream.on('close', closed);
    stream.on('error', closed);
  }

  /** Connects to `host`'s sshd (host key checked against the lab's known_hosts) and opens `socketPath`. */
  static async connect(lab: Lab, host: string, socketPath: string): Promise<RawQmp> {
    return await RawQmp.over(await sshConnect(lab, host), socketPath, true);
  }

  /** Opens `socketPath` over an SSH connection already open; `close()` ends that connection only if `ownsSsh`. */
  static async over(ssh: Client, socketPath: string, ownsSsh = false): Promise<RawQmp> {
    const stream = await new Promise<Duplex>((resolve, reject) =>
      ssh.openssh_forwardOutStreamLocal(socketPath, (error, channel) => (error ? reject(error) : resolve(channel))),
    );
    const qmp = new RawQmp(ownsSsh ? ssh : undefined, stream);
    const greeting = await qmp.#next();
    if (!('QMP' in greeting)) throw new Error(`raw-qmp: not a QMP greeting: ${JSON.stringify(greeting)}`);
    await qmp.execute('qmp_capabilities');
    return qmp;
  }

  /** Sends one command and returns its `return` (throws on `error`); events in between are skipped. */
  async execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    this.#stream.write(JSON.stringify(args ? { execute: command, arguments: args } : { execute: command }) + '\n');
    for (;;) {
      const message = await this.#next();
      if ('return' in message) return message['return'];
      if ('error' in message) throw new Error(`raw-qmp: ${command}: ${JSON.stringify(message['error'])}`);
    }
  }

  /** Calls `listener` with every event QEMU sends from now on (they are still skipped by execute); returns its removal. */
  onEvent(listener: (event: Record<string, unknown>) => void): () => void {
    this.#eventListeners.add(listener);
    return () => this.#eventListeners.delete(listener);
  }

  close(): void {
    this.#stream.destroy();
    this.#ssh?.end();
  }

  #onData(chunk: Buffer): void {
    this.#buffer += chunk.toString('utf8');
    let newline: number;
    while ((newline = this.#buffer.indexOf('\n')) >= 0) {
      const line = this.#buffer.slice(0, newline).trim();
      this.#buffer = this.#buffer.slice(newline + 1);
      if (!line) continue;
      const message = JSON.parse(line) as Record<string, unknown>;
      if ('event' in message) for (const listener of this.#eventListeners) listener(message);
      const waiting = this.#waiting;
      this.#waiting = undefined;
      this.#failWaiting = undefined;
      if (waiting) waiting(message);
      else this.#queue.push(message);
    }
  }

  #next(): Promise<Record<string, unknown>> {
    const queued = this.#queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.#closed) return Promise.reject(new Error('raw-qmp: the QMP connection closed'));
    return new Promise((resolve, reject) => {
      this.#waiting = resolve;
      this.#failWaiting = reject;
    });
  }
}

/** An ssh2 connection to a lab host that refuses any host key but the one in the lab's known_hosts. */
export function sshConnect(lab: Lab, host: string, knownHostsFile = lab.knownHostsFile): Promise<Client> {
  const address = lab.hostAddress(host);
  const known = readFileSync(knownHostsFile, 'utf8')
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields[0] === address && fields[2])
    .map((fields) => Buffer.from(fields[2] ?? '', 'base64'));
  return new Promise((resolve, reject) => {
    const ssh = new Client();
    ssh.once('ready', () => resolve(ssh));
    ssh.once('error', reject);
    ssh.connect({
      host: address,
      username: 'root',
      privateKey: readFileSync(lab.identityFile),
      algorithms: { serverHostKey: ['ssh-ed25519'] },
      hostVerifier: (key: Buffer) => known.some((blob) => blob.equals(key)),
      readyTimeout: 10_000,
    });
  });
}

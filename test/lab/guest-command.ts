import { connect } from 'node:net';

/** The Debian guest's command service (test/lab/debian/units/ferry-command.socket). */
export const GUEST_COMMAND_PORT = 7779;

export interface GuestCommandResult {
  /** What the command printed, stdout and stderr together. */
  output: string;
  exitCode: number;
}

/** The command service could not run the command or did not answer in time. */
export class GuestCommandError extends Error {
  readonly address: string;
  readonly command: string;
  constructor(address: string, command: string, message: string, options?: { cause?: unknown }) {
    super(`guest ${address}: \`${command}\`: ${message}`, options);
    this.name = 'GuestCommandError';
    this.address = address;
    this.command = command;
  }
}

/**
 * Runs one shell command in a lab Debian guest through its command service
 * (lab only: root, no authentication, on the lab's private subnet) and
 * returns its output and exit status. The command is one line of `sh`.
 *
 * @example
 * const { output } = await guestCommand(vm.address, 'systemctl is-system-running');
 * assert.equal(output.trim(), 'running');
 */
export function guestCommand(address: string, command: string, options: { timeoutMs?: number; signal?: AbortSignal; port?: number } = {}): Promise<GuestCommandResult> {
  if (command.includes('\n')) return Promise.reject(new GuestCommandError(address, command, 'a command is one line'));
  return new Promise((resolve, reject) => {
    const socket = connect({ host: address, port: options.port ?? GUEST_COMMAND_PORT });
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (error: GuestCommandError | undefined, result?: GuestCommandResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      if (error) reject(error);
      else if (result) resolve(result);
    };
    const onAbort = (): void => finish(new GuestCommandError(address, command, 'aborted', { cause: options.signal?.reason }));
    const timer = setTimeout(() => finish(new GuestCommandError(address, command, `no answer within ${options.timeoutMs ?? 30_000} ms`)), options.timeoutMs ?? 30_000);
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    socket.on('connect', () => socket.end(`${command}\n`));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (error) => finish(new GuestCommandError(address, command, error.message, { cause: error })));
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const match = /(?:^|\n)ferry-exit: (\d+)\n?$/.exec(text);
      if (!match) return finish(new GuestCommandError(address, command, `the service closed without an exit status; it sent: ${JSON.stringify(text.slice(-500))}`));
      finish(undefined, { output: text.slice(0, match.index + (match[0].startsWith('\n') ? 1 : 0)), exitCode: Number(match[1]) });
    });
  });
}

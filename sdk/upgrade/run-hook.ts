import type { Host } from '../model/host.ts';
import { CommandTimeoutError, SshConnectionLostError } from '../transport/index.ts';
import type { UpgradeCommand } from './upgrade-options.ts';

/** What the upgrade command did on its host. */
export interface HookOutcome {
  /** Exit 0, or the host dropped the connection while it ran (a reboot: the QEMU check decides). */
  ok: boolean;
  exitCode: number | null;
  /** The last lines of its output (stdout, then stderr). */
  outputTail: string;
  durationMs: number;
  /** The connection went away under it, or it timed out. */
  note?: string;
}

const TAIL_LINES = 20;

/**
 * Runs the user's upgrade command ON the host: argv as it is (each word
 * quoted for the host's shell), a string under `sh -c`. A command that
 * reboots the host ends with the connection lost: that is not a failure
 * here, the check that follows (SSH back, QEMU version) decides.
 *
 * @example
 * const outcome = await runUpgradeHook(host, { shell: 'apt-get -y install -t bookworm-backports qemu-system-x86' }, { timeoutMs: 1_800_000 });
 */
export async function runUpgradeHook(host: Host, command: UpgradeCommand, options: { timeoutMs: number; signal?: AbortSignal }): Promise<HookOutcome> {
  const argv = 'shell' in command ? ['sh', '-c', command.shell] : command.argv;
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  try {
    const result = await host.transport.exec(argv, { allowFailure: true, timeoutMs: options.timeoutMs, ...(options.signal && { signal: options.signal }) });
    return { ok: result.exitCode === 0, exitCode: result.exitCode, outputTail: tail(result.stdout, result.stderr), durationMs: elapsed() };
  } catch (error) {
    if (error instanceof SshConnectionLostError) return { ok: true, exitCode: null, outputTail: '', durationMs: elapsed(), note: `${host.name} dropped the connection while the command ran (a reboot?): ${error.message}` };
    if (error instanceof CommandTimeoutError) return { ok: false, exitCode: null, outputTail: '', durationMs: elapsed(), note: `the command did not finish within ${options.timeoutMs} ms` };
    throw error;
  }
}

/** The last lines of what the command printed, stdout first. */
export function tail(stdout: string, stderr: string, lines = TAIL_LINES): string {
  const all = [...stdout.split('\n'), ...stderr.split('\n')].filter((line) => line.trim() !== '');
  return all.slice(-lines).join('\n');
}

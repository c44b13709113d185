import type { ExitCode } from './exit-codes.ts';

/** Where a command writes: people read stderr/stdout on a TTY, machines read `--json` on stdout. */
export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  json: boolean;
  /** Aborted on Ctrl-C. */
  signal: AbortSignal;
}

/** One `ferry <name>` subcommand; each lives in cli/commands/<name>.ts. */
export interface CliCommand {
  name: string;
  /** One line for `ferry help`. */
  summary: string;
  /** The usage line(s), e.g. `ferry migrate HOST/VM DEST [options]`. */
  usage: string;
  /** Left out of `ferry help` and completion (internal plumbing). */
  hidden?: boolean;
  run(args: string[], io: CliIo): Promise<ExitCode>;
}

/** A mistake in how a command was called: printed with its usage, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** `host/vm` → its two parts, or a UsageError. */
export function parseVmRef(ref: string | undefined): { host: string; vm: string } {
  const slash = ref?.indexOf('/') ?? -1;
  if (!ref || slash <= 0 || slash === ref.length - 1) throw new UsageError(`expected HOST/VM, got ${JSON.stringify(ref ?? '')}`);
  return { host: ref.slice(0, slash), vm: ref.slice(slash + 1) };
}

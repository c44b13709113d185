import {
  ConfigError, FerryError, InvalidNameError, MigrationCancelledError, MigrationError, MigrationOptionsError, TooLateError,
  TransportError, UnknownHostError, VmNotFoundError, CommandFailedError, PreflightError, RollingUpgradeOptionsError,
} from '../sdk/index.ts';
import { UsageError, type CliIo } from './cli-command.ts';
import { EXIT, type ExitCode } from './exit-codes.ts';

/**
 * Prints an error as one clear line (or a JSON object with `--json`) and
 * returns the exit code for it. Never a stack trace, unless FERRY_DEBUG is set.
 * `hint` says where to read more, on the same line.
 */
export function reportError(error: unknown, io: CliIo, hint?: string): ExitCode {
  const code = exitCodeFor(error);
  if (io.json) {
    const body = error instanceof FerryError ? error.toJSON() : { name: error instanceof Error ? error.name : 'Error', message: String(error instanceof Error ? error.message : error) };
    io.stdout.write(JSON.stringify({ ok: false, exitCode: code, error: body }) + '\n');
  } else {
    // One line: what is wrong, then (for a usage mistake) where to read how.
    io.stderr.write(`ferry: ${error instanceof Error ? error.message : String(error)}${hint ? ` — see ${hint}` : ''}\n`);
    if (error instanceof PreflightError) {
      for (const check of error.checks.filter((c) => !c.ok)) io.stderr.write(`  ✗ ${check.message}\n`);
    }
  }
  if (process.env['FERRY_DEBUG'] && error instanceof Error) io.stderr.write(`${error.stack}\n`);
  return code;
}

export function exitCodeFor(error: unknown): ExitCode {
  if (error instanceof MigrationError) {
    if (error.vmState !== 'running-on-source' && error.vmState !== 'running-on-destination' && error.vmState !== 'not-found') return EXIT.vmStateUnknown;
    if (error instanceof MigrationCancelledError) return EXIT.cancelled;
    if (error instanceof PreflightError) {
      const cause = error.cause;
      if (cause instanceof TransportError && !(cause instanceof CommandFailedError)) return EXIT.unreachable;
      return error.checks.some((check) => check.check === 'source-vm' || check.check === 'distinct-hosts') ? EXIT.usage : EXIT.failed;
    }
    return EXIT.failed;
  }
  if (error instanceof UsageError || error instanceof UnknownHostError || error instanceof VmNotFoundError || error instanceof InvalidNameError || error instanceof ConfigError || error instanceof MigrationOptionsError || error instanceof TooLateError || error instanceof RollingUpgradeOptionsError) {
    return EXIT.usage;
  }
  if (error instanceof TransportError && !(error instanceof CommandFailedError)) return EXIT.unreachable;
  // node:util parseArgs: an unknown flag or a missing value.
  if (error instanceof Error && String((error as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS')) return EXIT.usage;
  return EXIT.failed;
}

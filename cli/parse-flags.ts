import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './cli-command.ts';
import { didYouMean } from './did-you-mean.ts';

type FlagOptions = NonNullable<ParseArgsConfig['options']>;

/**
 * node:util parseArgs (strict, positionals allowed) whose mistakes are
 * UsageErrors in one line that say what to do: an unknown flag names the
 * closest known one, a flag without its value says so.
 *
 * @example
 * parseFlags(['b', '--dry-run'], { 'dry-run': { type: 'boolean' } }) // => { values: { 'dry-run': true }, positionals: ['b'] }
 */
export function parseFlags<T extends FlagOptions>(args: string[], options: T): ReturnType<typeof parseArgs<{ args: string[]; options: T; allowPositionals: true; strict: true }>> {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw usageErrorFor(error, Object.keys(options));
  }
}

/** Rewrites parseArgs's own messages (which suggest `--` tricks) as ferry's usage lines. */
function usageErrorFor(error: unknown, known: string[]): unknown {
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  const flag = /'(-{1,2}[^'\s]+)/.exec(message)?.[1] ?? '';
  const flags = known.map((name) => `--${name}`);
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const name = flag.split('=')[0] ?? flag;
    return new UsageError(`unknown option ${name}${didYouMean(name, flags) || (flags.length > 0 ? ` (options: ${flags.join(', ')})` : ' (this command takes no options)')}`);
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const name = /^(--?[\w-]+)/.exec(message.replace(/^Option '/, ''))?.[1] ?? flag;
    return new UsageError(message.includes('argument missing') ? `${name} needs a value` : `${name} takes no value`);
  }
  return error;
}

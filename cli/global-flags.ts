import { UsageError } from './cli-command.ts';
import { didYouMean } from './did-you-mean.ts';

/** What `ferry [global flags] COMMAND [args]` says before the command runs. */
export interface GlobalInvocation {
  config: string | undefined;
  json: boolean;
  help: boolean;
  version: boolean;
  /** The command name, if one was given. */
  command: string | undefined;
  /** Everything after the command name, with the global flags taken out. */
  args: string[];
}

export const GLOBAL_FLAGS = ['--config', '--json', '--help', '--version'] as const;

/**
 * Splits ferry's own flags from a command's. `--json`, `--config FILE` and
 * `--help` may stand anywhere (scripts add them at the end); before the
 * command nothing else may, so a mistyped global flag is a usage error that
 * names the closest one. After `--` everything is the command's.
 *
 * @example
 * splitGlobalFlags(['--config', 'f.json', 'ls', '--json']) // => { config: 'f.json', json: true, command: 'ls', args: [], … }
 */
export function splitGlobalFlags(argv: readonly string[]): GlobalInvocation {
  const found: GlobalInvocation = { config: undefined, json: false, help: false, version: false, command: undefined, args: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--') {
      found.args.push(...argv.slice(found.command === undefined ? i + 1 : i));
      if (found.command === undefined) found.command = found.args.shift();
      break;
    }
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (flag === '--json') found.json = true;
    else if (flag === '--help' || flag === '-h') found.help = true;
    else if ((flag === '--version' || flag === '-V') && found.command === undefined) found.version = true;
    else if (flag === '--config') {
      const value = inline ?? argv[++i];
      if (value === undefined || value === '' || (inline === undefined && value.startsWith('-'))) throw new UsageError('--config needs a file: ferry --config FILE COMMAND');
      found.config = value;
    } else if (found.command === undefined) {
      if (flag.startsWith('-')) throw new UsageError(`unknown option ${flag}${didYouMean(flag, GLOBAL_FLAGS) || ` (before the command: ${GLOBAL_FLAGS.join(', ')})`}`);
      found.command = arg;
    } else {
      found.args.push(arg);
    }
  }
  return found;
}

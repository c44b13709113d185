import type { CliCommand } from '../cli-command.ts';
import { completeWords } from '../complete-words.ts';
import { EXIT } from '../exit-codes.ts';

/**
 * `ferry __complete WORDS…`: what the completion scripts call. Hidden from
 * help. Prints one candidate a line; a host that cannot be reached gives none,
 * never an error in the middle of someone's command line.
 */
export function completeCommand(commands: ReadonlyMap<string, CliCommand>): CliCommand {
  return {
    name: '__complete',
    summary: 'candidates for shell completion (used by `ferry completion`)',
    usage: 'ferry __complete WORDS…',
    hidden: true,
    async run(args, io) {
      const candidates = await completeWords(args, commands).catch(() => []);
      if (candidates.length > 0) io.stdout.write(candidates.join('\n') + '\n');
      return EXIT.ok;
    },
  };
}

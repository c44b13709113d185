import { UsageError, type CliCommand } from '../cli-command.ts';
import { EXIT } from '../exit-codes.ts';
import { parseFlags } from '../parse-flags.ts';
import { startRepl } from '../../repl/start-repl.ts';

export const command: CliCommand = {
  name: 'repl',
  summary: 'an interactive REPL: the SDK preloaded, .migrate, .qmp, and .watch to follow migrations live',
  usage: 'ferry repl   (history in FERRY_REPL_HISTORY or ~/.ferry_repl_history)',
  async run(args, io) {
    const { positionals } = parseFlags(args, {});
    if (io.json) throw new UsageError('the REPL is for people and has no --json; for scripts use ferry ls, status, qmp or migrate with --json');
    if (positionals.length > 0) throw new UsageError(`the REPL takes no arguments, got ${JSON.stringify(positionals[0])}`);
    // The REPL owns Ctrl-C while it runs: it clears a line or leaves the
    // watch view, and never cancels a migration (ferry's usual handler would).
    const saved = process.listeners('SIGINT');
    process.removeAllListeners('SIGINT');
    try {
      await startRepl({ output: io.stdout });
      return EXIT.ok;
    } finally {
      for (const listener of saved) process.on('SIGINT', listener);
    }
  },
};

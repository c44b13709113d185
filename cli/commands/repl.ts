import type { CliCommand } from '../cli-command.ts';
import { EXIT } from '../exit-codes.ts';
import { startRepl } from '../../repl/start-repl.ts';

export const command: CliCommand = {
  name: 'repl',
  summary: 'an interactive REPL: the SDK preloaded, .migrate, .qmp, and .watch to follow migrations live',
  usage: 'ferry repl   (history in FERRY_REPL_HISTORY or ~/.ferry_repl_history)',
  async run(_args, io) {
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

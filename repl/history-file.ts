import { homedir } from 'node:os';
import { join } from 'node:path';

/** `FERRY_REPL_HISTORY`, else `~/.ferry_repl_history`; an empty FERRY_REPL_HISTORY keeps no history. */
export function historyFile(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const chosen = env['FERRY_REPL_HISTORY'];
  if (chosen !== undefined) return chosen.trim() === '' ? undefined : chosen;
  return join(homedir(), '.ferry_repl_history');
}

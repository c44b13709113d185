import { appendFileSync, chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { REPLServer } from 'node:repl';

const KEEP = 1000;

/** `FERRY_REPL_HISTORY`, else `~/.ferry_repl_history`; an empty FERRY_REPL_HISTORY keeps no history. */
export function historyFile(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const chosen = env['FERRY_REPL_HISTORY'];
  if (chosen !== undefined) return chosen.trim() === '' ? undefined : chosen;
  return join(homedir(), '.ferry_repl_history');
}

/**
 * Loads the history file into the REPL (↑ recalls earlier sessions) and
 * appends each line as it is entered, oldest first as in a shell's history.
 * Done here rather than with `setupHistory()`, which Deno's node:repl lacks.
 */
export function persistHistory(server: REPLServer, file: string): void {
  let lines: string[] = [];
  try {
    lines = readFileSync(file, 'utf8').split('\n').filter((line) => line.trim() !== '');
    // Lines may hold secrets (a password in a .qmp argument): only its owner reads it.
    chmodSync(file, 0o600);
  } catch {
    // no history yet
  }
  if (lines.length > KEEP) {
    lines = lines.slice(-KEEP);
    rewrite(file, lines);
  }
  const history = (server as unknown as { history?: string[] }).history;
  if (Array.isArray(history)) history.splice(0, history.length, ...[...lines].reverse());
  let last = lines.at(-1);
  server.on('line', (line: string) => {
    if (line.trim() === '' || line === last) return;
    last = line;
    try {
      appendFileSync(file, `${line}\n`, { mode: 0o600 });
    } catch {
      // a history that cannot be written must not break the REPL
    }
  });
}

function rewrite(file: string, lines: readonly string[]): void {
  try {
    writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o600 });
  } catch {
    // as above
  }
}

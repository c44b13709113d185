import { parseArgs } from 'node:util';
import { MIGRATION_OPTION_TABLE, type MigrationOptions } from '../sdk/index.ts';
import { parseVmRef, UsageError } from '../cli/cli-command.ts';
import { migrationOptionsFromFlags, TLS_FLAGS } from '../cli/commands/migrate.ts';
import { parseQmpArguments } from '../cli/commands/qmp.ts';

/**
 * Splits a dot-command's arguments as a shell would split words: spaces
 * separate, single and double quotes group, a backslash escapes.
 *
 * @example
 * splitWords(`a/web vnc-change password="s e c"`) // ['a/web', 'vnc-change', 'password=s e c']
 */
export function splitWords(text: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < text.length) word += text[++i];
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < text.length) {
      word += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) throw new UsageError(`unclosed ${quote} quote`);
  if (inWord) words.push(word);
  return words;
}

// The same flags as `ferry migrate`, from the option table.
const migrateFlags = {
  ...Object.fromEntries(MIGRATION_OPTION_TABLE.map((row) => [row.cliFlag.slice(2), { type: row.unit === 'flag' ? ('boolean' as const) : ('string' as const) }])),
  ...TLS_FLAGS,
};

/** The flags `.migrate` takes, for help and completion. */
export const MIGRATE_FLAGS: readonly string[] = [...MIGRATION_OPTION_TABLE.map((row) => row.cliFlag), ...Object.keys(TLS_FLAGS).map((flag) => `--${flag}`)];

export interface MigrateRequest {
  host: string;
  vm: string;
  destination: string;
  options: MigrationOptions;
}

/** `.migrate host/vm dest [--bandwidth 8MiB/s …]` → what to migrate, where, how. */
export function parseMigrateArgs(words: readonly string[]): MigrateRequest {
  let parsed;
  try {
    parsed = parseArgs({ args: [...words], options: migrateFlags, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(`${(error as Error).message.replace(/\. To specify a positional.*$/s, '')} (flags: ${MIGRATE_FLAGS.join(' ')})`);
  }
  const { values, positionals } = parsed;
  const ref = parseVmRef(positionals[0]);
  const destination = positionals[1];
  if (!destination) throw new UsageError('usage: .migrate HOST/VM DEST [options]');
  if (positionals.length > 2) throw new UsageError(`unexpected ${JSON.stringify(positionals[2])}`);
  return { ...ref, destination, options: migrationOptionsFromFlags(values) };
}

export interface QmpRequest {
  host: string;
  vm: string;
  command: string;
  args: Record<string, unknown>;
}

/** `.qmp host/vm command key=value …`, as qmp-shell writes them. */
export function parseQmpArgs(words: readonly string[]): QmpRequest {
  const ref = parseVmRef(words[0]);
  const command = words[1];
  if (!command) throw new UsageError('usage: .qmp HOST/VM COMMAND [key=value ...]');
  return { ...ref, command, args: parseQmpArguments(words.slice(2)) };
}

/** What `.watch` follows. */
export type WatchFilter = { kind: 'all' } | { kind: 'host'; host: string } | { kind: 'vm'; host: string; vm: string };

/** `.watch`, `.watch all`, `.watch a`, `.watch a/web`. */
export function parseWatchArgs(words: readonly string[]): WatchFilter {
  if (words.length > 1) throw new UsageError('usage: .watch [HOST/VM | HOST | all]');
  const target = words[0];
  if (target === undefined || target === 'all') return { kind: 'all' };
  if (!target.includes('/')) return { kind: 'host', host: target };
  return { kind: 'vm', ...parseVmRef(target) };
}

/** Whether a migration from `label` (`host/vm`) is one the filter follows. */
export function watchFilterMatches(filter: WatchFilter, label: string): boolean {
  if (filter.kind === 'all') return true;
  const [host, vm] = [label.slice(0, label.indexOf('/')), label.slice(label.indexOf('/') + 1)];
  return filter.kind === 'host' ? host === filter.host : host === filter.host && vm === filter.vm;
}

export function describeWatchFilter(filter: WatchFilter): string {
  return filter.kind === 'all' ? 'all' : filter.kind === 'host' ? filter.host : `${filter.host}/${filter.vm}`;
}

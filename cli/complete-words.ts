import { configure, host, hosts } from '../sdk/index.ts';
import type { CliCommand } from './cli-command.ts';
import { GLOBAL_FLAGS } from './global-flags.ts';

/** What an operand in a usage line is, read from its spelling there (`ferry migrate HOST/VM DEST`). */
type OperandKind = 'vm' | 'host' | 'command' | 'shell' | 'other';

const OPERAND_KINDS: Record<string, OperandKind> = { 'HOST/VM': 'vm', HOST: 'host', DEST: 'host', COMMAND: 'command', SHELL: 'shell' };
/** Flags whose value is a host, or hosts separated by commas. */
const HOST_VALUED_FLAGS = new Set(['--to']);
/** How long completion may wait for a host to list its VMs: a shell user is waiting. */
const VM_LISTING_TIMEOUT_MS = 3000;

/**
 * Candidates for the last of `words` (the command line after `ferry`, the
 * last one being typed, maybe empty), for the shell scripts of `ferry
 * completion`. Command names, each command's flags and operands follow from
 * its usage text; hosts come from the config, VMs from asking the host.
 *
 * @example
 * await completeWords(['migrate', 'a/web', ''], commands) // => ['a', 'b'] (the hosts; the shell keeps those that fit)
 */
export async function completeWords(words: readonly string[], commands: ReadonlyMap<string, CliCommand>): Promise<string[]> {
  const current = words.at(-1) ?? '';
  const before = words.slice(0, -1);
  const configAt = before.findIndex((word) => word === '--config');
  const config = configAt >= 0 ? before[configAt + 1] : before.find((word) => word.startsWith('--config='))?.slice('--config='.length);
  if (config) configure({ file: config });
  const operands = before.filter((word, i) => !word.startsWith('-') && before[i - 1] !== '--config');
  const [name, ...given] = operands;
  const command = name === undefined ? undefined : commands.get(name);
  const visible = [...commands.values()].filter((c) => !c.hidden);
  if (name === 'help') return given.length === 0 ? visible.map((c) => c.name) : [];
  if (!command) {
    return current.startsWith('-') ? [...GLOBAL_FLAGS] : [...visible.map((c) => c.name), 'help'];
  }
  const usage = command.usage;
  if (current.startsWith('-')) return [...new Set([...(usage.match(/--[a-z][a-z-]*/g) ?? []), '--json', '--help'])];
  if (HOST_VALUED_FLAGS.has(before.at(-1) ?? '')) return hostNames();
  if (valueTakingFlags(usage).has(before.at(-1) ?? '')) return [];
  switch (operandKinds(usage)[given.length]) {
    case 'host': return hostNames();
    case 'vm': return vmRefs(current);
    case 'command': return visible.map((c) => c.name);
    case 'shell': return ['bash', 'zsh'];
    default: return [];
  }
}

/** The operands of a command's first usage line, in order: `ferry migrate HOST/VM DEST [options]` → vm, host. */
function operandKinds(usage: string): OperandKind[] {
  const firstLine = usage.split('\n')[0] ?? '';
  return firstLine.split(/\s+/).slice(2).filter((word) => !word.startsWith('[-') && !word.includes('--')).map((word) => OPERAND_KINDS[word.replace(/[[\]]/g, '')] ?? 'other');
}

/** Flags shown with a value in the usage text (`--bandwidth VALUE`, `--to HOSTS`), whose next word is not an operand. */
function valueTakingFlags(usage: string): Set<string> {
  return new Set([...usage.matchAll(/(--[a-z][a-z-]*)[ =](?:[A-Z][A-Z_|,./]*|")/g)].map((match) => match[1] ?? ''));
}

function hostNames(): string[] {
  return hosts().map((h) => h.name);
}

/** `a/` for each host until a host is typed; then that host's VMs as `a/web`. */
async function vmRefs(current: string): Promise<string[]> {
  const slash = current.indexOf('/');
  if (slash < 0) return hostNames().map((name) => `${name}/`);
  const name = current.slice(0, slash);
  const vms = await host(name).vms({ signal: AbortSignal.timeout(VM_LISTING_TIMEOUT_MS) });
  return vms.map((vm) => `${name}/${vm.name}`);
}

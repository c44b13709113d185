import { MIGRATE_FLAGS } from './command-args.ts';

/** Where completion candidates come from; the REPL backs these with the fleet and caches. */
export interface CompletionSources {
  hostNames(): string[];
  /** VM names on `host` (may be cached; [] when the host cannot be reached in time). */
  vmNames(host: string): Promise<string[]>;
  /** QMP command names of that VM's QEMU (from `query-commands`, cached). */
  qmpCommands(host: string, vm: string): Promise<string[]>;
  /** `host/vm` of migrations this REPL can cancel. */
  cancellable(): string[];
  /** `host/vm` of migrations seen in flight (any process). */
  inFlight(): string[];
  /** Dot-command names without the dot. */
  dotCommands(): string[];
}

/** readline's completion: the candidates, and the end of the line they replace. */
export type Completion = [candidates: string[], replaced: string];

const TIMEOUT_ACTIONS = ['cancel', 'postcopy', 'pause'];

/**
 * Completes `line` (the text before the cursor): dot-commands and their
 * arguments, and `host('…`, `.vm('…`, `.migrateTo('…` inside JavaScript.
 * Returns undefined when JavaScript completion should take over.
 *
 * @example
 * await completeLine('.vms al', sources) // [['alpha'], 'al']
 */
export async function completeLine(line: string, sources: CompletionSources): Promise<Completion | undefined> {
  if (/^\s*\.[\w-]*$/.test(line)) {
    const typed = line.trim();
    return [matching(sources.dotCommands().map((name) => `.${name}`), typed), typed];
  }
  const dot = /^\s*\.([\w-]+)\s+(.*)$/s.exec(line);
  if (dot) return completeDotArgs(dot[1] as string, dot[2] as string, sources);
  return completeJs(line, sources);
}

async function completeDotArgs(command: string, rest: string, sources: CompletionSources): Promise<Completion> {
  const words = rest.split(/\s+/);
  const current = words.at(-1) ?? '';
  const index = words.length - 1;
  switch (command) {
    case 'vms':
      return index === 0 ? [matching(sources.hostNames(), current), current] : [[], current];
    case 'migrate':
      if (index === 0) return [await vmRefs(current, sources), current];
      if (index === 1) {
        const source = words[0]?.split('/')[0];
        return [matching(sources.hostNames().filter((name) => name !== source), current), current];
      }
      if (words[index - 1] === '--on-timeout') return [matching(TIMEOUT_ACTIONS, current), current];
      return [matching(MIGRATE_FLAGS.filter((flag) => !words.slice(2, -1).includes(flag)), current), current];
    case 'qmp':
      if (index === 0) return [await vmRefs(current, sources), current];
      if (index === 1) {
        const [host = '', vm = ''] = (words[0] ?? '').split('/');
        return [matching(await sources.qmpCommands(host, vm), current), current];
      }
      return [[], current];
    case 'watch':
      if (index > 0) return [[], current];
      if (current.includes('/')) return [unique([...matching(sources.inFlight(), current), ...(await vmRefs(current, sources))]), current];
      return [matching(['all', ...sources.hostNames(), ...sources.inFlight()], current), current];
    case 'cancel':
      return index === 0 ? [matching(sources.cancellable(), current), current] : [[], current];
    default:
      return [[], current];
  }
}

/** `host/` for a partial host name; `host/vm` once the slash is there. */
async function vmRefs(current: string, sources: CompletionSources): Promise<string[]> {
  const slash = current.indexOf('/');
  if (slash < 0) {
    const hosts = matching(sources.hostNames(), current);
    // One host: go straight to its VMs, as a person would press TAB twice.
    if (hosts.length === 1 && hosts[0] === current) return (await sources.vmNames(current)).map((vm) => `${current}/${vm}`);
    return hosts.map((name) => `${name}/`);
  }
  const host = current.slice(0, slash);
  if (!sources.hostNames().includes(host)) return [];
  return matching((await sources.vmNames(host)).map((vm) => `${host}/${vm}`), current);
}

async function completeJs(line: string, sources: CompletionSources): Promise<Completion | undefined> {
  const hostArg = /\b(?:host|sibling|migrateTo)\(\s*['"`]([^'"`]*)$/.exec(line);
  if (hostArg) {
    const typed = hostArg[1] as string;
    return [matching(sources.hostNames(), typed), typed];
  }
  const vmArg = /\bhost\(\s*['"`]([^'"`]+)['"`]\s*\)\s*\.vm\(\s*['"`]([^'"`]*)$/.exec(line);
  if (vmArg) {
    const [, host = '', typed = ''] = vmArg;
    if (!sources.hostNames().includes(host)) return [[], typed];
    return [matching(await sources.vmNames(host), typed), typed];
  }
  return undefined;
}

function matching(candidates: readonly string[], prefix: string): string[] {
  return unique(candidates.filter((candidate) => candidate.startsWith(prefix))).sort();
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}

import { host, hosts } from '../sdk/index.ts';
import { UsageError } from '../cli/cli-command.ts';
import { table } from '../cli/render/format.ts';
import { parseMigrateArgs, parseQmpArgs, parseWatchArgs, type WatchFilter } from './command-args.ts';
import type { MigrationRegistry, TrackedMigration } from './migration-registry.ts';
import type { FleetCache } from './fleet-cache.ts';
import { formatMigration, formatVmSummaries } from './format-value.ts';

/** What a dot-command may use of the running REPL. */
export interface ReplSession {
  print(text: string): void;
  /** A command runs: news that arrives meanwhile waits for its prompt. */
  busy(): void;
  registry: MigrationRegistry;
  cache: FleetCache;
  watch(filter: WatchFilter): Promise<void>;
}

/** One `.name` command of the REPL. */
export interface DotCommand {
  name: string;
  help: string;
  run(words: string[], session: ReplSession): Promise<void>;
}

export const DOT_COMMANDS: readonly DotCommand[] = [
  {
    name: 'hosts',
    help: 'the configured hosts and how many VMs each runs',
    async run(_words, session) {
      const all = hosts();
      if (all.length === 0) throw new UsageError('no hosts configured (FERRY_CONFIG, ./ferry.json or configure())');
      const rows = await Promise.all(
        all.map(async (h) => {
          const vms = await h.vms({ signal: AbortSignal.timeout(5000), qemu: false }).then(
            (list) => `${list.filter((vm) => vm.process === 'running').length} running${list.some((vm) => vm.migrating) ? ', migrating' : ''}`,
            (error: unknown) => `unreachable: ${error instanceof Error ? error.message : String(error)}`,
          );
          return [h.name, h.config.ssh ?? 'local', h.config.runDir, vms];
        }),
      );
      session.print(table([['HOST', 'SSH', 'RUNDIR', 'VMS'], ...rows]).trimEnd());
    },
  },
  {
    name: 'vms',
    help: '[HOST] the VMs of one host or of all',
    async run(words, session) {
      if (words.length > 1) throw new UsageError('usage: .vms [HOST]');
      const targets = words[0] ? [host(words[0])] : hosts();
      const lists = await Promise.all(targets.map((h) => h.vms({ signal: AbortSignal.timeout(10_000) })));
      const vms = lists.flat();
      session.print(vms.length ? formatVmSummaries(vms).trimEnd() : `no VMs on ${targets.map((h) => h.name).join(', ')}`);
    },
  },
  {
    name: 'migrate',
    help: 'HOST/VM DEST [--bandwidth 8MiB/s --max-downtime MS …] start a live migration in the background (the flags of `ferry migrate`; TAB lists them)',
    async run(words, session) {
      const request = parseMigrateArgs(words);
      const migration = host(request.host).vm(request.vm).migrateTo(request.destination, request.options);
      session.registry.track(migration);
      session.print(`started ${formatMigration(migration).replace(/^migration /, '')}`);
    },
  },
  {
    name: 'cancel',
    help: '[HOST/VM] cancel a migration this REPL started (the VM stays on its source)',
    async run(words, session) {
      const target = pickOwn(words[0], session.registry);
      target.migration.cancel('operator in the REPL (.cancel)');
      session.print(`cancelling ${target.label} → ${target.destination}`);
    },
  },
  {
    name: 'qmp',
    help: 'HOST/VM COMMAND [key=value ...] run a QMP command (values that read as JSON are JSON)',
    async run(words, session) {
      const request = parseQmpArgs(words);
      const reply = await host(request.host).vm(request.vm).qmpUnchecked(request.command, request.args, { timeoutMs: 15_000 });
      session.print(JSON.stringify(reply, null, 2) ?? 'ok');
    },
  },
  {
    name: 'watch',
    help: '[HOST/VM | HOST | all] a live view of migrations in flight, any process’s; Ctrl-C leaves it',
    async run(words, session) {
      await session.watch(parseWatchArgs(words));
    },
  },
  {
    name: 'migrations',
    help: 'the migrations this REPL started, and how they ended',
    async run(_words, session) {
      const all = session.registry.all();
      if (all.length === 0) return session.print('this REPL has started no migration (.migrate HOST/VM DEST)');
      session.print(
        table([
          ['VM', 'TO', 'PHASE', 'OUTCOME'],
          ...all.map((t) => [t.label, t.destination, t.phase, t.result ? `downtime ${t.result.downtimeMs} ms` : t.error instanceof Error ? t.error.message : t.endedAt ? '' : `${t.progress?.percent ?? 0}%`]),
        ]).trimEnd(),
      );
    },
  },
];

/** The REPL's migration a `.cancel` means: the one named, or the only one in flight. */
function pickOwn(label: string | undefined, registry: MigrationRegistry): TrackedMigration {
  const inFlight = registry.inFlight();
  if (label) {
    const found = inFlight.find((t) => t.label === label);
    if (found) return found;
    throw new UsageError(`this REPL has no migration of ${label} in flight${inFlight.length ? ` (in flight: ${inFlight.map((t) => t.label).join(', ')})` : ''}; another process's migration can only be watched from here`);
  }
  if (inFlight.length === 1 && inFlight[0]) return inFlight[0];
  if (inFlight.length === 0) throw new UsageError('this REPL has no migration in flight');
  throw new UsageError(`which one? .cancel ${inFlight.map((t) => t.label).join(' | ')}`);
}

/** `.wtach` → `.watch`: the closest command within two edits. */
export function suggestCommand(typed: string, names: readonly string[]): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const name of names) {
    const distance = editDistance(typed, name);
    if (distance <= 2 && (!best || distance < best.distance)) best = { name, distance };
  }
  return best?.name ?? names.find((name) => name.startsWith(typed) && typed.length > 0);
}

/** Levenshtein distance (a swap of two letters counts 2, within the suggestion's reach). */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length] as number;
}

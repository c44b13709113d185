import { homedir } from 'node:os';
import { join } from 'node:path';
import type { EvacuateOptions } from '../evacuation/index.ts';
import { quote, quoteArgv } from '../transport/index.ts';
import { RollingUpgradeOptionsError } from './upgrade-errors.ts';

/** What a caller may ask of a rolling upgrade. */
export interface RollingUpgradeOptions {
  /** The hosts to upgrade, one after the other in this order (default: every configured host, as listed). */
  hosts?: string | readonly string[];
  /**
   * The upgrade, run ON each host over SSH: argv (each argument quoted for the
   * host's shell) or a string run by `sh -c` there. Its exit code and the tail
   * of its output are reported; exit 0 is success. It may reboot the host.
   */
  command: string | readonly string[];
  /** The QEMU each host must report afterwards (`qemu-system-x86_64 --version`): `10.0` matches any 10.0.x. */
  expectQemu?: string;
  /** How long the upgrade command may run, ms (default 30 min). */
  hookTimeoutMs?: number;
  /** How long to wait for a host's SSH to answer again after its upgrade (a reboot), ms (default 10 min). */
  hostTimeoutMs?: number;
  /** Run the command again on these hosts (`true`: all) even where the journal says it already succeeded. */
  rerunHook?: boolean | readonly string[];
  /** Forget an unfinished rolling upgrade in the journal and start a new one. */
  restart?: boolean;
  /** Return the plan (every host's moves, hook, check and return, in order) and touch nothing. */
  dryRun?: boolean;
  /** The journal (JSONL, append-only) an interrupted run resumes from. Default: see defaultUpgradeJournalPath(). */
  journal?: string;
  /** Each migration's longest pause at switchover, ms. */
  maxDowntime?: number;
  /** Migrations at once while a host is evacuated (default adaptive); VMs return home one at a time. */
  concurrency?: number | 'adaptive';
  /** Options for each migration (bandwidth, allowPause, …). */
  migration?: EvacuateOptions['migration'];
  signal?: AbortSignal;
}

/** The command as it is run: argv, or a shell string for `sh -c`. */
export type UpgradeCommand = { argv: string[] } | { shell: string };

export interface ResolvedRollingUpgradeOptions {
  hosts: string[] | undefined;
  command: UpgradeCommand;
  expectQemu: string | undefined;
  hookTimeoutMs: number;
  hostTimeoutMs: number;
  rerunHook: boolean | string[];
  restart: boolean;
  dryRun: boolean;
  journal: string;
  maxDowntime: number | undefined;
  concurrency: number | 'adaptive';
  migration: NonNullable<EvacuateOptions['migration']>;
}

const KNOWN = ['hosts', 'command', 'expectQemu', 'hookTimeoutMs', 'hostTimeoutMs', 'rerunHook', 'restart', 'dryRun', 'journal', 'maxDowntime', 'concurrency', 'migration', 'signal'];

/** Where a rolling upgrade's journal goes unless told: beside the evacuations' (`FERRY_STATE_DIR`, …). */
export function defaultUpgradeJournalPath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env['FERRY_STATE_DIR'] ?? join(env['XDG_STATE_HOME'] ?? join(homedir(), '.local', 'state'), 'ferry');
  return join(base, 'rolling-upgrade.jsonl');
}

/** Validates options and fills in defaults; a bad one is a RollingUpgradeOptionsError naming it. */
export function resolveRollingUpgradeOptions(options: RollingUpgradeOptions): ResolvedRollingUpgradeOptions {
  if (typeof options !== 'object' || options === null) throw new RollingUpgradeOptionsError('options', 'expected an object');
  const unknown = Object.keys(options).find((key) => !KNOWN.includes(key));
  if (unknown) throw new RollingUpgradeOptionsError(unknown, `unknown option (known: ${KNOWN.join(', ')})`);
  const hosts = typeof options.hosts === 'string' ? options.hosts.split(',').map((name) => name.trim()).filter(Boolean) : options.hosts ? [...options.hosts] : undefined;
  if (hosts && hosts.length === 0) throw new RollingUpgradeOptionsError('hosts', 'names no host');
  if (hosts && new Set(hosts).size !== hosts.length) throw new RollingUpgradeOptionsError('hosts', 'names a host twice');
  const command = commandOf(options.command);
  if (options.expectQemu !== undefined && !/^\d+(\.\d+){0,2}$/.test(options.expectQemu)) throw new RollingUpgradeOptionsError('expectQemu', `expected a version like 10.0 or 10.0.2, got ${JSON.stringify(options.expectQemu)}`);
  for (const key of ['hookTimeoutMs', 'hostTimeoutMs', 'maxDowntime'] as const) {
    const value = options[key];
    if (value !== undefined && !(typeof value === 'number' && value > 0)) throw new RollingUpgradeOptionsError(key, 'expected ms > 0');
  }
  const concurrency = options.concurrency ?? 'adaptive';
  if (concurrency !== 'adaptive' && !(Number.isInteger(concurrency) && concurrency >= 1)) throw new RollingUpgradeOptionsError('concurrency', "expected a whole number ≥ 1 or 'adaptive'");
  const rerunHook = options.rerunHook === undefined || typeof options.rerunHook === 'boolean' ? options.rerunHook ?? false : [...options.rerunHook];
  if (options.journal !== undefined && (typeof options.journal !== 'string' || !options.journal)) throw new RollingUpgradeOptionsError('journal', 'expected a file path');
  return {
    hosts, command, expectQemu: options.expectQemu,
    hookTimeoutMs: options.hookTimeoutMs ?? 30 * 60_000,
    hostTimeoutMs: options.hostTimeoutMs ?? 10 * 60_000,
    rerunHook, restart: options.restart ?? false, dryRun: options.dryRun ?? false,
    journal: options.journal ?? defaultUpgradeJournalPath(),
    maxDowntime: options.maxDowntime, concurrency, migration: options.migration ?? {},
  };
}

function commandOf(command: unknown): UpgradeCommand {
  if (typeof command === 'string' && command.trim()) return { shell: command };
  if (Array.isArray(command) && command.length > 0 && command.every((arg): arg is string => typeof arg === 'string') && command[0]) return { argv: [...command] };
  throw new RollingUpgradeOptionsError('command', 'expected the upgrade command: a shell string, or argv (a non-empty list of strings)');
}

/** The command as people read it (argv shown quoted, as it reaches the host's shell). */
export function describeCommand(command: UpgradeCommand): string {
  return 'shell' in command ? `sh -c ${quote(command.shell)}` : quoteArgv(command.argv);
}

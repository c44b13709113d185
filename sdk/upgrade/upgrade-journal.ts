import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { endsTorn, readJournal } from '../evacuation/index.ts';

/** The steps of one host's upgrade, in the order they run. */
export type HostStep = 'evacuate' | 'hook' | 'verify' | 'return';

/**
 * Every step of a rolling upgrade, one JSON object per line, appended to the
 * same file as the evacuations it runs (their lines have kinds of their
 * own, and each evacuation resumes itself from them).
 */
export type UpgradeJournalEntry =
  | { kind: 'upgrade-begin'; hosts: string[]; homes: Record<string, string>; command: string; expectQemu?: string }
  | { kind: 'host-begin'; host: string; redo?: boolean }
  | { kind: 'evacuated'; host: string; evacuation: string; moves: Array<{ vm: string; to: string }> }
  | { kind: 'hook-start'; host: string; command: string }
  | { kind: 'hook-end'; host: string; ok: boolean; exitCode: number | null; outputTail: string; durationMs: number; note?: string }
  | { kind: 'verified'; host: string; qemuVersion?: string }
  | { kind: 'return-start'; host: string; vm: string; from: string; migrationId: string }
  | { kind: 'returned'; host: string; vm: string; from: string; note?: string }
  | { kind: 'return-failed'; host: string; vm: string; from: string; message: string; vmState?: string }
  | { kind: 'host-done'; host: string }
  | { kind: 'stopped'; status: 'failed' | 'cancelled'; host: string; step: HostStep; message: string }
  | { kind: 'upgrade-end'; status: 'completed' | 'abandoned' };

export type UpgradeJournalLine = UpgradeJournalEntry & { at: string; run: string };

/** What the journal says about one host in one rolling upgrade. */
export interface HostProgress {
  host: string;
  evacuated?: { evacuation: string; moves: Array<{ vm: string; to: string }> };
  /** The hook started; `hook` is its last outcome (none: it was interrupted). */
  hookStarted: boolean;
  hook?: Extract<UpgradeJournalLine, { kind: 'hook-end' }>;
  verified?: { qemuVersion?: string };
  /** VMs back home (or found home), and where each came from. */
  returned: Map<string, { from: string; note?: string }>;
  /** Returns started with no outcome: the run died during them. */
  openReturns: Map<string, Extract<UpgradeJournalLine, { kind: 'return-start' }>>;
  done: boolean;
}

/** One rolling upgrade as its journal tells it. */
export interface UpgradeProgress {
  id: string;
  begin: Extract<UpgradeJournalLine, { kind: 'upgrade-begin' }>;
  /** Each VM's home: where it was when the upgrade began (or the host it was evacuated from, if it came later). */
  homes: Record<string, string>;
  hosts: Map<string, HostProgress>;
  ended: boolean;
}

const KINDS: ReadonlySet<string> = new Set(['upgrade-begin', 'host-begin', 'evacuated', 'hook-start', 'hook-end', 'verified', 'return-start', 'returned', 'return-failed', 'host-done', 'stopped', 'upgrade-end']);

/** The rolling upgrade's lines of a journal (the evacuations' lines left out). */
export function readUpgradeJournal(path: string): UpgradeJournalLine[] {
  return readJournal(path).filter((line) => KINDS.has(line.kind)) as unknown as UpgradeJournalLine[];
}

/** The last rolling upgrade in the journal, if it never ended (it failed, was cancelled or killed): the one to resume. */
export function unfinishedUpgrade(lines: readonly UpgradeJournalLine[]): UpgradeProgress | undefined {
  const begin = [...lines].reverse().find((line): line is Extract<UpgradeJournalLine, { kind: 'upgrade-begin' }> => line.kind === 'upgrade-begin');
  if (!begin) return undefined;
  const progress = progressOf(lines, begin);
  return progress.ended ? undefined : progress;
}

/** Folds one upgrade's lines into per-host progress. A `host-begin` with `redo` starts that host over. */
export function progressOf(lines: readonly UpgradeJournalLine[], begin: Extract<UpgradeJournalLine, { kind: 'upgrade-begin' }>): UpgradeProgress {
  const hosts = new Map<string, HostProgress>();
  const homes = { ...begin.homes };
  const fresh = (host: string): HostProgress => ({ host, hookStarted: false, returned: new Map(), openReturns: new Map(), done: false });
  const of = (host: string): HostProgress => {
    let progress = hosts.get(host);
    if (!progress) hosts.set(host, (progress = fresh(host)));
    return progress;
  };
  let ended = false;
  for (const line of lines) {
    if (line.run !== begin.run) continue;
    switch (line.kind) {
      case 'host-begin':
        if (line.redo) hosts.set(line.host, fresh(line.host));
        else of(line.host);
        break;
      case 'evacuated':
        of(line.host).evacuated = { evacuation: line.evacuation, moves: line.moves };
        for (const move of line.moves) homes[move.vm] ??= line.host;
        break;
      case 'hook-start':
        of(line.host).hookStarted = true;
        of(line.host).hook = undefined;
        break;
      case 'hook-end':
        of(line.host).hook = line;
        break;
      case 'verified':
        of(line.host).verified = line.qemuVersion === undefined ? {} : { qemuVersion: line.qemuVersion };
        break;
      case 'return-start':
        of(line.host).openReturns.set(line.vm, line);
        break;
      case 'returned':
        of(line.host).openReturns.delete(line.vm);
        of(line.host).returned.set(line.vm, { from: line.from, ...(line.note !== undefined && { note: line.note }) });
        break;
      case 'return-failed':
        of(line.host).openReturns.delete(line.vm);
        break;
      case 'host-done':
        of(line.host).done = true;
        break;
      case 'upgrade-end':
        ended = true;
        break;
      default:
        break;
    }
  }
  return { id: begin.run, begin, homes, hosts, ended };
}

/**
 * What a host needs next, from its journal: a step that succeeded is never
 * run again (a hook that never reported, interrupted or failed, is).
 */
export function nextStep(progress: HostProgress | undefined): HostStep | 'done' {
  if (progress?.done) return 'done';
  if (!progress?.evacuated) return 'evacuate';
  if (!progress.hook?.ok) return 'hook';
  if (!progress.verified) return 'verify';
  return 'return';
}

/** Appends whole lines, each with one synchronous write (a run killed at any moment leaves whole lines behind). */
export class UpgradeJournal {
  readonly path: string;
  readonly run: string;

  constructor(path: string, run: string) {
    this.path = path;
    this.run = run;
    mkdirSync(dirname(path), { recursive: true });
  }

  append(entry: UpgradeJournalEntry): void {
    // A line torn by a crash must not swallow this one.
    const prefix = endsTorn(this.path) ? '\n' : '';
    appendFileSync(this.path, `${prefix}${JSON.stringify({ at: new Date().toISOString(), run: this.run, ...entry })}\n`);
  }
}

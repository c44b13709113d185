import { appendFileSync, closeSync, mkdirSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/** Every step of an evacuation, one JSON object per line, appended and never rewritten. */
export type JournalEntry =
  | { kind: 'begin'; mode: 'evacuate' | 'move-back'; host: string; options?: Record<string, unknown> }
  | { kind: 'planned'; vm: string; from: string; to: string }
  | { kind: 'start'; vm: string; from: string; to: string; attempt: number; migrationId: string }
  | { kind: 'moved'; vm: string; from: string; to: string; attempt: number; downtimeMs: number; wallTimeMs: number; transferredBytes: number; bytesToMove?: number }
  | { kind: 'failed'; vm: string; from: string; to: string; attempt: number; code: string; message: string; vmState: string; runsOn: string }
  | { kind: 'skipped'; vm: string; from: string; reason: string }
  | { kind: 'recovered'; vm: string; from: string; to: string; outcome: 'moved' | 'on-source' | 'unknown'; note: string }
  | { kind: 'end'; status: string; moved: number; failed: number; skipped: number };

export type JournalLine = JournalEntry & { at: string; run: string };

/**
 * Where an evacuation's journal goes unless told: the controller's state
 * directory (`FERRY_STATE_DIR`, else `$XDG_STATE_HOME/ferry`, else
 * `~/.local/state/ferry`), one file per evacuated host.
 */
export function defaultJournalPath(host: string, env: NodeJS.ProcessEnv = process.env): string {
  const base = env['FERRY_STATE_DIR'] ?? join(env['XDG_STATE_HOME'] ?? join(homedir(), '.local', 'state'), 'ferry');
  return join(base, 'evacuations', `${host}.jsonl`);
}

/**
 * An append-only JSONL journal. Each line is written with one synchronous
 * append, so a run killed at any moment leaves whole lines behind (a torn
 * last line is skipped on reading).
 */
export class Journal {
  readonly path: string;
  readonly run: string;
  #checked = false;

  constructor(path: string, run: string) {
    this.path = path;
    this.run = run;
  }

  append(entry: JournalEntry): void {
    let prefix = '';
    if (!this.#checked) {
      mkdirSync(dirname(this.path), { recursive: true });
      // A line torn by a crash must not swallow the first line of the run that resumes.
      prefix = endsTorn(this.path) ? '\n' : '';
      this.#checked = true;
    }
    appendFileSync(this.path, `${prefix}${JSON.stringify({ at: new Date().toISOString(), run: this.run, ...entry })}\n`);
  }
}

/** The file's last line was cut short by a crash (no newline at the end). */
export function endsTorn(path: string): boolean {
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    return false;
  }
  if (size === 0) return false;
  const fd = openSync(path, 'r');
  try {
    const last = Buffer.alloc(1);
    readSync(fd, last, 0, 1, size - 1);
    return last[0] !== 0x0a;
  } finally {
    closeSync(fd);
  }
}

/** Every whole line of a journal; none when the file does not exist. */
export function readJournal(path: string): JournalLine[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  const lines: JournalLine[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const value = JSON.parse(line) as JournalLine;
      if (typeof value?.kind === 'string' && typeof value.run === 'string') lines.push(value);
    } catch {
      // a line torn by a crash
    }
  }
  return lines;
}

/** What a journal says about one run: its begin, its outcomes per VM, and migrations started with no outcome. */
export interface RunHistory {
  run: string;
  begin: Extract<JournalLine, { kind: 'begin' }>;
  ended: boolean;
  moved: Map<string, Extract<JournalLine, { kind: 'moved' }>>;
  /** Started but neither moved nor failed: the run died during them. */
  inFlight: Array<Extract<JournalLine, { kind: 'start' }>>;
}

/** The last run of `mode` on `host`, if it never ended (it was killed): the one to resume. */
export function unfinishedRun(lines: readonly JournalLine[], host: string, mode: 'evacuate' | 'move-back'): RunHistory | undefined {
  const begin = [...lines].reverse().find((line): line is Extract<JournalLine, { kind: 'begin' }> => line.kind === 'begin' && line.host === host && line.mode === mode);
  if (!begin) return undefined;
  const history = historyOf(lines, begin);
  return history.ended ? undefined : history;
}

export function historyOf(lines: readonly JournalLine[], begin: Extract<JournalLine, { kind: 'begin' }>): RunHistory {
  const mine = lines.filter((line) => line.run === begin.run);
  const moved = new Map<string, Extract<JournalLine, { kind: 'moved' }>>();
  const open = new Map<string, Extract<JournalLine, { kind: 'start' }>>();
  let ended = false;
  for (const line of mine) {
    if (line.kind === 'start') open.set(line.vm, line);
    else if (line.kind === 'moved' || line.kind === 'failed' || line.kind === 'recovered') open.delete(line.vm);
    if (line.kind === 'moved') moved.set(line.vm, line);
    if (line.kind === 'recovered' && line.outcome === 'moved') {
      moved.set(line.vm, { ...line, kind: 'moved', attempt: 0, downtimeMs: 0, wallTimeMs: 0, transferredBytes: 0 });
    }
    if (line.kind === 'end') ended = true;
  }
  return { run: begin.run, begin, ended, moved, inFlight: [...open.values()] };
}

/**
 * The VMs evacuated from `home` that have not come back: for each, where the
 * journal last saw it go. Follows every run in the file, evacuations and
 * move-backs alike, so a VM returned once is not returned twice.
 */
export function awayFromHome(lines: readonly JournalLine[], home: string): Map<string, { to: string; run: string }> {
  const away = new Map<string, { to: string; run: string }>();
  const modeOf = new Map<string, { mode: string; host: string }>();
  for (const line of lines) {
    if (line.kind === 'begin') modeOf.set(line.run, { mode: line.mode, host: line.host });
    const moved = line.kind === 'moved' || (line.kind === 'recovered' && line.outcome === 'moved');
    if (!moved) continue;
    const run = modeOf.get(line.run);
    if (run?.mode === 'evacuate' && run.host === home && line.from === home) away.set(line.vm, { to: line.to, run: line.run });
    else if (away.has(line.vm)) {
      if (line.to === home) away.delete(line.vm);
      else away.set(line.vm, { to: line.to, run: line.run });
    }
  }
  return away;
}

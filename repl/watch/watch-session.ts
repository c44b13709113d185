import { host as hostHandle, readMigrationRecords, type MigrationRecord } from '../../sdk/index.ts';
import { watchFilterMatches, describeWatchFilter, type WatchFilter } from '../command-args.ts';
import type { MigrationRegistry, TrackedMigration } from '../migration-registry.ts';
import { entryFromTracked, RecordTracker, type WatchEntry } from './watch-entry.ts';
import { renderWatchFrame, renderWatchLine } from './render-watch.ts';
import { proposeDowntimeMs, steerRequest, type SteerKind } from './steer.ts';

/** A key as readline's emitKeypressEvents reports it. */
export interface Keypress {
  name?: string | undefined;
  sequence?: string | undefined;
  ctrl?: boolean | undefined;
}

export interface WatchIo {
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream & { isTTY?: boolean; columns?: number; rows?: number };
  /** A terminal: redraw in place and read keys; otherwise plain lines. */
  terminal: boolean;
}

const POLL_MS = 1000;
const DRAW_MS = 250;
const PLAIN_EVERY_MS = 2000;
const KEEP_ENDED_MS = 60_000;

/**
 * `.watch`: every migration in flight on the configured hosts — this REPL's
 * own from their events, other processes' from the status records their
 * controllers keep on the source hosts. On a terminal it redraws in place
 * and takes keys; Ctrl-C leaves the view and never touches a migration.
 */
export class WatchSession {
  readonly #io: WatchIo;
  readonly #registry: MigrationRegistry;
  readonly #hostNames: string[];
  readonly #filter: WatchFilter;
  readonly #records = new RecordTracker();
  readonly #stop = new AbortController();
  readonly #log: string[] = [];
  readonly #settling = new Set<string>();
  readonly #startedAt = Date.now();
  #selected: string | undefined;
  #picked = false;
  #footer: string | undefined;
  #pending: { kind: SteerKind; id: string; value?: number } | undefined;
  #drawnLines = 0;
  #lastPlainAt = 0;
  #plainEnded = new Set<string>();
  #done: (() => void) | undefined;

  constructor(io: WatchIo, registry: MigrationRegistry, hostNames: string[], filter: WatchFilter) {
    this.#io = io;
    this.#registry = registry;
    this.#hostNames = hostNames;
    this.#filter = filter;
  }

  /** Runs the view until the operator leaves it (or, off a terminal, until every migration watched has ended). */
  async run(): Promise<readonly string[]> {
    const finished = new Promise<void>((resolve) => (this.#done = resolve));
    const restoreKeys = this.#io.terminal ? this.#takeKeys() : () => undefined;
    const onSigint = () => this.leave();
    process.on('SIGINT', onSigint);
    if (this.#io.terminal) this.#io.output.write('\x1b[?25l');
    const pollLoop = this.#pollLoop();
    const drawTimer = setInterval(() => this.#draw(), this.#io.terminal ? DRAW_MS : 250);
    this.#draw();
    try {
      await finished;
    } finally {
      clearInterval(drawTimer);
      this.#stop.abort();
      await pollLoop;
      process.off('SIGINT', onSigint);
      restoreKeys();
      if (this.#io.terminal) {
        this.#footer = '  left the view; migrations go on (.watch to come back)';
        this.#draw();
        this.#io.output.write('\x1b[?25h');
      }
    }
    return this.#log;
  }

  leave(): void {
    this.#done?.();
  }

  /** What the view shows now, this REPL's migrations first. */
  entries(): WatchEntry[] {
    const own = this.#registry
      .all()
      .filter((tracked) => tracked.endedAt === undefined || tracked.endedAt >= this.#startedAt - KEEP_ENDED_MS)
      .map((tracked) => entryFromTracked(tracked.migration.id, tracked));
    const ownIds = new Set(own.map((entry) => entry.id));
    const others = this.#records.entries().filter((entry) => !ownIds.has(entry.id));
    const shown = [...own, ...others].filter((entry) => watchFilterMatches(this.#filter, entry.label));
    return [...shown.filter((entry) => !entry.ended), ...shown.filter((entry) => entry.ended)];
  }

  async #pollLoop(): Promise<void> {
    while (!this.#stop.signal.aborted) {
      await this.#poll().catch(() => undefined);
      await new Promise<void>((resolve) => {
        const wake = () => (clearTimeout(timer), resolve());
        const timer = setTimeout(() => (this.#stop.signal.removeEventListener('abort', wake), resolve()), POLL_MS);
        this.#stop.signal.addEventListener('abort', wake, { once: true });
      });
    }
  }

  async #poll(): Promise<void> {
    // One poll's own signal: stopped with the view or after 3 s, its listener removed when the poll ends.
    const poll = new AbortController();
    const stop = () => poll.abort();
    const timer = setTimeout(stop, POLL_MS * 3);
    this.#stop.signal.addEventListener('abort', stop, { once: true });
    try {
      await this.#pollWith(poll.signal);
    } finally {
      clearTimeout(timer);
      this.#stop.signal.removeEventListener('abort', stop);
    }
  }

  async #pollWith(signal: AbortSignal): Promise<void> {
    const unread = new Set<string>();
    const results = await Promise.all(
      this.#hostNames.map((name) =>
        readMigrationRecords(hostHandle(name), { signal }).catch(() => {
          unread.add(name);
          return [] as MigrationRecord[];
        }),
      ),
    );
    if (this.#stop.signal.aborted) return;
    const now = Date.now();
    this.#records.update(results.flat(), now, unread);
    this.#records.prune(now, KEEP_ENDED_MS);
    for (const entry of this.#records.entries()) if (entry.ended?.outcome === 'ended') void this.#settle(entry);
  }

  /** A record that went away says only that the migration is over: look where the VM runs now. */
  async #settle(entry: WatchEntry): Promise<void> {
    if (this.#settling.has(entry.id) || this.#registry.get(entry.id)) return;
    this.#settling.add(entry.id);
    const [source = '', vm = ''] = entry.label.split('/');
    const signal = AbortSignal.timeout(5000);
    const [onDestination, onSource] = await Promise.all([
      hostHandle(entry.destination).vm(vm).pid({ signal }).catch(() => undefined),
      hostHandle(source).vm(vm).pid({ signal }).catch(() => undefined),
    ]);
    const at = entry.ended?.at ?? Date.now();
    if (onDestination !== undefined && onSource === undefined) this.#records.settle(entry.id, { outcome: 'completed', text: `now runs on ${entry.destination}`, at });
    else if (onSource !== undefined && onDestination === undefined) this.#records.settle(entry.id, { outcome: 'cancelled', text: `still runs on ${source} (cancelled or failed)`, at });
    else this.#records.settle(entry.id, { outcome: 'ended', text: 'its record is gone; check .vms', at });
  }

  #draw(): void {
    const entries = this.entries();
    const selected = entries.find((entry) => entry.id === this.#selected);
    // Follow the first live migration until the operator picks one.
    if (!selected || (!this.#picked && selected.ended)) this.#selected = (entries.find((entry) => !entry.ended) ?? entries[0])?.id;
    if (this.#io.terminal) this.#drawFrame(entries);
    else this.#drawPlain(entries);
  }

  #drawFrame(entries: WatchEntry[]): void {
    const out = this.#io.output;
    const lines = renderWatchFrame(entries, {
      now: new Date(), selected: this.#selected, footer: this.#footer, log: this.#log,
      columns: out.columns ?? 100, filter: describeWatchFilter(this.#filter),
    });
    const rows = Math.max(5, (out.rows ?? 40) - 1);
    const shown = lines.length > rows ? [...lines.slice(0, rows - 2), `  … ${lines.length - rows + 2} more lines (.watch HOST/VM to narrow)`, lines.at(-1) ?? ''] : lines;
    const up = this.#drawnLines > 0 ? `\x1b[${this.#drawnLines}A\r` : '\r';
    out.write(`${up}\x1b[J${shown.join('\n')}\n`);
    this.#drawnLines = shown.length;
  }

  #drawPlain(entries: WatchEntry[]): void {
    const now = Date.now();
    const due = now - this.#lastPlainAt >= PLAIN_EVERY_MS;
    for (const entry of entries) {
      if (entry.ended) {
        if (this.#plainEnded.has(entry.id)) continue;
        if (entry.ended.outcome === 'ended' && now - entry.ended.at < 3000) continue; // give #settle a moment
        this.#plainEnded.add(entry.id);
        this.#io.output.write(`${renderWatchLine(entry, new Date())}\n`);
      } else if (due) this.#io.output.write(`${renderWatchLine(entry, new Date())}\n`);
    }
    if (due) this.#lastPlainAt = now;
    const live = entries.filter((entry) => !entry.ended).length;
    // Off a terminal nobody can press Ctrl-C reliably: leave when what was watched is over.
    if (live === 0 && ((entries.length > 0 && entries.every((entry) => this.#plainEnded.has(entry.id))) || (entries.length === 0 && now - this.#startedAt > 5000))) {
      if (entries.length === 0) this.#io.output.write('no migration in flight\n');
      this.leave();
    }
  }

  /** Takes the keys from readline while the view is up; returns how to give them back. */
  #takeKeys(): () => void {
    const input = this.#io.input;
    const saved = input.listeners('keypress') as Array<(...args: unknown[]) => void>;
    for (const listener of saved) input.off('keypress', listener);
    const onKey = (_text: unknown, key: Keypress | undefined) => this.#onKey(key ?? {});
    input.on('keypress', onKey);
    return () => {
      input.off('keypress', onKey);
      for (const listener of saved) input.on('keypress', listener);
    };
  }

  #onKey(key: Keypress): void {
    const name = key.name ?? key.sequence ?? '';
    if ((key.ctrl && (name === 'c' || name === 'd')) || (!this.#pending && (name === 'q' || name === 'escape'))) {
      if (this.#pending) this.#note(`${this.#pending.kind}: not done`);
      this.#pending = undefined;
      this.leave();
      return;
    }
    if (this.#pending) {
      const pending = this.#pending;
      this.#pending = undefined;
      this.#footer = undefined;
      if (name === 'y') void this.#steer(pending);
      else this.#note(`${pending.kind} ${this.#labelOf(pending.id)}: declined, nothing done`);
      this.#draw();
      return;
    }
    if (name === 'up' || name === 'down' || name === 'k' || name === 'j' || name === 'tab') this.#moveSelection(name === 'up' || name === 'k' ? -1 : 1);
    else if (name === 'c' || name === 'p' || name === 'd') this.#ask(name === 'c' ? 'cancel' : name === 'p' ? 'postcopy' : 'downtime');
    this.#draw();
  }

  #moveSelection(step: number): void {
    const entries = this.entries();
    if (entries.length === 0) return;
    const index = entries.findIndex((entry) => entry.id === this.#selected);
    this.#selected = entries[(index + step + entries.length) % entries.length]?.id;
    this.#picked = true;
    this.#footer = undefined;
  }

  #ask(kind: SteerKind): void {
    const entry = this.entries().find((candidate) => candidate.id === this.#selected);
    const tracked = entry && this.#registry.get(entry.id);
    if (!entry || entry.ended) {
      this.#footer = '  no migration in flight selected';
      return;
    }
    if (!tracked) {
      const owner = entry.owner.kind === 'other' ? `pid ${entry.owner.pid} on ${entry.owner.host}` : 'another process';
      this.#footer = `  ${entry.label} → ${entry.destination} is driven by ${owner}: it can only be watched from here (steer it where it was started)`;
      return;
    }
    const question = this.#question(kind, tracked);
    if (typeof question === 'string') {
      this.#footer = `  ${question}`;
      return;
    }
    this.#pending = { kind, id: entry.id, ...(question.value !== undefined && { value: question.value }) };
    this.#footer = `  ${question.ask} [y/N]`;
  }

  #question(kind: SteerKind, tracked: TrackedMigration): { ask: string; value?: number } | string {
    const what = `${tracked.label} → ${tracked.destination}`;
    if (kind === 'cancel') return { ask: `cancel ${what}? Before switchover the VM stays on ${tracked.label.split('/')[0]}.` };
    if (tracked.phase !== 'perform') return `${what} is in phase ${tracked.phase}: only a running transfer can be steered`;
    if (kind === 'postcopy') {
      if (!tracked.migration.options.postcopy) return `post-copy was not allowed when ${what} started (.migrate … --postcopy); QEMU needs it before the transfer begins`;
      return { ask: `switch ${what} to post-copy? The guest then runs on ${tracked.destination} while its memory follows.` };
    }
    const current = tracked.migration.options.maxDowntime;
    const value = proposeDowntimeMs(current, tracked.progress?.expectedDowntimeMs);
    return { ask: `raise the downtime limit of ${what} from ${current} ms to ${value} ms?`, value };
  }

  async #steer(pending: { kind: SteerKind; id: string; value?: number }): Promise<void> {
    const tracked = this.#registry.get(pending.id);
    if (!tracked) return;
    const what = `${pending.kind}${pending.value !== undefined ? ` ${pending.value} ms` : ''} ${tracked.label} → ${tracked.destination}`;
    this.#note(`${what}: confirmed, sending`);
    this.#draw();
    try {
      await steerRequest(tracked.migration, pending.kind, pending.value);
      this.#note(`${what}: done`);
    } catch (error) {
      this.#note(`${what}: failed: ${error instanceof Error ? error.message : String(error)}`);
    }
    this.#draw();
  }

  #labelOf(id: string): string {
    const entry = this.entries().find((candidate) => candidate.id === id);
    return entry ? `${entry.label} → ${entry.destination}` : id;
  }

  #note(text: string): void {
    this.#log.push(`${new Date().toTimeString().slice(0, 8)} ${text}`);
  }
}

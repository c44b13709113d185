import type { Fleet } from '../model/fleet.ts';
import type { HostStep, UpgradeJournal } from './upgrade-journal.ts';
import type { ResolvedRollingUpgradeOptions } from './upgrade-options.ts';
import type { RollingUpgradeEvents } from './upgrade-events.ts';

/** Everything one rolling upgrade knows as it goes. */
export interface UpgradeContext {
  id: string;
  fleet: Fleet;
  options: ResolvedRollingUpgradeOptions;
  signal: AbortSignal;
  events: RollingUpgradeEvents;
}

/** A step that did not succeed: the upgrade stops there. */
export class StepFailure extends Error {
  /** The host could not be reached (SSH), rather than a step failing on it. */
  readonly unreachable: boolean;
  constructor(readonly host: string, readonly step: HostStep, message: string, options: { unreachable?: boolean } = {}) {
    super(message);
    this.unreachable = options.unreachable ?? false;
  }
}

/** What one host's turn needs from the run around it. */
export interface Turn {
  context: UpgradeContext;
  hosts: readonly string[];
  homes: Record<string, string>;
  journal: UpgradeJournal;
  log: (level: 'debug' | 'info' | 'warn', message: string) => void;
}

/** Reports a step's progress (its own event, not the log). */
export type StepReporter = (step: HostStep, state: 'start' | 'done' | 'failed' | 'skipped', note: string) => void;

/** The maintenance reason this upgrade writes, so a later plan knows the mark is its own. */
export function reasonFor(id: string): string {
  return `rolling upgrade ${id}`;
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

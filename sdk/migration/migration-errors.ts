import { FerryError } from '../ferry-error.ts';
import type { MigrationPhase } from './migration-phase.ts';

/**
 * Where the VM runs after a migration ended, read from QEMU on both hosts
 * (never assumed). Every migration error carries it, so a caller never has
 * to guess. `postcopy-paused`: both halves wait for `ferry recover`;
 * `running-on-both` is the split brain ferry exists to prevent, said plainly
 * if it is ever seen.
 */
export type VmLocation =
  | 'running-on-source' | 'paused-on-source' | 'running-on-destination' | 'paused-on-destination'
  | 'postcopy-paused' | 'running-on-both' | 'not-found' | 'unknown';

/** A migration that did not complete: the phase it failed in and where the VM runs now. */
export class MigrationError extends FerryError {
  readonly vm: string;
  readonly source: string;
  readonly destination: string;
  readonly phase: MigrationPhase;
  readonly vmState: VmLocation;

  constructor(
    code: string,
    details: { vm: string; source: string; destination: string; phase: MigrationPhase; vmState: VmLocation },
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, `${message} [${details.source}/${details.vm} → ${details.destination}, phase ${details.phase}; ${locationText(details)}]`, options);
    this.vm = details.vm;
    this.source = details.source;
    this.destination = details.destination;
    this.phase = details.phase;
    this.vmState = details.vmState;
  }
}

/** One preflight check's outcome. */
export interface PreflightCheck {
  check: string;
  ok: boolean;
  /** What was found, and for a failure what to fix. */
  message: string;
}

/** Preflight found something to fix before the migration can start; nothing was changed. */
export class PreflightError extends MigrationError {
  readonly checks: PreflightCheck[];
  constructor(details: { vm: string; source: string; destination: string }, checks: PreflightCheck[], options?: { cause?: unknown }) {
    const failed = checks.filter((check) => !check.ok);
    const missing = failed.some((check) => check.check === 'source-vm');
    super('PREFLIGHT_FAILED', { ...details, phase: 'preflight', vmState: missing ? 'not-found' : 'running-on-source' }, `preflight failed: ${failed.map((check) => check.message).join('; ')}`, options);
    this.checks = checks;
  }
}

/** The migration was cancelled (by `cancel()`, its signal, or its timeout policy). */
export class MigrationCancelledError extends MigrationError {}

/** Options that cannot work; nothing was touched. */
export class MigrationOptionsError extends FerryError {
  readonly option: string;
  constructor(option: string, message: string) {
    super('MIGRATION_OPTIONS_INVALID', `option ${option}: ${message}`);
    this.option = option;
  }
}

/** Options can be changed only until the migration starts. */
export class TooLateError extends FerryError {
  readonly phase: MigrationPhase;
  constructor(what: string, phase: MigrationPhase) {
    super('TOO_LATE', `${what}: the migration has already started (phase ${phase})`);
    this.phase = phase;
  }
}

function locationText(details: { vm: string; source: string; destination: string; vmState: VmLocation }): string {
  switch (details.vmState) {
    case 'running-on-source':
      return `the VM is running on ${details.source}`;
    case 'paused-on-source':
      return `the VM is PAUSED on ${details.source}: resume it with \`ferry qmp ${details.source}/${details.vm} cont\` once safe`;
    case 'running-on-destination':
      return `the VM is running on ${details.destination}`;
    case 'paused-on-destination':
      return `the VM is PAUSED on ${details.destination} after a completed transfer: run \`ferry recover ${details.source}/${details.vm}\``;
    case 'postcopy-paused':
      return `the post-copy migration is PAUSED on both hosts and the VM waits on ${details.destination}: run \`ferry recover ${details.source}/${details.vm}\` once the link is back`;
    case 'running-on-both':
      return `the VM is RUNNING ON BOTH ${details.source} and ${details.destination}: stop one now (the one clients did not reach last)`;
    case 'not-found':
      return `no such VM on ${details.source}; nothing was changed`;
    case 'unknown':
      return `the VM's state is UNKNOWN: check ${details.source} and ${details.destination} before acting`;
  }
}

/**
 * Where one migration stands, finer than its phase: what has been done to
 * the two QEMUs so far. Every change is checked against the table below,
 * kept in the record on the source (what `recover` and observers read) and
 * in the result's timeline.
 */
export type MigrationStage =
  | 'new' // nothing touched yet
  | 'source-claimed' // the source's guard runs and holds the lock
  | 'destination-started' // the destination QEMU is being launched under its guard, or waits (inmigrate)
  | 'transferring' // `migrate` was issued: pre-copy
  | 'paused-for-switchover' // QEMU stopped the guest and waits for ferry's downtime gate
  | 'switching-over' // the gate let it go: the last dirty pages and device state are sent
  | 'postcopy' // the destination runs the guest; the rest of its memory follows
  | 'committed' // the source reported `completed`: the destination has everything
  | 'destination-running' // the guest runs on the destination
  | 'source-ended' // the source QEMU quit and its files are gone: done
  | 'settling' // after a failure or cancel: the guards were let go
  | 'settled'; // the guards are done and where the VM is was read from QEMU

export const MIGRATION_STAGE_TRANSITIONS: Readonly<Record<MigrationStage, readonly MigrationStage[]>> = {
  new: ['source-claimed', 'settled'],
  'source-claimed': ['destination-started', 'settling'],
  'destination-started': ['transferring', 'settling'],
  // QEMU may finish a small guest between two looks: a pause it took is then already over.
  transferring: ['paused-for-switchover', 'postcopy', 'committed', 'settling'],
  'paused-for-switchover': ['switching-over', 'postcopy', 'settling'],
  // On the post-copy path QEMU pauses inside its switch to post-copy, and goes on there.
  'switching-over': ['committed', 'postcopy', 'settling'],
  postcopy: ['committed', 'settling'],
  committed: ['destination-running', 'settling'],
  'destination-running': ['source-ended', 'settling'],
  'source-ended': [],
  settling: ['settled'],
  settled: [],
};

/** One stage reached, and when (ms since the migration started). */
export interface MigrationStageEntry {
  stage: MigrationStage;
  atMs: number;
}

/** A migration's stages so far; a change the table does not allow is a bug in ferry. */
export class StageHistory {
  readonly entries: MigrationStageEntry[] = [{ stage: 'new', atMs: 0 }];

  get current(): MigrationStage {
    return this.entries.at(-1)?.stage ?? 'new';
  }

  /** Moves to `stage` (staying put is allowed); returns whether it changed. */
  enter(stage: MigrationStage, atMs: number): boolean {
    const from = this.current;
    if (from === stage) return false;
    if (!MIGRATION_STAGE_TRANSITIONS[from].includes(stage)) throw new Error(`ferry bug: migration stage ${from} → ${stage} is not allowed`);
    this.entries.push({ stage, atMs: Math.round(atMs) });
    return true;
  }

  /** The migration went through `stage` at some point. */
  reached(stage: MigrationStage): boolean {
    return this.entries.some((entry) => entry.stage === stage);
  }
}

import { randomUUID } from 'node:crypto';
import { AwaitableOperation } from '../awaitable-operation.ts';
import type { Host } from '../model/host.ts';
import type { Vm } from '../model/vm.ts';
import type { MigrationContext } from './migration-context.ts';
import { StageHistory } from './migration-stage.ts';
import { planParameters } from './parameter-plan.ts';
import { MigrationEvents, type MigrationEventMap } from './migration-events.ts';
import { newMigrationRecord } from './migration-lock.ts';
import { isFinalPhase, type MigrationPhase } from './migration-phase.ts';
import { planMigration, type MigrationStep } from './migration-plan.ts';
import { planVmStorage } from './storage/plan-vm-storage.ts';
import { diskImages } from './disk-images.ts';
import { diskReports } from './storage/disk-report.ts';
import type { MigrationDiskReport } from './migration-result.ts';
import type { MigrationProgress } from './migration-progress.ts';
import type { MigrationResult } from './migration-result.ts';
import { resolveMigrationOptions, type MigrationOptions, type ResolvedMigrationOptions } from './migration-options.ts';
import { TooLateError } from './migration-errors.ts';
import { downtimeBudgetCheck } from './downtime-budget-check.ts';
import { runMigration } from './run-migration.ts';
import { tlsDirOf } from './tls/tls-options.ts';
import type { TlsInputs } from './tls/tls-settings.ts';
import { setMaxDowntimeSrc, startPostcopySrc } from './steer-src.ts';

/**
 * One live migration: `await` it for the MigrationResult, listen to its
 * events, iterate its progress, or `cancel()` it. It starts on the next
 * turn of the event loop, so options may still be changed with `set()` and
 * listeners added in the same tick as `migrateTo()`.
 *
 * @example
 * const m = host('a').vm('web').migrateTo('b', { maxDowntime: 300 });
 * m.on('progress', (p) => console.log(p.percent));
 * const result = await m;
 */
export class Migration extends AwaitableOperation<MigrationResult, MigrationEventMap> {
  readonly id: string = randomUUID();
  readonly vm: Vm;
  readonly destination: Host;
  readonly #events: MigrationEvents;
  readonly #cancel = new AbortController();
  #options: MigrationOptions;
  #context: MigrationContext | undefined;
  readonly #result: Promise<MigrationResult>;

  constructor(vm: Vm, destination: Host, options: MigrationOptions = {}) {
    const events = new MigrationEvents();
    super(events);
    this.#events = events;
    this.vm = vm;
    this.destination = destination;
    this.#options = { ...options };
    // Invalid options fail the migration before anything is touched.
    resolveMigrationOptions(this.#options);
    this.#result = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.#start());
    // The caller may only listen to events; an unobserved failure must not crash the process.
    this.#result.catch(() => undefined);
  }

  /** Where it is now. */
  get phase(): MigrationPhase {
    return this.#context?.phase ?? (this.#cancel.signal.aborted ? 'cancelled' : 'pending');
  }

  /** The options as they will be (or were) used. */
  get options(): ResolvedMigrationOptions {
    return this.#context?.options ?? resolveMigrationOptions(this.#options);
  }

  /** Changes options before the migration starts; afterwards a TooLateError. */
  set(options: MigrationOptions): this {
    if (this.#context) throw new TooLateError('set()', this.#context.phase);
    const merged = { ...this.#options, ...options };
    resolveMigrationOptions(merged);
    this.#options = merged;
    return this;
  }

  /** The steps it would take, touching nothing. */
  plan(): MigrationStep[] {
    return planMigration(this.vm.name, this.vm.host.name, this.destination.name, this.options, this.#tlsPlanInputs());
  }

  /**
   * Cancels it in any phase before switchover; the VM stays on the source.
   * After switchover the migration completes and the result says so.
   */
  cancel(reason = 'cancelled by the caller'): void {
    this.#cancel.abort(reason);
  }

  /**
   * Raises (or lowers) the downtime limit while the transfer runs, so that
   * QEMU may switch over sooner; restored with the other settings if the
   * VM stays on the source. Announced as an 'action' event.
   *
   * @example
   * await m.setMaxDowntime(1000);
   */
  setMaxDowntime(ms: number, reason = 'requested by the caller'): Promise<void> {
    return setMaxDowntimeSrc(this.#context, ms, reason);
  }

  /**
   * Switches to post-copy now: the guest runs on the destination while the
   * rest of its memory follows. Needs `postcopy: true` from the start.
   *
   * @example
   * await m.startPostcopy();
   */
  startPostcopy(reason = 'requested by the caller'): Promise<void> {
    return startPostcopySrc(this.#context, reason);
  }

  /** What a dry run can say of TLS before preflight: the name the destination's certificate must show. */
  #tlsPlanInputs(): TlsInputs | undefined {
    const tls = this.options.tls;
    if (!tls) return undefined;
    let address: string;
    try {
      address = this.destination.migrationAddress;
    } catch {
      address = `(${this.destination.name}'s migration address)`;
    }
    return { hostname: address, dirs: { source: tlsDirOf(tls, this.vm.host), destination: tlsDirOf(tls, this.destination) } };
  }

  protected get outcome(): Promise<MigrationResult> {
    return this.#result;
  }

  /** Progress as it comes; ends when the migration ends (its outcome is the awaited value). */
  async *[Symbol.asyncIterator](): AsyncGenerator<MigrationProgress> {
    const queue: MigrationProgress[] = [];
    let wake: (() => void) | undefined;
    const onProgress = (progress: MigrationProgress) => {
      queue.push(progress);
      wake?.();
    };
    this.#events.on('progress', onProgress);
    const done = this.#result.then(
      () => undefined,
      () => undefined,
    );
    let over = false;
    void done.then(() => {
      over = true;
      wake?.();
    });
    try {
      for (;;) {
        const next = queue.shift();
        if (next) {
          yield next;
          continue;
        }
        if (over) return;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    } finally {
      this.#events.off('progress', onProgress);
    }
  }

  async #start(): Promise<MigrationResult> {
    const options = resolveMigrationOptions(this.#options);
    const signal = this.#options.signal ? AbortSignal.any([this.#cancel.signal, this.#options.signal]) : this.#cancel.signal;
    const now = performance.now();
    const context: MigrationContext = {
      id: this.id,
      vm: this.vm,
      source: this.vm.host,
      destination: this.destination,
      options,
      rewriteCommandLine: this.#options.rewriteCommandLine,
      guestCheck: this.#options.guestCheck,
      signal,
      events: this.#events,
      phase: 'pending',
      startedAt: now,
      phaseStartedAt: now,
      phaseTimes: {},
      record: newMigrationRecord(this.id, this.vm.name, this.vm.host.name, this.destination.name),
      stages: new StageHistory(),
      destinationStartMs: 0,
    };
    this.#context = context;
    try {
      if (options.dryRun) {
        context.phase = 'completed';
        const { source, destination } = planParameters(options, undefined, this.#tlsPlanInputs(), this.vm.host.name);
        const storage = await previewStorage(context);
        // The real preflight's check, on the same disk plan.
        const budget = downtimeBudgetCheck(options, storage.disks?.some((disk) => disk.action === 'copy') ?? false);
        const refused: MigrationStep[] = budget.ok ? [] : [{ phase: 'preflight', side: 'ferry', action: `would refuse: ${budget.message}` }];
        return { ...emptyResult(context), status: 'planned', plan: [...this.plan(), ...refused, ...storage.steps], settings: { source, destination }, ...(storage.disks && { disks: storage.disks }) };
      }
      return await runMigration(context);
    } finally {
      if (isFinalPhase(context.phase)) queueMicrotask(() => this.#events.removeAll());
    }
  }
}

/**
 * A dry run's look at the disks: what the real preflight would decide for
 * each (read from the source's QEMU and both hosts' files, changing nothing
 * but a marker file made and removed beside each image on the source).
 */
async function previewStorage(context: MigrationContext): Promise<{ steps: MigrationStep[]; disks?: MigrationDiskReport[] }> {
  try {
    const argv = await context.vm.commandLine({ signal: context.signal });
    if (diskImages(argv).length === 0) return { steps: [] };
    const { disks, checks } = await context.vm.withQmp(
      (qmp) => planVmStorage({ vm: context.vm.name, source: context.source, destination: context.destination, qmp, argv, storage: context.options.storage, signal: context.signal }),
      { signal: context.signal, timeoutMs: 5000 },
    );
    const refused = checks.filter((check) => !check.ok).map((check): MigrationStep => ({ phase: 'preflight', side: 'ferry', action: `would refuse: ${check.message}` }));
    const copies = disks.filter((plan) => plan.action === 'copy');
    const steps: MigrationStep[] = copies.length === 0 ? [] : [
      { phase: 'prepare', side: 'destination', action: `create ${copies.map((plan) => plan.disk.path).join(', ')} empty (same format, exact size) before QEMU starts; export them over NBD` },
      { phase: 'perform', side: 'source', action: 'mirror each disk into the export until all are ready, then migrate memory; in the pause before switchover finish the mirrors (block-job-cancel, not a pivot) and stop the NBD server' },
    ];
    return { steps: [...refused, ...steps], disks: diskReports(disks, context.destination.name) };
  } catch (error) {
    return { steps: [{ phase: 'preflight', side: 'ferry', action: `the disks could not be read for this plan: ${error instanceof Error ? error.message : String(error)}` }] };
  }
}

function emptyResult(context: MigrationContext): MigrationResult {
  return {
    status: 'planned', id: context.id, vm: context.vm.name, source: context.source.name, destination: context.destination.name,
    wallTimeMs: 0, destinationStartMs: 0, totalTimeMs: 0, setupTimeMs: 0, downtimeMs: 0, transferredBytes: 0, downtimeBytes: 0, passes: 0,
    throughput: 0, postcopy: false, options: context.options, phases: {},
  };
}

import { FerryError } from '../ferry-error.ts';
import type { Fleet } from '../model/fleet.ts';
import { Host } from '../model/host.ts';
import { Migration } from '../migration/migration.ts';
import { MigrationError, type VmLocation } from '../migration/migration-errors.ts';
import type { MigrationResult } from '../migration/migration-result.ts';
import { AdaptiveConcurrency } from './adaptive-concurrency.ts';
import { AntiAffinity } from './anti-affinity.ts';
import type { EvacuationEvents } from './evacuation-events.ts';
import { awayFromHome, defaultJournalPath, Journal, readJournal, unfinishedRun, type JournalLine } from './evacuation-journal.ts';
import type { ResolvedEvacuateOptions } from './evacuation-options.ts';
import type { EvacuationReport, FailedVm, MovedVm, PlannedVm, SkippedVm, VmOutcome } from './evacuation-report.ts';
import { surveyHost, type HostSurvey, type SurveyedVm } from './host-survey.ts';
import { markMaintenance } from './maintenance.ts';
import { PlacementLedger, placeVms, type PlacementHost } from './placement.ts';
import { makePredictor, predictMakespanMs } from './prediction.ts';
import { recoverInterrupted } from './recover-interrupted.ts';

/** Everything one evacuation (or move-back) knows as it goes. */
export interface EvacuationContext {
  id: string;
  fleet: Fleet;
  mode: 'evacuate' | 'move-back';
  /** The host evacuated, or for a move-back the VMs' home. */
  home: string;
  options: ResolvedEvacuateOptions;
  signal: AbortSignal;
  events: EvacuationEvents;
}

/** One VM to move. */
interface Move {
  vm: string;
  from: string;
  to: string;
  memoryBytes: number;
  bytesToMove: number;
  attempt: number;
  /** The QEMU the VM runs, so that a retry is placed by the same rule. */
  qemuVersion?: string;
}

/**
 * Runs an evacuation: survey, place, journal, migrate with fixed or
 * adaptive concurrency, retry a failure once elsewhere. Never throws: every
 * VM ends as moved, failed (with where it runs) or skipped (with why), and
 * an evacuation that cannot start at all is a report with status `failed`.
 */
export async function runEvacuation(context: EvacuationContext): Promise<EvacuationReport> {
  const started = performance.now();
  const journalPath = context.options.journal === false ? undefined : context.options.journal ?? defaultJournalPath(context.home);
  const base = { id: context.id, mode: context.mode, host: context.home, journal: journalPath, resumed: false };
  try {
    return await evacuate(context, journalPath, started);
  } catch (error) {
    const body = error instanceof FerryError ? { name: error.name, code: error.code, message: error.message } : { name: 'Error', code: 'EVACUATION_FAILED', message: error instanceof Error ? error.message : String(error) };
    return { ...base, status: 'failed', vms: [], moved: [], failed: [], skipped: [], wallTimeMs: ms(started), concurrency: concurrencyOf(context.options, 0), transferredBytes: 0, error: body };
  }
}

async function evacuate(context: EvacuationContext, journalPath: string | undefined, started: number): Promise<EvacuationReport> {
  const { options, fleet, home } = context;
  const lines = journalPath ? readJournal(journalPath) : [];
  const outcomes: VmOutcome[] = [];
  const resume = journalPath && !options.dryRun ? unfinishedRun(lines, home, context.mode) : undefined;
  const run = resume?.run ?? context.id;
  const journal = journalPath && !options.dryRun ? new Journal(journalPath, run) : undefined;
  const log = (level: 'debug' | 'info' | 'warn', message: string) => context.events.emit('log', { level, message, atMs: ms(started) });

  if (resume) {
    log('info', `resuming evacuation ${run} from ${journalPath}`);
    for (const moved of resume.moved.values()) outcomes.push({ status: 'moved', vm: moved.vm, from: moved.from, to: moved.to, attempts: moved.attempt, fromJournal: true });
    for (const open of resume.inFlight) {
      const recovery = await recoverInterrupted(new Host(fleet, open.from), new Host(fleet, open.to), open.vm, open.migrationId).catch(
        (error: unknown) => ({ outcome: 'unknown' as const, note: error instanceof Error ? error.message : String(error) }),
      );
      log('info', `${open.vm}: ${recovery.note}`);
      if (recovery.outcome === 'busy') continue;
      journal?.append({ kind: 'recovered', vm: open.vm, from: open.from, to: open.to, outcome: recovery.outcome, note: recovery.note });
      if (recovery.outcome === 'moved') outcomes.push({ status: 'moved', vm: open.vm, from: open.from, to: open.to, attempts: open.attempt, fromJournal: true });
    }
  }

  const predictor = makePredictor(lines, options.throughput);
  const { moves, skipped, ledger, surveys } = context.mode === 'evacuate' ? await planEvacuation(context) : await planMoveBack(context, lines);
  outcomes.push(...skipped);
  const plan: PlannedVm[] = moves.map((move, index) => ({
    status: 'planned', vm: move.vm, from: move.from, to: move.to, order: index + 1, memoryBytes: move.memoryBytes, bytesToMove: move.bytesToMove, predictedMs: predictor.predictMs(move.bytesToMove),
  }));
  context.events.emit('plan', plan);
  const limit = options.concurrency === 'adaptive' ? options.maxConcurrency : options.concurrency;
  const report = (status: EvacuationReport['status'], peak: number, extra: Partial<EvacuationReport> = {}): EvacuationReport => {
    const moved = outcomes.filter((o): o is MovedVm => o.status === 'moved');
    return {
      status, id: run, mode: context.mode, host: home, vms: outcomes, moved,
      failed: outcomes.filter((o): o is FailedVm => o.status === 'failed'),
      skipped: outcomes.filter((o): o is SkippedVm => o.status === 'skipped'),
      wallTimeMs: ms(started), concurrency: concurrencyOf(options, peak),
      transferredBytes: moved.reduce((sum, o) => sum + (o.result?.transferredBytes ?? 0), 0),
      resumed: resume !== undefined, journal: journalPath, predictionBasis: predictor.basis, ...extra,
    };
  };

  if (options.dryRun) {
    outcomes.push(...plan);
    const whole = predictMakespanMs(plan.map((step) => step.predictedMs), options.concurrency === 'adaptive' ? 1 : limit);
    return report('planned', 0, { plan, predictedMs: whole });
  }

  if (context.mode === 'evacuate' && !surveys.get(home)?.maintenance) await markMaintenance(new Host(fleet, home), options.reason, run, { signal: context.signal });
  if (!resume) journal?.append({ kind: 'begin', mode: context.mode, host: home, options: journalOptions(options) });
  for (const skip of skipped) journal?.append({ kind: 'skipped', vm: skip.vm, from: skip.from, reason: skip.reason });
  for (const move of moves) journal?.append({ kind: 'planned', vm: move.vm, from: move.from, to: move.to });

  const peak = await schedule(context, moves, ledger, outcomes, journal, log);
  const failed = outcomes.some((o) => o.status === 'failed' || o.status === 'skipped');
  const status = context.signal.aborted ? 'cancelled' : failed ? 'partial' : 'completed';
  const final = report(status, peak);
  journal?.append({ kind: 'end', status, moved: final.moved.length, failed: final.failed.length, skipped: final.skipped.length });
  return final;
}

interface Planned {
  moves: Move[];
  skipped: SkippedVm[];
  ledger: PlacementLedger;
  surveys: Map<string, HostSurvey>;
}

/** Surveys the host and its destinations, places every VM, orders the moves. */
async function planEvacuation(context: EvacuationContext): Promise<Planned> {
  const { fleet, home, options, signal } = context;
  const destinations = (options.to ?? fleet.hostNames()).filter((name) => name !== home);
  const source = await surveyHost(new Host(fleet, home), { signal });
  const surveys = new Map<string, HostSurvey>([[home, source]]);
  const hosts = await surveyDestinations(context, destinations, surveys);
  const ledger = new PlacementLedger(hosts, new AntiAffinity(fleet.config.antiAffinity));
  const skipped: SkippedVm[] = [];
  const candidates: SurveyedVm[] = [];
  for (const vm of source.vms) {
    if (vm.migrating) skipped.push({ status: 'skipped', vm: vm.name, from: home, reason: 'another migration of it is in progress (its lock exists)' });
    else candidates.push(vm);
  }
  const placements = placeVms(candidates, ledger);
  const moves: Move[] = [];
  for (const placement of placements) {
    const vm = candidates.find((c) => c.name === placement.vm);
    if (!vm) continue;
    if (placement.to === undefined) skipped.push({ status: 'skipped', vm: vm.name, from: home, reason: `fits nowhere: ${placement.reason}` });
    else moves.push({ vm: vm.name, from: home, to: placement.to, memoryBytes: vm.memoryBytes, bytesToMove: Math.min(vm.residentBytes || vm.memoryBytes, vm.memoryBytes), attempt: 1, ...(vm.qemuVersion !== undefined && { qemuVersion: vm.qemuVersion }) });
  }
  return { moves: ordered(moves, options.order), skipped, ledger, surveys };
}

/** The VMs the journal says left `home` and have not come back, each returned from where it is now. */
async function planMoveBack(context: EvacuationContext, lines: readonly JournalLine[]): Promise<Planned> {
  const { fleet, home, options, signal } = context;
  const away = awayFromHome(lines, home);
  const surveys = new Map<string, HostSurvey>();
  const homeSurvey = await surveyHost(new Host(fleet, home), { signal });
  surveys.set(home, homeSurvey);
  const where = [...new Set([...away.values()].map((entry) => entry.to))];
  await surveyDestinations(context, where, surveys);
  const homeHost: PlacementHost = {
    name: home, memAvailableBytes: homeSurvey.memAvailableBytes, memoryBudgetBytes: homeSurvey.memoryBudgetBytes, vms: homeSurvey.vms,
    ...(homeSurvey.qemuVersion !== undefined && { qemuVersion: homeSurvey.qemuVersion }),
    ...(homeSurvey.maintenance && { excluded: `in maintenance (${homeSurvey.maintenance.reason}): call endMaintenance() first` }),
  };
  // VMs that lived together at home before may do so again: the move-back restores that layout.
  const ledger = new PlacementLedger([homeHost], new AntiAffinity(fleet.config.antiAffinity, new Set(away.keys())));
  const skipped: SkippedVm[] = [];
  const moves: Move[] = [];
  for (const [vm, { to: now }] of away) {
    const found = surveys.get(now)?.vms.find((v) => v.name === vm);
    if (!found) {
      skipped.push({ status: 'skipped', vm, from: now, reason: `no longer runs on ${now}, where the journal last saw it` });
      continue;
    }
    const placement = ledger.place({ name: vm, memoryBytes: found.memoryBytes, ...(found.qemuVersion !== undefined && { qemuVersion: found.qemuVersion }) });
    if (placement.to === undefined) skipped.push({ status: 'skipped', vm, from: now, reason: `cannot return: ${placement.reason}` });
    else moves.push({ vm, from: now, to: home, memoryBytes: found.memoryBytes, bytesToMove: Math.min(found.residentBytes || found.memoryBytes, found.memoryBytes), attempt: 1, ...(found.qemuVersion !== undefined && { qemuVersion: found.qemuVersion }) });
  }
  return { moves: ordered(moves, options.order), skipped, ledger, surveys };
}

async function surveyDestinations(context: EvacuationContext, names: readonly string[], surveys: Map<string, HostSurvey>): Promise<PlacementHost[]> {
  const results = await Promise.allSettled(names.map((name) => surveyHost(new Host(context.fleet, name), { signal: context.signal })));
  return names.map((name, i): PlacementHost => {
    const result = results[i];
    if (!result || result.status === 'rejected') {
      const why = result?.status === 'rejected' && result.reason instanceof Error ? result.reason.message : 'no answer';
      return { name, memAvailableBytes: 0, memoryBudgetBytes: undefined, vms: [], excluded: `unreachable (${why})` };
    }
    surveys.set(name, result.value);
    const survey = result.value;
    return {
      name, memAvailableBytes: survey.memAvailableBytes, memoryBudgetBytes: survey.memoryBudgetBytes, vms: survey.vms,
      ...(survey.qemuVersion !== undefined && { qemuVersion: survey.qemuVersion }),
      ...(survey.maintenance && { excluded: `in maintenance (${survey.maintenance.reason})` }),
    };
  });
}

function ordered(moves: Move[], order: ResolvedEvacuateOptions['order']): Move[] {
  if (Array.isArray(order)) {
    const rank = (vm: string) => (order.indexOf(vm) < 0 ? order.length : order.indexOf(vm));
    return [...moves].sort((x, y) => rank(x.vm) - rank(y.vm) || x.vm.localeCompare(y.vm));
  }
  const by = {
    'smallest-first': (x: Move, y: Move) => x.bytesToMove - y.bytesToMove,
    'largest-first': (x: Move, y: Move) => y.bytesToMove - x.bytesToMove,
    name: () => 0,
  }[order as 'smallest-first' | 'largest-first' | 'name'];
  return [...moves].sort((x, y) => by(x, y) || x.vm.localeCompare(y.vm));
}

/**
 * Starts migrations as the concurrency allows and settles each into an
 * outcome. Resolves when nothing is queued or running; returns the peak
 * number of migrations that ran at once.
 */
function schedule(
  context: EvacuationContext,
  moves: Move[],
  ledger: PlacementLedger,
  outcomes: VmOutcome[],
  journal: Journal | undefined,
  log: (level: 'debug' | 'info' | 'warn', message: string) => void,
): Promise<number> {
  const { options, fleet, signal, events } = context;
  const queue = [...moves];
  const running = new Map<string, Migration>();
  const adaptive = options.concurrency === 'adaptive' ? new AdaptiveConcurrency({ max: options.maxConcurrency }) : undefined;
  let peak = 0;
  let lastReason = '';
  return new Promise<number>((resolve) => {
    const onAbort = () => {
      for (const migration of running.values()) migration.cancel(reasonOf(signal));
      pump();
    };
    signal.addEventListener('abort', onAbort, { once: true });

    const canStart = (): boolean => {
      if (!adaptive) return running.size < (options.concurrency as number);
      const decision = adaptive.decide(performance.now());
      if (decision.reason !== lastReason) {
        lastReason = decision.reason;
        events.emit('concurrency', { running: running.size, ceiling: adaptive.ceiling, start: decision.start, reason: decision.reason });
      }
      return decision.start;
    };

    const pump = () => {
      if (signal.aborted) {
        for (const move of queue.splice(0)) {
          const skip: SkippedVm = { status: 'skipped', vm: move.vm, from: move.from, reason: 'the evacuation was cancelled before this VM started' };
          outcomes.push(skip);
          journal?.append({ kind: 'skipped', vm: move.vm, from: move.from, reason: skip.reason });
          events.emit('done', skip);
        }
      }
      while (queue.length > 0 && !signal.aborted && canStart()) {
        const move = queue.shift();
        if (move) start(move);
      }
      if (queue.length === 0 && running.size === 0) {
        signal.removeEventListener('abort', onAbort);
        resolve(peak);
      }
    };

    const start = (move: Move) => {
      const source = new Host(fleet, move.from);
      let migration: Migration;
      try {
        migration = new Migration(source.vm(move.vm), new Host(fleet, move.to), {
          ...options.migration,
          ...(options.maxDowntime !== undefined && { maxDowntime: options.maxDowntime }),
          signal,
        });
      } catch (error) {
        settle(move, undefined, error);
        return;
      }
      running.set(move.vm, migration);
      peak = Math.max(peak, running.size);
      adaptive?.started(move.vm, performance.now());
      journal?.append({ kind: 'start', vm: move.vm, from: move.from, to: move.to, attempt: move.attempt, migrationId: migration.id });
      events.emit('start', { vm: move.vm, from: move.from, to: move.to, attempt: move.attempt });
      log('info', `${move.vm}: ${move.from} → ${move.to}${move.attempt > 1 ? ` (attempt ${move.attempt})` : ''}`);
      migration.on('progress', (progress) => {
        events.emit('progress', move.vm, progress);
        if (!adaptive) return;
        adaptive.sample(move.vm, performance.now(), { active: progress.transfer === 'transferring', throughput: progress.throughput, remainingBytes: progress.remainingBytes, pass: progress.pass });
        pump();
      });
      migration.then(
        (result) => settle(move, result, undefined),
        (error: unknown) => settle(move, undefined, error),
      );
    };

    const settle = (move: Move, result: MigrationResult | undefined, error: unknown) => {
      running.delete(move.vm);
      adaptive?.ended(move.vm, performance.now());
      if (result) {
        const moved: MovedVm = { status: 'moved', vm: move.vm, from: move.from, to: move.to, attempts: move.attempt, result };
        outcomes.push(moved);
        journal?.append({ kind: 'moved', vm: move.vm, from: move.from, to: move.to, attempt: move.attempt, downtimeMs: result.downtimeMs, wallTimeMs: result.wallTimeMs, transferredBytes: result.transferredBytes, bytesToMove: move.bytesToMove });
        events.emit('done', moved);
      } else {
        const vmState: VmLocation = error instanceof MigrationError ? error.vmState : 'running-on-source';
        const body = errorBody(error);
        journal?.append({ kind: 'failed', vm: move.vm, from: move.from, to: move.to, attempt: move.attempt, code: body.code, message: body.message, vmState, runsOn: runsOn(vmState, move) });
        // A migration cancelled by its own policy (timeout, downtime guarantee) is worth a retry; one cancelled by us is not.
        const retry = options.retry && move.attempt === 1 && !signal.aborted && vmState === 'running-on-source' && error instanceof MigrationError;
        const elsewhere = retry ? retryPlace(move, ledger, context.mode) : undefined;
        if (elsewhere) {
          log('warn', `${move.vm}: ${body.message}; retrying on ${elsewhere}`);
          queue.unshift({ ...move, to: elsewhere, attempt: 2 });
        } else {
          const failed: FailedVm = { status: 'failed', vm: move.vm, from: move.from, to: move.to, attempts: move.attempt, error: body, vmState, runsOn: runsOn(vmState, move) };
          outcomes.push(failed);
          events.emit('done', failed);
        }
      }
      // A settled promise's callbacks run before pump's resolve, so the report sees every outcome.
      pump();
    };

    pump();
  });
}

/** Another destination for a failed VM (its place on the failed one released); the same one if nowhere else fits. */
function retryPlace(move: Move, ledger: PlacementLedger, mode: EvacuationContext['mode']): string | undefined {
  const vm = { name: move.vm, memoryBytes: move.memoryBytes, ...(move.qemuVersion !== undefined && { qemuVersion: move.qemuVersion }) };
  ledger.release(vm, move.to);
  if (mode === 'evacuate') {
    const elsewhere = ledger.place(vm, { exclude: [move.to] });
    if (elsewhere.to !== undefined) return elsewhere.to;
  }
  const same = ledger.place(vm);
  return same.to;
}

function runsOn(state: VmLocation, move: Move): string {
  if (state === 'running-on-source' || state === 'paused-on-source') return move.from;
  if (state === 'running-on-destination') return move.to;
  return 'unknown';
}

function errorBody(error: unknown): FailedVm['error'] {
  if (error instanceof MigrationError) return { name: error.name, code: error.code, message: error.message, phase: error.phase };
  if (error instanceof FerryError) return { name: error.name, code: error.code, message: error.message };
  return { name: error instanceof Error ? error.name : 'Error', code: 'MIGRATION_FAILED', message: error instanceof Error ? error.message : String(error) };
}

function concurrencyOf(options: ResolvedEvacuateOptions, peak: number): EvacuationReport['concurrency'] {
  return options.concurrency === 'adaptive' ? { mode: 'adaptive', limit: options.maxConcurrency, peak } : { mode: 'fixed', limit: options.concurrency, peak };
}

function journalOptions(options: ResolvedEvacuateOptions): Record<string, unknown> {
  return { to: options.to, concurrency: options.concurrency, maxDowntime: options.maxDowntime, order: options.order, retry: options.retry };
}

function reasonOf(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  if (typeof reason === 'string') return reason;
  return reason instanceof Error ? reason.message : 'the evacuation was cancelled';
}

function ms(since: number): number {
  return Math.round(performance.now() - since);
}

import { Host } from '../model/host.ts';
import { CommandFailedError, TransportError } from '../transport/index.ts';
import { Evacuation, markMaintenance, surveyHost, type EvacuationReport, type HostSurvey } from '../evacuation/index.ts';
import { AntiAffinity } from '../evacuation/anti-affinity.ts';
import { qemuVersionMatches } from '../evacuation/qemu-version.ts';
import { runUpgradeHook } from './run-hook.ts';
import { waitForHost } from './wait-for-host.ts';
import { locateVms, surveyAll } from './locate-vms.ts';
import { returnHome } from './return-home.ts';
import { planRollingUpgrade, type UpgradePlan } from './upgrade-plan.ts';
import { describeCommand } from './upgrade-options.ts';
import { nextStep, readUpgradeJournal, unfinishedUpgrade, UpgradeJournal, type HostProgress, type HostStep, type UpgradeProgress } from './upgrade-journal.ts';
import { messageOf, reasonFor, StepFailure, type StepReporter, type Turn, type UpgradeContext } from './upgrade-turn.ts';
import type { HostUpgradeOutcome, RollingUpgradeReport } from './upgrade-report.ts';

/**
 * Runs a rolling upgrade: plan the whole of it first (refused, touching
 * nothing, if some VM fits nowhere at its host's turn), then host by host:
 * evacuate (the SDK's evacuation), run the upgrade command there, wait for
 * SSH and check its QEMU, bring its VMs home (one migration each), clear its
 * maintenance. Each step is journaled; a run that finds an unfinished
 * upgrade in the journal resumes it and never repeats a step that
 * succeeded. Never throws: it stops at the first failure with a report of
 * where every VM is.
 */
export async function runRollingUpgrade(context: UpgradeContext): Promise<RollingUpgradeReport> {
  const started = performance.now();
  const { options, fleet, events, signal } = context;
  const log = (level: 'debug' | 'info' | 'warn', message: string) => events.emit('log', { level, message, atMs: ms(started) });
  let progress = unfinishedUpgrade(readUpgradeJournal(options.journal));
  if (progress && options.restart) {
    if (!options.dryRun) new UpgradeJournal(options.journal, progress.id).append({ kind: 'upgrade-end', status: 'abandoned' });
    log('warn', `forgetting the unfinished rolling upgrade ${progress.id} in ${options.journal}`);
    progress = undefined;
  }
  const id = progress?.id ?? context.id;
  const hosts = progress?.begin.hosts ?? options.hosts ?? fleet.hostNames();
  if (progress) {
    log('info', `resuming rolling upgrade ${id} from ${options.journal}`);
    if (options.hosts && options.hosts.join(',') !== hosts.join(',')) log('warn', `it keeps its own order ${hosts.join(', ')} (asked: ${options.hosts.join(', ')}); restart to start anew`);
  }
  const outcomes = hosts.map((host) => outcomeFromJournal(host, progress?.hosts.get(host)));
  const emptyPlan: UpgradePlan = { steps: [], missing: [] };
  const report = (status: RollingUpgradeReport['status'], plan: UpgradePlan, extra: Partial<RollingUpgradeReport> = {}): RollingUpgradeReport => ({
    status, id, resumed: progress !== undefined, journal: options.journal, hosts: outcomes, plan, wallTimeMs: ms(started), ...extra,
  });

  let plan: UpgradePlan;
  let homes: Record<string, string>;
  let unreachable: string[] = [];
  try {
    for (const host of hosts) fleet.hostConfig(host);
    const surveys = await surveyAll(fleet, hosts, { signal });
    homes = progress?.homes ?? homesFrom(hosts, surveys);
    plan = planRollingUpgrade({
      hosts, surveys, homes, expectQemu: options.expectQemu, hook: describeCommand(options.command),
      ...(progress && { progress: progress.hosts }),
      affinity: () => new AntiAffinity(fleet.config.antiAffinity),
      ownMark: (survey) => survey.maintenance?.reason === reasonFor(id),
    });
    unreachable = hosts.filter((host) => !surveys.has(host));
    const problems = startProblems(hosts, surveys, progress);
    if (problems.length > 0) plan = { ...plan, refused: [...problems, ...(plan.refused ? [plan.refused] : [])].join('; ') };
  } catch (error) {
    return report('refused', emptyPlan, { failure: { host: '', step: 'plan', message: messageOf(error) } });
  }
  events.emit('plan', plan);
  if (plan.refused) return report('refused', plan, { failure: { host: '', step: 'plan', message: plan.refused, ...(unreachable.length > 0 && { unreachable }) } });
  if (options.dryRun) return report('planned', plan);

  const journal = new UpgradeJournal(options.journal, id);
  if (!progress) journal.append({ kind: 'upgrade-begin', hosts, homes, command: describeCommand(options.command), ...(options.expectQemu !== undefined && { expectQemu: options.expectQemu }) });
  const turn: Turn = { context, hosts, homes, journal, log };
  for (const [index, host] of hosts.entries()) {
    const outcome = outcomes[index];
    if (!outcome) continue;
    try {
      await upgradeHost(turn, host, progress?.hosts.get(host), outcome);
    } catch (error) {
      const step = error instanceof StepFailure ? error.step : 'evacuate';
      const message = messageOf(error);
      const status = signal.aborted ? 'cancelled' : 'failed';
      outcome.status = 'failed';
      journal.append({ kind: 'stopped', status, host, step, message });
      log('warn', `stopped at ${host} (${step}): ${message}`);
      const whereabouts = await locateVms(fleet, hosts, homes).catch(() => []);
      return report(status, plan, {
        failure: { host, step, message, ...(error instanceof StepFailure && error.unreachable && { unreachable: [host] }) }, whereabouts,
        resume: `run the same rolling upgrade again with the journal ${options.journal}: it resumes at ${host} (${step}) and repeats no step that succeeded`,
      });
    }
  }
  journal.append({ kind: 'upgrade-end', status: 'completed' });
  return report('completed', plan);
}

/**
 * One host's turn. Whatever goes wrong inside it (a cancel, a host that
 * cannot be reached) stops the upgrade at the step it happened in.
 */
async function upgradeHost(turn: Turn, host: string, known: HostProgress | undefined, outcome: HostUpgradeOutcome): Promise<void> {
  let current: HostStep = nextStepOrReturn(known);
  // Steps go to their own event; the log carries what else happened (resumptions, recoveries, warnings).
  const step: StepReporter = (name, state, note) => {
    current = name;
    turn.context.events.emit('step', { host, step: name, state, note });
  };
  try {
    await runTurn(turn, host, known, outcome, step);
  } catch (error) {
    if (error instanceof StepFailure) throw error;
    step(current, 'failed', messageOf(error));
    throw new StepFailure(host, current, messageOf(error), { unreachable: error instanceof TransportError && !(error instanceof CommandFailedError) });
  }
}

function nextStepOrReturn(progress: HostProgress | undefined): HostStep {
  const next = nextStep(progress);
  return next === 'done' ? 'return' : next;
}

/** Evacuate, hook, verify, return: each skipped when the journal says it was done. */
async function runTurn(turn: Turn, host: string, known: HostProgress | undefined, outcome: HostUpgradeOutcome, step: StepReporter): Promise<void> {
  const { context, journal, log } = turn;
  const { options, fleet, events, signal } = context;
  const fail = (name: HostStep, message: string): never => {
    step(name, 'failed', message);
    throw new StepFailure(host, name, message);
  };
  let progress = known;
  const rerun = options.rerunHook === true || (Array.isArray(options.rerunHook) && options.rerunHook.includes(host));
  if (rerun && progress?.hook?.ok) {
    journal.append({ kind: 'host-begin', host, redo: true });
    log('info', `${host}: its upgrade succeeded before; running the whole turn again, as asked`);
    progress = undefined;
    Object.assign(outcome, outcomeFromJournal(host, undefined));
  }
  const next = nextStep(progress);
  if (next === 'done') {
    step('return', 'skipped', 'upgraded and its VMs home (journal)');
    return;
  }
  throwIfCancelled(signal, host, next);
  if (!progress) journal.append({ kind: 'host-begin', host });

  if (progress?.evacuated) step('evacuate', 'skipped', `evacuated by an earlier run (${progress.evacuated.moves.length} VMs)`);
  else {
    const others = turn.hosts.filter((name) => name !== host);
    step('evacuate', 'start', others.length ? `VMs leave for ${others.join(', ')}` : 'no other host: it must have no VMs');
    let evacuationId = '';
    if (others.length === 0) {
      // Upgrading a lone host: nothing can take its VMs, so it must have none.
      const survey = await surveyHost(new Host(fleet, host), { signal });
      if (survey.vms.length > 0) fail('evacuate', `${host} runs ${survey.vms.map((vm) => vm.name).join(', ')} and no other host of this upgrade can take them`);
      await markMaintenance(new Host(fleet, host), reasonFor(journal.run), undefined, { signal });
      outcome.evacuated = [];
    } else {
      const evacuation = new Evacuation(fleet, host, {
        to: others, journal: options.journal, concurrency: options.concurrency,
        ...(options.maxDowntime !== undefined && { maxDowntime: options.maxDowntime }), migration: options.migration,
        reason: reasonFor(journal.run), signal,
      });
      events.emit('evacuation', host, evacuation);
      const report = await evacuation;
      if (report.status !== 'completed') fail('evacuate', evacuationTrouble(report));
      outcome.evacuated = report.moved.map((moved) => ({ vm: moved.vm, to: moved.to }));
      evacuationId = report.id;
    }
    journal.append({ kind: 'evacuated', host, evacuation: evacuationId, moves: outcome.evacuated });
    for (const moved of outcome.evacuated) turn.homes[moved.vm] ??= host;
    step('evacuate', 'done', outcome.evacuated.map((moved) => `${moved.vm} → ${moved.to}`).join(', ') || 'no VMs');
  }

  throwIfCancelled(signal, host, 'hook');
  if (progress?.hook?.ok) step('hook', 'skipped', `succeeded in an earlier run (exit ${progress.hook.exitCode ?? '-'}); not run again`);
  else {
    if (progress?.hookStarted && !progress.hook) log('warn', `${host}: its upgrade command was interrupted in an earlier run and never reported: running it again`);
    const command = describeCommand(options.command);
    step('hook', 'start', command);
    journal.append({ kind: 'hook-start', host, command });
    const hook = await runUpgradeHook(new Host(fleet, host), options.command, { timeoutMs: options.hookTimeoutMs, signal });
    journal.append({ kind: 'hook-end', host, ok: hook.ok, exitCode: hook.exitCode, outputTail: hook.outputTail, durationMs: hook.durationMs, ...(hook.note !== undefined && { note: hook.note }) });
    outcome.hook = { ran: true, ...hook };
    if (!hook.ok) fail('hook', `${hook.note ?? `exit code ${hook.exitCode}`}${hook.outputTail ? `; its output ends:\n${hook.outputTail}` : ''}`);
    step('hook', 'done', `exit ${hook.exitCode ?? '-'} in ${hook.durationMs} ms${hook.note ? ` (${hook.note})` : ''}`);
  }

  throwIfCancelled(signal, host, 'verify');
  if (progress?.verified) step('verify', 'skipped', `checked by an earlier run (QEMU ${progress.verified.qemuVersion ?? '?'})`);
  else {
    step('verify', 'start', options.expectQemu === undefined ? 'waiting for SSH' : `waiting for SSH, then QEMU ${options.expectQemu}`);
    const target = new Host(fleet, host);
    const waited = await waitForHost(target, { timeoutMs: options.hostTimeoutMs, signal });
    if (waited === undefined) {
      const message = `${host} did not answer over SSH within ${Math.round(options.hostTimeoutMs / 1000)} s of its upgrade`;
      step('verify', 'failed', message);
      throw new StepFailure(host, 'verify', message, { unreachable: true });
    }
    const facts = await target.facts({ signal });
    if (options.expectQemu !== undefined && !qemuVersionMatches(facts.qemuVersion, options.expectQemu)) {
      fail('verify', `${host} came back with QEMU ${facts.qemuVersion ?? '(none found)'}, expected ${options.expectQemu}`);
    }
    journal.append({ kind: 'verified', host, ...(facts.qemuVersion !== undefined && { qemuVersion: facts.qemuVersion }) });
    if (facts.qemuVersion !== undefined) outcome.qemuVersion = facts.qemuVersion;
    step('verify', 'done', `QEMU ${facts.qemuVersion ?? '?'}`);
  }

  throwIfCancelled(signal, host, 'return');
  await returnHome(turn, host, progress, outcome, step);
  journal.append({ kind: 'host-done', host });
  outcome.status = 'done';
}

/** Each VM's home at the start: the host it runs on. */
function homesFrom(hosts: readonly string[], surveys: ReadonlyMap<string, HostSurvey>): Record<string, string> {
  const homes: Record<string, string> = {};
  for (const host of hosts) for (const vm of surveys.get(host)?.vms ?? []) homes[vm.name] ??= host;
  return homes;
}

/** What makes even a good plan unsafe to start: hosts out of reach, VMs mid-migration or in two places. */
function startProblems(hosts: readonly string[], surveys: ReadonlyMap<string, HostSurvey>, progress: UpgradeProgress | undefined): string[] {
  const problems: string[] = [];
  const unreachable = hosts.filter((host) => !surveys.has(host));
  if (unreachable.length) problems.push(`cannot reach ${unreachable.join(', ')}`);
  const seen = new Map<string, string>();
  for (const host of hosts) {
    for (const vm of surveys.get(host)?.vms ?? []) {
      const other = seen.get(vm.name);
      // A resumed upgrade settles migrations it left in flight itself.
      if (other && !progress) problems.push(`${vm.name} has a QEMU on both ${other} and ${host}: settle it with \`ferry recover\` first`);
      if (vm.migrating && !progress) problems.push(`${vm.name} on ${host} is being migrated (its lock exists)`);
      seen.set(vm.name, host);
    }
  }
  return problems;
}

function outcomeFromJournal(host: string, progress: HostProgress | undefined): HostUpgradeOutcome {
  const fromJournal: HostStep[] = [];
  if (progress?.evacuated) fromJournal.push('evacuate');
  if (progress?.hook?.ok) fromJournal.push('hook');
  if (progress?.verified) fromJournal.push('verify');
  if (progress?.done) fromJournal.push('return');
  const hook = progress?.hook;
  return {
    host, status: progress?.done ? 'done' : 'pending',
    evacuated: progress?.evacuated?.moves ?? [],
    ...(hook && { hook: { ran: false, ok: hook.ok, exitCode: hook.exitCode, outputTail: hook.outputTail, durationMs: hook.durationMs, ...(hook.note !== undefined && { note: hook.note }) } }),
    ...(progress?.verified?.qemuVersion !== undefined && { qemuVersion: progress.verified.qemuVersion }),
    returned: progress?.done ? [...progress.returned].map(([vm, { from, note }]) => ({ vm, from, ...(note !== undefined && { note }) })) : [],
    fromJournal,
  };
}

function evacuationTrouble(report: EvacuationReport): string {
  if (report.error) return `the evacuation could not start: ${report.error.message}`;
  const failed = report.failed.map((vm) => `${vm.vm} failed (runs on ${vm.runsOn}): ${vm.error.message}`);
  const skipped = report.skipped.map((vm) => `${vm.vm} skipped: ${vm.reason}`);
  return `the evacuation ended ${report.status}: ${[...failed, ...skipped].join('; ') || 'no VM moved'}`;
}

function throwIfCancelled(signal: AbortSignal, host: string, step: HostStep): void {
  if (signal.aborted) throw new StepFailure(host, step, `cancelled before ${host}'s ${step}`);
}

function ms(since: number): number {
  return Math.round(performance.now() - since);
}

// Recipe: upgrade a fleet host by host, with the public SDK only.
//
//   ferry run rolling-upgrade a b c --hook 'apt-get -y install -t bookworm-backports qemu-system-x86' --expect-qemu 10.0
//   ferry run rolling-upgrade a b c --expect-qemu 10.0 -- /usr/local/sbin/upgrade-qemu --yes     (argv form)
//   ferry run rolling-upgrade --dry-run --hook '…' --expect-qemu 10.0                           (every configured host)
//
// For each host in the order given: mark it in maintenance and evacuate it
// onto the others (never onto an older QEMU), run the hook ON it over SSH,
// wait for SSH (the hook may reboot it) and check `qemu-system-x86_64
// --version`, bring its VMs home, clear maintenance; then the next host.
// Stops at the first failure and says where every VM is. Run the same
// command again to resume: the journal says what is done, and a hook that
// succeeded is not run again (--rerun-hook HOST asks for it).
import { parseArgs } from 'node:util';
import { quote, rollingUpgrade, RollingUpgradeOptionsError, type RollingUpgradeOptions, type RollingUpgradeReport, type UpgradePlan } from '../sdk/index.ts';

/** What `ferry run` hands a recipe (a recipe run by hand gets none). */
export interface RunContext {
  signal: AbortSignal;
  /** This recipe's append-only journal: an interrupted run resumes from it. */
  journal: string;
  log(message: string): void;
}

/** The SDK's report, with the exit code `ferry run` ends with (as every ferry command's). */
export type RollingUpgradeRecipeResult = RollingUpgradeReport & { exitCode: number };

const USAGE = "usage: rolling-upgrade [HOST…] (--hook 'SHELL COMMAND' | -- ARGV…) [--expect-qemu 10.0] [--dry-run] [--host-timeout S] [--hook-timeout S] [--rerun-hook HOSTS|all] [--restart] [--max-downtime MS] [--concurrency N] [--bandwidth RATE] [--allow-pause]";

export default async function rollingUpgradeRecipe(args: string[], context?: RunContext): Promise<RollingUpgradeRecipeResult> {
  const split = args.indexOf('--');
  const argv = split >= 0 ? args.slice(split + 1) : [];
  const { values, positionals } = parseArgs({
    args: split >= 0 ? args.slice(0, split) : args,
    allowPositionals: true,
    options: {
      hook: { type: 'string' }, 'expect-qemu': { type: 'string' }, 'dry-run': { type: 'boolean' }, 'host-timeout': { type: 'string' }, 'hook-timeout': { type: 'string' },
      'rerun-hook': { type: 'string' }, restart: { type: 'boolean' }, 'max-downtime': { type: 'string' }, concurrency: { type: 'string' }, 'allow-pause': { type: 'boolean' },
      bandwidth: { type: 'string' },
    },
  });
  if ((values.hook === undefined) === (argv.length === 0)) throw new RollingUpgradeOptionsError('--hook', `give the upgrade command once: --hook 'SHELL COMMAND' or -- ARGV… (${USAGE})`);
  const log = context?.log ?? ((message: string) => console.error(message));
  const seconds = (flag: string, value: string | undefined) => (value === undefined ? undefined : 1000 * numberOf(flag, value));
  const rerun = values['rerun-hook'];
  const options: RollingUpgradeOptions = {
    command: values.hook ?? argv,
    ...(positionals.length > 0 && { hosts: positionals }),
    ...(values['expect-qemu'] !== undefined && { expectQemu: values['expect-qemu'] }),
    ...(values['dry-run'] && { dryRun: true }),
    ...(values.restart && { restart: true }),
    ...(rerun !== undefined && { rerunHook: rerun === 'all' ? true : rerun.split(',').map((name) => name.trim()) }),
    ...(values['host-timeout'] !== undefined && { hostTimeoutMs: seconds('--host-timeout', values['host-timeout']) }),
    ...(values['hook-timeout'] !== undefined && { hookTimeoutMs: seconds('--hook-timeout', values['hook-timeout']) }),
    ...(values['max-downtime'] !== undefined && { maxDowntime: numberOf('--max-downtime', values['max-downtime']) }),
    ...(values.concurrency !== undefined && { concurrency: values.concurrency === 'adaptive' ? 'adaptive' : numberOf('--concurrency', values.concurrency) }),
    ...((values['allow-pause'] || values.bandwidth !== undefined) && { migration: { ...(values['allow-pause'] && { allowPause: true }), ...(values.bandwidth !== undefined && { bandwidth: values.bandwidth }) } }),
    ...(context && { journal: context.journal, signal: context.signal }),
  };

  const upgrade = rollingUpgrade(options);
  upgrade.on('plan', (plan) => {
    for (const line of describePlan(plan)) log(line);
  });
  upgrade.on('step', (step) => {
    log(`${step.host} ${step.step} ${step.state}: ${step.note}`);
  });
  upgrade.on('evacuation', (host, evacuation) => {
    evacuation.on('start', (move) => log(`${host} evacuate: moving ${move.vm} → ${move.to}${move.attempt > 1 ? ' (retry)' : ''}`));
    evacuation.on('log', (entry) => entry.level !== 'debug' && /resum|recover/.test(entry.message) && log(`${host} evacuate: ${entry.message}`));
  });
  upgrade.on('return', (vm, migration) => log(`${migration.destination.name} return: moving ${vm} ${migration.vm.host.name} → ${migration.destination.name}`));
  upgrade.on('log', (entry) => entry.level !== 'debug' && !/^stopped at/.test(entry.message) && log(entry.message));

  const report = await upgrade;
  if (report.status === 'failed' || report.status === 'cancelled' || report.status === 'refused') {
    log(`${report.status.toUpperCase()}${report.failure?.host ? ` at ${report.failure.host} (${report.failure.step})` : ''}: ${report.failure?.message ?? ''}`);
    for (const where of report.whereabouts ?? []) log(`  ${where.vm} (home ${where.home}): ${where.runsOn === 'unknown' ? `UNKNOWN — ${where.detail}` : `runs on ${where.runsOn}`}`);
    if (report.resume) log(`to resume: ferry run rolling-upgrade ${args.map(quote).join(' ')}  (${report.resume})`);
  } else {
    log(`${report.status}: ${report.hosts.map((h) => `${h.host}${h.qemuVersion ? ` QEMU ${h.qemuVersion}` : ''} ${h.status}`).join(', ')}${report.resumed ? ' (resumed)' : ''}`);
  }
  return { ...report, exitCode: exitCodeOf(report) };
}

/** The plan as people read it, one line per step, in order. */
export function describePlan(plan: UpgradePlan): string[] {
  const lines: string[] = ['plan (a VM only moves to a QEMU at least as new as the one it runs; hosts before each turn are upgraded by then):'];
  for (const step of plan.steps) {
    const versions = Object.entries(step.qemuAt).map(([host, version]) => `${host} ${version ?? '?'}`).join(', ') || 'none (no other host)';
    const status = step.status === 'done' ? ' (done, journal)' : step.resumesAt ? ` (resumes at its ${step.resumesAt})` : '';
    lines.push(`#${step.order} ${step.host}${status}: QEMU ${step.qemuBefore ?? '?'} → ${step.qemuAfter ?? '(not checked)'}; the others then run ${versions}`);
    lines.push(`   1. evacuate: ${step.evacuate.map((move) => `${move.vm} (QEMU ${move.qemuVersion ?? '?'}) → ${move.to}`).join(', ') || 'no VMs'}`);
    for (const vm of step.unplaceable) lines.push(`      ✗ ${vm.vm} fits nowhere: ${vm.reason}`);
    lines.push(`   2. hook: ${step.hook}`);
    lines.push(`   3. check: ${step.check}`);
    lines.push(`   4. return: ${step.returns.map((move) => `${move.vm} ${move.from} → ${move.to}`).join(', ') || 'no VMs'}`);
  }
  if (plan.missing.length) lines.push(`not on any host (left alone): ${plan.missing.join(', ')}`);
  if (plan.refused) lines.push(`REFUSED: ${plan.refused}`);
  return lines;
}

/** As every ferry command: 0 done, 1 stopped with every VM in a known place, 3 a host unreachable, 4 some VM's place unknown, 5 cancelled. */
function exitCodeOf(report: RollingUpgradeReport): number {
  if (report.status === 'completed' || report.status === 'planned') return 0;
  if (report.whereabouts?.some((where) => where.runsOn === 'unknown')) return 4;
  if (report.status === 'cancelled') return 5;
  return report.failure?.unreachable?.length ? 3 : 1;
}

function numberOf(flag: string, value: string): number {
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) throw new RollingUpgradeOptionsError(flag, `takes a positive number, got ${JSON.stringify(value)}`);
  return number;
}

import { host, formatBytes, type EvacuateOptions, type EvacuationReport, type Evacuation } from '../../sdk/index.ts';
import { UsageError, type CliCommand, type CliIo } from '../cli-command.ts';
import { EXIT, type ExitCode } from '../exit-codes.ts';
import { parseFlags } from '../parse-flags.ts';
import { formatDuration, table } from '../render/format.ts';

const flags = {
  to: { type: 'string' },
  'dry-run': { type: 'boolean' },
  concurrency: { type: 'string' },
  order: { type: 'string' },
  'max-downtime': { type: 'string' },
  bandwidth: { type: 'string' },
  journal: { type: 'string' },
  'no-retry': { type: 'boolean' },
  'move-back': { type: 'boolean' },
  'end-maintenance': { type: 'boolean' },
} as const;

export const command: CliCommand = {
  name: 'evacuate',
  summary: 'move every VM off a host (and mark it in maintenance), or back home',
  usage: `ferry evacuate HOST [--to b,c] [--dry-run] [--json] [options]
    --to HOSTS              destinations, comma-separated (default: every other host)
    --dry-run               print the plan with predicted times, touch nothing
    --concurrency N|adaptive  migrations at once (default adaptive)
    --order ORDER           smallest-first (default), largest-first, name, or vm1,vm2,…
    --max-downtime MS       each migration's longest pause
    --bandwidth RATE        each migration's bandwidth cap, e.g. 64MiB/s
    --journal FILE          the evacuation's journal (default in FERRY_STATE_DIR)
    --no-retry              do not retry a failed VM elsewhere
    --move-back             return the VMs the journal says left HOST
    --end-maintenance       clear HOST's maintenance mark (before --move-back, or alone)`,
  async run(args, io) {
    const { values, positionals } = parseFlags(args, flags);
    const name = positionals[0];
    if (!name) throw new UsageError('expected a host to evacuate');
    if (positionals.length > 1) throw new UsageError(`unexpected ${JSON.stringify(positionals[1])}`);
    const target = host(name);
    if (values['end-maintenance']) {
      await target.endMaintenance({ signal: io.signal });
      if (!values['move-back']) {
        if (io.json) io.stdout.write(JSON.stringify({ ok: true, host: name, maintenance: false }) + '\n');
        else io.stdout.write(`${name} is out of maintenance\n`);
        return EXIT.ok;
      }
    }
    const options = evacuateOptionsFromFlags(values);
    const evacuation = values['move-back'] ? target.moveBack({ ...options, signal: io.signal }) : target.evacuate({ ...options, signal: io.signal });
    if (!io.json) narrate(evacuation, io);
    const report = await evacuation;
    if (io.json) io.stdout.write(JSON.stringify({ ok: report.status === 'completed' || report.status === 'planned', report }) + '\n');
    else io.stdout.write(renderEvacuationReport(report));
    return exitCodeForReport(report);
  },
};

/** CLI flags → EvacuateOptions (checked by the SDK, with its messages). */
export function evacuateOptionsFromFlags(values: Record<string, string | boolean | undefined>): EvacuateOptions {
  const options: EvacuateOptions = {};
  if (typeof values['to'] === 'string') options.to = values['to'];
  if (values['dry-run'] === true) options.dryRun = true;
  if (values['no-retry'] === true) options.retry = false;
  if (typeof values['journal'] === 'string') options.journal = values['journal'];
  const concurrency = values['concurrency'];
  if (typeof concurrency === 'string') options.concurrency = concurrency === 'adaptive' ? 'adaptive' : numberOf('--concurrency', concurrency);
  const order = values['order'];
  if (typeof order === 'string') options.order = ['smallest-first', 'largest-first', 'name'].includes(order) ? (order as 'name') : order.split(',').map((vm) => vm.trim());
  if (typeof values['max-downtime'] === 'string') options.maxDowntime = numberOf('--max-downtime', values['max-downtime']);
  if (typeof values['bandwidth'] === 'string') options.migration = { bandwidth: values['bandwidth'] };
  return options;
}

function numberOf(flag: string, value: string): number {
  const number = Number(value);
  if (!Number.isFinite(number)) throw new UsageError(`${flag} takes a number, got ${JSON.stringify(value)}`);
  return number;
}

/** One line per step on stderr, for people watching. */
function narrate(evacuation: Evacuation, io: CliIo): void {
  evacuation.on('start', (step) => io.stderr.write(`  → ${step.vm}: ${step.from} → ${step.to}${step.attempt > 1 ? ` (retry)` : ''}\n`));
  evacuation.on('done', (outcome) => {
    if (outcome.status === 'moved') io.stderr.write(`  ✓ ${outcome.vm} on ${outcome.to}${outcome.result ? ` in ${formatDuration(outcome.result.wallTimeMs)}, paused ${outcome.result.downtimeMs} ms` : ''}\n`);
    else if (outcome.status === 'failed') io.stderr.write(`  ✗ ${outcome.vm} failed, runs on ${outcome.runsOn}: ${outcome.error.message}\n`);
    else if (outcome.status === 'skipped') io.stderr.write(`  - ${outcome.vm} skipped: ${outcome.reason}\n`);
  });
  evacuation.on('concurrency', (decision) => io.stderr.write(`    concurrency: ${decision.reason}\n`));
}

/** The report for people: a table of every VM, then the totals. */
export function renderEvacuationReport(report: EvacuationReport): string {
  const title = report.mode === 'move-back' ? `move-back to ${report.host}` : `evacuation of ${report.host}`;
  if (report.status === 'failed') return `${title} could not start: ${report.error?.message ?? 'unknown error'}\n`;
  const rows: string[][] = [['VM', 'STATUS', 'FROM', 'TO', 'DETAIL']];
  for (const vm of report.vms) {
    if (vm.status === 'planned') rows.push([vm.vm, `#${vm.order}`, vm.from, vm.to, `~${formatDuration(vm.predictedMs)} (${formatBytes(vm.bytesToMove)})`]);
    else if (vm.status === 'moved') rows.push([vm.vm, 'moved', vm.from, vm.to, vm.result ? `${formatDuration(vm.result.wallTimeMs)}, paused ${vm.result.downtimeMs} ms${vm.attempts > 1 ? ', on retry' : ''}` : 'earlier run (journal)']);
    else if (vm.status === 'failed') rows.push([vm.vm, 'FAILED', vm.from, vm.to, `runs on ${vm.runsOn}: ${vm.error.message}`]);
    else rows.push([vm.vm, 'skipped', vm.from, '-', vm.reason]);
  }
  const lines = [`${title}: ${report.status}${report.resumed ? ' (resumed from the journal)' : ''}`, table(rows).trimEnd()];
  if (report.status === 'planned') lines.push(`predicted ${formatDuration(report.predictedMs ?? 0)} in all; ${report.predictionBasis ?? ''}`);
  else {
    lines.push(`${report.moved.length} moved, ${report.failed.length} failed, ${report.skipped.length} skipped in ${formatDuration(report.wallTimeMs)}; ${formatBytes(report.transferredBytes)} sent; concurrency ${report.concurrency.mode} (peak ${report.concurrency.peak})`);
    if (report.mode === 'evacuate') lines.push(`${report.host} stays in maintenance until \`ferry evacuate ${report.host} --end-maintenance\``);
  }
  return lines.join('\n') + '\n';
}

/** 0 all moved (or planned); 4 a VM's state is unknown; 5 cancelled; 1 anything failed or skipped. */
export function exitCodeForReport(report: EvacuationReport): ExitCode {
  if (report.status === 'completed' || report.status === 'planned') return EXIT.ok;
  if (report.failed.some((vm) => vm.runsOn === 'unknown' || vm.vmState === 'paused-on-source')) return EXIT.vmStateUnknown;
  if (report.status === 'cancelled') return EXIT.cancelled;
  return EXIT.failed;
}

// Recipe: move every VM off a host before maintenance, with the public SDK only.
//
//   ferry run evacuate-host a --to b,c [--concurrency 2] [--dry-run] [--max-downtime 300]
//   ferry run evacuate-host a --to b,c --cron "0 3 * * 6"     (every Saturday at 03:00)
//
// Copy it and change what you need: the SDK does placement (free memory,
// anti-affinity, maintenance), concurrency, retries and the journal.
import { parseArgs } from 'node:util';
import { host, type EvacuationReport } from '../sdk/index.ts';

/** What `ferry run` hands a recipe (a recipe run by hand gets none). */
export interface RunContext {
  signal: AbortSignal;
  /** This recipe's append-only journal: an interrupted run resumes from it. */
  journal: string;
  log(message: string): void;
}

export default async function evacuateHost(args: string[], context?: RunContext): Promise<EvacuationReport> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { to: { type: 'string' }, concurrency: { type: 'string' }, 'dry-run': { type: 'boolean' }, 'max-downtime': { type: 'string' }, 'allow-pause': { type: 'boolean' } },
  });
  const name = positionals[0];
  if (!name) throw new Error('usage: evacuate-host HOST [--to b,c] [--concurrency N] [--dry-run] [--max-downtime MS] [--allow-pause]');
  const log = context?.log ?? ((message: string) => console.error(message));
  const concurrency = values.concurrency === undefined || values.concurrency === 'adaptive' ? 'adaptive' : Number(values.concurrency);

  const evacuation = host(name).evacuate({
    ...(values.to !== undefined && { to: values.to }),
    concurrency,
    dryRun: values['dry-run'] ?? false,
    ...(values['max-downtime'] !== undefined && { maxDowntime: Number(values['max-downtime']) }),
    ...(values['allow-pause'] && { migration: { allowPause: true } }),
    ...(context && { journal: context.journal, signal: context.signal }),
    reason: 'evacuate-host recipe',
  });
  evacuation.on('start', (step) => log(`${step.vm}: ${step.from} → ${step.to}${step.attempt > 1 ? ' (retry)' : ''}`));
  evacuation.on('done', (outcome) => {
    if (outcome.status === 'moved') log(`${outcome.vm}: moved to ${outcome.to}`);
    if (outcome.status === 'failed') log(`${outcome.vm}: FAILED, runs on ${outcome.runsOn}: ${outcome.error.message}`);
    if (outcome.status === 'skipped') log(`${outcome.vm}: skipped, ${outcome.reason}`);
  });

  const report = await evacuation;
  if (report.status === 'planned') for (const step of report.plan ?? []) log(`plan #${step.order}: ${step.vm} → ${step.to}, ~${step.predictedMs} ms`);
  log(`${name}: ${report.status}, ${report.moved.length} moved, ${report.failed.length} failed, ${report.skipped.length} skipped`);
  return report;
}

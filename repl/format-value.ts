import { inspect } from 'node:util';
import { formatBytes, Host, Migration, type MigrationResult, type VmSummary } from '../sdk/index.ts';
import { formatDuration, formatRate, table } from '../cli/render/format.ts';

/**
 * How the REPL prints a value: ferry's own results as short tables, the
 * rest as Node's inspect does.
 *
 * @example
 * formatValue(await host('a').vm('web').migrateTo('b')) // 'a/web → b  completed …'
 */
export function formatValue(value: unknown, colors = false): string {
  // Node prints a thrown error with the writer, after "Uncaught ": one line, the stack only with FERRY_DEBUG.
  if (value instanceof Error && !process.env['FERRY_DEBUG']) return `${value.name}: ${value.message.split('\n')[0]}`;
  if (isMigrationResult(value)) return formatMigrationResult(value);
  if (value instanceof Migration) return formatMigration(value);
  if (Array.isArray(value) && value.length > 0 && value.every(isVmSummary)) return formatVmSummaries(value).trimEnd();
  if (value instanceof Host) return `host ${value.name} (${value.config.ssh ?? 'local'}, runDir ${value.config.runDir})`;
  return inspect(value, { colors, depth: 4 });
}

export function formatMigrationResult(result: MigrationResult): string {
  const title = `${result.source}/${result.vm} → ${result.destination}  ${result.status}`;
  if (result.status === 'planned') {
    return [title, ...(result.plan ?? []).map((step, i) => `  ${i + 1}. [${step.phase}, ${step.side}] ${step.action}`)].join('\n');
  }
  const rows = [
    ['wall time', formatDuration(result.wallTimeMs), `destination start ${formatDuration(result.destinationStartMs)}, transfer ${formatDuration(result.totalTimeMs)}`],
    ['downtime', `${result.downtimeMs} ms`, `limit ${result.options.maxDowntime} ms${result.downtimeOverrun ? `, OVER BUDGET by ${result.downtimeOverrun.byMs} ms` : ''}`],
    ['transferred', formatBytes(result.transferredBytes), `${result.passes} passes at ${formatRate(result.throughput)}`],
    ['post-copy', result.postcopy ? 'yes' : 'no', ''],
  ];
  return `${title}\n${table(rows.map((row) => ['  ' + row[0], ...row.slice(1)])).trimEnd()}`;
}

export function formatMigration(migration: Migration): string {
  return `migration ${migration.vm.label} → ${migration.destination.name} (${migration.phase}); await it for the result, .watch to follow, .cancel to stop`;
}

export function formatVmSummaries(vms: readonly VmSummary[]): string {
  const rows = [['HOST', 'VM', 'PID', 'STATE'], ...vms.map((vm) => [vm.host, vm.name, String(vm.pid ?? '-'), vm.state ?? vm.process])];
  return table(rows);
}

function isMigrationResult(value: unknown): value is MigrationResult {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Partial<MigrationResult>;
  return (v.status === 'completed' || v.status === 'planned') && typeof v.vm === 'string' && typeof v.wallTimeMs === 'number' && typeof v.options === 'object';
}

function isVmSummary(value: unknown): value is VmSummary {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Partial<VmSummary>;
  return typeof v.host === 'string' && typeof v.name === 'string' && (v.process === 'running' || v.process === 'stale');
}

/** An error as one line: what went wrong, in ferry's words. */
export function formatError(error: unknown): string {
  if (error instanceof Error) return `ferry: ${error.message.split('\n')[0]}`;
  return `ferry: ${String(error)}`;
}

import { host, MIGRATION_OPTION_TABLE, formatBytes, type MigrationOptions, type MigrationResult } from '../../sdk/index.ts';
import { parseVmRef, UsageError, type CliCommand } from '../cli-command.ts';
import { EXIT } from '../exit-codes.ts';
import { parseFlags } from '../parse-flags.ts';
import { formatDuration, formatRate } from '../render/format.ts';
import { ProgressBar } from '../render/progress-bar.ts';

/** The TLS option's fields, beside `--tls` (which alone means /etc/pki/qemu on each host). */
export const TLS_FLAGS = {
  'tls-dir': { type: 'string' as const },
  'tls-hostname': { type: 'string' as const },
  'tls-authz': { type: 'string' as const },
};
const TLS_USAGE = [
  ['--tls-dir DIR', 'TLS credentials directory on both hosts (implies --tls)'],
  ['--tls-hostname NAME', "the name the destination's certificate must show"],
  ['--tls-authz SUBJECT', "accept only this source; auto: its client certificate's subject"],
];

// The flags follow from the option table: a flag-unit option is a switch, the rest take a value.
const flagOptions = {
  ...Object.fromEntries(MIGRATION_OPTION_TABLE.map((row) => [row.cliFlag.slice(2), { type: row.unit === 'flag' ? ('boolean' as const) : ('string' as const) }])),
  ...TLS_FLAGS,
};

/** CLI flags → MigrationOptions (validated later by the SDK, with its messages). */
export function migrationOptionsFromFlags(values: Record<string, string | boolean | undefined>): MigrationOptions {
  const options: Record<string, unknown> = {};
  for (const row of MIGRATION_OPTION_TABLE) {
    const value = values[row.cliFlag.slice(2)];
    if (value === undefined) continue;
    if (typeof value === 'boolean') options[row.option] = value;
    else if (row.unit === 'ms') options[row.option] = numberOf(row.cliFlag, value);
    else if (row.unit === 'channels' || row.unit === 'bytes') options[row.option] = value === 'on' || value === 'true' ? true : numberOf(row.cliFlag, value);
    else if (row.unit === 'storage') options[row.option] = storageOf(value);
    else options[row.option] = value;
  }
  const [dir, hostname, authz] = [values['tls-dir'], values['tls-hostname'], values['tls-authz']].map((value) => (typeof value === 'string' ? value : undefined));
  if (dir !== undefined || hostname !== undefined || authz !== undefined) {
    if (values['tls'] === false) throw new UsageError('--tls-dir, --tls-hostname and --tls-authz need TLS');
    options['tls'] = { ...(dir !== undefined && { dir }), ...(hostname !== undefined && { hostname }), ...(authz !== undefined && { authz: authz === 'auto' ? true : authz }) };
  }
  return options as MigrationOptions;
}

/** `--storage copy`, or per disk: `--storage auto,/var/lib/vms/web.qcow2=copy,disk1=shared`. */
function storageOf(value: string): MigrationOptions['storage'] {
  const [mode, ...overrides] = value.split(',');
  if (overrides.length === 0) return mode as MigrationOptions['storage'];
  const disks: Record<string, string> = {};
  for (const override of overrides) {
    const eq = override.lastIndexOf('=');
    if (eq <= 0) throw new UsageError(`--storage: expected DISK=shared|copy after the mode, got ${JSON.stringify(override)}`);
    disks[override.slice(0, eq)] = override.slice(eq + 1);
  }
  return { mode, disks } as MigrationOptions['storage'];
}

function numberOf(flag: string, value: string): number {
  const number = Number(value);
  if (!Number.isFinite(number)) throw new UsageError(`${flag} takes a number, got ${JSON.stringify(value)}`);
  return number;
}

export const command: CliCommand = {
  name: 'migrate',
  summary: 'live-migrate a VM to another host',
  usage: `ferry migrate HOST/VM DEST [options] [--json]\n${[...MIGRATION_OPTION_TABLE.map((row) => [`${row.cliFlag}${row.unit === 'flag' ? '' : ' VALUE'}`, row.description]), ...TLS_USAGE].map(([flag = '', description = '']) => `    ${flag}`.padEnd(26) + description).join('\n')}`,
  async run(args, io) {
    const { values, positionals } = parseFlags(args, flagOptions);
    const ref = parseVmRef(positionals[0]);
    const destination = positionals[1];
    if (!destination) throw new UsageError('expected a destination host');
    if (positionals.length > 2) throw new UsageError(`unexpected ${JSON.stringify(positionals[2])}`);
    const options = migrationOptionsFromFlags(values);
    const migration = host(ref.host).vm(ref.vm).migrateTo(destination, { ...options, signal: io.signal });
    const bar = io.json ? undefined : new ProgressBar(io.stderr);
    if (bar) {
      io.stderr.write(`migrating ${ref.host}/${ref.vm} → ${destination}\n`);
      migration.on('phase', (phase) => bar.phase(phase));
      migration.on('progress', (progress) => bar.progress(progress));
      migration.on('action', (action) => bar.note(`${action.action}: ${action.reason}`));
    }
    try {
      const result = await migration;
      bar?.done();
      if (io.json) io.stdout.write(JSON.stringify({ ok: true, result }) + '\n');
      else io.stdout.write(summary(result));
      return EXIT.ok;
    } finally {
      bar?.done();
    }
  },
};

function summary(result: MigrationResult): string {
  if (result.status === 'planned') {
    const disks = (result.disks ?? []).map((disk) => `  disk ${disk.description}`);
    return `plan for ${result.source}/${result.vm} → ${result.destination}:\n${(result.plan ?? []).map((step, i) => `  ${i + 1}. [${step.phase}, ${step.side}] ${step.action}`).join('\n')}\n${disks.length ? `${disks.join('\n')}\n` : ''}`;
  }
  return [
    `${result.source}/${result.vm} now runs on ${result.destination}`,
    `  wall time   ${formatDuration(result.wallTimeMs)} (destination start ${formatDuration(result.destinationStartMs)}, transfer ${formatDuration(result.totalTimeMs)})`,
    `  downtime    ${result.downtimeMs} ms (limit ${result.options.maxDowntime} ms)`,
    ...(result.downtimeOverrun ? [`  OVER BUDGET by ${result.downtimeOverrun.byMs} ms: ${result.downtimeOverrun.reason}`] : []),
    `  transferred ${formatBytes(result.transferredBytes)} in ${result.passes} passes at ${formatRate(result.throughput)}`,
    ...(result.disks ?? []).map((disk) => `  disk        ${disk.description}`),
    ...(result.diskCopyMs !== undefined ? [`  disk copy   ${formatDuration(result.diskCopyMs)} before memory moved`] : []),
    ...(result.guestCheck ? [`  guest       ${result.guestCheck.ok ? 'alive' : 'NOT WELL'} (${result.guestCheck.methods.join(', ')}): ${result.guestCheck.detail}`] : []),
  ].join('\n') + '\n';
}

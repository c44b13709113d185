import { throwIfAborted } from '../ferry-error.ts';
import { destinationFacts, type DestinationFacts } from './destination-facts.ts';
import { diskImages } from './disk-images.ts';
import { DiskCopy } from './storage/disk-copy.ts';
import { planVmStorage } from './storage/plan-vm-storage.ts';
import type { DiskPlan } from './storage/storage-plan.ts';
import { isTransferOver, transferState } from './qemu-migration-status.ts';
import { log, type MigrationContext } from './migration-context.ts';
import { PreflightError, type PreflightCheck } from './migration-errors.ts';
import { downtimeBudgetCheck } from './downtime-budget-check.ts';
import { preflightTls, probeTlsSrc, zeroCopyChecksSrc } from './tls/tls-preflight.ts';

// QEMU's own overhead on top of guest RAM, and what the destination keeps for itself.
const MEMORY_HEADROOM_BYTES = 128 * 1024 ** 2;

/** What preflight learned about the source, used by later phases. */
export interface SourceFacts {
  argv: string[];
  memoryBytes: number;
  version: [number, number, number];
  machineType: string | undefined;
  accelerator: string;
  cpuFlags: string[];
}

/**
 * Checks both sides in parallel; every failed check is reported at once,
 * each saying what to fix. Leaves the source's QMP connection in the context.
 * `dstFacts`: the destination's facts, when the caller started reading them
 * earlier (beside the source's claim: they need nothing from the source).
 */
export async function preflight(context: MigrationContext, dstFacts: Promise<DestinationFacts> = preflightDstFacts(context)): Promise<void> {
  const { source, destination, vm } = context;
  const details = { vm: vm.name, source: source.name, destination: destination.name };
  if (destination.config.maintenance) {
    throw new PreflightError(details, [{ check: 'destination-maintenance', ok: false, message: `${destination.name} is in maintenance; pick another host or end its maintenance` }]);
  }
  const tls = context.options.tls;
  const [src, dst, disks, srcTls] = await Promise.allSettled([preflightSrc(context), dstFacts, preflightStorage(context), tls ? probeTlsSrc(source, tls, { signal: context.signal }) : Promise.resolve(undefined)]);
  throwIfAborted(context.signal);
  const checks: PreflightCheck[] = [];
  if (src.status === 'rejected') checks.push({ check: 'source-vm', ok: false, message: reason(src.reason) });
  if (dst.status === 'rejected') checks.push({ check: 'destination-reachable', ok: false, message: `cannot use ${destination.name}: ${reason(dst.reason)}` });
  if (src.status === 'fulfilled' && dst.status === 'fulfilled') {
    checks.push(...compare(context, src.value, dst.value));
    if (disks.status === 'rejected') checks.push({ check: 'disks', ok: false, message: `cannot tell where ${vm.name}'s disks are: ${reason(disks.reason)}` });
    else checks.push(...disks.value.checks, downtimeBudgetCheck(context.options, disks.value.disks.some((plan) => plan.action === 'copy')));
    if (srcTls.status === 'rejected') checks.push({ check: 'tls-credentials-source', ok: false, message: `cannot check the TLS credentials on ${source.name}: ${reason(srcTls.reason)}` });
    else checks.push(...preflightTls(context, srcTls.value, dst.value.tls));
    checks.push(...(await zeroCopyChecksSrc(context)));
  }
  if (checks.some((check) => !check.ok)) {
    throw new PreflightError(details, checks, { cause: src.status === 'rejected' ? src.reason : dst.status === 'rejected' ? dst.reason : undefined });
  }
  if (src.status === 'fulfilled') {
    context.sourceMemoryBytes = src.value.memoryBytes;
    context.sourceMachineType = src.value.machineType;
  }
  if (disks.status === 'fulfilled') context.storage = { plans: disks.value.disks, copy: new DiskCopy(context.id, disks.value.disks) };
  for (const check of checks) log(context, 'debug', `preflight ${check.check}: ${check.message}`);
}

/** The source side: its QEMU answers and is not migrating already; its RAM, QEMU version, machine. (claimSourceVm read its command line.) */
async function preflightSrc(context: MigrationContext): Promise<SourceFacts> {
  const { vm, signal } = context;
  const argv = context.sourceArgv ?? [];
  // claimSourceVm connected through the source's guard.
  const qmp = context.srcQmp ?? (context.srcQmp = await vm.connectQmp({ signal }));
  const [status, migration, memory, machines] = await Promise.all([
    qmp.execute('query-status', {}, { signal }),
    qmp.execute('query-migrate', {}, { signal }),
    qmp.execute('query-memory-size-summary', {}, { signal }),
    qmp.execute('query-machines', {}, { signal }),
  ]);
  if (status.status !== 'running' && status.status !== 'paused') {
    throw new Error(`${vm.label} is ${status.status}; only a running or paused VM can migrate`);
  }
  const state = transferState(migration.status);
  if (state !== 'idle' && !isTransferOver(state)) throw new Error(`${vm.label} is already migrating (QEMU status ${migration.status})`);
  context.sourceWasRunning = status.running;
  context.srcGuard?.send(`was-running ${status.running ? 1 : 0}`);
  const { major, minor, micro } = qmp.greeting.QMP.version.qemu;
  const requested = machineOption(argv);
  // An alias (pc, q35) means different machines in different QEMU versions: pin the versioned one.
  const machineType = machines.find((m) => m.alias === (requested ?? 'pc') || m.name === requested)?.name ?? requested;
  const accelerator = acceleratorOf(argv);
  // Under KVM the guest sees the host's CPU features; under TCG they are emulated and move freely.
  const cpuFlags = accelerator === 'kvm' ? (await context.source.facts({ signal })).cpuFlags : [];
  return {
    argv,
    memoryBytes: memory['base-memory'] + (memory['plugged-memory'] ?? 0),
    version: [major, minor, micro],
    machineType,
    accelerator,
    cpuFlags,
  };
}

/** The VM's disks and what happens to each (storage/plan-vm-storage.ts), beside the other checks. */
async function preflightStorage(context: MigrationContext): Promise<{ disks: DiskPlan[]; checks: PreflightCheck[] }> {
  const { source, destination, vm, signal } = context;
  const argv = context.sourceArgv ?? [];
  if (diskImages(argv).length === 0) return { disks: [], checks: [] };
  const qmp = context.srcQmp ?? (context.srcQmp = await vm.connectQmp({ signal }));
  return planVmStorage({ vm: vm.name, source, destination, qmp, argv, storage: context.options.storage, signal });
}

/** What preflight checks on the destination, read in one round trip; touches nothing there. */
export function preflightDstFacts(context: MigrationContext): Promise<DestinationFacts> {
  const tls = context.options.tls;
  return destinationFacts(context.destination, context.vm.name, { signal: context.signal, ...(tls && { tlsDir: tls.dir }) });
}

function compare(context: MigrationContext, src: SourceFacts, dst: DestinationFacts): PreflightCheck[] {
  const { destination, vm } = context;
  const checks: PreflightCheck[] = [];
  const need = src.memoryBytes + MEMORY_HEADROOM_BYTES;
  checks.push({
    check: 'destination-memory',
    ok: dst.memAvailableBytes >= need,
    message: `${destination.name} has ${mib(dst.memAvailableBytes)} MiB available, the VM needs ${mib(need)} MiB`,
  });
  const dstVersion = (dst.qemuVersion ?? '0.0.0').split('.').map(Number);
  const older = compareVersions(dstVersion, src.version) < 0;
  checks.push({
    check: 'destination-qemu-version',
    ok: dst.qemuVersion !== undefined && !older,
    message: dst.qemuVersion === undefined
      ? `no ${destination.config.qemuBinary} on ${destination.name}: install QEMU there or set qemuBinary in the config`
      : `${destination.name} has QEMU ${dst.qemuVersion}, the source ${src.version.join('.')}${older ? ': upgrade QEMU on the destination' : ''}`,
  });
  if (src.machineType) {
    checks.push({
      check: 'destination-machine-type',
      ok: dst.machineTypes.includes(src.machineType),
      message: `machine type ${src.machineType}${dst.machineTypes.includes(src.machineType) ? '' : ` is not offered by ${destination.name}'s QEMU`}`,
    });
  }
  checks.push({
    check: 'destination-guard',
    ok: dst.hasPerl,
    message: dst.hasPerl ? 'perl is there for ferry\'s guard' : `${destination.name} has no perl, which ferry's guard needs to keep the VM safe if ferry is lost: install perl-base (Debian, Ubuntu) or perl-interpreter (RHEL, Fedora)`,
  });
  if (dst.inMaintenance) {
    checks.push({ check: 'destination-maintenance', ok: false, message: `${destination.name} is marked for maintenance (${destination.config.runDir}/.ferry-maintenance); pick another host or end its maintenance` });
  }
  checks.push({
    check: 'destination-free-name',
    ok: dst.vmAlreadyThere === undefined,
    message: dst.vmAlreadyThere === undefined ? `no ${vm.name} on ${destination.name} yet` : `a VM called ${vm.name} already runs on ${destination.name} (pid ${dst.vmAlreadyThere})`,
  });
  if (src.accelerator === 'kvm') {
    const dstFlags = new Set(dst.cpuFlags);
    const missing = src.cpuFlags.filter((flag) => !dstFlags.has(flag));
    checks.push({ check: 'destination-cpu-flags', ok: missing.length === 0, message: missing.length ? `${destination.name}'s CPU lacks ${missing.slice(0, 8).join(' ')}` : 'CPU flags present' });
  }
  return checks;
}

/** The `-machine`/`-M` type on a QEMU command line, if any. */
export function machineOption(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length - 1; i++) {
    const option = argv[i]?.replace(/^--/, '-');
    if (option !== '-machine' && option !== '-M') continue;
    const fields = (argv[i + 1] ?? '').split(',');
    const typed = fields.find((field) => field.startsWith('type='));
    return typed ? typed.slice(5) : fields[0]?.includes('=') ? undefined : fields[0];
  }
  return undefined;
}

function acceleratorOf(argv: readonly string[]): string {
  if (argv.includes('-enable-kvm')) return 'kvm';
  for (let i = 0; i < argv.length - 1; i++) {
    if (argv[i] === '-accel') return (argv[i + 1] ?? '').split(',')[0] ?? 'tcg';
    if (argv[i] === '-machine' || argv[i] === '-M') {
      const accel = /(?:^|,)accel=([^,:]+)/.exec(argv[i + 1] ?? '');
      if (accel?.[1]) return accel[1];
    }
  }
  return 'tcg';
}

function compareVersions(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < 3; i++) {
    const diff = (a[i] ?? 0) - (b[i] ?? 0);
    if (diff !== 0) return diff;
  }
  return 0;
}

function mib(bytes: number): number {
  return Math.round(bytes / 1024 ** 2);
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

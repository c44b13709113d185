import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Host } from '../model/host.ts';
import type { Vm } from '../model/vm.ts';
import { withAlive } from '../model/live-process.ts';
import type { QmpClient } from '../qmp/index.ts';
import { sh } from '../transport/index.ts';
import { cancelTransferSrc } from './cancel-transfer.ts';
import type { VmLocation } from './migration-errors.ts';
import { parseMigrationRecord, releaseMigrationLock, type MigrationRecord } from './migration-lock.ts';
import { planRecovery, type RecoveryStep } from './recovery-plan.ts';
import { resumePostcopy } from './postcopy-keeper.ts';
import { locationOf, readQemuSide, type QemuSide } from './vm-location.ts';
import { stopAndRemoveVm } from './vm-files.ts';

/** What `recover()` found and did. */
export interface RecoveryReport {
  /**
   * `recovered`: steps were taken; `nothing-to-do`: no interrupted migration;
   * `in-progress`: a live migration holds the VM; `refused`: QEMU's state does
   * not allow a safe decision (the summary says why), nothing was changed after that.
   */
  outcome: 'recovered' | 'nothing-to-do' | 'in-progress' | 'refused';
  vm: string;
  source: string;
  destination: string | undefined;
  /** Each step taken, with why, in order. */
  steps: string[];
  /** Where the VM is afterwards, read again from QEMU on both hosts. */
  vmState: VmLocation;
  /** One line for people. */
  summary: string;
  /** QEMU's state as found, before any step. */
  found: { source: QemuSide; destination: QemuSide | undefined };
  /** The stage the interrupted migration had reached, from its record (see MigrationStage). */
  interruptedAt?: string;
}

// A guard whose ferry (on another machine) wrote the record this recently is taken to serve a live migration.
const LIVE_RECORD_MS = 5_000;
const GUARD_SETTLE_MS = 20_000;

/**
 * Finishes an interrupted migration of `vm` (the VM on its source host):
 * reads QEMU's real state on both hosts and resumes, completes, cleans up or
 * resumes a paused post-copy (see planRecovery). Idempotent: on a VM with
 * nothing to recover it only reports where the VM is.
 *
 * @example
 * const report = await host('a').vm('web').recover();
 * console.log(report.summary);
 */
export async function recoverMigration(vm: Vm, options: { signal?: AbortSignal } = {}): Promise<RecoveryReport> {
  const source = vm.host;
  let lock = await readLock(source, vm.name, options);
  // A guard still alive is settling the migration itself (or serves a live one): let it finish.
  const deadline = Date.now() + GUARD_SETTLE_MS;
  while (lock.guardAlive && Date.now() < deadline) {
    if (lock.record && controllerAlive(lock.record)) {
      return report('in-progress', vm, lock.record?.destination, [], 'running-on-source', `a migration of ${vm.label} to ${lock.record?.destination ?? '?'} is in progress (its ferry is alive): nothing to recover`, await readQemuSide(source, vm.name, { ...options, timeoutMs: 1000 }), undefined, lock.record);
    }
    await sleep(250, undefined, options);
    lock = await readLock(source, vm.name, options);
  }
  const destination = lock.record ? source.peer(lock.record.destination) : undefined;
  const [src, dst] = await Promise.all([
    readQemuSide(source, vm.name, options),
    destination ? readQemuSide(destination, vm.name, options) : Promise.resolve(undefined),
  ]);
  if (!lock.present) {
    const where = locationOf(src, undefined);
    return report('nothing-to-do', vm, undefined, [], where, `no interrupted migration of ${vm.label}; ${describe(where, vm, undefined)}`, src, undefined);
  }
  // A VM that arrived by migration reports that incoming one in query-migrate: before its
  // ferry issued `migrate` (the record's stage says), nothing of this migration was sent.
  const sent = !lock.record?.stage || !['new', 'source-claimed', 'destination-started'].includes(lock.record.stage);
  const plan = planRecovery(sent ? src : { ...src, migration: 'none' }, dst);
  const done: string[] = [];
  for (const step of plan) {
    if (step.step === 'refuse' || step.step === 'wait') {
      const where = locationOf(src, dst);
      return report(step.step === 'wait' ? 'in-progress' : 'refused', vm, destination?.name, done, where, `not recovered: ${step.why}`, src, dst, lock.record);
    }
    await runStep(step, vm, destination, lock.record, options);
    done.push(`${step.step}: ${step.why}`);
  }
  const [srcAfter, dstAfter] = await Promise.all([
    readQemuSide(source, vm.name, options),
    destination ? readQemuSide(destination, vm.name, options) : Promise.resolve(undefined),
  ]);
  const where = locationOf(srcAfter, dstAfter);
  const stage = lock.record?.stage ? ` (its ferry was lost at stage ${lock.record.stage})` : '';
  return report('recovered', vm, destination?.name, done, where, `recovered${stage} (${done.map((line) => line.split(':')[0]).join(', ') || 'nothing to do'}): ${describe(where, vm, destination?.name)}`, src, dst, lock.record);
}

async function runStep(step: RecoveryStep, vm: Vm, destination: Host | undefined, record: MigrationRecord | undefined, options: { signal?: AbortSignal }): Promise<void> {
  const source = vm.host;
  const onDst = destination?.vm(vm.name);
  switch (step.step) {
    case 'cancel-source':
      await vm.withQmp((qmp) => cancelTransferSrc(qmp), options);
      return;
    case 'cont-source':
      await vm.withQmp((qmp) => contIfStopped(qmp), options);
      return;
    case 'restore-source':
      if (record?.restore?.length) {
        await vm.withQmp(async (qmp) => {
          for (const line of record.restore ?? []) {
            const { execute, arguments: args } = JSON.parse(line) as { execute: string; arguments?: Record<string, unknown> };
            await qmp.executeUnchecked(execute, args).catch(() => undefined);
          }
        }, options);
      }
      return;
    case 'quit-source': {
      const argv = await vm.commandLine(options).catch(() => []);
      await vm.qmpUnchecked('quit', undefined, options).catch(() => undefined);
      await stopAndRemoveVm(source, vm.name, argv);
      return;
    }
    case 'cont-destination':
      if (onDst) await onDst.withQmp((qmp) => contIfStopped(qmp), options);
      return;
    case 'end-destination':
      if (destination && onDst) {
        const argv = await onDst.commandLine(options).catch(() => []);
        await stopAndRemoveVm(destination, vm.name, argv);
      }
      return;
    case 'resume-postcopy':
      if (destination) await resumePostcopyOf(vm, destination, record?.migrationUri, options);
      return;
    case 'release-lock':
      await releaseMigrationLock(source, vm.name, options);
      return;
    case 'wait':
    case 'refuse':
      return;
  }
}

/** Resumes a paused post-copy with both QEMUs' sockets, waits for it to end, then finishes it as a completed migration. */
async function resumePostcopyOf(vm: Vm, destination: Host, uri: string | undefined, options: { signal?: AbortSignal }): Promise<void> {
  if (!uri) throw new Error('the interrupted migration left no URI to resume its post-copy on');
  const dst = destination.vm(vm.name);
  const dstQmp = await dst.connectQmp({ ...options, enableCapabilities: ['oob'] });
  try {
    await vm.withQmp((src) => resumePostcopy(src, dstQmp, uri), options);
  } finally {
    await dstQmp.close();
  }
  const status = await vm.withQmp(async (qmp) => {
    for (let i = 0; i < 6000; i++) {
      const now = (await qmp.execute('query-migrate')).status;
      if (now === 'completed' || now === 'postcopy-paused' || now === 'failed') return now;
      await sleep(50, undefined, options);
    }
    return undefined;
  }, options);
  if (status !== 'completed') throw new Error(`the resumed post-copy ended ${status ?? 'still running'}`);
  const argv = await vm.commandLine(options).catch(() => []);
  await vm.qmpUnchecked('quit', undefined, options).catch(() => undefined);
  await stopAndRemoveVm(vm.host, vm.name, argv);
  await dst.withQmp((qmp) => contIfStopped(qmp), options);
  await releaseMigrationLock(vm.host, vm.name, options);
}

async function contIfStopped(qmp: QmpClient): Promise<void> {
  const status = await qmp.execute('query-status');
  if (!status.running && (status.status === 'paused' || status.status === 'postmigrate' || status.status === 'finish-migrate')) await qmp.execute('cont');
}

/**
 * Whether the ferry that wrote `record` still runs: on this machine its pid
 * says so at once (a ferry killed a moment ago has a fresh record, while its
 * guards are already settling); elsewhere, a heartbeat written lately.
 */
function controllerAlive(record: MigrationRecord): boolean {
  if (record.controller.host === hostname()) {
    if (record.controller.pid === process.pid) return false;
    try {
      process.kill(record.controller.pid, 0);
      return true;
    } catch {
      return false;
    }
  }
  return Date.now() - Date.parse(record.heartbeatAt) < LIVE_RECORD_MS;
}

interface LockState {
  present: boolean;
  guardAlive: boolean;
  record: MigrationRecord | undefined;
}

/** The lock directory as it stands: is it there, does its guard live, what record does it hold. */
async function readLock(source: Host, vm: string, options: { signal?: AbortSignal }): Promise<LockState> {
  const paths = source.paths(vm);
  const script = withAlive(sh`[ -d ${paths.migrationLock} ] || { echo none; exit 0; }
g=$(cat ${paths.migrationLock}/guard.pid 2>/dev/null)
if alive "$g"; then echo alive; else echo dead; fi
cat ${paths.migrationStatus} 2>/dev/null`);
  const { stdout } = await source.transport.shell(script, options);
  const newline = stdout.indexOf('\n');
  const word = stdout.slice(0, newline < 0 ? undefined : newline);
  if (word === 'none') return { present: false, guardAlive: false, record: undefined };
  return { present: true, guardAlive: word === 'alive', record: parseMigrationRecord(stdout.slice(newline + 1)) };
}

function describe(where: VmLocation, vm: Vm, destination: string | undefined): string {
  const dst = destination ?? 'the destination';
  switch (where) {
    case 'running-on-source': return `${vm.name} runs on ${vm.host.name}`;
    case 'running-on-destination': return `${vm.name} runs on ${dst}`;
    case 'paused-on-source': return `${vm.name} is paused on ${vm.host.name}`;
    case 'paused-on-destination': return `${vm.name} is paused on ${dst}`;
    case 'postcopy-paused': return `${vm.name}'s post-copy is paused on both hosts`;
    case 'running-on-both': return `${vm.name} RUNS ON BOTH ${vm.host.name} and ${dst}`;
    case 'not-found': return `${vm.name} runs nowhere ferry looked`;
    case 'unknown': return `${vm.name}'s state could not be read on both hosts`;
  }
}

function report(outcome: RecoveryReport['outcome'], vm: Vm, destination: string | undefined, steps: string[], vmState: VmLocation, summary: string, source: QemuSide, dst: QemuSide | undefined, record?: MigrationRecord): RecoveryReport {
  return { outcome, vm: vm.name, source: vm.host.name, destination, steps, vmState, summary, found: { source, destination: dst }, ...(record?.stage && { interruptedAt: record.stage }) };
}

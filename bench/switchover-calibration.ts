// The switchover gate's estimate beside what QEMU then measures: ferry and a
// raw QMP migration (downtime-limit = the budget) take turns on the same guest,
// which moves back and forth between hosts a and b. Run from convergence.ts's
// `calibrate` mode; see the table kept there.
import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { host, type MigrationResult } from '../sdk/index.ts';
import type { GuestSpec, Lab } from '../test/lab/lab.ts';
import { rawMigrate, RawMigrationTimeout } from '../test/lab/raw-migration.ts';
import { RawQmp } from '../test/lab/raw-qmp.ts';

const GUESTS: Array<[string, GuestSpec]> = [
  ['idle', { memoryMiB: 512, dirtyMiB: 0, dirtyRateMBps: 0 }],
  ['50MB/s', { memoryMiB: 512, dirtyMiB: 64, dirtyRateMBps: 50 }],
  ['200MB/s', { memoryMiB: 512, dirtyMiB: 128, dirtyRateMBps: 200 }],
];
const BUDGETS = [50, 300];
const LOADS = ['none', 'hog'] as const;
type Load = (typeof LOADS)[number];
// Bench timeouts (ferry's default is minutes): a run that has not converged by then counts as not done.
const FERRY_TIMEOUT_MS = 30_000;
const RAW_TIMEOUT_MS = 20_000;
const HOG_LOOPS = 2;
// FERRY_CAL_SWITCHOVER_COST=MS: ferry's runs declare this switchover cost (the `switchoverCost` option) instead of
// the default: what a caller who measured a low cost would get, and whether the budget then holds.
const SWITCHOVER_COST = process.env['FERRY_CAL_SWITCHOVER_COST'] ? Number(process.env['FERRY_CAL_SWITCHOVER_COST']) : undefined;
// FERRY_CAL_GATE=ferry|source: where ferry's runs answer the pause (the `switchoverGate` option; default source, next to QEMU).
const GATE = process.env['FERRY_CAL_GATE'] === 'ferry' ? ('ferry' as const) : process.env['FERRY_CAL_GATE'] === 'source' ? ('source' as const) : undefined;

/** The gate's figures, from the result (completed) or from its cancel's reason. */
interface GateFigures { estimateMs: number; remainingMiB: number; inFlightMiB?: number; inFlightPaceMiBps?: number; pauseRateMiBps: number; linkMiBps: number; overheadMs: number; waitedMs: number; roundTripMs?: number; decidedBy?: 'source' | 'ferry' }

export interface CalibrationRun {
  cell: string; round: number; guest: string; budget: number; load: Load;
  ferry: { done: boolean; why?: string; gate?: GateFigures; measuredMs?: number; watched?: string; reportedMs?: number; downtimeBytes?: number; totalMs: number };
  raw: { done: boolean; downtimeMs?: number; why?: string; totalMs: number };
  loadavg: string;
}

// ---- the CPU hog: busy loops in a host's namespaces, always ended ----
const hogs = new Set<ChildProcess>();
function killHogs(): void {
  for (const child of hogs) child.kill('SIGKILL');
  hogs.clear();
}
process.on('exit', killHogs);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => { killHogs(); process.exit(130); });

async function withHog<T>(lab: Lab, on: string, load: Load, run: () => Promise<T>): Promise<T> {
  if (load === 'hog') {
    // nsenter execs sh (no pid namespace, no fork), so the child's pid is the loop's.
    const [command = 'nsenter', ...args] = lab.hostCommand(on, ['sh', '-c', 'while :; do :; done']);
    for (let i = 0; i < HOG_LOOPS; i++) hogs.add(spawn(command, args, { stdio: 'ignore' }));
    await sleep(200);
  }
  try {
    return await run();
  } finally {
    killHogs();
  }
}

function timeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)))]).finally(() => clearTimeout(timer));
}

/**
 * QEMU's downtime for ferry's run, from QEMU rather than ferry's report,
 * through the source's second QMP socket. Not by query-migrate: ferry quits
 * the source within milliseconds of `completed`, before a second client's
 * query is answered. From the events' own timestamps instead: QEMU starts
 * its downtime clock just before it stops the vCPUs (STOP) and stops it
 * just before it reports `completed` (MIGRATION, which ferry turns on).
 */
function watchDowntime(qmp: RawQmp): () => { downtimeMs?: number; seen: string } {
  let stoppedAt: number | undefined;
  let downtimeMs: number | undefined;
  const seen: string[] = [];
  const off = qmp.onEvent((event) => {
    const stamp = event['timestamp'] as { seconds: number; microseconds: number } | undefined;
    const at = stamp ? stamp.seconds * 1000 + stamp.microseconds / 1000 : Number.NaN;
    if (event['event'] === 'STOP') stoppedAt = at;
    if (event['event'] === 'RESUME') stoppedAt = undefined;
    if (event['event'] !== 'MIGRATION') return;
    const status = String((event['data'] as { status?: string } | undefined)?.status);
    if (seen.at(-1) !== status) seen.push(status);
    if (status === 'completed' && stoppedAt !== undefined) downtimeMs = Math.round(at - stoppedAt);
  });
  return () => {
    off();
    return { ...(downtimeMs !== undefined && { downtimeMs }), seen: seen.join('>') };
  };
}

function gateFromResult(result: MigrationResult): GateFigures | undefined {
  const s = result.convergence?.switchover;
  if (!s) return undefined;
  const mib = (b: number) => b / 1024 ** 2;
  return { estimateMs: s.estimateMs, remainingMiB: mib(s.remainingBytes), ...(s.inFlight && { inFlightMiB: mib(s.inFlight.bytes), inFlightPaceMiBps: mib(s.inFlight.bytesPerSecond) }), pauseRateMiBps: mib(s.pauseRate), linkMiBps: mib(s.throughput), overheadMs: s.overheadMs, waitedMs: Math.round(s.waitedMs * 10) / 10, ...(s.roundTripMs !== undefined && { roundTripMs: s.roundTripMs }), ...(s.decidedBy && { decidedBy: s.decidedBy }) };
}

/**
 * The gate's figures from its cancel's reason ("X MiB left at Y MiB/s (planned from the link's Z MiB/s)
 * [+ F MiB still in the sockets, loaded at the destination's P MiB/s] + O ms overhead (QMP round trips ≤ R ms) + W ms waited ≈ E ms").
 */
export function gateFromReason(reason: string): GateFigures | undefined {
  const m = /([\d.]+) MiB left at ([\d.]+) MiB\/s \(planned from the link's ([\d.]+) MiB\/s\)(?: \+ ([\d.]+) MiB still in the sockets, loaded at the destination's ([\d.]+) MiB\/s)? \+ (\d+) ms overhead \(QMP round trips ≤ (\d+) ms\) \+ (\d+) ms waited ≈ (\d+|Infinity) ms/.exec(reason);
  if (!m) return undefined;
  return { remainingMiB: Number(m[1]), pauseRateMiBps: Number(m[2]), linkMiBps: Number(m[3]), ...(m[4] !== undefined && { inFlightMiB: Number(m[4]), inFlightPaceMiBps: Number(m[5]) }), overheadMs: Number(m[6]), roundTripMs: Number(m[7]), waitedMs: Number(m[8]), estimateMs: Number(m[9]) };
}

async function ferryRun(lab: Lab, from: string, to: string, name: string, budget: number): Promise<CalibrationRun['ferry']> {
  const watcher = await RawQmp.connect(lab, from, lab.watchSocket(from, name));
  // Events reach a client only once it has negotiated; a query makes sure it has before ferry starts.
  await watcher.execute('query-status');
  const measured = watchDowntime(watcher);
  const reasons: string[] = [];
  const started = performance.now();
  const migration = host(from).vm(name).migrateTo(to, { maxDowntime: budget, timeout: FERRY_TIMEOUT_MS, ...(SWITCHOVER_COST !== undefined && { switchoverCost: SWITCHOVER_COST }), ...(GATE && { switchoverGate: GATE }) });
  migration.on('action', (a) => reasons.push(a.reason));
  if (process.env['FERRY_CAL_DEBUG']) migration.on('log', (entry) => console.error(`ferry ${entry.atMs} ${entry.level} ${entry.message}`));
  try {
    const result = await migration;
    await sleep(100); // the watcher's events travel over their own SSH connection
    const watched = measured();
    return { done: true, gate: gateFromResult(result), measuredMs: watched.downtimeMs, watched: watched.seen, reportedMs: result.downtimeMs, downtimeBytes: result.downtimeBytes, totalMs: Math.round(performance.now() - started) };
  } catch (error) {
    measured();
    const gateReason = reasons.find((r) => r.startsWith('downtime guarantee'));
    const code = (error as { code?: string }).code ?? 'error';
    const where = (error as { vmState?: string }).vmState ?? '?';
    const why = gateReason ? 'gate' : `${code}/${where}: ${error instanceof Error ? error.message.slice(0, 160) : String(error)}`;
    return { done: false, why, ...(gateReason && { gate: gateFromReason(gateReason) }), totalMs: Math.round(performance.now() - started) };
  } finally {
    watcher.close();
  }
}

async function rawRun(lab: Lab, from: string, to: string, name: string, spec: GuestSpec, budget: number): Promise<CalibrationRun['raw']> {
  const started = performance.now();
  try {
    // return-path as ferry has it: the same stream, so the same end (the destination confirms before `completed`),
    // and on QEMU 7.2 a migration without it, after ferry cancelled one with it, sometimes loses the guest on the destination.
    const figures = await rawMigrate(lab, from, to, name, spec, 4444, { downtimeLimitMs: budget, timeoutMs: RAW_TIMEOUT_MS, capabilities: ['return-path'] });
    await lab.stopVm(from, name); // the quit source's leftover files
    return { done: true, downtimeMs: figures.downtimeMs, totalMs: Math.round(performance.now() - started) };
  } catch (error) {
    await lab.stopVm(to, name); // the destination QEMU that never got the guest
    await resumeSource(lab, from, name);
    const why = error instanceof RawMigrationTimeout ? 'timeout' : error instanceof Error ? error.message.slice(0, 160) : String(error);
    return { done: false, why, totalMs: Math.round(performance.now() - started) };
  }
}

/** After a raw run that failed past `completed`, the source waits paused (postmigrate) with the whole guest: let it run. */
async function resumeSource(lab: Lab, on: string, name: string): Promise<void> {
  const qmp = await RawQmp.connect(lab, on, `${lab.runDir(on)}/${name}.qmp`).catch(() => undefined);
  if (!qmp) return;
  try {
    const { status } = (await qmp.execute('query-status')) as { status: string };
    if (status !== 'running') await qmp.execute('cont');
  } finally {
    qmp.close();
  }
}

function loadavg(): string {
  return execFileSync('uptime', { encoding: 'utf8' }).trim().replace(/^.*load average: /, '');
}

/** Where the guest runs now: the lab hosts are a and b. */
async function whereIs(lab: Lab, name: string): Promise<string> {
  for (const h of ['a', 'b']) if (await lab.vmPid(h, name)) return h;
  throw new Error(`calibration: ${name} runs on neither host`);
}

/** N rounds of one cell; each round one ferry and one raw migration (which first alternates), on one guest. */
export async function calibrateCell(lab: Lab, guest: string, spec: GuestSpec, budget: number, load: Load, rounds: number, onRun: (run: CalibrationRun) => void): Promise<CalibrationRun[]> {
  const cell = `${guest} ${budget}ms ${load}${SWITCHOVER_COST !== undefined ? ` cost ${SWITCHOVER_COST}` : ''}${GATE ? ` gate ${GATE}` : ''}`;
  const name = `cal-${guest.replace(/\W/g, '')}`;
  const guestSpec: GuestSpec = { ...spec, watchMonitor: true };
  for (const h of ['a', 'b']) await lab.stopVm(h, name);
  await lab.startVm('a', name, guestSpec);
  const runs: CalibrationRun[] = [];
  try {
    for (let round = 1; round <= rounds; round++) {
      let ferry: CalibrationRun['ferry'] | undefined;
      let raw: CalibrationRun['raw'] | undefined;
      const avg = loadavg();
      for (const who of round % 2 ? (['ferry', 'raw'] as const) : (['raw', 'ferry'] as const)) {
        const from = await whereIs(lab, name);
        const to = from === 'a' ? 'b' : 'a';
        await sleep(1000); // the guest settles on its new host (TCG starts cold)
        if (who === 'ferry') ferry = await withHog(lab, from, load, () => ferryRun(lab, from, to, name, budget));
        else raw = await withHog(lab, from, load, () => rawRun(lab, from, to, name, guestSpec, budget));
      }
      if (!ferry || !raw) throw new Error('calibration bug: a round without both runs');
      const run: CalibrationRun = { cell, round, guest, budget, load, ferry, raw, loadavg: avg };
      runs.push(run);
      onRun(run);
    }
  } finally {
    for (const h of ['a', 'b']) await lab.stopVm(h, name);
  }
  return runs;
}

export function* calibrationCells(): Generator<[string, GuestSpec, number, Load]> {
  for (const load of LOADS) for (const [guest, spec] of GUESTS) for (const budget of BUDGETS) yield [guest, spec, budget, load];
}

/** QEMU's downtime for ferry's run: the longer of the events' figure and ferry's report (the events' reads up to 2 ms short). */
function ferryDowntime(run: CalibrationRun): number {
  return Math.max(run.ferry.measuredMs ?? 0, run.ferry.reportedMs ?? 0);
}

function med(values: number[]): string {
  if (!values.length) return '-';
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return String(Math.round(sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2));
}

/** A cell's row; "needless" counts rounds where ferry cancelled and raw completed within the budget. */
export function cellRow(runs: CalibrationRun[]): Record<string, string> {
  const n = runs.length;
  const first = runs[0];
  const done = runs.filter((r) => r.ferry.done);
  const measured = done.map((r) => r.ferry.measuredMs).filter((v): v is number => v !== undefined);
  const estimates = runs.map((r) => r.ferry.gate?.estimateMs).filter((v): v is number => v !== undefined && Number.isFinite(v));
  const errors = done.flatMap((r) => (r.ferry.gate && r.ferry.measuredMs !== undefined ? [r.ferry.gate.estimateMs - r.ferry.measuredMs] : []));
  const over = done.filter((r) => ferryDowntime(r) > r.budget).length;
  const rawIn = runs.filter((r) => r.raw.done && (r.raw.downtimeMs ?? Infinity) <= r.budget);
  const rawDt = runs.flatMap((r) => (r.raw.done && r.raw.downtimeMs !== undefined ? [r.raw.downtimeMs] : []));
  const needless = runs.filter((r) => !r.ferry.done && r.raw.done && (r.raw.downtimeMs ?? Infinity) <= r.budget).length;
  // The events' STOP comes a moment after QEMU starts its downtime clock: up to 2 ms short is the same figure.
  const mismatch = done.filter((r) => r.ferry.measuredMs === undefined || Math.abs(r.ferry.measuredMs - (r.ferry.reportedMs ?? 0)) > 2).length;
  const cancels = runs.filter((r) => !r.ferry.done).map((r) => (r.ferry.why ?? '?').split(':')[0] ?? '?');
  const reasons = [...new Set(cancels)].map((c) => `${c}×${cancels.filter((x) => x === c).length}`).join(' ');
  return {
    cell: first?.cell ?? '-',
    'ferry done': `${done.length}/${n}`,
    'ferry dt med/max': measured.length ? `${med(measured)}/${Math.max(...measured)}` : '-',
    'est med': med(estimates),
    // Switchovers the gate next to QEMU let go (switchoverGate 'source'), of those completed.
    'by guard': `${done.filter((r) => r.ferry.gate?.decidedBy === 'source').length}/${done.length}`,
    'est−meas med/worst': errors.length ? `${med(errors)}/${Math.min(...errors)}` : '-',
    'over budget': String(over),
    'raw ≤budget': `${rawIn.length}/${n}`,
    'raw dt med/max': rawDt.length ? `${med(rawDt)}/${Math.max(...rawDt)}` : '-',
    'needless cancels': String(needless),
    'ferry not done': reasons || '-',
    'dt≠report': String(mismatch),
  };
}

export function verdict(all: CalibrationRun[]): string {
  const over = all.filter((r) => r.ferry.done && ferryDowntime(r) > r.budget).length;
  const needless = all.filter((r) => !r.ferry.done && r.raw.done && (r.raw.downtimeMs ?? Infinity) <= r.budget).length;
  const pass = (ok: boolean) => (ok ? 'PASS' : 'FAIL');
  return `done-when: completed over budget ${over} → ${pass(over === 0)}; cancels where raw completed within budget ${needless} → ${pass(needless === 0)}; ${all.length} rounds`;
}

export { loadavg };

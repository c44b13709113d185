// Issue 14's busy real guest: the Debian 12 guest (2 vCPUs, 1 GiB) running
// `stress-ng --vm 1 --vm-bytes 256M --verify` with a pvpanic device, moved
// back and forth N times with ferry's defaults. After each move the guest is
// judged by itself: ferry's guest check (run state, pvpanic), stress-ng still
// running with no verify failure, the kernel's console free of oopses, and
// its record writer's records intact.
//   node --import tsx bench/busy-guest.ts [moves]
import { readFile, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { configure, disconnect, host, type MigrationResult } from '../sdk/index.ts';
import { guestCommand } from '../test/lab/guest-command.ts';
import { benchLab, median, printTable } from './bench-lab.ts';
import { DISK_COPY_EVENTS, eventTrace, pauseTrace, qemuTraceArgs, readQemuTrace } from './qemu-trace.ts';

const lab = benchLab();
// FERRY_BENCH_TRACE=1: QEMU's own trace of every QEMU on both hosts (qemu-trace.ts): for each completed
// move its switchover (what the final sync found beyond the set reported at the pause), for a cancelled
// one all its events, to see where a migration that moves no byte waits. QEMU names its threads then
// (debug-threads=on: `CPU 0/TCG`, `live_migration`), for a look at each one's state in /proc.
const TRACE = process.env['FERRY_BENCH_TRACE'] === '1';
const TRACE_DIR = '/tmp/ferry-busy-trace';
const moves = Number(process.argv[2] ?? 20);
const VM = 'busy';
const OOPS = /Kernel panic|BUG:|Oops|stack-protector|general protection|not a head|segfault|stress-ng.*(fail|FAIL)/;

await lab.up();
await lab.buildDebianGuest();
configure(lab.ferryConfig());
for (const h of ['a', 'b']) await rm(lab.pathSeenHere(h, lab.debianDiskPath(h, VM)), { force: true });
const vm = await lab.startDebianVm('a', VM, { cpus: 2, memoryMiB: 1024, stress: { bytes: '256M' }, pvpanic: true, ...(TRACE && { qemuArgs: ['-name', `${VM},debug-threads=on`, ...(await qemuTraceArgs(lab, 'a', TRACE_DIR, DISK_COPY_EVENTS))] }) });
await guestCommand(vm.address, 'systemctl is-system-running --wait', { timeoutMs: 180_000 });
await sleep(10_000); // stress-ng has filled its 256 MiB
const rows: (string | number)[][] = [['move', 'outcome', 'downtime (ms)', 'total (ms)', 'guest check', 'stress-ng', 'console']];
const results: MigrationResult[] = [];
let survived = 0;
let at = 'a';
try {
  for (let i = 1; i <= moves; i++) {
    const to = at === 'a' ? 'b' : 'a';
    const from = at;
    const startedAt = Date.now();
    const migration = host(at).vm(VM).migrateTo(to);
    const logged: string[] = [];
    migration.on('log', (entry) => logged.push(`  ${String(entry.atMs).padStart(7)} ms ${entry.level} ${entry.message}`));
    const outcome = await migration.then((r) => r, (e: unknown) => (e instanceof Error ? e : new Error(String(e))));
    // A move that failed: what ferry did and saw, in its own words, before the guest's verdict.
    if (outcome instanceof Error) process.stderr.write(`move ${i} ${from}→${to}, ferry's log:\n${logged.join('\n')}\n`);
    if (!(outcome instanceof Error)) {
      results.push(outcome);
      at = to;
    }
    // Each move's figures as it ends, to tell a long pause's cause (RAM left, the disks, the throttle, the host).
    process.stderr.write(JSON.stringify(outcome instanceof Error ? { move: i, error: outcome.message } : {
      // downtimeBytes beside switchover.remainingBytes: what the final sync found beyond what QEMU reported at the pause;
      // the last pass's dirty rate and throttle say how fast the guest was dirtying then.
      move: i, downtimeMs: outcome.downtimeMs, downtimeOverrun: outcome.downtimeOverrun, downtimeBytes: outcome.downtimeBytes, switchover: outcome.convergence?.switchover, passes: outcome.passes, lastPass: outcome.convergence?.passStats.at(-1),
      actions: outcome.convergence?.actions.map((a) => a.action), diskCopyMs: outcome.diskCopyMs, phases: outcome.phases, load: (await readFile('/proc/loadavg', 'utf8')).trim(),
    }) + '\n');
    if (TRACE) {
      const lines = await readQemuTrace(TRACE_DIR, startedAt, Date.now() + 1000);
      process.stderr.write(`move ${i} ${from}→${to}, QEMU's trace (ms after ${outcome instanceof Error ? 'the start' : 'the stop'}):\n${(outcome instanceof Error ? eventTrace(lines, startedAt, 300) : pauseTrace(lines)).join('\n')}\n`);
    }
    await sleep(3000); // crashes came 0–2 s after the switchover
    const stress = await guestCommand(vm.address, 'systemctl is-active ferry-stress', { timeoutMs: 20_000 }).then((r) => r.output.trim(), (e: unknown) => `no answer (${e instanceof Error ? e.message : String(e)})`);
    const console = await readFile(`${lab.runDir(at)}/${VM}.console`, 'utf8').catch(() => '');
    const oops = OOPS.exec(console)?.[0];
    const alive = stress === 'active' && !oops && (outcome instanceof Error || outcome.guestCheck?.ok === true);
    if (alive) survived++;
    rows.push([
      `${i} ${outcome instanceof Error ? `${at}→${to}` : `${to === 'a' ? 'b' : 'a'}→${to}`}`,
      outcome instanceof Error ? `cancelled: ${outcome.message.slice(0, 60)}` : 'completed',
      outcome instanceof Error ? '-' : outcome.downtimeMs,
      outcome instanceof Error ? '-' : outcome.totalTimeMs,
      outcome instanceof Error ? '-' : `${outcome.guestCheck?.ok ? 'ok' : 'FAILED'} (${outcome.guestCheck?.methods.join('+')})`,
      stress,
      oops ?? 'clean',
    ]);
    if (!alive) {
      // The lab and its files go at the end: keep what the guest said.
      process.stderr.write(`move ${i}: the guest on ${at} is not well; its console's last lines:\n${console.split('\n').slice(-80).join('\n')}\n`);
      break;
    }
  }
  const records = await guestCommand(vm.address, 'ferry-verify-records').then((r) => r.output.trim(), () => 'no answer');
  printTable(rows);
  console.log(`survived ${survived} of ${rows.length - 1} moves (${results.length} completed); median downtime ${median(results.map((r) => r.downtimeMs))} ms; ${records}`);
} finally {
  await disconnect();
  await lab.stopVm(at, VM);
  for (const h of ['a', 'b']) await rm(lab.pathSeenHere(h, lab.debianDiskPath(h, VM)), { force: true });
  await lab.down();
}

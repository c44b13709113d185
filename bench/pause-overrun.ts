// Where a long switchover pause goes. The convergence e2e's 64 MiB/s guest
// (about 300 MB/s asked over a 64 MiB/s link, maxDowntime 300, ferry's
// default policy) moved back and forth N times, with QEMU's own trace of
// both hosts' QEMUs (`-msg timestamp=on`, `-trace`, `-D`, copied by ferry to
// each destination): each move's downtime by QEMU beside ferry's estimate,
// and for every pause over LONG_MS, and the first short one to compare,
// both QEMUs' trace from the stop to the end, ms after the stop. Each move
// also shows a vCPU throttle sleep under way at the pause, read twice: by
// ferry's guard at its gate (`vcpuSleepMs`, still to come then) and by the
// bench from /proc at QEMU's STOP (when it ended, after the stop).
// FERRY_BENCH_TRACE=0: the same moves without QEMU's trace.
//   node --import tsx bench/pause-overrun.ts [moves]
import { configure, disconnect, host, type MigrationResult } from '../sdk/index.ts';
import { watchMigration } from '../test/lab/migration-watch.ts';
import { Probe } from '../test/lab/probe.ts';
import { benchLab, median, printTable } from './bench-lab.ts';
import { pauseTrace, qemuTraceArgs, readQemuTrace } from './qemu-trace.ts';

const lab = benchLab();
const moves = Number(process.argv[2] ?? 20);
const VM = 'overrun';
const LONG_MS = 150;
const TRACE_DIR = '/tmp/ferry-pause-trace';

await lab.up();
configure(lab.ferryConfig());
const spec = {
  memoryMiB: 256, dirtyMiB: 128, dirtyRateMBps: 300, watchMonitor: true,
  qemuArgs: process.env['FERRY_BENCH_TRACE'] === '0' ? [] : await qemuTraceArgs(lab, 'a', TRACE_DIR),
};
const vm = await lab.startVm('a', VM, spec);
// As in the e2e: the probe asks every 1 ms. Its replies take the guest's CPU from the dirtier, which at
// QEMU's 99 % (10 ms a second) otherwise dirties as fast as the link carries and never converges.
const probe = new Probe(vm.address);
await probe.start();
const rows: (string | number)[][] = [['move', 'outcome', 'QEMU downtime (ms)', 'estimate (ms)', 'vCPU sleep: guard / at STOP (ms)', 'passes', 'throttle (%)', 'total (s)']];
let sleepsSeen = 0;
const downtimes: number[] = [];
let shownShort = false;
let at = 'a';
try {
  for (let i = 1; i <= moves; i++) {
    const to = at === 'a' ? 'b' : 'a';
    const watch = watchMigration(lab.watchSocket(at, VM), 5, await lab.vmPid(at, VM));
    const startedAt = Date.now();
    const switchover: string[] = [];
    const migration = host(at).vm(VM).migrateTo(to, { bandwidth: '64MiB/s', maxDowntime: 300 });
    migration.on('log', (entry) => {
      if (/switchover|disk mirrors/.test(entry.message)) switchover.push(entry.message);
    });
    const outcome = await migration.then((r: MigrationResult) => r, (e: unknown) => (e instanceof Error ? e : new Error(String(e))));
    if (outcome instanceof Error) watch.stop();
    const qemu = await watch.done;
    const endedAt = Date.now();
    rows.push([
      `${i} ${at}→${to}`, outcome instanceof Error ? `cancelled: ${outcome.message.slice(0, 70)}` : 'completed', qemu.downtimeMs ?? '-',
      outcome instanceof Error ? '-' : outcome.convergence?.switchover?.estimateMs ?? '-',
      `${outcome instanceof Error ? '-' : outcome.convergence?.switchover?.vcpuSleepMs ?? '-'} / ${qemu.vcpuSleepEndsAfterStopMs ?? '-'}`,
      outcome instanceof Error ? '-' : outcome.passes,
      qemu.maxThrottlePercent, ((endedAt - startedAt) / 1000).toFixed(1),
    ]);
    if (qemu.vcpuSleepEndsAfterStopMs !== undefined || (!(outcome instanceof Error) && (outcome.convergence?.switchover?.vcpuSleepMs ?? 0) > 0)) sleepsSeen++;
    if (!(outcome instanceof Error)) {
      downtimes.push(qemu.downtimeMs ?? 0);
      const long = (qemu.downtimeMs ?? 0) > LONG_MS;
      if (long || !shownShort) {
        shownShort ||= !long;
        process.stderr.write(`\nmove ${i} ${at}→${to}: QEMU downtime ${qemu.downtimeMs} ms (${qemu.downtimeFrom}); ferry: ${switchover.join(' | ')}${outcome.downtimeOverrun ? `; ferry's report: ${outcome.downtimeOverrun.reason}` : ''}\n`);
        process.stderr.write(`${pauseTrace(await readQemuTrace(TRACE_DIR, startedAt, endedAt + 1000)).join('\n')}\n`);
      }
      at = to;
    }
  }
  printTable(rows);
  console.log(`${downtimes.length} of ${moves} completed; QEMU downtime median ${median(downtimes)} ms, max ${Math.max(0, ...downtimes)} ms, over 300 ms: ${downtimes.filter((d) => d > 300).length}, over ${LONG_MS} ms: ${downtimes.filter((d) => d > LONG_MS).length}; a vCPU throttle sleep under way at the pause: ${sleepsSeen}`);
} finally {
  probe.stop();
  await disconnect();
  await lab.stopVm(at, VM);
  await lab.down();
}

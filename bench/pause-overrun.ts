// Where a long switchover pause goes. The convergence e2e's 64 MiB/s guest
// (about 300 MB/s asked over a 64 MiB/s link, maxDowntime 300, ferry's
// default policy) moved back and forth N times, with QEMU's own trace of
// both hosts' QEMUs (`-msg timestamp=on`, `-trace`, `-D`, copied by ferry to
// each destination): each move's downtime by QEMU beside ferry's estimate,
// and for every pause over LONG_MS, and the first short one to compare,
// both QEMUs' trace from the stop to the end, ms after the stop.
// FERRY_BENCH_TRACE=0: the same moves without QEMU's trace.
//   node --import tsx bench/pause-overrun.ts [moves]
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { configure, disconnect, host, type MigrationResult } from '../sdk/index.ts';
import { watchMigration } from '../test/lab/migration-watch.ts';
import { Probe } from '../test/lab/probe.ts';
import { benchLab, median, printTable } from './bench-lab.ts';

const lab = benchLab();
const moves = Number(process.argv[2] ?? 20);
const VM = 'overrun';
const LONG_MS = 150;
const TRACE_DIR = '/tmp/ferry-pause-trace';
const EVENTS = [
  'migrate_set_state', 'runstate_set', 'vm_state_notify', 'migration_completion_vm_stop', 'vm_stop_flush_all',
  'migration_bitmap_sync_start', 'migration_bitmap_sync_end', 'migration_throttle', 'migrate_pending', 'migrate_pending_exact', 'migrate_pending_estimate', 'migration_thread_low_pending',
  'savevm_state_complete_precopy', 'savevm_section_start', 'savevm_section_end',
  'await_return_path_close_on_source_close', 'await_return_path_close_on_source_joining', 'source_return_path_thread_end', 'source_return_path_thread_shut',
  'migration_return_path_end_before', 'migration_return_path_end_after', 'migration_thread_after_loop', 'migrate_fd_cleanup',
  'qemu_loadvm_state_section_startfull', 'qemu_loadvm_state_post_main', 'process_incoming_migration_co_end', 'loadvm_state_cleanup', 'loadvm_process_command',
];
// Lines repeated every iteration before the stop: only the last few of them are printed.
const ITERATION = /^(migrate_pending(_exact|_estimate)?|savevm_section_(start|end)|migration_bitmap_sync_start)\b/;

interface TraceLine { atMs: number; thread: string; text: string }

await rm(TRACE_DIR, { recursive: true, force: true });
await mkdir(TRACE_DIR, { recursive: true });
await lab.up();
configure(lab.ferryConfig());
// Only the events this QEMU has (7.2 and 10.0 name some differently): an unknown one is a warning on every start.
const known = new Set((await lab.runOnHost('a', ['qemu-system-x86_64', '-trace', 'help'])).stdout.split('\n'));
const events = EVENTS.filter((event) => known.has(event));
const spec = {
  memoryMiB: 256, dirtyMiB: 128, dirtyRateMBps: 300, watchMonitor: true,
  qemuArgs: process.env['FERRY_BENCH_TRACE'] === '0' ? [] : ['-msg', 'timestamp=on', '-D', `${TRACE_DIR}/%d.log`, ...events.flatMap((event) => ['-trace', `enable=${event}`])],
};
const vm = await lab.startVm('a', VM, spec);
// As in the e2e: the probe asks every 1 ms. Its replies take the guest's CPU from the dirtier, which at
// QEMU's 99 % (10 ms a second) otherwise dirties as fast as the link carries and never converges.
const probe = new Probe(vm.address);
await probe.start();
const rows: (string | number)[][] = [['move', 'outcome', 'QEMU downtime (ms)', 'estimate (ms)', 'passes', 'throttle (%)', 'total (s)']];
const downtimes: number[] = [];
let shownShort = false;
let at = 'a';
try {
  for (let i = 1; i <= moves; i++) {
    const to = at === 'a' ? 'b' : 'a';
    const watch = watchMigration(lab.watchSocket(at, VM));
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
      outcome instanceof Error ? '-' : outcome.convergence?.switchover?.estimateMs ?? '-', outcome instanceof Error ? '-' : outcome.passes,
      qemu.maxThrottlePercent, ((endedAt - startedAt) / 1000).toFixed(1),
    ]);
    if (!(outcome instanceof Error)) {
      downtimes.push(qemu.downtimeMs ?? 0);
      const long = (qemu.downtimeMs ?? 0) > LONG_MS;
      if (long || !shownShort) {
        shownShort ||= !long;
        process.stderr.write(`\nmove ${i} ${at}→${to}: QEMU downtime ${qemu.downtimeMs} ms (${qemu.downtimeFrom}); ferry: ${switchover.join(' | ')}${outcome.downtimeOverrun ? `; ferry's report: ${outcome.downtimeOverrun.reason}` : ''}\n`);
        process.stderr.write(`${(await pauseTrace(startedAt, endedAt)).join('\n')}\n`);
      }
      at = to;
    }
  }
  printTable(rows);
  console.log(`${downtimes.length} of ${moves} completed; QEMU downtime median ${median(downtimes)} ms, max ${Math.max(0, ...downtimes)} ms, over 300 ms: ${downtimes.filter((d) => d > 300).length}, over ${LONG_MS} ms: ${downtimes.filter((d) => d > LONG_MS).length}`);
} finally {
  probe.stop();
  await disconnect();
  await lab.stopVm(at, VM);
  await lab.down();
}

/** Both QEMUs' trace of one move's pause: from the source's stop on, and the iterations just before it. */
async function pauseTrace(fromMs: number, toMs: number): Promise<string[]> {
  const lines: TraceLine[] = [];
  for (const file of await readdir(TRACE_DIR)) {
    for (const line of (await readFile(`${TRACE_DIR}/${file}`, 'utf8')).split('\n')) {
      const match = /^(\d+)@(\d+)\.(\d+):(.*)$/.exec(line);
      if (!match) continue;
      const atMs = Number(match[2]) * 1000 + Number(match[3]) / 1000;
      if (atMs >= fromMs && atMs <= toMs + 1000) lines.push({ atMs, thread: match[1] ?? '', text: match[4] ?? '' });
    }
  }
  lines.sort((a, b) => a.atMs - b.atMs);
  const stop = lines.findLastIndex((line) => line.text.startsWith('runstate_set') && /new_state \d+ \(finish-migrate\)/.test(line.text));
  if (stop < 0) return ['(no stop in the trace)'];
  const stopMs = lines[stop]?.atMs ?? 0;
  const before = lines.slice(0, stop).filter((line) => !ITERATION.test(line.text)).slice(-6);
  const iterating = lines.slice(0, stop).filter((line) => ITERATION.test(line.text)).slice(-4);
  // The label is QEMU's thread id (the log backend's), one per migration, vCPU or main-loop thread.
  return [...[...before, ...iterating].sort((a, b) => a.atMs - b.atMs), ...lines.slice(stop)].map((line) => `  ${(line.atMs - stopMs).toFixed(1).padStart(9)} ms  [${line.thread}] ${line.text}`);
}

// QEMU's own trace of every QEMU a benchmark starts, on both hosts: the
// options that turn it on (a destination ferry starts copies them from the
// source's command line), and the reading of it back, with QEMU's timestamps.
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import type { Lab } from '../test/lab/lab.ts';

/** The migration's switchover and sync events, by their 7.2 and 10.0 names. */
export const MIGRATION_EVENTS = [
  'migrate_set_state', 'runstate_set', 'vm_state_notify', 'migration_completion_vm_stop', 'vm_stop_flush_all',
  'migration_bitmap_sync_start', 'migration_bitmap_sync_end', 'migration_throttle', 'migrate_pending', 'migrate_pending_exact', 'migrate_pending_estimate', 'migration_thread_low_pending',
  'savevm_state_complete_precopy', 'savevm_section_start', 'savevm_section_end',
  'await_return_path_close_on_source_close', 'await_return_path_close_on_source_joining', 'source_return_path_thread_end', 'source_return_path_thread_shut',
  'migration_return_path_end_before', 'migration_return_path_end_after', 'migration_thread_after_loop', 'migrate_fd_cleanup',
  'qemu_loadvm_state_section_startfull', 'qemu_loadvm_state_post_main', 'process_incoming_migration_co_end', 'loadvm_state_cleanup', 'loadvm_process_command',
];
/** With them, a disk copy's mirror and NBD, block jobs, and each QMP command the main loop runs (its stalls show as gaps). */
export const DISK_COPY_EVENTS = [
  ...MIGRATION_EVENTS,
  'job_state_transition', 'job_completed', 'mirror_start', 'mirror_before_drain', 'mirror_before_flush', 'mirror_yield_in_flight',
  'nbd_co_request_fail', 'nbd_read_reply_entry_fail', 'nbd_client_handshake', 'nbd_client_handshake_success', 'nbd_client_clear_queue', 'nbd_client_clear_socket', 'nbd_connect_thread_sleep',
  'monitor_qmp_cmd_in_band',
];
// Lines repeated every iteration (or every QMP command): only the last few before a point of interest are shown.
const ITERATION = /^(migrate_pending(_exact|_estimate)?|savevm_section_(start|end)|migration_bitmap_sync_start|monitor_qmp_cmd_in_band)\b/;

export interface TraceLine {
  atMs: number;
  /** QEMU's thread id (the log backend's): one per migration, vCPU or main-loop thread. */
  thread: string;
  text: string;
}

/** Empties `dir` and returns the QEMU options that trace `events` (those this QEMU has: an unknown one warns on every start) into it. */
export async function qemuTraceArgs(lab: Lab, host: string, dir: string, events: readonly string[] = MIGRATION_EVENTS): Promise<string[]> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const known = new Set((await lab.runOnHost(host, ['qemu-system-x86_64', '-trace', 'help'])).stdout.split('\n'));
  return ['-msg', 'timestamp=on', '-D', `${dir}/%d.log`, ...events.filter((event) => known.has(event)).flatMap((event) => ['-trace', `enable=${event}`])];
}

/** Every QEMU's trace lines between two wall-clock times (ms), oldest first. */
export async function readQemuTrace(dir: string, fromMs: number, toMs: number): Promise<TraceLine[]> {
  const lines: TraceLine[] = [];
  for (const file of await readdir(dir)) {
    for (const line of (await readFile(`${dir}/${file}`, 'utf8')).split('\n')) {
      const match = /^(\d+)@(\d+)\.(\d+):(.*)$/.exec(line);
      if (!match) continue;
      const atMs = Number(match[2]) * 1000 + Number(match[3]) / 1000;
      if (atMs >= fromMs && atMs <= toMs) lines.push({ atMs, thread: match[1] ?? '', text: match[4] ?? '' });
    }
  }
  return lines.sort((a, b) => a.atMs - b.atMs);
}

/** The last stop for a switchover in `lines`, and all from it on, with the iterations just before: ms after the stop. */
export function pauseTrace(lines: readonly TraceLine[]): string[] {
  const stop = lines.findLastIndex((line) => line.text.startsWith('runstate_set') && /new_state \d+ \(finish-migrate\)/.test(line.text));
  if (stop < 0) return ['(no stop in the trace)'];
  const before = lines.slice(0, stop).filter((line) => !ITERATION.test(line.text)).slice(-6);
  const iterating = lines.slice(0, stop).filter((line) => ITERATION.test(line.text)).slice(-4);
  return formatTrace([...[...before, ...iterating].sort((a, b) => a.atMs - b.atMs), ...lines.slice(stop)], lines[stop]?.atMs ?? 0);
}

/**
 * `lines` without the per-iteration ones, at most `most` of them, ms after
 * `zeroMs`; with each wait over a second between two QMP commands one
 * QEMU's main loop ran (monitor_qmp_cmd_in_band): when it was busy or stuck.
 */
export function eventTrace(lines: readonly TraceLine[], zeroMs: number, most = 120): string[] {
  const shown = formatTrace(lines.filter((line) => !ITERATION.test(line.text)).slice(0, most), zeroMs);
  const lastQmp = new Map<string, number>();
  const gaps: string[] = [];
  for (const line of lines) {
    if (!line.text.startsWith('monitor_qmp_cmd_in_band')) continue;
    const previous = lastQmp.get(line.thread);
    if (previous !== undefined && line.atMs - previous > 1000) gaps.push(`  [${line.thread}] no QMP command ran from ${(previous - zeroMs).toFixed(1)} to ${(line.atMs - zeroMs).toFixed(1)} ms`);
    lastQmp.set(line.thread, line.atMs);
  }
  return [...shown, ...gaps];
}

function formatTrace(lines: readonly TraceLine[], zeroMs: number): string[] {
  return lines.map((line) => `  ${(line.atMs - zeroMs).toFixed(1).padStart(9)} ms  [${line.thread}] ${line.text}`);
}

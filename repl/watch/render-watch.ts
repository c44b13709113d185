import { formatBytes, type MigrationProgress } from '../../sdk/index.ts';
import { formatDuration, formatRate } from '../../cli/render/format.ts';
import type { WatchEntry } from './watch-entry.ts';
import { sharedMax, sparkline } from './sparkline.ts';

/** What the view needs besides the entries: the time, the selection, a prompt or messages at the bottom. */
export interface WatchFrameState {
  now: Date;
  selected: string | undefined;
  /** A question waiting for y/n, or a message, shown at the bottom. */
  footer?: string | undefined;
  /** The operator's recent actions, newest last. */
  log: readonly string[];
  columns: number;
  filter: string;
}

const SPARK_WIDTH = 24;

/** The in-place view: one block per migration, then the log and the keys. */
export function renderWatchFrame(entries: readonly WatchEntry[], state: WatchFrameState): string[] {
  const live = entries.filter((entry) => !entry.ended).length;
  const lines = [`ferry watch ${state.filter} · ${live} in flight · ${clock(state.now)}`];
  if (entries.length === 0) lines.push('  no migration in flight on the configured hosts (waiting for one…)');
  for (const entry of entries) lines.push(...renderEntry(entry, entry.id === state.selected));
  for (const line of state.log.slice(-4)) lines.push(`  » ${line}`);
  lines.push(state.footer ?? keysLine(entries.find((entry) => entry.id === state.selected)));
  return lines.map((line) => fit(line, state.columns));
}

function keysLine(selected: WatchEntry | undefined): string {
  const steer = selected && !selected.ended && selected.owner.kind === 'this-repl' ? 'c cancel · p postcopy · d raise downtime limit · ' : '';
  return `  ${steer}↑/↓ select · Ctrl-C or q leaves the view (migrations go on)`;
}

export function renderEntry(entry: WatchEntry, selected: boolean): string[] {
  const p = entry.progress;
  const mark = selected ? '▶' : ' ';
  const owner = entry.owner.kind === 'this-repl' ? 'this REPL' : `pid ${entry.owner.pid} on ${entry.owner.host} (watch only)`;
  if (entry.ended) {
    const sign = entry.ended.outcome === 'completed' ? '✓' : entry.ended.outcome === 'ended' ? '·' : '✗';
    return [`${mark} ${sign} ${entry.label} → ${entry.destination}  ${entry.ended.outcome}: ${entry.ended.text}`];
  }
  const percent = p && p.totalBytes > 0 ? `${p.percent.toFixed(1).padStart(5)}%  ${bar(p.percent)}` : '';
  const head = `${mark} ${entry.label} → ${entry.destination}  ${entry.phase.padEnd(8)} ${percent}${percent ? `  pass ${p?.pass ?? 0}` : ''}  ${owner}`;
  const lines = [head];
  if (entry.heartbeatAgeMs !== undefined && entry.heartbeatAgeMs > 5000) lines.push(`    no heartbeat for ${formatDuration(entry.heartbeatAgeMs)}: its controller may be gone`);
  if (!p) return lines;
  if (p.totalBytes === 0) {
    lines.push(`    setting up: QEMU has not reported any figures yet`);
    return lines;
  }
  lines.push(`    transferred ${formatBytes(p.transferredBytes)} · remaining ${formatBytes(p.remainingBytes)} of ${formatBytes(p.totalBytes)} · elapsed ${formatDuration(p.elapsedMs)} · ETA ${etaOf(p)}`);
  const max = sharedMax(entry.throughput, entry.dirtyRate, [p.throughput, p.dirtyRate]);
  lines.push(`    throughput ${sparkline(entry.throughput, max, SPARK_WIDTH)} ${formatRate(p.throughput)}`);
  lines.push(`    dirty rate ${sparkline(entry.dirtyRate, max, SPARK_WIDTH)} ${formatRate(p.dirtyRate)}${p.throttlePercent > 0 ? ` (throttled ${p.throttlePercent}%)` : ''}`);
  lines.push(`    downtime   ${downtime(p.expectedDowntimeMs, entry.budgetMs, p.downtimeLimitMs)}`);
  if (entry.lastAction) lines.push(`    policy     ${entry.lastAction.action}${entry.lastAction.reason ? `: ${entry.lastAction.reason}` : ''}`);
  else if (p.note ?? entry.lastNote) lines.push(`    latest     ${p.note ?? entry.lastNote}`);
  return lines;
}

/** One line per migration, for logs and pipes (no cursor movement). */
export function renderWatchLine(entry: WatchEntry, now: Date): string {
  const p = entry.progress;
  const head = `${clock(now)} ${entry.label} → ${entry.destination}`;
  if (entry.ended) return `${head} ${entry.ended.outcome}: ${entry.ended.text}`;
  if (!p) return `${head} ${entry.phase}`;
  const parts = [
    `${head} ${entry.phase} ${p.percent.toFixed(1)}%`,
    `sent ${formatBytes(p.transferredBytes)}, left ${formatBytes(p.remainingBytes)}`,
    `${formatRate(p.throughput)} vs dirty ${formatRate(p.dirtyRate)}`,
    `downtime ${downtime(p.expectedDowntimeMs, entry.budgetMs, p.downtimeLimitMs)}`,
    `ETA ${etaOf(p)}`,
  ];
  if (entry.lastAction) parts.push(`policy: ${entry.lastAction.action}`);
  return parts.join(' · ');
}

/** `[#########-----------]` */
export function bar(percent: number, cells = 20): string {
  const filled = Math.max(0, Math.min(cells, Math.round((percent / 100) * cells)));
  return `[${'#'.repeat(filled)}${'-'.repeat(cells - filled)}]`;
}

/** Time left if the link keeps outrunning the guest; says so when it does not. */
export function eta(remainingBytes: number, throughput: number, dirtyRate: number): string {
  if (remainingBytes <= 0) return 'now';
  const gain = throughput - dirtyRate;
  if (!(throughput > 0)) return '—';
  if (gain <= 0) return 'none (the guest dirties memory as fast as the link sends)';
  return formatDuration((remainingBytes / gain) * 1000);
}

/**
 * `expected 850 ms vs budget 300 ms (over …)`: QEMU's expected pause against
 * the caller's maxDowntime (known for this REPL's migrations), and the limit
 * the policy has QEMU work to, when the engine reports it.
 */
export function downtime(expectedMs: number | undefined, budgetMs: number | undefined, policyLimitMs?: number): string {
  const expected = expectedMs === undefined ? 'expected —' : `expected ${formatDuration(expectedMs)}`;
  const policy = policyLimitMs === undefined ? '' : ` · policy limit ${formatDuration(policyLimitMs)}`;
  if (budgetMs === undefined) return `${expected}${policy}${policy ? '' : ' (budget not known to this process)'}`;
  const verdict = expectedMs === undefined ? '' : expectedMs <= budgetMs ? ' (within)' : ' (over: no switchover yet)';
  return `${expected} vs budget ${formatDuration(budgetMs)}${verdict}${policy}`;
}

/** The engine's ETA when it gave one, else ours from the same figures. */
function etaOf(p: MigrationProgress): string {
  if (typeof p.etaMs === 'number') return formatDuration(p.etaMs);
  return eta(p.remainingBytes, p.throughput, p.dirtyRate);
}

function clock(date: Date): string {
  return date.toTimeString().slice(0, 8);
}

/** Cuts a line to the terminal's width so that it never wraps (a wrapped line would break the redraw). */
export function fit(line: string, columns: number): string {
  const width = Math.max(20, columns - 1);
  const chars = [...line];
  return chars.length <= width ? line : `${chars.slice(0, width - 1).join('')}…`;
}

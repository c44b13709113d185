import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MigrationProgress } from '../../../sdk/index.ts';
import { sharedMax, sparkline } from '../../../repl/watch/sparkline.ts';
import { bar, downtime, eta, fit, renderWatchFrame, renderWatchLine } from '../../../repl/watch/render-watch.ts';
import type { WatchEntry } from '../../../repl/watch/watch-entry.ts';
import { proposeDowntimeMs } from '../../../repl/watch/steer.ts';

const MiB = 1024 ** 2;

function progress(overrides: Partial<MigrationProgress> = {}): MigrationProgress {
  return {
    phase: 'perform', transfer: 'transferring', percent: 42.5, transferredBytes: 120 * MiB, remainingBytes: 80 * MiB, totalBytes: 512 * MiB,
    dirtyRate: 2 * MiB, throughput: 8 * MiB, pass: 3, expectedDowntimeMs: 850, throttlePercent: 0, elapsedMs: 15_000, ...overrides,
  };
}

function entry(overrides: Partial<WatchEntry> = {}): WatchEntry {
  return {
    id: 'm1', label: 'a/busy', destination: 'b', phase: 'perform', progress: progress(),
    throughput: [4 * MiB, 8 * MiB, 8 * MiB], dirtyRate: [1 * MiB, 2 * MiB, 2 * MiB], budgetMs: 300,
    owner: { kind: 'this-repl' }, ...overrides,
  };
}

test('sparklines scale to a shared maximum, newest on the right, padded on the left', () => {
  assert.equal(sparkline([1, 2, 4, 8], 8, 6), '  ▂▃▅█');
  assert.equal(sparkline([0, 8], 8, 2), '▁█');
  assert.equal(sparkline([], 8, 3), '   ');
  assert.equal(sparkline([5, 5], 0, 2), '▁▁', 'no scale: the baseline');
  assert.equal(sparkline([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 10, 4), '▆▇▇█', 'only the last width samples');
  assert.equal(sharedMax([1, 9], [3, Number.NaN], []), 9);
});

test('bar, ETA and downtime read as a person would say them', () => {
  assert.equal(bar(50, 10), '[#####-----]');
  assert.equal(bar(130, 4), '[####]');
  assert.equal(eta(60 * MiB, 8 * MiB, 2 * MiB), '10.0 s');
  assert.match(eta(60 * MiB, 8 * MiB, 9 * MiB), /^none/);
  assert.equal(eta(0, 8 * MiB, 0), 'now');
  assert.equal(downtime(850, 300), 'expected 850 ms vs budget 300 ms (over: no switchover yet)');
  assert.equal(downtime(120, 300), 'expected 120 ms vs budget 300 ms (within)');
  assert.equal(downtime(120, 300, 195), 'expected 120 ms vs budget 300 ms (within) · policy limit 195 ms');
  assert.match(downtime(120, undefined), /budget not known/);
  assert.equal(downtime(120, undefined, 195), 'expected 120 ms · policy limit 195 ms');
});

test('the frame shows phase, percent, bytes, both sparklines, downtime vs budget, ETA and the last action', () => {
  const lines = renderWatchFrame([entry({ lastAction: { action: 'raise downtime limit', reason: 'no convergence after 3 passes' } })], {
    now: new Date(2026, 0, 1, 12, 34, 56), selected: 'm1', log: [], columns: 200, filter: 'all',
  });
  const text = lines.join('\n');
  assert.match(lines[0] ?? '', /^ferry watch all · 1 in flight · 12:34:56$/);
  assert.match(text, /▶ a\/busy → b {2}perform +42\.5% {2}\[#########-+\] {2}pass 3 {2}this REPL/);
  assert.match(text, /transferred 120\.0 MiB · remaining 80\.0 MiB of 512\.0 MiB · elapsed 15\.0 s · ETA 13\.3 s/);
  assert.match(text, /throughput +▅██ 8\.0 MiB\/s/);
  assert.match(text, /dirty rate +▂▃▃ 2\.0 MiB\/s/);
  assert.match(text, /downtime +expected 850 ms vs budget 300 ms \(over/);
  assert.match(text, /policy +raise downtime limit: no convergence after 3 passes/);
  assert.match(lines.at(-1) ?? '', /c cancel · p postcopy · d raise downtime limit/);
});

test("another process's migration is marked watch-only and offers no steering keys", () => {
  const lines = renderWatchFrame([entry({ owner: { kind: 'other', host: 'ops1', pid: 4242 }, budgetMs: undefined, progress: progress({ etaMs: 5000 }) })], {
    now: new Date(), selected: 'm1', log: ['12:00:00 cancel: declined'], columns: 200, filter: 'all',
  });
  const text = lines.join('\n');
  assert.match(text, /pid 4242 on ops1 \(watch only\)/);
  assert.match(text, /ETA 5\.0 s/, "the engine's ETA when it gives one");
  assert.match(text, /» 12:00:00 cancel: declined/);
  assert.doesNotMatch(lines.at(-1) ?? '', /c cancel/);
});

test('ended migrations take one line; nothing in flight says so', () => {
  const ended = renderWatchFrame([entry({ ended: { outcome: 'completed', text: 'now runs on b, downtime 40 ms', at: 0 } })], {
    now: new Date(), selected: undefined, log: [], columns: 200, filter: 'a/busy',
  });
  assert.equal(ended.length, 3);
  assert.match(ended[1] ?? '', /✓ a\/busy → b {2}completed: now runs on b, downtime 40 ms/);
  assert.match(renderWatchFrame([], { now: new Date(), selected: undefined, log: [], columns: 80, filter: 'all' }).join('\n'), /no migration in flight/);
});

test('lines never wrap: they are cut to the terminal width', () => {
  const lines = renderWatchFrame([entry()], { now: new Date(), selected: 'm1', log: [], columns: 40, filter: 'all' });
  for (const line of lines) assert.ok([...line].length <= 39, line);
  assert.equal(fit('abcdef', 5), 'abcdef', 'never narrower than 20 columns');
  assert.equal(fit('x'.repeat(30), 21), `${'x'.repeat(19)}…`);
});

test('off a terminal, one plain line per migration', () => {
  const line = renderWatchLine(entry(), new Date(2026, 0, 1, 9, 5, 7));
  assert.equal(line, '09:05:07 a/busy → b perform 42.5% · sent 120.0 MiB, left 80.0 MiB · 8.0 MiB/s vs dirty 2.0 MiB/s · downtime expected 850 ms vs budget 300 ms (over: no switchover yet) · ETA 13.3 s');
  assert.doesNotMatch(line, /\x1b/);
});

test('the downtime limit offered: double, or enough for what QEMU expects', () => {
  assert.equal(proposeDowntimeMs(300, undefined), 600);
  assert.equal(proposeDowntimeMs(300, 850), 1100);
  assert.equal(proposeDowntimeMs(300, 100), 600);
});

// `ferry run`: a recipe's lock, journal and per-run report, and --cron runs that never overlap.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../../cli/main.ts';
import { capturedStreams } from '../../support/captured-streams.ts';

function recipe(dir: string, body: string): string {
  const file = join(dir, 'probe-recipe.ts');
  writeFileSync(file, `export default async function (args: string[], context: { signal: AbortSignal; journal: string; log(m: string): void }) {\n${body}\n}\n`);
  return file;
}

test('a run writes a JSON report, journals its begin and end, and releases its lock', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-run-'));
  const file = recipe(dir, "context.log('hello ' + args.join(' ')); return { status: 'completed', echoed: args };");
  const { streams, stderr: err } = capturedStreams();
  const code = await main(['run', file, 'x', 'y', '--state-dir', join(dir, 'state')], streams);
  assert.equal(code, 0, err());
  const runDir = join(dir, 'state', 'runs', 'probe-recipe');
  const [report] = readdirSync(join(runDir, 'reports'));
  const body = JSON.parse(readFileSync(join(runDir, 'reports', report ?? ''), 'utf8')) as { status: string; result: { echoed: string[] }; args: string[] };
  assert.equal(body.status, 'completed');
  assert.deepEqual(body.result.echoed, ['x', 'y']);
  const kinds = readFileSync(join(runDir, 'journal.jsonl'), 'utf8').trim().split('\n').map((line) => (JSON.parse(line) as { kind: string }).kind);
  assert.deepEqual(kinds, ['run-begin', 'run-end']);
  assert.ok(!readdirSync(runDir).includes('lock'));
  assert.match(err(), /hello x y/);
});

test('a lock held by a live process refuses the run; one left by a dead process is taken over', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-run-'));
  const file = recipe(dir, "return { status: 'partial' };");
  const runDir = join(dir, 'state', 'runs', 'probe-recipe');
  mkdirSync(runDir, { recursive: true });
  const { hostname } = await import('node:os');
  writeFileSync(join(runDir, 'lock'), JSON.stringify({ host: hostname(), pid: process.pid }));
  const held = capturedStreams();
  assert.equal(await main(['run', file, '--state-dir', join(dir, 'state')], held.streams), 1);
  assert.match(held.stderr(), /already running \(pid \d+/);
  writeFileSync(join(runDir, 'lock'), JSON.stringify({ host: hostname(), pid: 2 ** 22 + 12345 }));
  const stale = capturedStreams();
  assert.equal(await main(['run', file, '--state-dir', join(dir, 'state')], stale.streams), 1, 'partial is exit 1');
  assert.equal(readdirSync(join(runDir, 'reports')).length, 1);
});

test('--cron runs on schedule and a slow run is never overlapped', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-run-'));
  const marks = join(dir, 'marks');
  // Each run takes 1.5 s; the schedule fires every second.
  const file = recipe(dir, `const fs = await import('node:fs');
fs.appendFileSync(${JSON.stringify(marks)}, 'start ' + Date.now() + '\\n');
await new Promise((r) => setTimeout(r, 1500));
fs.appendFileSync(${JSON.stringify(marks)}, 'end ' + Date.now() + '\\n');
return { status: 'completed' };`);
  const output = capturedStreams();
  const run = main(['run', file, '--cron', '* * * * * *', '--state-dir', join(dir, 'state')], output.streams);
  await new Promise((r) => setTimeout(r, 4200));
  process.emit('SIGINT'); // what Ctrl-C does: main() aborts, the schedule stops after the run in progress
  assert.equal(await run, 0, output.stderr());
  const lines = readFileSync(marks, 'utf8').trim().split('\n');
  const starts = lines.filter((line) => line.startsWith('start')).length;
  assert.ok(starts >= 2, lines.join(', '));
  for (let i = 0; i + 1 < lines.length; i += 2) {
    assert.match(lines[i] ?? '', /^start/);
    assert.match(lines[i + 1] ?? '', /^end/, 'runs never overlap');
  }
  assert.match(output.stderr(), /skipping/);
});

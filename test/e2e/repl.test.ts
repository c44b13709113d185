// `ferry` (no arguments, on a terminal) as a person uses it, in a real
// terminal: tmux sends the keys and captures the screen. The REPL completes
// names, starts a migration on the lab, watches it redraw in place, steers
// it, is left with Ctrl-C while the migration goes on, and reports the
// result; a migration started by a separate process shows up in the view.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { testLab } from './lab-fixture.ts';

const run = promisify(execFile);
const lab = testLab();
const repo = resolve(import.meta.dirname, '../..');
const work = mkdtempSync(join(tmpdir(), 'ferry-repl-e2e-'));
const configFile = join(work, 'ferry.json');
const historyFile = join(work, 'history');
// A tmux server and session of this test's own, killed by name at the end.
const socket = `ferry-repl-e2e-${process.pid}`;
const session = `ferry-repl-${process.pid}`;
// Slow enough to watch (a bandwidth cap), converging (the guest dirties less than the link carries).
const guest = { memoryMiB: 256, dirtyMiB: 64, dirtyRateMBps: 4 };
const bandwidth = '8MiB/s';

async function tmux(...args: string[]): Promise<string> {
  const { stdout } = await run('tmux', ['-L', socket, ...args]);
  return stdout;
}

/** What the terminal shows now. */
function screen(): Promise<string> {
  return tmux('capture-pane', '-p', '-t', session);
}

async function keys(...keys: string[]): Promise<void> {
  await tmux('send-keys', '-t', session, ...keys);
}

/** Types literal text (no key names). */
async function type(text: string): Promise<void> {
  await tmux('send-keys', '-t', session, '-l', text);
}

async function waitForScreen(pattern: RegExp, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let shown = '';
  while (Date.now() < deadline) {
    shown = await screen();
    if (pattern.test(shown)) return shown;
    await sleep(200);
  }
  assert.fail(`the screen never showed ${pattern}; it shows:\n${shown}`);
}

/** The line the cursor is on (the prompt and what has been typed). */
async function currentLine(): Promise<string> {
  const y = Number((await tmux('display-message', '-p', '-t', session, '#{cursor_y}')).trim());
  return (await screen()).split('\n')[y] ?? '';
}

function readFileSafe(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

describe('ferry repl in a real terminal', { timeout: 240_000 }, () => {
  let other: ChildProcess | undefined;
  let otherExit: Promise<number | null> | undefined;

  before(async () => {
    await lab.up();
    // The lab's hosts under longer names, so that completing one means something.
    const { hosts } = lab.ferryConfig();
    writeFileSync(configFile, JSON.stringify({ hosts: { alpha: hosts['a'], bravo: hosts['b'], charlie: hosts['c'] } }, null, 2));
    await Promise.all([lab.startVm('a', 'watched', guest), lab.startVm('a', 'other', guest)]);
    const command = `cd ${repo} && env FERRY_CONFIG=${configFile} FERRY_REPL_HISTORY=${historyFile} node bin/ferry.mjs; echo "REPL exited with $?"; sleep 600`;
    await tmux('new-session', '-d', '-s', session, '-x', '160', '-y', '50', command);
    await waitForScreen(/ferry>\s*$/m, 60_000);
  });

  after(async () => {
    await tmux('kill-session', '-t', session).catch(() => undefined);
    if (other?.exitCode === null) other.kill('SIGINT');
    await otherExit;
    for (const h of ['a', 'b', 'c']) for (const vm of ['watched', 'other']) await lab.stopVm(h, vm);
    await lab.down();
    rmSync(work, { recursive: true, force: true });
  });

  test('completes host and VM names, watches a migration redraw in place, steers it, leaves with Ctrl-C and sees the result', async (t) => {
    // A migration of the same fleet, driven by a separate process.
    other = spawn('node', ['bin/ferry.mjs', 'migrate', 'alpha/other', 'charlie', '--bandwidth', bandwidth], {
      cwd: repo, env: { ...process.env, FERRY_CONFIG: configFile }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let otherOutput = '';
    other.stdout?.on('data', (chunk: Buffer) => (otherOutput += chunk.toString()));
    other.stderr?.on('data', (chunk: Buffer) => (otherOutput += chunk.toString()));
    otherExit = new Promise((resolve) => other?.on('exit', (code) => resolve(code)));

    // A host name inside host('…, then a VM name after .migrate.
    await type("host('al");
    await keys('Tab');
    await waitForScreen(/ferry> host\('alpha$/m, 5000);
    await keys('C-u');
    await type('.migrate alpha/wat');
    await keys('Tab');
    await waitForScreen(/ferry> \.migrate alpha\/watched$/m, 10_000);
    // Start ours once the other one transfers, so that both are in flight for a while.
    const otherRecord = join(lab.runDir('a'), 'other.migration', 'status.json');
    const deadline = Date.now() + 60_000;
    while (!/"phase":"perform"/.test(readFileSafe(otherRecord))) {
      if (Date.now() > deadline) assert.fail(`the other process's migration never reached perform: ${otherOutput}`);
      await sleep(200);
    }
    await type(` bravo --bandwidth ${bandwidth}`);
    await keys('Enter');
    await waitForScreen(/started alpha\/watched → bravo/);

    await type('.watch');
    await keys('Enter');
    const first = await waitForScreen(/alpha\/watched → bravo {2}perform +\d+\.\d%[^\n]*this REPL[^]*throughput [▁-█ ]+ [\d.]+ [KMG]?i?B\/s/);
    // The other process's migration, from the status record on alpha.
    const withOther = await waitForScreen(new RegExp(`alpha/other → charlie {2}\\w+ [^\\n]*pid ${other.pid} on \\S+ \\(watch only\\)`), 30_000);
    await sleep(2500);
    const later = await screen();
    const frameOf = (text: string) => text.slice(text.indexOf('ferry watch'));
    assert.notEqual(frameOf(later), frameOf(withOther), 'the view changes as the migration goes on');
    for (const shown of [first, withOther, later]) assert.equal(shown.match(/ferry watch all/g)?.length, 1, `redrawn in place, not appended:\n${shown}`);
    assert.match(later, /transferred [\d.]+ [KMG]?i?B · remaining [\d.]+ [KMG]?i?B of [\d.]+ MiB · elapsed [\d.]+ s · ETA /);
    assert.match(later, /dirty rate [▁-█ ]+ [\d.]+ [KMG]?i?B\/s/);
    assert.match(later, /downtime +expected [^\n]* vs budget 300 ms/);
    t.diagnostic(`watch view:\n${frameOf(later).trimEnd()}`);

    // The other process's migration can only be watched from here.
    await keys('Down');
    await waitForScreen(/▶ alpha\/other → charlie/, 5000);
    await keys('c');
    await waitForScreen(/alpha\/other → charlie is driven by pid \d+ on \S+: it can only be watched from here/, 5000);
    await keys('Up');
    await waitForScreen(/▶ alpha\/watched → bravo/, 5000);

    // Steering this REPL's own: a key, a question, a yes, a log line.
    await keys('d');
    await waitForScreen(/raise the downtime limit of alpha\/watched → bravo from 300 ms to \d+ ms\? \[y\/N\]/, 5000);
    await keys('y');
    const steered = await waitForScreen(/» \d\d:\d\d:\d\d downtime \d+ ms alpha\/watched → bravo: done/, 10_000);
    assert.match(steered, /policy +downtime limit \d+ ms: operator in the REPL \(confirmed\)/);

    // Ctrl-C leaves the view; the migration goes on.
    await keys('C-c');
    const left = await waitForScreen(/left the view; migrations go on[^]*\nferry>\s*$/m, 5000);
    assert.doesNotMatch(left, /alpha\/watched → bravo {2}completed\n/, 'still in flight when the view was left');
    assert.notEqual(await lab.vmPid('a', 'watched'), undefined, 'still running on the source');

    // The result arrives above the prompt by itself.
    const done = await waitForScreen(/alpha\/watched → bravo {2}completed\n[^]*downtime +\d+ ms +limit \d+ ms[^]*ferry>\s*$/m, 120_000);
    t.diagnostic(`result:\n${done.slice(done.lastIndexOf('alpha/watched → bravo  completed')).trimEnd()}`);
    assert.equal(await lab.vmPid('a', 'watched'), undefined, 'the source QEMU is gone');
    assert.notEqual(await lab.vmPid('b', 'watched'), undefined, 'the VM runs on bravo');

    // And the other process's migration ended well too, as .watch can tell.
    assert.equal(await otherExit, 0, otherOutput);
    await type('.watch charlie');
    await keys('Enter');
    // The REPL saw nothing of it in flight now; the view says so and waits: leave it.
    await waitForScreen(/ferry watch charlie · 0 in flight/, 10_000);
    await keys('q');
    await waitForScreen(/left the view[^]*\nferry>\s*$/m, 5000);
  });

  test('bad input in the terminal: one clear line each, and the REPL stays alive', async () => {
    await keys('C-l');
    for (const [input, expected] of [
      ['.wtch', /^ferry: unknown command \.wtch — did you mean \.watch\? \(\.help lists them\)$/],
      ["host('nowhere')", /^Uncaught UnknownHostError: unknown host 'nowhere'; configured hosts: alpha, bravo, charlie$/],
      ['.qmp bravo/watched no-such-command', /^ferry: .*CommandNotFound/],
    ] as const) {
      await type(input);
      await keys('Enter');
      const shown = await waitForScreen(new RegExp(`${input.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\n(.*)\\nferry>\\s*$`, 'm'), 15_000);
      const reply = shown.split('\n').filter((line) => line.trim() !== '');
      assert.match(reply.at(-2) ?? '', expected);
    }
    await type('(await host("bravo").vm("watched").status()).runState');
    await keys('Enter');
    await waitForScreen(/^'running'$/m, 15_000);
    assert.match(await currentLine(), /^ferry>\s*$/);
    // Every line typed is in the history file.
    await type('.exit');
    await keys('Enter');
    await waitForScreen(/REPL exited with 0/, 10_000);
    const history = readFileSync(historyFile, 'utf8');
    assert.match(history, /\.watch/);
    assert.match(history, /\.migrate alpha\/watched bravo/);
  });

  for (const runtime of ['deno', 'bun'] as const) {
    test(`under ${runtime[0]?.toUpperCase()}${runtime.slice(1)}, off a terminal: plain lines, top-level await, one-line errors`, async () => {
      const argv = runtime === 'deno' ? ['run', '-A', 'cli/main.ts', 'repl'] : ['cli/main.ts', 'repl'];
      const child = spawn(join(repo, 'node_modules/.bin', runtime), argv, {
        cwd: repo, env: { ...process.env, FERRY_CONFIG: configFile, FERRY_REPL_HISTORY: '', NO_COLOR: '1' }, stdio: ['pipe', 'pipe', 'pipe'],
      });
      let transcript = '';
      child.stdout.on('data', (chunk: Buffer) => (transcript += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (transcript += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      const ask = async (line: string, answer: RegExp) => {
        const start = transcript.length;
        child.stdin.write(`${line}\n`);
        const deadline = Date.now() + 20_000;
        while (!answer.test(transcript.slice(start))) {
          if (Date.now() > deadline) assert.fail(`${runtime}: no ${answer} after ${line}; transcript:\n${transcript}`);
          await sleep(50);
        }
        return transcript.slice(start);
      };
      try {
        await ask('', /ferry> /);
        await ask('.hosts', /alpha +a +\/\S+ +\d+ running/);
        await ask("(await host('bravo').vms()).every((vm) => vm.host === 'bravo') ? 'listed' : 'wrong'", /'listed'/);
        await ask('.wtch', /ferry: unknown command \.wtch — did you mean \.watch\?/);
        const unknown = await ask("host('nowhere')", /unknown host 'nowhere'[^\n]*\n/);
        assert.equal(unknown.split('\n').filter((line) => /unknown host/.test(line)).length, 1);
        assert.doesNotMatch(unknown, /\n\s+at /, 'no stack trace');
        await ask('6 * 7', /42/);
        assert.doesNotMatch(transcript, /\x1b\[/, 'no escape sequences off a terminal');
        child.stdin.write('.exit\n');
        assert.equal(await exited, 0, transcript);
      } finally {
        if (child.exitCode === null) child.kill('SIGTERM');
      }
    });
  }
});

// The rolling upgrade end to end on a fleet of `local` hosts (each its own
// runDir and its own stand-in `qemu-system-x86_64` that prints a version
// from a file): the order of steps, the hook run once per host, a stop at
// the first failure with how to resume, and resumption from the journal
// that never runs a hook twice. Real migrations are the lab's (test/e2e).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Fleet } from '../../../sdk/model/fleet.ts';
import { RollingUpgrade } from '../../../sdk/upgrade/rolling-upgrade.ts';
import { RollingUpgradeOptionsError } from '../../../sdk/upgrade/upgrade-errors.ts';
import { readUpgradeJournal } from '../../../sdk/upgrade/upgrade-journal.ts';
import type { RollingUpgradeOptions } from '../../../sdk/upgrade/upgrade-options.ts';
import { main } from '../../../cli/main.ts';
import { capturedStreams } from '../../support/captured-streams.ts';

const hosts = ['a', 'b', 'c'];
const dir = mkdtempSync(join(tmpdir(), 'ferry-rolling-upgrade-'));
const fakeVms: ChildProcess[] = [];

/** A fresh fleet of three local hosts on "QEMU 7.2.22"; `hookLog` counts the hook's runs. */
function fleet(name: string): { fleet: Fleet; journal: string; hookLog: string; setVersion: (version: string) => void; config: string } {
  const base = join(dir, name);
  mkdirSync(base, { recursive: true });
  const config: Record<string, { local: true; runDir: string; qemuBinary: string }> = {};
  for (const h of hosts) {
    const qemu = join(base, `qemu-${h}`);
    writeFileSync(qemu, `#!/bin/sh\necho "QEMU emulator version $(cat ${join(base, 'version')}) (stand-in)"\n`);
    chmodSync(qemu, 0o755);
    config[h] = { local: true, runDir: join(base, `run-${h}`), qemuBinary: qemu };
  }
  const setVersion = (version: string) => writeFileSync(join(base, 'version'), version);
  setVersion('7.2.22');
  const f = new Fleet();
  f.configure({ hosts: config });
  const configFile = join(base, 'ferry.json');
  writeFileSync(configFile, JSON.stringify({ hosts: config }));
  return { fleet: f, journal: join(base, 'journal.jsonl'), hookLog: join(base, 'hook.log'), setVersion, config: configFile };
}

/** A process that looks like a VM to a survey: a pid file in the runDir, `-m 256` on its command line. */
function fakeVm(runDir: string, name: string): void {
  mkdirSync(runDir, { recursive: true });
  const child = spawn('sh', ['-c', 'sleep 600', 'qemu-stand-in', '-m', '256'], { stdio: 'ignore', detached: true });
  child.unref();
  fakeVms.push(child);
  writeFileSync(join(runDir, `${name}.pid`), String(child.pid));
}

function hookRuns(hookLog: string): string[] {
  return existsSync(hookLog) ? readFileSync(hookLog, 'utf8').trim().split('\n').filter(Boolean) : [];
}

const run = (f: Fleet, options: RollingUpgradeOptions) => new RollingUpgrade(f, options);

after(() => {
  for (const child of fakeVms) if (child.pid) process.kill(child.pid, 'SIGKILL');
});

test('bad options and unknown hosts are refused before anything is touched', () => {
  const { fleet: f } = fleet('options');
  for (const bad of [{ command: '' }, { command: [] }, { command: 'x', hosts: [] }, { command: 'x', hosts: ['a', 'a'] }, { command: 'x', expectQemu: 'ten' }, { command: 'x', hostTimeoutMs: 0 }, { command: 'x', turbo: true }]) {
    assert.throws(() => run(f, bad as never), RollingUpgradeOptionsError, JSON.stringify(bad));
  }
  assert.throws(() => run(f, { command: 'x', hosts: ['a', 'nosuch'] }), /nosuch/);
});

test('a dry run plans every host in order from what the hosts say, and touches nothing', async () => {
  const { fleet: f, journal, hookLog } = fleet('dry');
  fakeVm(f.hostConfig('a').runDir, 'web');
  fakeVm(f.hostConfig('b').runDir, 'db');
  const upgrade = run(f, { hosts: ['b', 'a', 'c'], command: `echo run >> ${hookLog}`, expectQemu: '10.0', dryRun: true, journal });
  let planned = 0;
  upgrade.on('plan', () => planned++);
  const report = await upgrade;
  assert.equal(report.status, 'planned', JSON.stringify(report.failure));
  assert.equal(planned, 1);
  assert.deepEqual(report.plan.steps.map((step) => step.host), ['b', 'a', 'c']);
  assert.deepEqual(report.plan.steps.map((step) => step.evacuate.map((move) => move.vm)), [['db'], ['web'], []]);
  assert.deepEqual(report.plan.steps[1]?.qemuAt, { b: '10.0', c: '7.2.22' });
  assert.equal(report.plan.steps[0]?.qemuBefore, '7.2.22');
  assert.equal(report.plan.steps[0]?.hook, `sh -c 'echo run >> ${hookLog}'`);
  assert.equal(report.plan.steps[0]?.evacuate[0]?.memoryBytes, 256 * 1024 ** 2);
  assert.equal(existsSync(journal), false, 'no journal');
  assert.deepEqual(hookRuns(hookLog), []);
  for (const h of hosts) assert.equal(existsSync(join(f.hostConfig(h).runDir, '.ferry-maintenance')), false);
});

test('each host in turn: evacuated, its hook run once, checked, its maintenance cleared', async () => {
  const { fleet: f, journal, hookLog, setVersion } = fleet('order');
  // The stand-in upgrade: a hook that logs its run and makes "QEMU" 10.0.2.
  setVersion('7.2.22');
  const upgrade = run(f, { command: ['sh', '-c', `echo "run $1" >> ${hookLog} && printf 10.0.2 > ${join(dir, 'order', 'version')} && echo "it's done"`, 'hook', 'x y'], expectQemu: '10.0', journal });
  const seen: string[] = [];
  upgrade.on('step', (step) => step.state !== 'start' && seen.push(`${step.host} ${step.step}`));
  const report = await upgrade;
  assert.equal(report.status, 'completed', JSON.stringify(report.failure));
  assert.deepEqual(seen, hosts.flatMap((h) => [`${h} evacuate`, `${h} hook`, `${h} verify`, `${h} return`]));
  assert.deepEqual(hookRuns(hookLog), ['run x y', 'run x y', 'run x y'], 'argv reaches the host as it was given');
  for (const outcome of report.hosts) {
    assert.equal(outcome.status, 'done');
    assert.deepEqual([outcome.hook?.ran, outcome.hook?.exitCode, outcome.hook?.outputTail], [true, 0, "it's done"]);
    assert.equal(outcome.qemuVersion, '10.0.2');
    assert.equal(existsSync(join(f.hostConfig(outcome.host).runDir, '.ferry-maintenance')), false, `${outcome.host} out of maintenance`);
  }
  const kinds = readUpgradeJournal(journal).map((line) => line.kind);
  assert.equal(kinds[0], 'upgrade-begin');
  assert.equal(kinds.at(-1), 'upgrade-end');
  assert.equal(kinds.filter((kind) => kind === 'host-done').length, 3);
});

test('a failing hook stops the upgrade there, with its exit code and output; run again, it resumes and runs no hook twice', async () => {
  const { fleet: f, journal, hookLog } = fleet('fail');
  // Fails the second time it runs: on b.
  const command = `echo run >> ${hookLog}; echo "E: unmet dependencies" >&2; [ "$(wc -l < ${hookLog})" -ne 2 ]`;
  const first = await run(f, { command, journal });
  assert.equal(first.status, 'failed');
  assert.deepEqual(first.failure && [first.failure.host, first.failure.step], ['b', 'hook']);
  assert.match(first.failure?.message ?? '', /exit code 1; its output ends:\nE: unmet dependencies/);
  assert.deepEqual(first.hosts.map((h) => h.status), ['done', 'failed', 'pending']);
  assert.deepEqual(first.whereabouts, [], 'no VMs: none to look for');
  assert.match(first.resume ?? '', /resumes at b \(hook\)/);
  assert.ok(existsSync(join(f.hostConfig('b').runDir, '.ferry-maintenance')), 'b stays in maintenance: its VMs are away');
  assert.deepEqual(hookRuns(hookLog).length, 2);

  const second = await run(f, { command, journal });
  assert.equal(second.status, 'completed', JSON.stringify(second.failure));
  assert.equal(second.resumed, true);
  assert.equal(second.id, first.id, 'the same upgrade, resumed');
  assert.deepEqual(second.hosts.map((h) => [h.host, h.hook?.ran]), [['a', false], ['b', true], ['c', true]]);
  assert.deepEqual(second.hosts[0]?.fromJournal, ['evacuate', 'hook', 'verify', 'return']);
  assert.deepEqual(second.hosts[1]?.fromJournal, ['evacuate'], 'b\'s evacuation is not repeated');
  assert.equal(hookRuns(hookLog).length, 4, 'a once, b twice (it failed), c once');

  // Ended: the next run is a new upgrade.
  const third = await run(f, { command: 'true', journal, dryRun: true });
  assert.equal(third.resumed, false);
});

test('a host that comes back with the wrong QEMU stops the upgrade; resumed, its hook is not run again unless asked', async () => {
  const { fleet: f, journal, hookLog, setVersion } = fleet('verify');
  const command = `echo run >> ${hookLog}`;
  const first = await run(f, { command, expectQemu: '10.0', journal, hostTimeoutMs: 5000 });
  assert.equal(first.status, 'failed');
  assert.deepEqual(first.failure && [first.failure.host, first.failure.step], ['a', 'verify']);
  assert.match(first.failure?.message ?? '', /a came back with QEMU 7\.2\.22, expected 10\.0/);
  assert.equal(hookRuns(hookLog).length, 1);

  setVersion('10.0.2'); // what the operator fixed by hand
  const second = await run(f, { command, expectQemu: '10.0', journal });
  assert.equal(second.status, 'completed', JSON.stringify(second.failure));
  assert.deepEqual(second.hosts.map((h) => [h.host, h.hook?.ran]), [['a', false], ['b', true], ['c', true]]);
  assert.equal(hookRuns(hookLog).length, 3, 'a\'s hook ran once');

  // A hook asked to run again: a whole new turn for that host only.
  const again = await run(f, { command, expectQemu: '10.0', journal, rerunHook: ['b'], restart: true });
  assert.equal(again.status, 'completed');
  assert.equal(hookRuns(hookLog).length, 6, 'a new upgrade (restart) runs every hook once');
});

test('`ferry run rolling-upgrade`: the dry run, --json, and exit codes as every ferry command', async () => {
  const { config, hookLog } = fleet('cli');
  const state = join(dir, 'cli', 'state');
  const ferry = async (...args: string[]) => {
    const { streams, stdout, stderr } = capturedStreams();
    const code = await main(['--config', config, ...args, '--state-dir', state], streams);
    return { code, stdout: stdout(), stderr: stderr() };
  };
  const dry = await ferry('--json', 'run', 'rolling-upgrade', 'c', 'b', '--hook', `echo run >> ${hookLog}`, '--expect-qemu', '10.0', '--dry-run');
  assert.equal(dry.code, 0, dry.stderr);
  const body = JSON.parse(dry.stdout) as { status: string; result: { plan: { steps: Array<{ host: string }> }; exitCode: number } };
  assert.equal(body.status, 'planned');
  assert.deepEqual(body.result.plan.steps.map((step) => step.host), ['c', 'b']);
  assert.match(dry.stderr, /#1 c: QEMU 7\.2\.22 → 10\.0; the others then run b 7\.2\.22/);
  assert.match(dry.stderr, /2\. hook: sh -c 'echo run >>/);
  assert.deepEqual(hookRuns(hookLog), []);

  assert.equal((await ferry('run', 'rolling-upgrade', 'a')).code, 2, 'no hook: a usage mistake');
  assert.equal((await ferry('run', 'rolling-upgrade', 'a', '--hook', 'x', '--', 'y')).code, 2, 'two hooks');
  assert.equal((await ferry('run', 'rolling-upgrade', 'a', '--hook', 'x', '--host-timeout', 'soon')).code, 2);
  assert.equal((await ferry('run', 'rolling-upgrade', 'nosuch', '--hook', 'x')).code, 2, 'an unknown host');
  const failed = await ferry('run', 'rolling-upgrade', 'a', '--', 'sh', '-c', 'exit 7');
  assert.equal(failed.code, 1, failed.stderr);
  assert.match(failed.stderr, /FAILED at a \(hook\): exit code 7/);
  assert.match(failed.stderr, /to resume: ferry run rolling-upgrade a -- sh -c 'exit 7'/);
});

test('cancelled during a hook: it stops at that hook and says so; run again, the hook that never reported runs again', async () => {
  const { fleet: f, journal, hookLog } = fleet('cancel');
  const command = `echo run >> ${hookLog}; if [ "$(wc -l < ${hookLog})" -eq 1 ]; then sleep 30; fi`;
  const upgrade = run(f, { command, journal });
  upgrade.on('step', (step) => step.step === 'hook' && step.state === 'start' && setTimeout(() => upgrade.cancel('operator'), 300));
  const started = Date.now();
  const report = await upgrade;
  assert.ok(Date.now() - started < 10_000, 'the hook was ended, not waited for');
  assert.equal(report.status, 'cancelled');
  assert.deepEqual(report.failure && [report.failure.host, report.failure.step], ['a', 'hook']);
  const kinds = readUpgradeJournal(journal).map((line) => line.kind);
  assert.deepEqual(kinds.slice(-2), ['hook-start', 'stopped']);

  const again = await run(f, { command, journal });
  assert.equal(again.status, 'completed', JSON.stringify(again.failure));
  assert.equal(again.hosts[0]?.hook?.ran, true);
  assert.equal(hookRuns(hookLog).length, 4, 'a\'s interrupted hook ran again, then b and c');
});

test('a host out of reach: the plan is refused before anything moves, and `ferry run` exits 3 as every command does', async () => {
  const base = join(dir, 'unreachable');
  mkdirSync(base, { recursive: true });
  const emptySshConfig = join(base, 'ssh_config');
  writeFileSync(emptySshConfig, '');
  const config = join(base, 'ferry.json');
  writeFileSync(config, JSON.stringify({ hosts: { a: { local: true, runDir: join(base, 'run-a') }, gone: { ssh: 'nobody@127.0.0.1:1', sshConfig: emptySshConfig } } }));
  const { streams, stdout, stderr } = capturedStreams();
  const code = await main(['--config', config, '--json', 'run', 'rolling-upgrade', 'a', 'gone', '--hook', 'true', '--state-dir', join(base, 'state')], streams);
  assert.equal(code, 3, stderr());
  const body = JSON.parse(stdout()) as { status: string; result: { failure: { step: string; message: string; unreachable: string[] } } };
  assert.equal(body.status, 'refused');
  assert.deepEqual(body.result.failure.unreachable, ['gone']);
  assert.match(body.result.failure.message, /cannot reach gone/);
});

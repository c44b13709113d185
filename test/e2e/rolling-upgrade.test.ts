// The rolling-upgrade recipe on the real lab: three hosts on QEMU 7.2, one
// guest each, are taken to QEMU 10.0 host by host (the hook is the lab's own
// use-qemu.sh, run over SSH), while the probe proves every guest keeps
// answering with its counter intact. Then the same from 7.2 again with the
// recipe killed (kill -9) in the middle of a host's evacuation, started
// again and killed in the middle of its return, and started once more: it
// resumes each time, every VM ends home and every host was upgraded once.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { configure, disconnect, host, readJournal, readUpgradeJournal, rollingUpgrade, type FerryConfig, type RollingUpgradeReport } from '../../sdk/index.ts';
import { Probe } from '../lab/probe.ts';
import { LOCAL_STORAGE_PATH, type GuestSpec } from '../lab/lab.ts';
import { testLab } from './lab-fixture.ts';

const lab = testLab();
const hosts = ['a', 'b', 'c'];
// One small guest per host, each dirtying a little memory so that a move is not free.
const guests: Record<string, { home: string; spec: GuestSpec }> = {
  u1: { home: 'a', spec: { memoryMiB: 192, dirtyMiB: 16, dirtyRateMBps: 4, addressOctet: 221 } },
  u2: { home: 'b', spec: { memoryMiB: 192, dirtyMiB: 16, dirtyRateMBps: 4, addressOctet: 222 } },
  u3: { home: 'c', spec: { memoryMiB: 192, dirtyMiB: 16, dirtyRateMBps: 4, addressOctet: 223 } },
};
const work = mkdtempSync(join(tmpdir(), 'ferry-rolling-upgrade-e2e-'));
const useQemu = resolve(import.meta.dirname ?? '.', '../lab/use-qemu.sh');
// Each host counts its own upgrades in its local storage, which only it sees: the proof a hook ran once.
const upgradesLog = `${LOCAL_STORAGE_PATH}/ferry-upgrades.log`;
const hook = `echo upgraded >> ${upgradesLog} && sh ${useQemu} 10.0`;
// Two cores shared with other labs: allow a longer switchover and a pause to finish (the probe still reports real gaps).
const maxDowntime = 1000;
const probes = new Map<string, Probe>();

function labConfig(): FerryConfig {
  return { hosts: { ...lab.ferryConfig().hosts } };
}

/** Every host on QEMU 7.2 with its guest booted there, no upgrade counted yet. */
async function freshFleet(): Promise<void> {
  for (const probe of probes.values()) probe.stop();
  probes.clear();
  for (const h of hosts) for (const vm of Object.keys(guests)) await lab.stopVm(h, vm);
  for (const h of hosts) {
    await lab.useQemu(h, '7.2');
    await lab.runOnHost(h, ['rm', '-f', upgradesLog]);
    await host(h).endMaintenance();
  }
  const started = await Promise.all(Object.entries(guests).map(([name, { home, spec }]) => lab.startVm(home, name, spec)));
  for (const vm of started) {
    const probe = new Probe(vm.address);
    await probe.start(5);
    probes.set(vm.name, probe);
  }
}

/** The hosts each guest has a live QEMU on. */
async function whereabouts(): Promise<Record<string, string[]>> {
  const found: Record<string, string[]> = {};
  for (const vm of Object.keys(guests)) {
    found[vm] = [];
    for (const h of hosts) if (await lab.vmPid(h, vm)) found[vm].push(h);
  }
  return found;
}

/** How many times each host's hook really ran, as the host itself counted. */
async function upgradesPerHost(): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const h of hosts) {
    const { stdout } = await lab.runOnHost(h, ['sh', '-c', `cat ${upgradesLog} 2>/dev/null || true`]);
    counts[h] = stdout.split('\n').filter((line) => line === 'upgraded').length;
  }
  return counts;
}

/** Every VM home, on QEMU 10.0 as QEMU itself says, every host's QEMU 10.0, every guest alive with its counter intact. */
async function assertUpgradedAndHome(t: { diagnostic(message: string): void }): Promise<void> {
  const where = await whereabouts();
  for (const [vm, { home }] of Object.entries(guests)) assert.deepEqual(where[vm], [home], `${vm} runs at home only`);
  for (const h of hosts) assert.match(await lab.qemuVersion(h), /^10\.0\./, `${h} runs QEMU 10.0`);
  for (const [vm, { home }] of Object.entries(guests)) {
    const version = await host(home).vm(vm).qmp('query-version', {}, { timeoutMs: 5000 });
    assert.equal(`${version.qemu.major}.${version.qemu.minor}`, '10.0', `${vm}'s QEMU is 10.0`);
  }
  await new Promise((r) => setTimeout(r, 500));
  for (const [vm, probe] of probes) {
    const report = probe.report();
    t.diagnostic(`${vm}: ${report.received} replies, longest gap ${report.maxGapMs} ms, counter went backwards: ${report.counterWentBackwards}`);
    assert.equal(report.counterWentBackwards, false, `${vm} kept its state`);
    assert.ok(report.received > 0, `${vm} answers`);
    assert.ok(report.maxGapMs < 20_000, `${vm}: longest probe gap ${report.maxGapMs} ms`);
  }
}

describe('rolling upgrade on the lab', { timeout: 900_000 }, () => {
  before(async () => {
    await lab.up();
    configure(labConfig());
    await freshFleet();
  });
  after(async () => {
    for (const probe of probes.values()) probe.stop();
    for (const h of hosts) await host(h).endMaintenance().catch(() => undefined);
    await disconnect();
    for (const h of hosts) for (const vm of Object.keys(guests)) await lab.stopVm(h, vm);
    for (const h of hosts) await lab.useQemu(h, '7.2').catch(() => undefined);
    await lab.down();
  });

  test('a dry run lists every host\'s moves, hook, check and return in order, and touches nothing', async () => {
    const journal = join(work, 'dry.jsonl');
    const report = await rollingUpgrade({ hosts, command: hook, expectQemu: '10.0', dryRun: true, journal });
    assert.equal(report.status, 'planned', JSON.stringify(report.failure));
    assert.deepEqual(report.plan.steps.map((step) => step.host), hosts);
    for (const step of report.plan.steps) {
      const own = Object.keys(guests).filter((vm) => guests[vm]?.home === step.host);
      assert.deepEqual(step.evacuate.map((move) => move.vm), own);
      assert.ok(step.evacuate.every((move) => move.to !== step.host && hosts.includes(move.to) && move.qemuVersion?.startsWith('7.2')));
      assert.deepEqual(step.returns.map((move) => [move.vm, move.to]), own.map((vm) => [vm, step.host]));
      assert.equal(step.qemuAfter, '10.0');
      assert.match(step.qemuBefore ?? '', /^7\.2\./);
      assert.match(step.hook, /use-qemu\.sh 10\.0/);
    }
    // At c's turn, a and b are planned upgraded already.
    assert.deepEqual(report.plan.steps[2]?.qemuAt, { a: '10.0', b: '10.0' });
    assert.equal(existsSync(journal), false, 'no journal');
    for (const h of hosts) assert.equal(await host(h).maintenance(), undefined, `${h}: no maintenance mark`);
    assert.deepEqual(await upgradesPerHost(), { a: 0, b: 0, c: 0 });
  });

  test('three hosts go from QEMU 7.2 to 10.0 one by one while their guests keep answering', async (t) => {
    const journal = join(work, 'sdk.jsonl');
    // First with a hook that fails on a: it stops there, says where every VM is and how to go on.
    const broken = await rollingUpgrade({ hosts, command: ['sh', '-c', 'echo "E: Unable to locate package qemu-system-x86/bookworm-backports" >&2; exit 100'], expectQemu: '10.0', journal, maxDowntime, migration: { allowPause: true } });
    t.diagnostic(`with a broken hook: ${broken.status} at ${broken.failure?.host} (${broken.failure?.step}): ${broken.failure?.message}; ${JSON.stringify(broken.whereabouts)}`);
    assert.equal(broken.status, 'failed');
    assert.deepEqual(broken.failure && [broken.failure.host, broken.failure.step], ['a', 'hook']);
    assert.match(broken.failure?.message ?? '', /exit code 100; its output ends:\nE: Unable to locate package/);
    const away = broken.whereabouts?.find((where) => where.vm === 'u1');
    assert.ok(away && (away.runsOn === 'b' || away.runsOn === 'c') && away.home === 'a', JSON.stringify(away));
    assert.deepEqual(broken.whereabouts?.filter((where) => where.vm !== 'u1').map((where) => [where.vm, where.runsOn]), [['u2', 'b'], ['u3', 'c']]);
    assert.deepEqual((await whereabouts())['u1'], [away.runsOn], 'the report says what QEMU says');
    assert.match(broken.resume ?? '', /resumes at a \(hook\)/);
    assert.ok(await host('a').maintenance(), 'a stays in maintenance while its VM is away');

    // Run again with the hook fixed (argv, quoted for the host's shell): it resumes at a's hook.
    const upgrade = rollingUpgrade({ hosts, command: ['sh', '-c', hook], expectQemu: '10.0', journal, maxDowntime, migration: { allowPause: true } });
    const steps: string[] = [];
    upgrade.on('step', (step) => step.state !== 'start' && steps.push(`${step.host} ${step.step} ${step.state}: ${step.note}`));
    const report = await upgrade;
    t.diagnostic(`${report.status} in ${report.wallTimeMs} ms:\n  ${steps.join('\n  ')}`);
    assert.equal(report.status, 'completed', JSON.stringify({ failure: report.failure, whereabouts: report.whereabouts }));
    assert.equal(report.resumed, true);
    assert.deepEqual(report.hosts[0]?.fromJournal, ['evacuate'], 'a was not evacuated again');
    for (const outcome of report.hosts) {
      assert.equal(outcome.status, 'done');
      assert.equal(outcome.hook?.ok, true);
      assert.equal(outcome.hook?.exitCode, 0);
      assert.match(outcome.hook?.outputTail ?? '', /QEMU emulator version 10\.0/, 'the hook\'s output tail is reported');
      assert.match(outcome.qemuVersion ?? '', /^10\.0\./);
    }
    assert.deepEqual(await upgradesPerHost(), { a: 1, b: 1, c: 1 });
    await assertUpgradedAndHome(t);

    // Placement reads the QEMU each VM runs: with c back on 7.2, a's VM (now on 10.0) may not go there.
    // (c's own guest holds the 10.0 binary's mount: stop it first; the next test boots a fresh fleet.)
    probes.get('u3')?.stop();
    probes.delete('u3');
    await lab.stopVm('c', 'u3');
    await lab.useQemu('c', '7.2');
    const intoC = await host('a').evacuate({ to: 'c', dryRun: true, journal: false });
    assert.match(intoC.skipped[0]?.reason ?? '', /c: QEMU 7\.2\.\d+ there is older than the 10\.0\.\d+ u1 runs/, JSON.stringify(intoC.vms));
  });

  test('killed (kill -9) in the middle of b\'s evacuation, then of its return, then run again: it resumes, each VM home, each host upgraded once', async (t) => {
    await freshFleet();
    const configFile = join(work, 'ferry.json');
    writeFileSync(configFile, JSON.stringify(labConfig()));
    const stateDir = join(work, 'state');
    const runJournal = join(stateDir, 'runs', 'rolling-upgrade', 'journal.jsonl');
    const ferry = resolve(import.meta.dirname ?? '.', '../../bin/ferry.mjs');
    const start = () =>
      spawn(process.execPath, [
        ferry, '--config', configFile, '--json', 'run', 'rolling-upgrade', ...hosts, '--hook', hook, '--expect-qemu', '10.0',
        '--max-downtime', String(maxDowntime), '--allow-pause', '--bandwidth', '24MiB/s', '--state-dir', stateDir,
      ], { stdio: ['ignore', 'pipe', 'pipe'] });
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    /** Runs the recipe until `ready` says so, then kills it (kill -9) in the middle of u2's migration. */
    const runAndKill = async (what: string, ready: () => boolean): Promise<void> => {
      const child = start();
      let err = '';
      child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
      let gone = false;
      const exited = new Promise<void>((r) => child.on('exit', () => r((gone = true) && undefined)));
      const deadline = Date.now() + 300_000;
      while (!gone && Date.now() < deadline && !ready()) await sleep(50);
      // The migration is under way once u2 has a QEMU on two hosts.
      while (!gone && Date.now() < deadline && ((await whereabouts())['u2'] ?? []).length < 2) await sleep(50);
      await sleep(700);
      t.diagnostic(`killing it ${what} with u2 on ${JSON.stringify((await whereabouts())['u2'])}`);
      child.kill('SIGKILL');
      await exited;
      assert.ok(!gone || child.signalCode === 'SIGKILL', `it was still running: ${err}`);
      const lines = readUpgradeJournal(runJournal);
      const kinds = (name: string) => lines.filter((line) => 'host' in line && line.host === name).map((line) => line.kind);
      t.diagnostic(`the journal had a: ${kinds('a').join(' ')} | b: ${kinds('b').join(' ')} | c: ${kinds('c').join(' ')}`);
      assert.ok(!kinds('b').includes('host-done') && !kinds('c').includes('host-begin'), `killed mid-turn of b: ${err}`);
      await sleep(1000);
      t.diagnostic(`guests a second later: ${JSON.stringify(await whereabouts())}`);
    };

    // 1. During b's evacuation: u2's migration away is in flight.
    await runAndKill('during b\'s evacuation', () => readJournal(runJournal).some((line) => line.kind === 'start' && line.vm === 'u2'));
    assert.ok(!readUpgradeJournal(runJournal).some((line) => line.kind === 'evacuated' && line.host === 'b'), 'b\'s evacuation was cut short');
    // 2. Resumed, then killed during b's return: u2's migration home is in flight.
    await runAndKill('during b\'s return', () => readUpgradeJournal(runJournal).some((line) => line.kind === 'return-start' && line.host === 'b'));

    // 3. Resumed once more, to the end.
    const last = start();
    let stdout = '';
    last.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    let stderr = '';
    last.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((r) => last.on('exit', r));
    t.diagnostic(`resumed run:\n${stderr}`);
    assert.equal(code, 0, stderr);
    const output = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as { status: string; result: RollingUpgradeReport };
    const report = output.result;
    assert.equal(report.status, 'completed');
    assert.equal(report.resumed, true);
    assert.deepEqual(report.hosts.find((h) => h.host === 'b')?.fromJournal, ['evacuate', 'hook', 'verify'], 'b resumed at its return');
    assert.equal(report.hosts.find((h) => h.host === 'b')?.hook?.ran, false, 'b\'s hook was not run again');

    // Each host upgraded once: by the hosts' own count and by the journal.
    assert.deepEqual(await upgradesPerHost(), { a: 1, b: 1, c: 1 });
    const upgradeLines = readUpgradeJournal(runJournal);
    for (const h of hosts) assert.equal(upgradeLines.filter((line) => line.kind === 'hook-start' && line.host === h).length, 1, `${h}'s hook started once`);
    // No VM moved twice: each left home once (its evacuation, or the recovery of it) and came home once.
    const evacuationLines = readJournal(runJournal);
    for (const vm of Object.keys(guests)) {
      const away = evacuationLines.filter((line) => (line.kind === 'moved' || (line.kind === 'recovered' && line.outcome === 'moved')) && line.vm === vm);
      const home = upgradeLines.filter((line) => line.kind === 'returned' && line.vm === vm);
      assert.equal(away.length, 1, `${vm} was evacuated once: ${JSON.stringify(away)}`);
      assert.equal(home.length, 1, `${vm} came home once: ${JSON.stringify(home)}`);
    }
    await assertUpgradedAndHome(t);
  });
});

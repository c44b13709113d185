// ferry's migration engine on the real lab: guests that keep answering the
// probe while they move, and every failure leaving the VM in exactly one place.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import {
  configure, disconnect, host, InvalidNameError, MigrationCancelledError, MigrationError, MigrationOptionsError, PreflightError, readMigrationRecords, UnknownHostError, VmAlreadyRunningError,
  type MigrationProgress,
} from '../../sdk/index.ts';
import { Probe } from '../lab/probe.ts';
import { localQmp } from '../lab/local-qmp.ts';
import { testLab } from './lab-fixture.ts';

const lab = testLab();
const busy = { memoryMiB: 512, dirtyMiB: 128, dirtyRateMBps: 20 };

/** Files of `vm` left in a host's runDir. */
function filesOf(hostName: string, vm: string): string[] {
  const dir = lab.runDir(hostName);
  return existsSync(dir) ? readdirSync(dir).filter((file) => file.startsWith(`${vm}.`)) : [];
}

describe('migrateTo on the lab', { timeout: 600_000 }, () => {
  before(async () => {
    await lab.up();
    configure(lab.ferryConfig());
  });
  afterEach(async () => {
    for (const h of ['a', 'b']) for (const vm of ['idle', 'busy', 'slow', 'victim']) await lab.stopVm(h, vm);
  });
  after(async () => {
    await disconnect();
    await lab.down();
  });

  for (const [name, spec] of [['idle', { memoryMiB: 512 }], ['busy', busy]] as const) {
    test(`${name === 'idle' ? 'an idle' : 'a memory-dirtying'} guest goes a → b → a and keeps answering`, async (t) => {
      const vm = await lab.startVm('a', name, spec);
      const probe = new Probe(vm.address);
      await probe.start();
      const progress: MigrationProgress[] = [];
      const dry = await host('a').vm(name).migrateTo('b', { maxDowntime: 300, dryRun: true });
      const there = host('a').vm(name).migrateTo('b', { maxDowntime: 300 });
      there.on('progress', (p) => progress.push(p));
      const first = await there;
      assert.equal(first.status, 'completed');
      // The dry run is the plan: what it listed is what the run set, as the destination's QEMU itself reports.
      assert.deepEqual(first.settings, dry.settings);
      const [caps] = (await localQmp(`${lab.runDir('b')}/${name}.qmp`, ['query-migrate-capabilities'])) ?? [];
      for (const wanted of dry.settings?.destination.capabilities ?? []) {
        assert.equal((caps as unknown as { capability: string; state: boolean }[]).find((c) => c.capability === wanted.capability)?.state, wanted.state, wanted.capability);
      }
      assert.equal(await lab.vmPid('a', name), undefined, 'the source QEMU is gone');
      assert.notEqual(await lab.vmPid('b', name), undefined, `the destination runs; its console: ${await lab.consoleTail('b', name)}`);
      assert.deepEqual(filesOf('a', name).filter((f) => !f.endsWith('.console')), [], 'the source is cleaned');
      assert.equal((await host('b').vm(name).status()).runState, 'running');
      const back = await host('b').vm(name).migrateTo('a', { maxDowntime: 300 });
      const report = await probe.finish(300);
      t.diagnostic(`a→b: wall ${first.wallTimeMs} ms, QEMU total ${first.totalTimeMs} ms, downtime ${first.downtimeMs} ms, ${first.passes} passes; b→a downtime ${back.downtimeMs} ms; probe max gap ${report.maxGapMs} ms, lost ${report.lost}/${report.sent}`);
      assert.equal(report.counterWentBackwards, false, 'the guest kept its state');
      // Both moves now take about a second, so the probe sends only about a thousand; the longest
      // gap (below) is what says "throughout". Under QEMU 10.0 a TCG guest answered 77 % of them.
      assert.ok(report.received >= 500 && report.received >= 0.5 * report.sent, `the guest answered throughout (${report.received} of ${report.sent})`);
      assert.ok(report.maxGapMs < 5000, `probe gap ${report.maxGapMs} ms`);
      assert.ok(first.downtimeMs > 0 && first.downtimeMs <= 300 + 100, `downtime ${first.downtimeMs} ms within the limit`);
      assert.ok(progress.length > 0);
      for (let i = 1; i < progress.length; i++) assert.ok((progress[i]?.percent ?? 0) >= (progress[i - 1]?.percent ?? 0), 'percent never runs backwards');
      assert.notEqual(await lab.vmPid('a', name), undefined);
      assert.equal(await lab.vmPid('b', name), undefined);
    });
  }

  test('host.launch starts a VM by the convention; ferry then finds and migrates it', async () => {
    const launched = await host('a').launch('idle', await lab.guestMachineArgs('a', 'idle', { memoryMiB: 256 }));
    await lab.waitReady('a', 'idle');
    assert.equal((await launched.status()).runState, 'running');
    assert.ok((await host('a').vms()).some((vm) => vm.name === 'idle' && vm.process === 'running'));
    await assert.rejects(host('a').launch('idle', []), VmAlreadyRunningError);
    const result = await launched.migrateTo('b');
    assert.equal(result.status, 'completed');
    assert.equal((await host('b').vm('idle').status()).runState, 'running');
  });

  test('a cancel while the destination is being prepared leaves nothing there', async () => {
    await lab.startVm('a', 'idle', { memoryMiB: 256 });
    const migration = host('a').vm('idle').migrateTo('b');
    migration.on('phase', (phase) => phase === 'prepare' && migration.cancel('changed plans'));
    const error = await migration.then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof MigrationCancelledError, String(error));
    assert.equal(error.vmState, 'running-on-source');
    assert.equal(await lab.vmPid('b', 'idle'), undefined);
    assert.deepEqual(filesOf('b', 'idle').filter((f) => !f.endsWith('.console')), []);
    assert.equal((await host('a').vm('idle').status()).runState, 'running');
    assert.equal((await host('a').vms()).find((vm) => vm.name === 'idle')?.migrating, false);
  });

  test('cancel mid-flight leaves the VM running on the source with its settings restored, and nothing on the destination', async () => {
    const vm = await lab.startVm('a', 'slow', busy);
    const probe = new Probe(vm.address);
    await probe.start();
    const before = await host('a').vm('slow').qmp('query-migrate-parameters');
    const migration = host('a').vm('slow').migrateTo('b', { bandwidth: '8MiB/s' });
    const steered: string[] = [];
    migration.on('log', (entry) => entry.message.startsWith('QEMU downtime-limit') && steered.push(entry.message));
    migration.on('progress', (p) => {
      if (p.percent > 5) migration.cancel('operator changed their mind');
    });
    const error = await migration.then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof MigrationCancelledError, String(error));
    assert.equal(error.vmState, 'running-on-source');
    assert.equal(error.phase, 'perform');
    assert.match(error.message, /operator changed their mind/);
    assert.equal(migration.phase, 'cancelled');
    assert.equal((await host('a').vm('slow').status()).runState, 'running');
    const afterParams = await host('a').vm('slow').qmp('query-migrate-parameters');
    assert.equal(afterParams['max-bandwidth'], before['max-bandwidth'], 'bandwidth restored');
    assert.equal(afterParams['downtime-limit'], before['downtime-limit'], 'downtime limit restored');
    // QEMU 8.2+ (the 10.0 run): steering gave QEMU its switchover bandwidth (the cap, which binds), and it is undone.
    assert.equal(afterParams['avail-switchover-bandwidth'], before['avail-switchover-bandwidth'], 'switchover bandwidth restored');
    if (before['avail-switchover-bandwidth'] !== undefined) assert.ok(steered.some((line) => /switchover bandwidth [\d.]+ MiB\/s/.test(line)), `steering set it: ${steered.join(' | ')}`);
    assert.equal(await lab.vmPid('b', 'slow'), undefined);
    assert.deepEqual(filesOf('b', 'slow').filter((f) => !f.endsWith('.console')), []);
    assert.deepEqual((await host('a').vms()).find((v) => v.name === 'slow')?.migrating, false, 'lock released');
    const report = await probe.finish();
    assert.equal(report.counterWentBackwards, false);
  });

  test('a cancel before the migration starts touches nothing', async () => {
    await lab.startVm('a', 'idle', { memoryMiB: 256 });
    const migration = host('a').vm('idle').migrateTo('b');
    migration.cancel();
    const error = await migration.then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof MigrationCancelledError, String(error));
    assert.equal(error.vmState, 'running-on-source');
    assert.equal(await lab.vmPid('b', 'idle'), undefined);
  });

  test('a destination QEMU killed mid-flight: the VM keeps running on the source, the destination is cleaned', async () => {
    const vm = await lab.startVm('a', 'victim', busy);
    const probe = new Probe(vm.address);
    await probe.start();
    const migration = host('a').vm('victim').migrateTo('b', { bandwidth: '8MiB/s' });
    let killed = false;
    migration.on('progress', (p) => {
      if (!killed && p.percent > 5) {
        killed = true;
        void lab.vmPid('b', 'victim').then((pid) => pid && process.kill(pid, 'SIGKILL'));
      }
    });
    const error = await migration.then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof MigrationError, String(error));
    assert.equal(error.vmState, 'running-on-source');
    assert.match(error.message, /running on a/);
    assert.equal((await host('a').vm('victim').status()).runState, 'running');
    assert.equal(await lab.vmPid('b', 'victim'), undefined);
    assert.deepEqual(filesOf('b', 'victim').filter((f) => !f.endsWith('.console')), []);
    const report = await probe.finish();
    assert.equal(report.counterWentBackwards, false);
  });

  test('clear typed errors for bad requests, with the VM left where it was', async () => {
    await lab.startVm('a', 'idle', { memoryMiB: 256 });
    // Shell metacharacters in a VM name are a name, never a command. (A
    // remote shell starts in root's home: that is where a marker would land.)
    const marker = `ferry-e2e-pwned-${process.pid}`;
    for (const name of [`idle; touch ${marker}`, `$(touch ${marker})`, `\`touch ${marker}\``, `idle' ; touch '${marker}`]) {
      const error = await host('a').vm(name).migrateTo('b').then(() => undefined, (e: unknown) => e);
      assert.ok(error instanceof PreflightError, String(error));
      assert.match(error.message, /no VM/);
    }
    for (const dir of [homedir(), '/', process.cwd()]) assert.equal(existsSync(`${dir}/${marker}`), false, 'nothing was executed');
    assert.throws(() => host('a').vm('../etc/passwd'), InvalidNameError);

    assert.throws(() => host('nowhere'), UnknownHostError);
    assert.throws(() => host('a').vm('idle').migrateTo('nowhere'), UnknownHostError);
    assert.throws(() => host('a').vm('idle').migrateTo('b', { maxDowntime: -5 }), MigrationOptionsError);
    assert.throws(() => host('a').vm('idle').migrateTo('b', { bandwidth: 'fast' }), MigrationOptionsError);
    assert.throws(() => host('a').vm('idle').migrateTo('b', { turbo: true } as never), /unknown option/);

    const same = await host('a').vm('idle').migrateTo('a').then(() => undefined, (e: unknown) => e);
    assert.ok(same instanceof PreflightError && /same host/.test(same.message), String(same));

    const missing = await host('a').vm('ghost').migrateTo('b').then(() => undefined, (e: unknown) => e);
    assert.ok(missing instanceof PreflightError && missing.vmState === 'not-found', String(missing));

    // A destination an evacuation marked for maintenance is refused.
    writeFileSync(`${lab.runDir('b')}/.ferry-maintenance`, '');
    try {
      const marked = await host('a').vm('idle').migrateTo('b').then(() => undefined, (e: unknown) => e);
      assert.ok(marked instanceof PreflightError && marked.checks.some((c) => c.check === 'destination-maintenance' && !c.ok), String(marked));
    } finally {
      rmSync(`${lab.runDir('b')}/.ferry-maintenance`);
    }

    assert.equal((await host('a').vm('idle').status()).runState, 'running');
    assert.equal(await lab.vmPid('b', 'idle'), undefined);
  });

  test('an unreachable destination fails preflight; the VM stays on the source', async () => {
    await lab.startVm('a', 'idle', { memoryMiB: 256 });
    const config = lab.ferryConfig();
    configure({ hosts: { ...config.hosts, gone: { ssh: `root@${lab.hostAddress('b')}:2222`, runDir: lab.runDir('b'), knownHosts: [lab.knownHostsFile] } } });
    try {
      const error = await host('a').vm('idle').migrateTo('gone').then(() => undefined, (e: unknown) => e);
      assert.ok(error instanceof PreflightError, String(error));
      assert.equal(error.vmState, 'running-on-source');
      assert.match(error.message, /cannot use gone/);
      assert.equal((await host('a').vm('idle').status()).runState, 'running');
    } finally {
      configure(config);
    }
  });

  test('a second migration of the same VM is refused while the first runs; a dry run touches nothing', async () => {
    await lab.startVm('a', 'slow', busy);
    const plan = await host('a').vm('slow').migrateTo('b', { dryRun: true });
    assert.equal(plan.status, 'planned');
    assert.ok((plan.plan ?? []).some((step) => step.phase === 'prepare' && step.side === 'destination'));
    assert.equal(await lab.vmPid('b', 'slow'), undefined);

    const first = host('a').vm('slow').migrateTo('b', { bandwidth: '8MiB/s' });
    await new Promise<void>((resolve) => first.on('phase', (phase) => phase === 'perform' && resolve()));
    const second = await host('a').vm('slow').migrateTo('c').then(() => undefined, (e: unknown) => e);
    assert.ok(second instanceof MigrationError, String(second));
    assert.equal(second.code, 'MIGRATION_IN_PROGRESS');
    assert.equal(second.vmState, 'running-on-source');
    // Observers in other processes read the record the migration keeps on its source.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const records = await readMigrationRecords(host('a'));
    assert.equal(records.length, 1);
    assert.equal(records[0]?.vm, 'slow');
    assert.equal(records[0]?.destination, 'b');
    assert.equal(records[0]?.phase, 'perform');
    assert.ok(records[0]?.progress, 'the record carries progress');
    first.cancel();
    await first.then(() => undefined, () => undefined);
    assert.equal(await lab.vmPid('c', 'slow'), undefined);
    assert.deepEqual(await readMigrationRecords(host('a')), []);
  });

  test("a lock left by a crashed controller is taken over once its heartbeat is stale and QEMU is not migrating", async () => {
    await lab.startVm('a', 'idle', { memoryMiB: 256 });
    const lockDir = `${lab.runDir('a')}/idle.migration`;
    mkdirSync(lockDir);
    const old = new Date(Date.now() - 60_000).toISOString();
    writeFileSync(`${lockDir}/status.json`, JSON.stringify({ id: 'crashed', vm: 'idle', source: 'a', destination: 'c', controller: { host: 'gone', pid: 1 }, startedAt: old, heartbeatAt: old, phase: 'perform' }));
    const result = await host('a').vm('idle').migrateTo('b');
    assert.equal(result.status, 'completed');
    assert.equal(existsSync(lockDir), false);
  });
});

// Disks on the real lab: a guest that writes checksummed records to its
// virtio disk (O_DIRECT|O_DSYNC, the last acknowledged number in every probe
// reply) moves with its disk copied live over NBD (local storage: each lab
// host's /srv/ferry-host is its own) or opened in place (shared storage).
// Verdicts come from the images themselves (every acknowledged record there,
// `qemu-img check`), raw QMP on both hosts and the probe, not from ferry.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { configure, definePolicy, disconnect, host, MigrationCancelledError, MigrationError, PreflightError, type MigrationProgress } from '../../sdk/index.ts';
import { checkDiskRecords } from '../lab/disk-records.ts';
import { LOCAL_STORAGE_PATH, type GuestSpec } from '../lab/lab.ts';
import { localQmp, rawVmState } from '../lab/local-qmp.ts';
import { guardsAlive } from '../lab/guard-processes.ts';
import { Probe } from '../lab/probe.ts';
import { testLab } from './lab-fixture.ts';

const lab = testLab();
const controllerScript = fileURLToPath(new URL('../support/migration-controller.ts', import.meta.url));
const ferryBin = fileURLToPath(new URL('../../bin/ferry.mjs', import.meta.url));
const VM = 'stor';
const sharedDir = `${lab.settings.runRoot}/shared`;
// 128 MiB: the guest's record ring is the first 64 MiB; the second half can hold filler to copy.
const localDisk = (recordsPerSecond = 50): GuestSpec => ({ memoryMiB: 256, disk: { path: `${LOCAL_STORAGE_PATH}/${VM}.qcow2`, sizeMiB: 128, recordsPerSecond } });

/** The image as this process sees it: a lab host's local storage is its private dir. */
function localImage(hostName: string): string {
  return `${lab.privateDir(hostName)}/${VM}.qcow2`;
}

function filesOf(hostName: string): string[] {
  const dir = lab.runDir(hostName);
  return existsSync(dir) ? readdirSync(dir).filter((file) => file.startsWith(`${VM}.`) && !file.endsWith('.console')) : [];
}

/** ferry's block nodes and jobs left in a QEMU (its NBD clients are named ferry-nbd-…). */
async function ferryBlockLeftovers(hostName: string): Promise<string[]> {
  const replies = await localQmp(`${lab.runDir(hostName)}/${VM}.qmp`, ['query-block-jobs', 'query-named-block-nodes']);
  assert.ok(replies, `raw QMP answers on ${hostName}`);
  const jobs = (replies[0] as unknown as { device: string }[]).map((job) => `job ${job.device}`);
  const nodes = (replies[1] as unknown as { 'node-name': string }[]).filter((node) => node['node-name'].startsWith('ferry-')).map((node) => `node ${node['node-name']}`);
  return [...jobs, ...nodes];
}

/** Fills the disk's second half so that a copy has 64 MiB of data to move (a fresh image is all holes). */
async function fillSecondHalf(hostName: string, image: string): Promise<void> {
  await lab.runOnHost(hostName, ['qemu-io', '-f', 'qcow2', '-c', 'write -P 0xab 64M 64M', image]);
}

/** Starts the guest on a with 64 MiB of data beside its records, so that a copy at 4 MiB/s takes 16 s. */
async function startWithFiller(): Promise<void> {
  const spec = localDisk(20);
  if (spec.disk) await lab.createDiskImage('a', spec.disk);
  await fillSecondHalf('a', `${LOCAL_STORAGE_PATH}/${VM}.qcow2`);
  await lab.startVm('a', VM, spec);
}

/** Waits until the VM runs only on `expected`, with nothing of the migration left on either host and no guard still at work. */
async function settledOn(expected: 'a' | 'b', timeoutMs = 30_000): Promise<void> {
  const other = expected === 'a' ? 'b' : 'a';
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [here, there] = await Promise.all([rawVmState(`${lab.runDir(expected)}/${VM}.qmp`, 2000), rawVmState(`${lab.runDir(other)}/${VM}.qmp`, 2000)]);
    const lock = existsSync(`${lab.runDir('a')}/${VM}.migration`) || existsSync(`${lab.runDir('b')}/${VM}.migration`);
    // QEMU removes its own pid file and socket as it exits: the guard's cleanup is over only when the guard is.
    if (here?.runState === 'running' && there === undefined && (await lab.vmPid(other, VM)) === undefined && !lock && filesOf(other).length === 0 && guardsAlive(VM) === 0) return;
    if (Date.now() > deadline) assert.fail(`${VM} did not settle on ${expected}: ${JSON.stringify({ here, there, lock, files: filesOf(other), guards: guardsAlive(VM) })}`);
    await sleep(100);
  }
}

describe('storage on the lab', { timeout: 900_000 }, () => {
  let probe: Probe | undefined;
  before(async () => {
    await lab.up();
    configure(lab.ferryConfig());
    mkdirSync(sharedDir, { recursive: true });
  });
  afterEach(async () => {
    await probe?.finish().catch(() => undefined);
    probe = undefined;
    for (const h of ['a', 'b']) {
      await lab.stopVm(h, VM);
      for (const file of existsSync(lab.privateDir(h)) ? readdirSync(lab.privateDir(h)) : []) rmSync(`${lab.privateDir(h)}/${file}`, { recursive: true, force: true });
    }
    rmSync(sharedDir, { recursive: true, force: true });
    mkdirSync(sharedDir, { recursive: true });
  });
  after(async () => {
    await disconnect();
    await lab.down();
  });

  test('a disk on local storage is copied live a → b → a: every acknowledged write arrives, the images check clean', async (t) => {
    const vm = await lab.startVm('a', VM, localDisk());
    probe = new Probe(vm.address);
    await probe.start();
    const dry = await host('a').vm(VM).migrateTo('b', { dryRun: true });
    assert.equal(dry.disks?.[0]?.action, 'copy', JSON.stringify(dry.disks));
    assert.equal(existsSync(localImage('b')), false, 'the dry run touched nothing on b');

    const progress: MigrationProgress[] = [];
    const there = host('a').vm(VM).migrateTo('b', { maxDowntime: 300 });
    there.on('progress', (p) => progress.push(p));
    const first = await there;
    assert.equal(first.status, 'completed');
    assert.equal(first.disks?.[0]?.action, 'copy');
    assert.ok(progress.some((p) => p.disks !== undefined), 'progress reported the disk copy');
    // b runs on its own image; a's is intact and unused, marked as the VM's stale copy.
    assert.equal(await lab.vmPid('a', VM), undefined);
    assert.ok(existsSync(localImage('b')));
    assert.equal(readFileSync(`${localImage('a')}.ferry-left`, 'utf8').trim(), VM);
    assert.deepEqual(await ferryBlockLeftovers('b'), []);
    const exports = await localQmp(`${lab.runDir('b')}/${VM}.qmp`, ['query-block-exports']);
    assert.deepEqual(exports?.[0], [], 'no NBD export left on b');
    assert.match((await lab.runOnHost('a', ['qemu-img', 'check', `${LOCAL_STORAGE_PATH}/${VM}.qcow2`])).stdout, /No errors were found/);

    await sleep(3000); // the guest writes on b's disk for a while
    const back = await host('b').vm(VM).migrateTo('a', { maxDowntime: 300 });
    assert.equal(back.status, 'completed');
    assert.equal(back.disks?.[0]?.description.includes('replacing the stale copy'), true, back.disks?.[0]?.description);
    await sleep(2000);
    const report = await probe.finish(300);
    probe = undefined;
    t.diagnostic(`a→b: disk copy ${first.diskCopyMs} ms, downtime ${first.downtimeMs} ms; b→a: disk copy ${back.diskCopyMs} ms, downtime ${back.downtimeMs} ms; probe max gap ${report.maxGapMs} ms, last acknowledged record ${report.lastDiskRecord}`);
    assert.equal(report.counterWentBackwards, false, 'the guest kept its memory');
    assert.equal(report.diskRecordWentBackwards, false, 'the guest never saw an acknowledged write undone');
    assert.ok(report.lastDiskRecord > 100n, `the guest kept writing (${report.lastDiskRecord})`);
    for (const result of [first, back]) assert.ok(result.downtimeMs > 0 && result.downtimeMs <= 300, `downtime ${result.downtimeMs} ms within maxDowntime`);

    await lab.stopVm('a', VM);
    const image = await checkDiskRecords(localImage('a'));
    t.diagnostic(`a's image after the round trip: ${JSON.stringify(image)}`);
    assert.equal(image.firstBad, undefined, 'no acknowledged record missing or corrupt');
    assert.ok(image.last >= Number(report.lastDiskRecord), `the image holds record ${image.last}; the guest saw ${report.lastDiskRecord} acknowledged`);
    assert.match((await lab.runOnHost('a', ['qemu-img', 'check', `${LOCAL_STORAGE_PATH}/${VM}.qcow2`])).stdout, /No errors were found/);
    assert.match((await lab.runOnHost('b', ['qemu-img', 'check', `${LOCAL_STORAGE_PATH}/${VM}.qcow2`])).stdout, /No errors were found/, "b's copy is intact too");
  });

  test('a -blockdev disk (file and format nodes, a virtio-blk device) is copied too', async () => {
    const spec = localDisk();
    const vm = await lab.startVm('a', VM, { ...spec, ...(spec.disk && { disk: { ...spec.disk, blockdev: true } }) });
    probe = new Probe(vm.address);
    await probe.start();
    const result = await host('a').vm(VM).migrateTo('b', { maxDowntime: 300 });
    assert.equal(result.disks?.[0]?.action, 'copy');
    assert.equal(result.disks?.[0]?.device, '/machine/peripheral/disk0/virtio-backend', JSON.stringify(result.disks));
    await sleep(1000);
    const report = await probe.finish(300);
    probe = undefined;
    assert.equal(report.diskRecordWentBackwards, false);
    await lab.stopVm('b', VM);
    const image = await checkDiskRecords(localImage('b'));
    assert.equal(image.firstBad, undefined);
    assert.ok(image.last >= Number(report.lastDiskRecord));
  });

  test('a disk on shared storage is opened in place a → b → a, one QEMU holding its write lock', async (t) => {
    const path = `${sharedDir}/${VM}.qcow2`;
    const vm = await lab.startVm('a', VM, { memoryMiB: 256, disk: { path, sizeMiB: 64, recordsPerSecond: 50 } });
    probe = new Probe(vm.address);
    await probe.start();
    const first = await host('a').vm(VM).migrateTo('b', { maxDowntime: 300 });
    assert.equal(first.disks?.[0]?.action, 'shared');
    assert.equal(first.diskCopyMs, undefined, 'nothing copied');
    // QEMU's image lock: held by b's QEMU alone (a's is gone), so a third opener is refused.
    assert.equal(await lab.vmPid('a', VM), undefined);
    await assert.rejects(lab.runOnHost('a', ['qemu-img', 'info', path]), /lock/);
    const back = await host('b').vm(VM).migrateTo('a', { maxDowntime: 300 });
    const report = await probe.finish(300);
    probe = undefined;
    t.diagnostic(`shared: downtime ${first.downtimeMs} / ${back.downtimeMs} ms, probe max gap ${report.maxGapMs} ms, last record ${report.lastDiskRecord}`);
    assert.equal(report.counterWentBackwards, false);
    assert.equal(report.diskRecordWentBackwards, false);
    await lab.stopVm('a', VM);
    const image = await checkDiskRecords(path);
    assert.equal(image.firstBad, undefined);
    assert.ok(image.last >= Number(report.lastDiskRecord));
  });

  test('cancelled mid-copy: the VM runs on at a with its disk; nothing is left on b', async () => {
    await startWithFiller();
    const migration = host('a').vm(VM).migrateTo('b', { bandwidth: '4MiB/s' });
    migration.on('progress', (p) => {
      if (p.disks && p.disks.copiedBytes > 8 * 1024 ** 2) migration.cancel('test: cancel mid-copy');
    });
    const error = await migration.then(() => undefined, (caught: unknown) => caught);
    assert.ok(error instanceof MigrationCancelledError, String(error));
    assert.equal(error.vmState, 'running-on-source');
    await settledOn('a');
    assert.deepEqual(await ferryBlockLeftovers('a'), [], 'no mirror or NBD node left on the source');
    assert.equal(existsSync(localImage('b')), false, "the image ferry created on b is gone");
    assert.deepEqual(readdirSync(lab.privateDir('b')), []);
  });

  test('the destination QEMU killed mid-copy: the VM runs on at a with its disk; nothing is left on b', async () => {
    await startWithFiller();
    const migration = host('a').vm(VM).migrateTo('b', { bandwidth: '4MiB/s' });
    let killed = false;
    migration.on('progress', (p) => {
      if (killed || !p.disks || p.disks.copiedBytes < 8 * 1024 ** 2) return;
      killed = true;
      void lab.vmPid('b', VM).then((pid) => pid && process.kill(pid, 'SIGKILL'));
    });
    const error = await migration.then(() => undefined, (caught: unknown) => caught);
    assert.ok(error instanceof MigrationError, String(error));
    assert.equal(error.vmState, 'running-on-source', error.message);
    await settledOn('a');
    assert.deepEqual(await ferryBlockLeftovers('a'), []);
    assert.equal(existsSync(localImage('b')), false);
  });

  test('a policy that cancels while the mirrors follow the guest: its reason stands, not the mirrors its cancel ended; the VM runs on at a, nothing is left on b', async () => {
    // Seen on the busy guest: the cancel ends the destination QEMU, its NBD export and so the mirror,
    // and the error said "the destination QEMU exited … the copy stopped" instead of the policy's reason.
    await startWithFiller();
    const giveUp = definePolicy('give-up', () => [{ type: 'cancel', reason: 'test: the policy gives up' }]);
    const error = await host('a').vm(VM).migrateTo('b', { policy: giveUp, bandwidth: '32MiB/s' }).then(() => undefined, (caught: unknown) => caught);
    assert.ok(error instanceof MigrationCancelledError, String(error));
    assert.match(error.message, /cancelled by the give-up policy: test: the policy gives up/);
    assert.doesNotMatch(error.message, /mirror ended|exited mid-migration/);
    assert.equal(error.vmState, 'running-on-source');
    await settledOn('a');
    assert.deepEqual(await ferryBlockLeftovers('a'), []);
    assert.equal(existsSync(localImage('b')), false);
  });

  test('ferry killed mid-copy: the guards leave the VM on a with its disk, and nothing on b', async () => {
    await startWithFiller();
    const configFile = `${lab.settings.runRoot}/storage-test-config.json`;
    writeFileSync(configFile, JSON.stringify(lab.ferryConfig()));
    const child = spawn(process.execPath, ['--import', 'tsx', controllerScript, `a/${VM}`, 'b', JSON.stringify({ bandwidth: '4MiB/s' }), 'disk-copy'], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, FERRY_CONFIG: configFile } });
    let said = '';
    child.stdout.on('data', (chunk: Buffer) => (said += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', (exit, signal) => resolve(signal ? 137 : exit)));
    assert.match(said, /"dying"/, `the controller died mid-copy (exit ${code}): ${said.slice(-600)}`);
    await settledOn('a');
    assert.deepEqual(await ferryBlockLeftovers('a'), [], 'the source guard cancelled the mirror and removed its NBD node');
    const guardLog = existsSync(`${lab.runDir('b')}/.ferry-guard.log`) ? readFileSync(`${lab.runDir('b')}/.ferry-guard.log`, 'utf8').split('\n').slice(-8).join('\n') : '(no guard log)';
    assert.equal(existsSync(localImage('b')), false, `b's guard removed the image ferry created; its log:\n${guardLog}`);
    const status = await rawVmState(`${lab.runDir('a')}/${VM}.qmp`);
    assert.equal(status?.runState, 'running');
  });

  test('ferry killed right after its own cancel, the mirrors still following the guest: the guards leave the VM on a with its disk, and nothing on b', async () => {
    await startWithFiller();
    const configFile = `${lab.settings.runRoot}/storage-test-config.json`;
    writeFileSync(configFile, JSON.stringify(lab.ferryConfig()));
    // The timeout's cancel goes through the same migrate_cancel as a policy's; its clock starts once the disks are
    // copied, and at 32 MiB/s the memory took under 3 s: at 4 MiB/s it is still moving after 2.
    const child = spawn(process.execPath, ['--import', 'tsx', controllerScript, `a/${VM}`, 'b', JSON.stringify({ bandwidth: '4MiB/s', timeout: 2000 }), 'cancel'], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, FERRY_CONFIG: configFile } });
    let said = '';
    child.stdout.on('data', (chunk: Buffer) => (said += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', (exit, signal) => resolve(signal ? 137 : exit)));
    assert.match(said, /"dying"/, `the controller died after its cancel (exit ${code}): ${said.slice(-600)}`);
    assert.match(said, /disks copied/, 'the mirrors were following the guest when it died');
    await settledOn('a');
    assert.deepEqual(await ferryBlockLeftovers('a'), [], 'the source guard cancelled the mirror and removed its NBD node');
    assert.equal(existsSync(localImage('b')), false, "b's guard removed the image ferry created");
    assert.equal((await rawVmState(`${lab.runDir('a')}/${VM}.qmp`))?.runState, 'running');
  });

  test('SIGTERM to `ferry migrate` mid-copy rolls back like Ctrl-C: exit 130, the VM on a with its disk, nothing on b', async () => {
    await startWithFiller();
    const configFile = `${lab.settings.runRoot}/storage-test-config.json`;
    writeFileSync(configFile, JSON.stringify(lab.ferryConfig()));
    const cli = spawn(process.execPath, [ferryBin, '--config', configFile, 'migrate', `a/${VM}`, 'b', '--bandwidth', '4MiB/s', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    cli.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    cli.stderr.resume();
    const exited = new Promise<number | null>((resolve) => cli.on('close', (code) => resolve(code)));
    // The copy runs once b holds the image ferry created and b's QEMU serves it.
    const deadline = Date.now() + 30_000;
    while (!(existsSync(localImage('b')) && (await lab.vmPid('b', VM)) !== undefined) && Date.now() < deadline) await sleep(100);
    assert.ok(existsSync(localImage('b')), 'the copy began');
    await sleep(1500);
    cli.kill('SIGTERM');
    assert.equal(await exited, 130);
    const said = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as { ok?: boolean; error?: { vmState?: string } };
    assert.equal(said.ok, false);
    assert.equal(said.error?.vmState, 'running-on-source', out);
    await settledOn('a');
    assert.deepEqual(await ferryBlockLeftovers('a'), []);
    assert.equal(existsSync(localImage('b')), false);
  });

  test("ferry's SSH connections to b dropped mid-copy (b's sshd killed): the VM stays on a with its disk, b's guard removes the copy", async () => {
    await startWithFiller();
    const migration = host('a').vm(VM).migrateTo('b', { bandwidth: '4MiB/s' });
    let dropped = false;
    let restored: Promise<unknown> | undefined;
    migration.on('progress', (p) => {
      if (dropped || !p.disks || p.disks.copiedBytes < 8 * 1024 ** 2) return;
      dropped = true;
      for (const pid of execFileSync('ip', ['netns', 'pids', lab.namespace('b')], { encoding: 'utf8' }).split('\n').filter(Boolean)) {
        const comm = existsSync(`/proc/${pid}/comm`) ? readFileSync(`/proc/${pid}/comm`, 'utf8').trim() : '';
        if (comm === 'sshd') process.kill(Number(pid), 'SIGKILL');
      }
      // b comes back a few seconds later, as a host whose sshd restarts does.
      restored = sleep(5000).then(() => lab.up());
    });
    const error = await migration.then(() => undefined, (caught: unknown) => caught);
    await restored;
    assert.ok(dropped, 'the connections were dropped mid-copy');
    assert.ok(error instanceof MigrationError, String(error));
    assert.equal(error.vmState, 'running-on-source', error.message);
    await settledOn('a');
    assert.deepEqual(await ferryBlockLeftovers('a'), []);
    assert.equal(existsSync(localImage('b')), false);
  });

  test('refused before anything moves: no directory for the copy, a different file at the path, shared asked of a local disk', async () => {
    mkdirSync(`${lab.privateDir('a')}/sub`, { recursive: true });
    await lab.startVm('a', VM, { memoryMiB: 256, disk: { path: `${LOCAL_STORAGE_PATH}/sub/${VM}.qcow2`, sizeMiB: 16, recordsPerSecond: 5 } });
    const nodir = await host('a').vm(VM).migrateTo('b').then(() => undefined, (caught: unknown) => caught);
    assert.ok(nodir instanceof PreflightError, String(nodir));
    assert.match(nodir.message, /directory \/srv\/ferry-host\/sub is missing or not writable on b/);

    // "I copied the disk over first": another file of that name on b is never overwritten.
    mkdirSync(`${lab.privateDir('b')}/sub`, { recursive: true });
    writeFileSync(`${lab.privateDir('b')}/sub/${VM}.qcow2`, 'an older copy');
    const other = await host('a').vm(VM).migrateTo('b').then(() => undefined, (caught: unknown) => caught);
    assert.ok(other instanceof PreflightError, String(other));
    assert.match(other.message, /will not overwrite it/);
    assert.equal(readFileSync(`${lab.privateDir('b')}/sub/${VM}.qcow2`, 'utf8'), 'an older copy');

    const shared = await host('a').vm(VM).migrateTo('b', { storage: 'shared' }).then(() => undefined, (caught: unknown) => caught);
    assert.ok(shared instanceof PreflightError, String(shared));
    assert.match(shared.message, /use storage 'copy' or 'auto'/);
    await settledOn('a');
  });
});

// The lab's real Debian 12 guest, proven with nothing of ferry's: it boots
// under TCG from its own qcow2 root, systemd reports `running`, its sequence
// service streams a gap-free sequence over one held connection, and its
// record writer's records are all intact on the disk.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { rm } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { checkDebianDisk } from '../lab/debian-disk.ts';
import { guestCommand } from '../lab/guest-command.ts';
import { SequenceStream } from '../lab/sequence-stream.ts';
import { testLab } from './lab-fixture.ts';
import { configure, disconnect, host } from '../../sdk/index.ts';

const lab = testLab();
const run = promisify(execFile);

describe('the Debian 12 guest', { timeout: 600_000 }, () => {
  before(async () => {
    await lab.up();
    await lab.buildDebianGuest();
  });
  // The root disk on a's local storage, as this process sees it.
  const image = lab.pathSeenHere('a', lab.debianDiskPath('a', 'deb'));
  after(async () => {
    await disconnect();
    for (const h of ['a', 'b']) {
      await lab.stopVm(h, 'deb');
      await rm(lab.pathSeenHere(h, lab.debianDiskPath(h, 'deb')), { force: true });
      await rm(`${lab.pathSeenHere(h, lab.debianDiskPath(h, 'deb'))}.ferry-left`, { force: true });
    }
    await lab.down();
  });

  test('boots, runs its services, streams a gap-free sequence and keeps its records', async (t) => {
    await rm(image, { force: true });
    const started = performance.now();
    const vm = await lab.startDebianVm('a', 'deb', { memoryMiB: 1024, cpus: 1 });
    const stream = await SequenceStream.open(vm.address);
    const bootMs = Math.round(performance.now() - started);

    const state = await guestCommand(vm.address, 'systemctl is-system-running --wait', { timeoutMs: 120_000 });
    const failed = state.output.trim() === 'running' ? '' : (await guestCommand(vm.address, 'systemctl --failed --no-legend; systemctl list-jobs --no-legend')).output;
    assert.equal(state.output.trim(), 'running', `systemd says ${state.output.trim()}: ${failed}`);
    assert.equal(state.exitCode, 0);

    await sleep(5_000);
    const sequence = await stream.close();
    t.diagnostic(`boot to sequence service ready: ${bootMs} ms; sequence: ${JSON.stringify(sequence)}`);
    assert.equal(sequence.endedEarly, undefined);
    assert.equal(sequence.gaps, 0, sequence.firstFault);
    assert.equal(sequence.repeats, 0, sequence.firstFault);
    assert.ok(sequence.received >= 5_000, `only ${sequence.received} numbers in more than 5 s`);
    assert.equal(sequence.last, sequence.received);

    const records = await guestCommand(vm.address, 'ferry-verify-records');
    t.diagnostic(records.output.trim());
    assert.equal(records.exitCode, 0, records.output);
    const count = Number(/records=(\d+)/.exec(records.output)?.[1]);
    assert.ok(count >= 50, `the writer appended ${count} records`);

    // The command service reports a failing command's status as it is.
    assert.deepEqual(await guestCommand(vm.address, 'echo out; echo err >&2; exit 3'), { output: 'out\nerr\n', exitCode: 3 });

    // Stopped without a shutdown, the image holds every record the guest had acknowledged, on a sound file system.
    const acknowledged = Number((await guestCommand(vm.address, 'cat /run/ferry-records.acknowledged')).output.trim());
    await lab.stopVm('a', 'deb');
    const disk = await checkDebianDisk(image);
    t.diagnostic(`offline: ${disk.records} records (the guest had acknowledged ${acknowledged}), first bad ${disk.firstBad}, torn tail ${disk.tornTail} bytes, file system clean: ${disk.fileSystemClean}`);
    assert.ok(disk.fileSystemClean, disk.fileSystemReport);
    assert.equal(disk.firstBad, undefined);
    assert.ok(acknowledged > 0 && disk.records >= acknowledged, `${disk.records} records on the image, ${acknowledged} acknowledged`);
    assert.match((await run('qemu-img', ['check', image])).stdout, /No errors were found/);
  });

  test('ferry moves it a → b → a with its root disk copied live: an open sequence stream loses and repeats nothing, systemd stays running', async (t) => {
    configure(lab.ferryConfig());
    await rm(image, { force: true });
    const vm = await lab.startDebianVm('a', 'deb', { memoryMiB: 1024, cpus: 1 });
    const ready = await guestCommand(vm.address, 'systemctl is-system-running --wait', { timeoutMs: 120_000 });
    assert.equal(ready.output.trim(), 'running');
    const stream = await SequenceStream.open(vm.address);
    let from = 'a';
    const lines: string[] = [];
    for (const to of ['b', 'a']) {
      const result = await host(from).vm('deb').migrateTo(to, { maxDowntime: 300 });
      assert.equal(result.status, 'completed');
      assert.equal(result.disks?.[0]?.action, 'copy', JSON.stringify(result.disks));
      assert.ok(result.downtimeMs > 0 && result.downtimeMs <= 300, `QEMU downtime ${result.downtimeMs} ms within 300 ms`);
      assert.equal(result.guestCheck?.ok, true, result.guestCheck?.detail);
      lines.push(`${from}→${to}: disk copy ${result.diskCopyMs} ms, downtime ${result.downtimeMs} ms, total ${result.totalTimeMs} ms`);
      from = to;
      await sleep(3000);
    }
    const state = await guestCommand(vm.address, 'systemctl is-system-running');
    const records = await guestCommand(vm.address, 'ferry-verify-records');
    const acknowledged = Number((await guestCommand(vm.address, 'cat /run/ferry-records.acknowledged')).output.trim());
    const sequence = await stream.close();
    t.diagnostic(`${lines.join('; ')}; sequence ${JSON.stringify(sequence)}; ${records.output.trim()}`);
    assert.equal(sequence.endedEarly, undefined, 'the TCP connection survived both moves');
    assert.equal(sequence.gaps, 0, sequence.firstFault);
    assert.equal(sequence.repeats, 0, sequence.firstFault);
    assert.equal(state.output.trim(), 'running');
    assert.equal(records.exitCode, 0, records.output);

    await lab.stopVm('a', 'deb');
    const disk = await checkDebianDisk(image);
    assert.ok(disk.fileSystemClean, disk.fileSystemReport);
    assert.equal(disk.firstBad, undefined);
    assert.ok(disk.records >= acknowledged, `${disk.records} records on a's image, ${acknowledged} acknowledged`);
  });
});

// The small guest's disk on the lab, proven with nothing of ferry's: the
// guest writes checksummed records to a virtio disk and reports the last one
// acknowledged; the offline checker finds every acknowledged record on the
// image after the VM stops, a second boot on the same image verifies them
// too, and a damaged record is caught.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, readFile, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { checkDiskRecords } from '../lab/disk-records.ts';
import type { GuestSpec } from '../lab/lab.ts';
import { Probe, type ProbeReport } from '../lab/probe.ts';
import { testLab } from './lab-fixture.ts';

const run = promisify(execFile);
const lab = testLab();

/** Probes the guest until it has acknowledged more than `records` records. */
async function probeUntil(address: string, records: bigint, timeoutMs: number): Promise<ProbeReport> {
  const probe = new Probe(address);
  await probe.start(5);
  const deadline = Date.now() + timeoutMs;
  while (probe.report().lastDiskRecord <= records && Date.now() < deadline) await sleep(100);
  return probe.finish();
}

describe('a guest with a disk', { timeout: 300_000 }, () => {
  const image = `${lab.runDir('a')}/disky.qcow2`;
  before(async () => {
    await lab.up();
    await rm(image, { force: true });
  });
  after(async () => {
    await lab.stopVm('a', 'disky');
    await rm(image, { force: true });
    await rm(`${image}.damaged`, { force: true });
    await lab.down();
  });

  test('every record the guest acknowledged is intact on the image, across a stop and a second boot', async (t) => {
    // 1 MiB = a ring of 256 records: at 100 a second the guest wraps it within the test.
    const spec: GuestSpec = { memoryMiB: 256, disk: { path: image, sizeMiB: 1, recordsPerSecond: 100 } };
    const vm = await lab.startVm('a', 'disky', spec);
    assert.match(await readFile(`${lab.runDir('a')}/disky.console`, 'utf8'), /ferry-disk: verified last=0 first_bad=0 corrupt=0 slots=256/);
    const first = await probeUntil(vm.address, 300n, 60_000);
    assert.ok(first.lastDiskRecord > 300n, `the guest acknowledged ${first.lastDiskRecord} records; console:\n${await lab.consoleTail('a', 'disky')}`);
    assert.equal(first.diskRecordWentBackwards, false);
    await lab.stopVm('a', 'disky');

    const offline = await checkDiskRecords(image);
    t.diagnostic(`first boot: probe saw ${first.lastDiskRecord} acknowledged; image: ${JSON.stringify(offline)}`);
    assert.equal(offline.slots, 256);
    assert.equal(offline.firstBad, undefined, 'no record missing or corrupt');
    assert.equal(offline.corruptSlots, 0);
    assert.ok(offline.last >= Number(first.lastDiskRecord), `the image holds record ${offline.last}, the guest saw ${first.lastDiskRecord} acknowledged`);
    assert.equal(offline.generations.length, 1);
    const check = await run('qemu-img', ['check', image]);
    assert.match(check.stdout, /No errors were found/);

    // A second boot on the same image verifies what the first one wrote, then carries on from there.
    const again = await lab.startVm('a', 'disky', spec);
    const console = await readFile(`${lab.runDir('a')}/disky.console`, 'utf8');
    assert.match(console, new RegExp(`ferry-disk: verified last=${offline.last} first_bad=0 corrupt=0 slots=256`), console);
    const second = await probeUntil(again.address, BigInt(offline.last) + 100n, 60_000);
    await lab.stopVm('a', 'disky');
    const after2 = await checkDiskRecords(image);
    t.diagnostic(`second boot: probe saw ${second.lastDiskRecord} acknowledged; image: ${JSON.stringify(after2)}`);
    assert.equal(after2.firstBad, undefined);
    assert.ok(after2.last >= Number(second.lastDiskRecord) && after2.last > offline.last);
    assert.equal(after2.generations.length, 2, 'the ring holds records of both boots');
    assert.match((await run('qemu-img', ['check', image])).stdout, /No errors were found/);

    // The checker is not blind: overwrite one record below the last in a copy.
    const damaged = `${image}.damaged`;
    await copyFile(image, damaged);
    const victim = after2.last - 10;
    await run('qemu-io', ['-f', 'qcow2', '-c', `write -P 0x55 ${((victim - 1) % 256) * 4096 + 512} 512`, damaged]);
    const caught = await checkDiskRecords(damaged);
    assert.equal(caught.firstBad, victim);
    assert.equal(caught.lastIntact, victim - 1);
    assert.equal(caught.corruptSlots, 1);
  });
});

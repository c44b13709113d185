// The lab itself, proven with nothing of ferry's: real sshd per host with
// host-key checking, a real guest answering the probe, raw QMP through SSH,
// and a raw-QMP live migration that keeps the guest's counter increasing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readlink, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { LOCAL_STORAGE_PATH } from '../lab/lab.ts';
import { Probe } from '../lab/probe.ts';
import { RawQmp } from '../lab/raw-qmp.ts';
import { rawMigrate } from '../lab/raw-migration.ts';
import { testLab } from './lab-fixture.ts';

const run = promisify(execFile);
const lab = testLab();

describe('the lab', { timeout: 300_000 }, () => {
  before(async () => {
    await lab.up();
  });
  after(async () => {
    await lab.down();
  });

  test('each host runs its own sshd, reached with host-key checking on', async () => {
    for (const host of ['a', 'b']) {
      const { stdout } = await run('ssh', ['-F', lab.sshConfigFile, '-o', 'BatchMode=yes', host, 'ip', '-o', '-4', 'addr', 'show', 'br0']);
      assert.match(stdout, new RegExp(lab.hostAddress(host).replaceAll('.', '\\.')));
    }
    // The same host with a known_hosts that does not know it is refused.
    const empty = `${lab.stateDir}/empty_known_hosts`;
    await writeFile(empty, '');
    await assert.rejects(
      run('ssh', ['-F', lab.sshConfigFile, '-o', 'BatchMode=yes', '-o', `UserKnownHostsFile=${empty}`, 'a', 'true']),
      /Host key verification failed/,
    );
  });

  test("each host has its own local storage at /srv/ferry-host, and its VMs live in the host's mount namespace", async () => {
    const marker = `local-${process.pid}`;
    await writeFile(`${lab.privateDir('a')}/${marker}`, 'on a\n');
    const seen = async (host: string): Promise<string> =>
      (await run('ssh', ['-F', lab.sshConfigFile, '-o', 'BatchMode=yes', host, `cat ${LOCAL_STORAGE_PATH}/${marker} 2>/dev/null || echo absent`])).stdout;
    assert.equal(await seen('a'), 'on a\n');
    assert.equal(await seen('b'), 'absent\n', "host b must not see host a's local storage");
    // Shared storage: the runDirs are the same files everywhere.
    assert.equal((await run('ssh', ['-F', lab.sshConfigFile, '-o', 'BatchMode=yes', 'b', 'cat', `${lab.privateDir('a')}/${marker}`])).stdout, 'on a\n');
    // The harness starts a host's processes where ferry's SSH sessions run them.
    const { stdout: sshNamespace } = await run('ssh', ['-F', lab.sshConfigFile, '-o', 'BatchMode=yes', 'a', 'readlink', '/proc/self/ns/mnt']);
    const { stdout: harnessNamespace } = await lab.runOnHost('a', ['readlink', '/proc/self/ns/mnt']);
    assert.equal(harnessNamespace, sshNamespace);
    assert.notEqual(sshNamespace.trim(), await readlink('/proc/self/ns/mnt'));
  });

  test('each host runs the QEMU the lab was asked for (FERRY_TEST_QEMU), under the usual name', async (t) => {
    const system = (await run('qemu-system-x86_64', ['--version'])).stdout;
    for (const host of lab.settings.hosts) {
      const version = await lab.qemuVersion(host);
      const wanted = lab.settings.qemu[host];
      t.diagnostic(`${host}: QEMU ${version}`);
      if (wanted) assert.ok(version.startsWith(`${wanted}.`), `${host} runs ${version}, not ${wanted}`);
      else assert.ok(system.includes(`version ${version} `), `${host} runs ${version}, not the system's QEMU`);
    }
  });

  test('a guest boots on host a, answers the probe, and its QEMU answers raw QMP through SSH', async (t) => {
    const started = performance.now();
    const vm = await lab.startVm('a', 'boot', {});
    const probe = new Probe(vm.address);
    await probe.start();
    t.diagnostic(`boot to first probe reply: ${Math.round(performance.now() - started)} ms`);
    const qmp = await RawQmp.connect(lab, 'a', vm.qmpSocket);
    try {
      // (7.2 also says singlestep: false; 10.0 no longer has the field)
      const { status, running } = await qmp.execute('query-status') as { status: string; running: boolean };
      assert.deepEqual({ status, running }, { status: 'running', running: true });
    } finally {
      qmp.close();
    }
    const report = await probe.finish();
    assert.ok(report.received > 0 && !report.counterWentBackwards);
    assert.equal(await readlink(`/proc/${vm.pid}/ns/mnt`), (await lab.runOnHost('a', ['readlink', '/proc/self/ns/mnt'])).stdout.trim());
    await lab.stopVm('a', 'boot');
  });

  for (const [label, spec] of [
    ['an idle 512 MiB guest', { memoryMiB: 512 }],
    ['a guest dirtying 64 MiB at 20 MB/s', { memoryMiB: 512, dirtyMiB: 64, dirtyRateMBps: 20 }],
  ] as const) {
    test(`raw QMP migrates ${label} from a to b while the probe's counter keeps increasing`, async (t) => {
      const name = label.startsWith('an idle') ? 'idle' : 'busy';
      const vm = await lab.startVm('a', name, spec);
      const probe = new Probe(vm.address);
      await probe.start();
      const figures = await rawMigrate(lab, 'a', 'b', name, spec);
      await new Promise((resolve) => setTimeout(resolve, 500));
      const report = await probe.finish();
      t.diagnostic(`raw migration ${label}: ${JSON.stringify(figures)}; probe: max gap ${report.maxGapMs} ms, lost ${report.lost}/${report.sent}`);
      assert.equal(report.counterWentBackwards, false, 'the guest kept its state');
      assert.ok(report.received > 0);
      // The guest answers from b now: its QEMU on a is gone and b's runs.
      assert.equal(await lab.vmPid('a', name), undefined);
      assert.notEqual(await lab.vmPid('b', name), undefined);
      const probeAfter = new Probe(vm.address);
      await probeAfter.start(1, 5_000);
      const later = await probeAfter.finish();
      assert.ok(later.lastCounter > report.lastCounter, 'the counter went on increasing on b');
      await lab.stopVm('b', name);
      await lab.stopVm('a', name);
    });
  }
});

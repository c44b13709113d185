// ferry between QEMU versions, as in a fleet halfway through an upgrade: host
// a runs Debian 12's QEMU 7.2, hosts b and c the backported 10.0 (each host
// sees its own through its mount namespace). Judged by raw QMP, by the QEMU
// processes' own command lines, and by the guest's probe counter.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { configure, disconnect, host, PreflightError } from '../../sdk/index.ts';
import { Lab } from '../lab/lab.ts';
import { Probe } from '../lab/probe.ts';
import { RawQmp } from '../lab/raw-qmp.ts';
import { testLab } from './lab-fixture.ts';

const run = promisify(execFile);
const lab = new Lab({ ...testLab().settings, qemu: { a: '7.2', b: '10.0', c: '10.0' } });

/** What the QEMU running `vm` on `hostName` is, from raw QMP and /proc. */
async function qemuOf(hostName: string, vm: string): Promise<{ version: string; machine: string; argv: string[] }> {
  const pid = await lab.vmPid(hostName, vm);
  assert.ok(pid, `${vm} runs on ${hostName}`);
  const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean);
  const qmp = await RawQmp.connect(lab, hostName, `${lab.runDir(hostName)}/${vm}.qmp`);
  try {
    const { qemu } = await qmp.execute('query-version') as { qemu: { major: number; minor: number; micro: number } };
    // The machine object's QOM type is the concrete machine, e.g. pc-i440fx-7.2-machine.
    const type = await qmp.execute('qom-get', { path: '/machine', property: 'type' }) as string;
    return { version: `${qemu.major}.${qemu.minor}.${qemu.micro}`, machine: type.replace(/-machine$/, ''), argv };
  } finally {
    qmp.close();
  }
}

describe('ferry between QEMU 7.2 and 10.0', { timeout: 600_000 }, () => {
  before(async () => {
    await lab.up();
    configure(lab.ferryConfig());
  });
  afterEach(async () => {
    for (const h of ['a', 'b', 'c']) for (const vm of ['old', 'new']) await lab.stopVm(h, vm);
  });
  after(async () => {
    await disconnect();
    await lab.down();
  });

  test('the lab runs 7.2 on a and 10.0 on b and c, under the usual binary name', async () => {
    assert.match(await lab.qemuVersion('a'), /^7\.2\./);
    assert.match(await lab.qemuVersion('b'), /^10\.0\./);
    assert.match(await lab.qemuVersion('c'), /^10\.0\./);
  });

  test("a host switched under a running VM (over SSH, as an upgrade would): the VM keeps its QEMU, the host's qemu-system-x86_64 is the new one", async () => {
    await lab.startVm('c', 'old', { memoryMiB: 256 });
    const ssh = async (command: string): Promise<string> =>
      (await run('ssh', ['-F', lab.sshConfigFile, '-o', 'BatchMode=yes', 'c', command])).stdout;
    try {
      assert.match(await ssh(`sh ${lab.settings.scriptsDir}/use-qemu.sh 7.2`), /version 7\.2\./);
      assert.match(await lab.qemuVersion('c'), /^7\.2\./);
      assert.match((await qemuOf('c', 'old')).version, /^10\.0\./, 'the running VM keeps its 10.0');
      // Bringing the lab up again while that VM runs puts c back as the lab says (10.0), without disturbing it.
      await lab.up();
      assert.match(await lab.qemuVersion('c'), /^10\.0\./);
      assert.match(await ssh(`sh ${lab.settings.scriptsDir}/use-qemu.sh 10.0`), /version 10\.0\./, 'again: nothing to do');
      assert.equal((await host('c').vm('old').status()).runState, 'running');
    } finally {
      await lab.useQemu('c', '10.0');
    }
  });

  test("a guest born on 7.2 moves 7.2 → 10.0 → 10.0, keeps its machine type, and its counter never goes back", async (t) => {
    const vm = await lab.startVm('a', 'old', { memoryMiB: 512, dirtyMiB: 64, dirtyRateMBps: 20 });
    const born = await qemuOf('a', 'old');
    assert.match(born.version, /^7\.2\./);
    assert.equal(born.machine, 'pc-i440fx-7.2', '-machine pc is 7.2\'s i440fx');
    const probe = new Probe(vm.address);
    await probe.start();
    const toB = await host('a').vm('old').migrateTo('b', { maxDowntime: 300 });
    assert.equal(toB.status, 'completed');
    const onB = await qemuOf('b', 'old');
    assert.match(onB.version, /^10\.0\./, 'b runs it on QEMU 10.0');
    assert.equal(onB.machine, 'pc-i440fx-7.2', 'the destination pinned the source\'s machine type');
    // The destination's command line is a real host's: the plain binary name, the machine pinned.
    assert.equal(onB.argv[0], 'qemu-system-x86_64');
    assert.ok(!onB.argv.some((arg) => arg.includes('/opt/')), onB.argv.join(' '));
    assert.equal(onB.argv[onB.argv.indexOf('-machine') + 1]?.split(',')[0], 'pc-i440fx-7.2', onB.argv.join(' '));
    const toC = await host('b').vm('old').migrateTo('c', { maxDowntime: 300 });
    assert.equal(toC.status, 'completed');
    const onC = await qemuOf('c', 'old');
    assert.match(onC.version, /^10\.0\./);
    assert.equal(onC.machine, 'pc-i440fx-7.2');
    const report = await probe.finish(300);
    t.diagnostic(`7.2→10.0: downtime ${toB.downtimeMs} ms, wall ${toB.wallTimeMs} ms; 10.0→10.0: downtime ${toC.downtimeMs} ms, wall ${toC.wallTimeMs} ms; probe max gap ${report.maxGapMs} ms, lost ${report.lost}/${report.sent}`);
    assert.equal(report.counterWentBackwards, false, 'the guest kept its state');
    assert.ok(report.received > 1000, `the guest answered throughout (${report.received} replies)`);
    assert.ok(report.maxGapMs < 5000, `probe gap ${report.maxGapMs} ms`);
    assert.equal(await lab.vmPid('a', 'old'), undefined);
    assert.equal(await lab.vmPid('b', 'old'), undefined);
  });

  test('10.0 → 7.2 is refused in preflight, saying why, and the VM keeps running on 10.0', async () => {
    await lab.startVm('b', 'new', { memoryMiB: 256 });
    assert.equal((await qemuOf('b', 'new')).machine, 'pc-i440fx-10.0');
    const error = await host('b').vm('new').migrateTo('a').then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof PreflightError, String(error));
    assert.equal(error.vmState, 'running-on-source');
    const failed = error.checks.filter((check) => !check.ok).map((check) => check.check);
    assert.ok(failed.includes('destination-qemu-version'), failed.join(', '));
    assert.ok(failed.includes('destination-machine-type'), failed.join(', '));
    assert.match(error.message, /QEMU 7\.2\.\d+, the source 10\.0\.\d+: upgrade QEMU on the destination/);
    assert.match(error.message, /machine type pc-i440fx-10\.0 is not offered by a's QEMU/);
    assert.equal(await lab.vmPid('a', 'new'), undefined, 'nothing was started on a');
    assert.equal((await host('b').vm('new').status()).runState, 'running');
  });
});

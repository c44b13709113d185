// ferry's own transport and QMP client against the real thing: QEMU behind
// a real sshd, reached the way users reach their hosts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { QmpClient } from '../../sdk/qmp/index.ts';
import { HostKeyMismatchError, HostKeyUnknownError, SshTransport } from '../../sdk/transport/index.ts';
import { testLab } from './lab-fixture.ts';

/** Direct children of `pid`, from /proc (by pid, never by name). */
async function childrenOf(pid: number): Promise<number[]> {
  const { readdir } = await import('node:fs/promises');
  const children: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === pid) children.push(Number(entry));
  }
  return children;
}
const lab = testLab();

describe('SSH transport and QMP client on the lab', { timeout: 180_000 }, () => {
  let transport: SshTransport;
  before(async () => {
    await lab.up();
    await lab.startVm('a', 'qmp', { memoryMiB: 256 });
    transport = new SshTransport({ target: 'a', configFile: lab.sshConfigFile });
  });
  after(async () => {
    await transport.close();
    await lab.stopVm('a', 'qmp');
    await lab.down();
  });

  test('QMP over an SSH stream-local channel: status, and events as they happen', async () => {
    const qmp = await QmpClient.connect(await transport.openUnixSocket(`${lab.runDir('a')}/qmp.qmp`), { label: 'a/qmp' });
    try {
      assert.equal(qmp.greeting.QMP.version.qemu.major >= 7, true);
      assert.equal((await qmp.execute('query-status')).status, 'running');
      const events = qmp.events(['STOP', 'RESUME']);
      await qmp.execute('stop');
      assert.equal((await events.next()).value?.event, 'STOP');
      await qmp.execute('cont');
      assert.equal((await events.next()).value?.event, 'RESUME');
      events.close();
      assert.equal((await qmp.execute('query-status')).running, true);
    } finally {
      await qmp.close();
    }
  });

  test('hostile arguments are passed as data: nothing is executed', async () => {
    const marker = `ferry-e2e-marker-${process.pid}`;
    const hostile = [`; touch ${marker}`, `$(touch ${marker})`, `\`touch ${marker}\``, `' ; touch ${marker}; '`, `a\nb`, '*', '~', '$HOME'];
    const { stdout } = await transport.exec(['printf', '%s\\0', ...hostile]);
    assert.deepEqual(stdout.split('\0').slice(0, -1), hostile);
    const { stdout: home } = await transport.exec(['pwd']);
    assert.equal(existsSync(`${home.trim()}/${marker}`), false);
    assert.equal(existsSync(marker), false);
  });

  test('an unknown host key is refused with what to do, and a changed one too', async () => {
    const empty = `${lab.stateDir}/known_hosts.empty`;
    await writeFile(empty, '');
    const stranger = new SshTransport({ target: 'a', configFile: lab.sshConfigFile, knownHostsFiles: [empty] });
    await assert.rejects(stranger.exec(['true']), (error: unknown) => error instanceof HostKeyUnknownError && /known_hosts|accept-new/.test(error.message));
    await stranger.close();

    // Host b's key written down for host a's address: what a changed key looks like.
    const known = await readFile(lab.knownHostsFile, 'utf8');
    const bLine = known.split('\n').find((line) => line.startsWith(`${lab.hostAddress('b')} `)) ?? '';
    const forged = `${lab.stateDir}/known_hosts.forged`;
    await writeFile(forged, bLine.replace(lab.hostAddress('b'), lab.hostAddress('a')) + '\n');
    const fooled = new SshTransport({ target: 'a', configFile: lab.sshConfigFile, knownHostsFiles: [forged] });
    await assert.rejects(fooled.exec(['true']), HostKeyMismatchError);
    await fooled.close();
  });

  test("the shared connection survives sshd being restarted between two commands", async () => {
    const connectionBefore = (await transport.shell('echo "$SSH_CONNECTION"')).stdout;
    const pid = Number((await readFile(`${lab.stateDir}/a/sshd.pid`, 'utf8')).trim());
    // The listener's children serve open connections (ours among them): end them too, as a restart of the host would.
    const sessions = await childrenOf(pid);
    process.kill(pid, 'SIGTERM');
    for (const child of sessions) process.kill(child, 'SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 300));
    await lab.runOnHost('a', ['/usr/sbin/sshd', '-f', `${lab.stateDir}/a/sshd_config`]);
    assert.equal((await transport.exec(['echo', 'after'])).stdout, 'after\n');
    const connectionAfter = (await transport.shell('echo "$SSH_CONNECTION"')).stdout;
    assert.notEqual(connectionAfter, connectionBefore, 'a new connection was made');
  });
});

// Hosts behind jump hosts (ProxyJump in the user's SSH config), on the lab:
// the connection really goes through the jump (the target sees the jump
// host's address, not ours), and a VM migrates to a host reached that way.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { configure, disconnect, host } from '../../sdk/index.ts';
import { Probe } from '../lab/probe.ts';
import { testLab } from './lab-fixture.ts';

const lab = testLab();

/** The lab's own SSH config plus aliases that reach b through a, and c through a then b. */
function writeJumpConfig(): string {
  const file = `${lab.stateDir}/ssh_config_jumps`;
  const behind = (alias: string, real: string, jumps: string) => `
Host ${alias}
  HostName ${lab.hostAddress(real)}
  ProxyJump ${jumps}
  User root
  IdentityFile ${lab.identityFile}
  IdentitiesOnly yes
  UserKnownHostsFile ${lab.knownHostsFile}
  StrictHostKeyChecking yes
`;
  writeFileSync(file, `${behind('b-via-a', 'b', 'a')}${behind('c-via-a-b', 'c', 'a,b')}\n${readFileSync(lab.sshConfigFile, 'utf8')}`);
  return file;
}

/** The address a host sees our SSH connection come from. */
async function clientAddressSeenBy(name: string): Promise<string> {
  const { stdout } = await host(name).exec(['sh', '-c', 'echo $SSH_CONNECTION']);
  return stdout.trim().split(' ')[0] ?? '';
}

describe('hosts behind jump hosts on the lab', { timeout: 300_000 }, () => {
  before(async () => {
    await lab.up();
    const sshConfig = writeJumpConfig();
    const hosts = lab.ferryConfig().hosts;
    configure({
      hosts: {
        a: hosts['a']!,
        b: { ...hosts['b']!, ssh: 'b-via-a', sshConfig },
        c: { ...hosts['c']!, ssh: 'c-via-a-b', sshConfig },
      },
    });
  });
  afterEach(async () => {
    for (const h of ['a', 'b']) await lab.stopVm(h, 'jumped');
  });
  after(async () => {
    await disconnect();
    await lab.down();
  });

  test('one hop and two: the target sees the last jump host, not us', async () => {
    assert.equal(await clientAddressSeenBy('a'), lab.callerAddress);
    assert.equal(await clientAddressSeenBy('b'), lab.hostAddress('a'));
    assert.equal(await clientAddressSeenBy('c'), lab.hostAddress('b'));
  });

  test('a VM migrates to a host reached through a jump host, and back, answering the probe', async () => {
    const vm = await lab.startVm('a', 'jumped', { memoryMiB: 256, dirtyMiB: 32, dirtyRateMBps: 10 });
    const probe = new Probe(vm.address);
    await probe.start();
    const there = await host('a').vm('jumped').migrateTo('b', { maxDowntime: 300 });
    assert.equal(there.status, 'completed');
    assert.equal((await host('b').vm('jumped').status()).runState, 'running');
    const back = await host('b').vm('jumped').migrateTo('a', { maxDowntime: 300 });
    assert.equal(back.status, 'completed');
    const report = await probe.finish();
    assert.equal(report.counterWentBackwards, false);
    assert.ok(report.received > 0);
  });
});

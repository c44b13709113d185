// The upgrade hook over a real sshd (test/fakes/local-sshd): argv reaches the
// host's shell quoted, and a hook that takes the host down (here: sshd
// restarted under it, as a reboot does) is followed by waiting for SSH and
// the QEMU check, not taken for a failure.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Fleet } from '../../../sdk/model/fleet.ts';
import { Host } from '../../../sdk/model/host.ts';
import { RollingUpgrade } from '../../../sdk/upgrade/rolling-upgrade.ts';
import { runUpgradeHook } from '../../../sdk/upgrade/run-hook.ts';
import { waitForHost } from '../../../sdk/upgrade/wait-for-host.ts';
import { sshdAvailable, startLocalSshd, type LocalSshd } from '../../fakes/local-sshd.ts';

describe('the upgrade hook over SSH', { skip: !sshdAvailable() && 'no /usr/sbin/sshd' }, () => {
  let sshd: LocalSshd;
  const fleet = new Fleet();

  before(async () => {
    sshd = await startLocalSshd();
    const sshConfig = join(sshd.dir, 'ssh_config');
    writeFileSync(sshConfig, [
      'Host r', '  HostName 127.0.0.1', `  Port ${sshd.port}`, `  User ${sshd.user}`, `  IdentityFile ${sshd.clientKey.privateKeyFile}`,
      '  IdentitiesOnly yes', `  UserKnownHostsFile ${sshd.knownHostsFile}`, '',
    ].join('\n'));
    const qemu = join(sshd.dir, 'qemu-stand-in');
    writeFileSync(qemu, '#!/bin/sh\necho "QEMU emulator version 10.0.2 (stand-in)"\n');
    chmodSync(qemu, 0o755);
    fleet.configure({ hosts: { r: { ssh: 'r', sshConfig, runDir: join(sshd.dir, 'run'), qemuBinary: qemu }, gone: { ssh: `${sshd.user}@127.0.0.1:1`, sshConfig } } });
  });
  after(async () => {
    await fleet.close();
    await sshd.stop();
  });

  it('passes argv to the host as it was given, nothing of it run by a shell', async () => {
    const outcome = await runUpgradeHook(new Host(fleet, 'r'), { argv: ['sh', '-c', 'printf "%s|" "$@"; exit 3', 'hook', "it's; $(id)", 'a b'] }, { timeoutMs: 10_000 });
    assert.deepEqual([outcome.ok, outcome.exitCode, outcome.outputTail], [false, 3, "it's; $(id)|a b|"]);
  });

  it('a hook during which the host goes away (a reboot) is judged by SSH coming back and the QEMU check', async () => {
    const upgrade = new RollingUpgrade(fleet, { hosts: ['r'], command: 'sleep 20', expectQemu: '10.0', journal: join(sshd.dir, 'journal.jsonl'), hostTimeoutMs: 20_000 });
    upgrade.on('step', (step) => step.step === 'hook' && step.state === 'start' && setTimeout(() => void sshd.restart(), 500));
    const report = await upgrade;
    assert.equal(report.status, 'completed', JSON.stringify(report.failure));
    const hook = report.hosts[0]?.hook;
    assert.equal(hook?.exitCode, null);
    assert.match(hook?.note ?? '', /r dropped the connection while the command ran \(a reboot\?\)/);
    assert.ok((hook?.durationMs ?? 20_000) < 15_000, 'it did not wait for the sleep');
    assert.equal(report.hosts[0]?.qemuVersion, '10.0.2');
  });

  it('a host that does not answer is waited for until the timeout, no longer', async () => {
    const started = performance.now();
    assert.equal(await waitForHost(new Host(fleet, 'gone'), { timeoutMs: 1500, pollMs: 200 }), undefined);
    assert.ok(performance.now() - started < 6000);
    assert.equal(typeof (await waitForHost(new Host(fleet, 'r'), { timeoutMs: 5000 })), 'number');
  });
});

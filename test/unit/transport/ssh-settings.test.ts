import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseTarget, resolveSshSettings, type SshEnvironment } from '../../../sdk/transport/ssh-settings.ts';
import { SshTransport } from '../../../sdk/transport/ssh-transport.ts';
import { SshConfigError, SshConnectError } from '../../../sdk/transport/transport-errors.ts';

let home = '';
let config = '';
let env: SshEnvironment;
before(async () => {
  home = await mkdtemp(join(tmpdir(), 'ferry-settings-'));
  config = join(home, 'config');
  await writeFile(config, [
    'Host lab', '  HostName 10.1.0.%h', '  User labuser', '  Port 2222', '  IdentityFile ~/.ssh/lab_%r',
    '  ConnectTimeout 3', '  ServerAliveInterval 0', '  StrictHostKeyChecking accept-new', '  IdentityAgent none',
    'Host jumpy', '  ProxyJump bastion',
    'Host bastion', '  HostName 127.0.0.1', '  Port 1',
    'Host nocheck', '  StrictHostKeyChecking no',
    'Host proxied', '  ProxyCommand nc %h %p',
  ].join('\n'));
  env = { home, localUser: 'me', authSock: '/tmp/agent.sock', env: {} };
});
after(() => rm(home, { recursive: true, force: true }));

describe('parseTarget', () => {
  it('splits the target forms', () => {
    assert.deepEqual(parseTarget('root@10.0.0.1:2222'), { user: 'root', host: '10.0.0.1', port: 2222 });
    assert.deepEqual(parseTarget('web'), { host: 'web' });
    assert.deepEqual(parseTarget('admin@[fe80::1]:22'), { user: 'admin', host: 'fe80::1', port: 22 });
    assert.deepEqual(parseTarget('fe80::1'), { host: 'fe80::1' });
    assert.throws(() => parseTarget('host:99999'), SshConfigError);
  });
});

describe('resolveSshSettings', () => {
  it('uses defaults when nothing is configured', () => {
    const s = resolveSshSettings({ target: 'host1', configFile: false }, env);
    assert.equal(s.label, 'me@host1:22');
    assert.equal(s.hostKeyPolicy, 'strict');
    assert.equal(s.connectTimeoutMs, 10_000);
    assert.equal(s.keepaliveIntervalMs, 15_000);
    assert.equal(s.keepaliveCountMax, 3);
    assert.equal(s.agent, '/tmp/agent.sock');
    assert.deepEqual(s.identityFiles.map((f) => [f.path, f.explicit]), [
      [join(home, '.ssh/id_ed25519'), false], [join(home, '.ssh/id_ecdsa'), false], [join(home, '.ssh/id_rsa'), false],
    ]);
    assert.deepEqual(s.knownHostsFiles, [join(home, '.ssh/known_hosts'), join(home, '.ssh/known_hosts2'), '/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2']);
    assert.equal(s.knownHostsWriteFile, join(home, '.ssh/known_hosts'));
  });

  it('takes config values for an alias, expanding tokens', () => {
    const s = resolveSshSettings({ target: 'lab', configFile: config }, env);
    assert.equal(s.label, 'labuser@10.1.0.lab:2222');
    assert.deepEqual(s.identityFiles, [{ path: join(home, '.ssh/lab_labuser'), explicit: true }]);
    assert.equal(s.connectTimeoutMs, 3000);
    assert.equal(s.keepaliveIntervalMs, 0);
    assert.equal(s.hostKeyPolicy, 'accept-new');
    assert.equal(s.agent, undefined);
  });

  it('lets the target beat the config and explicit options beat both', () => {
    assert.equal(resolveSshSettings({ target: 'root@lab:22', configFile: config }, env).label, 'root@10.1.0.lab:22');
    const s = resolveSshSettings({ target: 'root@lab:22', configFile: config, user: 'u', port: 2, connectTimeoutMs: 5, hostKeyPolicy: 'strict', agent: '/a.sock', identityFiles: ['/k'] }, env);
    assert.equal(s.label, 'u@10.1.0.lab:2');
    assert.equal(s.connectTimeoutMs, 5);
    assert.equal(s.hostKeyPolicy, 'strict');
    assert.equal(s.agent, '/a.sock');
    assert.deepEqual(s.identityFiles.map((f) => f.path), ['/k', join(home, '.ssh/lab_u')]);
  });

  it('never turns StrictHostKeyChecking no into accepting changed keys', () => {
    const s = resolveSshSettings({ target: 'nocheck', configFile: config }, env);
    assert.equal(s.hostKeyPolicy, 'accept-new');
    assert.match(s.notes.join('\n'), /changed host key is still refused/);
  });

  it('reaches a ProxyJump host through its jump host: the jump is connected first', async () => {
    const s = resolveSshSettings({ target: 'jumpy', configFile: config }, env);
    assert.equal(s.jump?.label, 'me@127.0.0.1:1');
    assert.equal(s.jump?.jump, undefined);
    const transport = new SshTransport({ target: 'jumpy', configFile: config }, env);
    await assert.rejects(transport.exec(['true']), (e: unknown) => e instanceof SshConnectError && e.reason === 'refused' && /127\.0\.0\.1 port 1/.test(e.message));
  });

  it('refuses ProxyCommand clearly on first use', async () => {
    const transport = new SshTransport({ target: 'proxied', configFile: config }, env);
    await assert.rejects(transport.exec(['true']), (e: unknown) => e instanceof SshConfigError && /ProxyCommand .* use ProxyJump/.test(e.message));
  });
});

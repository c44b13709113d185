import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { expandConfigPath, parseSshConfig, resolveSshConfig } from '../../../sdk/transport/ssh-config.ts';
import { matchesPatternList } from '../../../sdk/transport/host-patterns.ts';
import { SshConfigError } from '../../../sdk/transport/transport-errors.ts';

let dir = '';
let sshDir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-sshconfig-'));
  sshDir = join(dir, '.ssh');
  await mkdir(join(sshDir, 'conf.d'), { recursive: true });
});
after(() => rm(dir, { recursive: true, force: true }));

async function resolveWith(text: string, host: string): Promise<ReturnType<typeof resolveSshConfig>> {
  const file = join(sshDir, 'config');
  await writeFile(file, text);
  return resolveSshConfig(host, { file, includeDir: sshDir });
}

describe('host patterns', () => {
  it('matches * and ? without regard to case', () => {
    assert.ok(matchesPatternList('Web1.Example.com', ['*.example.com']));
    assert.ok(matchesPatternList('db7', ['db?']));
    assert.ok(!matchesPatternList('db10', ['db?']));
  });

  it('lets a matching negation win and treats regex characters literally', () => {
    assert.ok(!matchesPatternList('db1', ['*', '!db*']));
    assert.ok(matchesPatternList('web1', ['*', '!db*']));
    assert.ok(!matchesPatternList('web1', ['!db*']));
    assert.ok(!matchesPatternList('axb', ['a.b']));
  });
});

describe('parseSshConfig', () => {
  it('reads Keyword value, Keyword=value, quotes and comments', () => {
    const lines = parseSshConfig('# c\nHost a\n  HostName=10.0.0.1\n  IdentityFile "/k/my key" # trailing\n\n', 'f');
    assert.deepEqual(lines.map((l) => [l.keyword, l.args, l.line]), [
      ['host', ['a'], 2],
      ['hostname', ['10.0.0.1'], 3],
      ['identityfile', ['/k/my key'], 4],
    ]);
  });

  it('reports an unterminated quote with file and line', () => {
    assert.throws(() => parseSshConfig('Host a\n User "x\n', '/c'), (e: unknown) => e instanceof SshConfigError && e.location === '/c:2');
  });
});

describe('resolveSshConfig', () => {
  it('keeps the first value obtained, so specific blocks go first', async () => {
    const values = await resolveWith(
      ['Host web', '  HostName 10.0.0.5', '  Port 2222', 'Host *', '  User admin', '  Port 22', '  HostName ignored'].join('\n'),
      'web',
    );
    assert.equal(values.hostName, '10.0.0.5');
    assert.equal(values.port, 2222);
    assert.equal(values.user, 'admin');
  });

  it('applies settings before any Host line to every host', async () => {
    const values = await resolveWith('User early\nHost web\n  User late\n', 'web');
    assert.equal(values.user, 'early');
  });

  it('honours negated patterns on Host lines', async () => {
    const text = 'Host * !bastion\n  User vmadmin\nHost *\n  User other\n';
    assert.equal((await resolveWith(text, 'bastion')).user, 'other');
    assert.equal((await resolveWith(text, 'node3')).user, 'vmadmin');
  });

  it('accumulates IdentityFile and reads the other keywords', async () => {
    const values = await resolveWith(
      [
        'Host h', '  IdentityFile ~/.ssh/one', '  IdentitiesOnly yes', '  UserKnownHostsFile /a/kh ~/.ssh/kh2',
        '  StrictHostKeyChecking ask', '  ConnectTimeout 7', '  ServerAliveInterval 20', '  ServerAliveCountMax 5',
        '  IdentityAgent ~/.ssh/agent.sock', '  ProxyJump bastion', '  HostKeyAlias hk', 'Host *', '  IdentityFile ~/.ssh/two',
      ].join('\n'),
      'h',
    );
    assert.deepEqual(values.identityFiles, ['~/.ssh/one', '~/.ssh/two']);
    assert.equal(values.identitiesOnly, true);
    assert.deepEqual(values.userKnownHostsFiles, ['/a/kh', '~/.ssh/kh2']);
    assert.equal(values.strictHostKeyChecking, 'ask');
    assert.equal(values.connectTimeoutSeconds, 7);
    assert.equal(values.serverAliveIntervalSeconds, 20);
    assert.equal(values.serverAliveCountMax, 5);
    assert.equal(values.identityAgent, '~/.ssh/agent.sock');
    assert.equal(values.proxyJump, 'bastion');
    assert.equal(values.hostKeyAlias, 'hk');
  });

  it('follows Include relative to ~/.ssh, with globs, only where the block is active', async () => {
    await writeFile(join(sshDir, 'conf.d', '10-lab'), 'Host lab\n  HostName 192.168.1.10\n  User labuser\n');
    await writeFile(join(sshDir, 'conf.d', '20-more'), 'Host lab\n  Port 2200\n');
    await writeFile(join(sshDir, 'only-prod'), 'User produser\n');
    const text = 'Include conf.d/*\nHost prod\n  Include only-prod\nHost *\n  User fallback\n';
    const lab = await resolveWith(text, 'lab');
    assert.deepEqual([lab.hostName, lab.user, lab.port], ['192.168.1.10', 'labuser', 2200]);
    assert.equal((await resolveWith(text, 'prod')).user, 'produser');
    assert.equal((await resolveWith(text, 'other')).user, 'fallback');
  });

  it('follows Include ~/… and globs in directory names, then the system-wide file, first value winning', async () => {
    await mkdir(join(sshDir, 'teams', 'kvm'), { recursive: true });
    await writeFile(join(sshDir, 'teams', 'kvm', 'hosts'), 'Host kvm1\n  HostName 10.9.0.1\n');
    const system = join(dir, 'ssh_config');
    await writeFile(system, 'Host *\n  User systemuser\n  Port 2022\n');
    const file = join(sshDir, 'config');
    await writeFile(file, 'Include ~/.ssh/teams/*/hosts\nHost kvm1\n  Port 22\n');
    const values = resolveSshConfig('kvm1', { file, includeDir: sshDir, home: dir, systemFile: system });
    assert.deepEqual([values.hostName, values.port, values.user], ['10.9.0.1', 22, 'systemuser']);
  });

  it('skips Match blocks with a note', async () => {
    const values = await resolveWith('Match host web\n  User matched\nHost web\n  User hosted\n', 'web');
    assert.equal(values.user, 'hosted');
    assert.match(values.notes[0] ?? '', /config:1: Match block skipped/);
  });

  it('gives nothing for a missing file and rejects bad values with their location', async () => {
    assert.deepEqual(resolveSshConfig('x', { file: join(dir, 'nope'), includeDir: sshDir }), { identityFiles: [], notes: [] });
    await assert.rejects(resolveWith('Port abc\n', 'x'), /config:1: expected a number/);
    await assert.rejects(resolveWith('StrictHostKeyChecking maybe\n', 'x'), SshConfigError);
  });
});

describe('expandConfigPath', () => {
  const tokens = { host: '10.0.0.1', originalHost: 'web', remoteUser: 'root', localUser: 'me', port: 22, home: '/home/me' };
  it('expands ~ and the supported tokens', () => {
    assert.equal(expandConfigPath('~/.ssh/id_%h_%r_%u_%p_%n%%', tokens), '/home/me/.ssh/id_10.0.0.1_root_me_22_web%');
    assert.equal(expandConfigPath('%d/x', tokens), '/home/me/x');
  });
  it('expands ${VAR} from the environment, and %l %i %k when known', () => {
    const more = { ...tokens, env: { KEYS: '/keys' }, localHostName: 'ctl.example', uid: 0, hostKeyAlias: 'web-key' };
    assert.equal(expandConfigPath('${KEYS}/%L/%i/%k', more), '/keys/ctl/0/web-key');
    assert.throws(() => expandConfigPath('${NOPE}/x', more), /\$\{NOPE\} .* not set/);
  });
  it('rejects tokens it does not know', () => {
    assert.throws(() => expandConfigPath('%C', tokens), /unsupported token %C/);
  });
});

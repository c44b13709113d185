// ferry resolves hosts as OpenSSH does: on configs written as a user's
// ~/.ssh/config would look, the host, user, port, identity files, known-hosts
// files, host-key policy and jump hosts ferry connects with equal what
// `ssh -G` prints. ferry's own reader (used where no ssh client is installed)
// agrees wherever it applies a feature, and names what it does not apply.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { findOpenSsh } from '../../../sdk/transport/openssh-config.ts';
import { parseProxyJump } from '../../../sdk/transport/proxy-jump.ts';
import { currentEnvironment, resolveSshSettings, type SshSettings } from '../../../sdk/transport/ssh-settings.ts';
import { SshConfigError } from '../../../sdk/transport/transport-errors.ts';

const ssh = findOpenSsh(process.env);
const dir = mkdtempSync(join(tmpdir(), 'ferry-openssh-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const home = homedir(); // ssh takes ~ from the password database: the tests' home must be the real one

/** What a test compares: the fields that decide where and how ferry connects. */
interface Resolved {
  host: string;
  user: string;
  port: number;
  identityFiles: string[];
  knownHostsFiles: string[];
  hostKeyPolicy: string;
  jumps: string[];
}

function fromFerry(settings: SshSettings): Resolved {
  const jumps: string[] = [];
  for (let hop = settings.jump; hop; hop = hop.jump) jumps.push(hop.label);
  return {
    host: settings.host, user: settings.user, port: settings.port,
    identityFiles: settings.identityFiles.filter((file) => file.explicit).map((file) => file.path),
    knownHostsFiles: settings.knownHostsFiles, hostKeyPolicy: settings.hostKeyPolicy, jumps,
  };
}

/** `ssh -G` read directly, as the oracle: only ~ and the common tokens are expanded here (ssh -G prints IdentityFile raw). */
function fromOpenSsh(file: string, target: string): Resolved {
  const at = target.lastIndexOf('@');
  const [user, rest] = at >= 0 ? [target.slice(0, at), target.slice(at + 1)] : [undefined, target];
  // ssh -G prints later ProxyJump hops bracketed: ops@[10.0.0.1]:2022
  const [, host, port] = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest) ?? /^([^:]+)(?::(\d+))?$/.exec(rest) ?? [];
  const args = ['-G', '-F', file, ...(user ? ['-l', user] : []), ...(port ? ['-p', port] : []), host ?? ''];
  const lines = execFileSync(ssh ?? 'ssh', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n');
  const all = (key: string) => lines.filter((line) => line.startsWith(`${key} `)).map((line) => line.slice(key.length + 1));
  const one = (key: string) => all(key)[0] ?? '';
  const expand = (path: string) => path.replace(/^~\//, `${home}/`).replace(/%h/g, one('hostname')).replace(/%r/g, one('user')).replace(/%p/g, one('port')).replace(/%n/g, host ?? '').replace(/%d/g, home).replace(/\$\{HOME\}/g, home);
  const identities = all('identityfile');
  const defaults = identities.every((path) => /^~\/\.ssh\/id_(rsa|ecdsa|ecdsa_sk|ed25519|ed25519_sk|xmss|dsa)$/.test(path));
  const listed = (key: string) => (one(key) === 'none' ? [] : one(key).split(' '));
  const jumps: string[] = [];
  const hops = one('proxyjump') ? one('proxyjump').split(',').map((hop) => hop.replace(/^ssh:\/\//, '')) : [];
  if (hops.length > 0) {
    // The last hop is the one connected to directly; the first reaches the network as its own config says.
    for (const hop of hops.slice(1).reverse()) jumps.push(labelOf(fromOpenSsh(file, hop)));
    const first = fromOpenSsh(file, hops[0] ?? '');
    jumps.push(labelOf(first), ...first.jumps);
  }
  return {
    host: one('hostname'), user: one('user'), port: Number(one('port')),
    identityFiles: defaults ? [] : identities.map(expand),
    knownHostsFiles: [...listed('userknownhostsfile'), ...listed('globalknownhostsfile')],
    hostKeyPolicy: ['accept-new', 'false'].includes(one('stricthostkeychecking')) ? 'accept-new' : 'strict',
    jumps,
  };
}

const labelOf = (r: Resolved) => `${r.user}@${r.host}:${r.port}`;

function writeConfig(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text.replace(/^\n/, ''));
  return file;
}

// A fleet behind a bastion: wildcards, negation, first value wins, tokens, multi-hop jumps.
const confD = join(dir, 'conf.d');
mkdirSync(confD, { recursive: true });
writeFileSync(join(confD, '10-lab.conf'), `
Host lab-*
    User labops
    Port 2200
    IdentityFile ~/.ssh/lab_%r
`);
writeFileSync(join(confD, '20-lab-web.conf'), `
Host lab-web
    HostName 10.30.0.80
    User webops
`);
const fleet = writeConfig('fleet', `
# Fleet hosts reach the network through the bastion.
Host bastion
    HostName 10.20.0.1
    User jump
    IdentityFile ~/.ssh/bastion_ed25519

Host inner-bastion
    HostName 10.21.0.1
    ProxyJump bastion

Host kvm-* !kvm-legacy
    User root
    HostName %h.fleet.example
    ProxyJump bastion
    IdentityFile ~/.ssh/fleet_%h
    UserKnownHostsFile ~/.ssh/known_hosts.d/fleet

Host kvm-legacy
    HostName 192.168.9.9
    Port 2222
    StrictHostKeyChecking accept-new
    ProxyJump ssh://jump@10.20.0.1:22,ops@10.22.0.5:2022

Host deep
    HostName 10.40.0.1
    ProxyJump inner-bastion,ops@10.41.0.1

Include ${confD}/*.conf

Host *
    IdentitiesOnly yes
    IdentityFile \${HOME}/.ssh/fallback_%n
    ServerAliveInterval 30
    ConnectTimeout 5
    GlobalKnownHostsFile /etc/ssh/fleet_known_hosts
`);

// Match blocks and a canonical-name pass: only OpenSSH evaluates these.
const matching = writeConfig('matching', `
Match host kvm-* user root
    IdentityFile ~/.ssh/root_on_kvm
    StrictHostKeyChecking accept-new

Match originalhost db exec "true"
    HostName 10.50.0.5
    Port 2202

Host db kvm-*
    User admin

Match all
    UserKnownHostsFile ~/.ssh/known_hosts.d/%h
`);

// StrictHostKeyChecking spellings and files turned off.
const trust = writeConfig('trust', `
Host relaxed
    StrictHostKeyChecking no
Host askme
    StrictHostKeyChecking ask
Host strict
    StrictHostKeyChecking yes
    UserKnownHostsFile ~/.ssh/strict_hosts /etc/ssh/extra_hosts
    GlobalKnownHostsFile none
Host *
    HostName %h.example.net
`);

const cases: [string, string[]][] = [
  [fleet, ['kvm-a1', 'root@kvm-b2:2022', 'kvm-legacy', 'bastion', 'deep', 'lab-web', 'lab-db', 'elsewhere']],
  [trust, ['relaxed', 'askme', 'strict', 'plain']],
];

describe('ferry resolves hosts exactly as `ssh -G` does', { skip: ssh === undefined && 'no ssh client installed' }, () => {
  const environment = currentEnvironment();
  for (const [file, targets] of [...cases, [matching, ['kvm-a1', 'root@kvm-a1', 'db', 'web']] as [string, string[]]]) {
    for (const target of targets) {
      it(`${target} in ${file.slice(dir.length + 1)}`, () => {
        const settings = resolveSshSettings({ target, configFile: file }, environment);
        assert.equal(settings.resolvedBy, 'openssh');
        assert.deepEqual(fromFerry(settings), fromOpenSsh(file, target));
      });
    }
  }
});

describe("ferry's own reader, where no ssh client is installed", { skip: ssh === undefined && 'no ssh client installed' }, () => {
  const environment = currentEnvironment();
  for (const [file, targets] of cases) {
    for (const target of targets) {
      it(`agrees with ssh -G on ${target} in ${file.slice(dir.length + 1)}`, () => {
        const settings = resolveSshSettings({ target, configFile: file, configResolver: 'ferry' }, environment);
        assert.equal(settings.resolvedBy, 'ferry');
        assert.deepEqual(fromFerry(settings), fromOpenSsh(file, target));
      });
    }
  }

  it('names every directive it does not apply: Match blocks, canonicalization, options it has no use for', () => {
    const file = writeConfig('unapplied', `
CanonicalizeHostname yes
CanonicalDomains example.net
Match host web
    User matched
Host web
    ForwardAgent yes
    Compression yes
`);
    const notes = resolveSshSettings({ target: 'web', configFile: file, configResolver: 'ferry' }, environment).notes.join('\n');
    for (const expected of [/unapplied:1: canonicalizehostname not applied \(it changes how OpenSSH connects; install OpenSSH's ssh client/, /unapplied:2: canonicaldomains not applied/, /unapplied:3: Match block skipped/, /unapplied:6: forwardagent not applied/, /unapplied:7: compression not applied/]) {
      assert.match(notes, expected);
    }
  });
});

describe('the edges of asking OpenSSH', { skip: ssh === undefined && 'no ssh client installed' }, () => {
  it("says what ssh -G said when it cannot read the config, as ssh would refuse to connect", () => {
    const file = writeConfig('broken', 'Host web\n    Port notaport\n');
    assert.throws(() => resolveSshSettings({ target: 'web', configFile: file }, currentEnvironment()), (e: unknown) => e instanceof SshConfigError && /ssh -G. could not resolve this host: .*notaport/.test(e.message));
  });
});

describe('parseProxyJump', () => {
  it('reads hops as ssh -G prints them: ssh:// URIs, bracketed addresses, none', () => {
    assert.deepEqual(parseProxyJump('ssh://jump@10.0.0.1:22,ops@[10.0.0.2]:2022,[fe80::1]'), ['jump@10.0.0.1:22', 'ops@[10.0.0.2]:2022', '[fe80::1]']);
    assert.deepEqual(parseProxyJump('none'), []);
    assert.throws(() => parseProxyJump('a,,b'), SshConfigError);
  });
});

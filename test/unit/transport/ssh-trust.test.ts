/** SshTransport against a real OpenSSH server: host key verification, authentication, config aliases. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SshTransportOptions } from '../../../sdk/transport/ssh-settings.ts';
import { SshTransport } from '../../../sdk/transport/ssh-transport.ts';
import {
  HostKeyMismatchError, HostKeyRevokedError, HostKeyUnknownError, SshAuthError, SshConnectError,
} from '../../../sdk/transport/transport-errors.ts';
import { makeKeyPair, sshdAvailable, startLocalSshd, startSshAgent, type KeyPair, type LocalSshd } from '../../fakes/local-sshd.ts';

/** Run one command on a fresh transport and close it; returns stdout or the error. */
async function tryOnce(options: SshTransportOptions): Promise<string | Error> {
  const transport = new SshTransport(options);
  try {
    return (await transport.exec(['echo', 'ok'])).stdout;
  } catch (error) {
    return error as Error;
  } finally {
    await transport.close();
  }
}

function fingerprint(key: KeyPair): string {
  return execFileSync('ssh-keygen', ['-lf', `${key.privateKeyFile}.pub`], { encoding: 'utf8' }).split(' ')[1] ?? '';
}

describe('SshTransport trust and authentication against a real sshd', { skip: !sshdAvailable() && 'no /usr/sbin/sshd' }, () => {
  let sshd: LocalSshd;
  let dir = '';
  let stranger: KeyPair;
  const base = (): SshTransportOptions => ({
    target: sshd.target, configFile: false, agent: false, knownHostsFiles: [sshd.knownHostsFile], identityFiles: [sshd.clientKey.privateKeyFile],
  });
  const hostEntry = (key: KeyPair, marker = ''): string => `${marker}[127.0.0.1]:${sshd.port} ${key.publicKeyLine.split(' ').slice(0, 2).join(' ')}\n`;

  before(async () => {
    sshd = await startLocalSshd({ hostKeyTypes: ['ed25519', 'rsa'] });
    dir = await mkdtemp(join(tmpdir(), 'ferry-trust-'));
    stranger = await makeKeyPair(dir, 'stranger_ed25519');
  });
  after(async () => {
    await sshd.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('connects when known_hosts has the key', async () => {
    assert.equal(await tryOnce(base()), 'ok\n');
  });

  it('refuses an unknown host and says how to trust it', async () => {
    const empty = join(dir, 'empty_known_hosts');
    await writeFile(empty, '');
    const error = await tryOnce({ ...base(), knownHostsFiles: [empty] });
    assert.ok(error instanceof HostKeyUnknownError, String(error));
    assert.equal(error.fingerprint, fingerprint(sshd.hostKey));
    assert.match(error.message, new RegExp(`ssh-keyscan -p ${sshd.port} -t ssh-ed25519 127\\.0\\.0\\.1 >> ${empty}`));
    assert.match(error.message, /verifying that fingerprint/);
    assert.match(error.message, /hostKeyPolicy: 'accept-new'/);
  });

  it('refuses a changed host key, naming the file and line to fix', async () => {
    const file = join(dir, 'changed_known_hosts');
    await writeFile(file, `# managed\n${hostEntry(stranger)}`);
    for (const hostKeyPolicy of ['strict', 'accept-new'] as const) {
      const error = await tryOnce({ ...base(), knownHostsFiles: [file], hostKeyPolicy });
      assert.ok(error instanceof HostKeyMismatchError, String(error));
      assert.equal(error.knownAt, `${file}:2`);
      assert.equal(error.fingerprint, fingerprint(sshd.hostKey));
      assert.match(error.message, /REMOTE HOST IDENTIFICATION HAS CHANGED/);
      assert.match(error.message, new RegExp(`ssh-keygen -f '${file}' -R '\\[127\\.0\\.0\\.1\\]:${sshd.port}'`));
    }
  });

  it('accept-new records an unknown key, which strict then accepts', async () => {
    const file = join(dir, 'new', 'known_hosts');
    assert.equal(await tryOnce({ ...base(), knownHostsFiles: [file], hostKeyPolicy: 'accept-new' }), 'ok\n');
    const written = await readFile(file, 'utf8');
    assert.equal(written, hostEntry(sshd.hostKey));
    assert.equal(await tryOnce({ ...base(), knownHostsFiles: [file] }), 'ok\n');
  });

  it('offers only the key types known for the host, as OpenSSH does', async () => {
    const rsaOnly = join(dir, 'rsa_known_hosts');
    await writeFile(rsaOnly, hostEntry(sshd.hostKeys[1] as KeyPair));
    assert.equal(await tryOnce({ ...base(), knownHostsFiles: [rsaOnly] }), 'ok\n', 'the server presented its RSA key, not its preferred ed25519');
    const ecdsa = await makeKeyPair(dir, 'ecdsa_host', 'ecdsa');
    const ecdsaOnly = join(dir, 'ecdsa_known_hosts');
    await writeFile(ecdsaOnly, hostEntry(ecdsa));
    const error = await tryOnce({ ...base(), knownHostsFiles: [ecdsaOnly] });
    assert.ok(error instanceof SshConnectError, String(error));
    assert.match(error.message, /offers none of the host key types known_hosts has for it \(ecdsa-sha2-nistp256\)/);
  });

  it('refuses a key marked @revoked even when another line trusts it', async () => {
    const file = join(dir, 'revoked_known_hosts');
    await writeFile(file, hostEntry(sshd.hostKey) + hostEntry(sshd.hostKey, '@revoked '));
    const error = await tryOnce({ ...base(), knownHostsFiles: [file] });
    assert.ok(error instanceof HostKeyRevokedError, String(error));
    assert.match(error.message, /revoked_known_hosts:2/);
  });

  it('accepts anything only with the explicit insecure policy', async () => {
    assert.equal(await tryOnce({ ...base(), knownHostsFiles: [join(dir, 'none')], hostKeyPolicy: 'insecure-accept-any' }), 'ok\n');
  });

  it('lists what it tried when authentication fails, and why keys were skipped', async () => {
    const locked = await makeKeyPair(dir, 'locked_ed25519', 'ed25519', 'secret phrase');
    const missing = join(dir, 'no_such_key');
    const error = await tryOnce({ ...base(), identityFiles: [stranger.privateKeyFile, locked.privateKeyFile, missing] });
    assert.ok(error instanceof SshAuthError, String(error));
    assert.deepEqual(error.tried, [
      `identity file ${stranger.privateKeyFile} (ssh-ed25519)`,
      `skipped identity file ${locked.privateKeyFile}: encrypted and no passphrase given (add it to ssh-agent with ssh-add)`,
      `skipped identity file ${missing}: not found`,
    ]);
    assert.match(error.message, new RegExp(`SSH authentication as ${sshd.user} to .* failed; tried:\\n  - identity file`));
  });

  it('authenticates through a real ssh-agent, and honours IdentitiesOnly', async () => {
    const agent = await startSshAgent(dir);
    try {
      await agent.add(sshd.clientKey.privateKeyFile);
      assert.equal(await tryOnce({ ...base(), identityFiles: [], agent: agent.socket }), 'ok\n');
      const config = join(dir, 'identities_only_config');
      await writeFile(config, `Host 127.0.0.1\n  IdentitiesOnly yes\n  IdentityFile ${stranger.privateKeyFile}\n`);
      const error = await tryOnce({ ...base(), identityFiles: [], agent: agent.socket, configFile: config });
      assert.ok(error instanceof SshAuthError, 'the agent offered no key that is not an identity file');
    } finally {
      await agent.stop();
    }
    const gone = await tryOnce({ ...base(), identityFiles: [stranger.privateKeyFile], agent: agent.socket });
    assert.ok(gone instanceof SshAuthError);
    assert.match(gone.message, /ssh-agent at .*agent\.sock: no such socket/);
  });

  it('connects through an alias from an OpenSSH config file', async () => {
    const config = join(dir, 'config');
    await writeFile(config, [
      'Host myvm', '  HostName 127.0.0.1', `  Port ${sshd.port}`, `  User ${sshd.user}`,
      `  IdentityFile ${sshd.clientKey.privateKeyFile}`, `  UserKnownHostsFile ${sshd.knownHostsFile}`, '  ConnectTimeout 5', '',
    ].join('\n'));
    const transport = new SshTransport({ target: 'myvm', configFile: config, agent: false });
    try {
      assert.equal(transport.label, `${sshd.user}@127.0.0.1:${sshd.port}`);
      assert.equal((await transport.exec(['echo', 'via alias'])).stdout, 'via alias\n');
    } finally {
      await transport.close();
    }
  });

  it('says the connection was refused when nothing listens', async () => {
    const error = await tryOnce({ ...base(), target: `${sshd.user}@127.0.0.1:1` });
    assert.ok(error instanceof SshConnectError, String(error));
    assert.equal(error.reason, 'refused');
    assert.match(error.message, /connection refused \(is sshd running/);
  });
});

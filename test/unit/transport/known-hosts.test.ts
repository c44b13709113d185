import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hostKeyAlgorithmsFor } from '../../../sdk/transport/host-key-check.ts';
import {
  appendKnownHost, findHostKeys, fingerprintOf, hashHostName, keyTypeOf, knownHostName, parseKnownHosts, readKnownHosts,
} from '../../../sdk/transport/known-hosts.ts';

/** A fake SSH wire-format key blob of `type` (content does not matter for lookups). */
function blob(type: string, filler: number): Buffer {
  const name = Buffer.from(type);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(name.length);
  return Buffer.concat([head, name, Buffer.alloc(32, filler)]);
}
const ED = blob('ssh-ed25519', 1);
const ED2 = blob('ssh-ed25519', 2);
const RSA = blob('ssh-rsa', 3);
const b64 = (b: Buffer): string => b.toString('base64');

let dir = '';
before(async () => (dir = await mkdtemp(join(tmpdir(), 'ferry-kh-'))));
after(() => rm(dir, { recursive: true, force: true }));

describe('known_hosts', () => {
  const text = [
    '# comment',
    `web1,10.0.0.1 ssh-ed25519 ${b64(ED)} root@web1`,
    `[10.0.0.1]:2222 ssh-rsa ${b64(RSA)}`,
    `${hashHostName('hashed.example')} ssh-ed25519 ${b64(ED2)}`,
    `*.lab,!bad.lab ssh-rsa ${b64(RSA)}`,
    `@cert-authority *.corp ssh-ed25519 ${b64(ED2)}`,
    `@revoked * ssh-ed25519 ${b64(ED2)}`,
    'garbage line',
    '',
  ].join('\n');
  const entries = parseKnownHosts(text, '/kh');

  it('parses entries with file and line, skipping comments and junk', () => {
    assert.deepEqual(entries.map((e) => [e.line, e.marker, e.keyType]), [
      [2, null, 'ssh-ed25519'], [3, null, 'ssh-rsa'], [4, null, 'ssh-ed25519'], [5, null, 'ssh-rsa'],
      [6, 'cert-authority', 'ssh-ed25519'], [7, 'revoked', 'ssh-ed25519'],
    ]);
  });

  it('finds plain names and comma lists on port 22 only', () => {
    assert.deepEqual(findHostKeys(entries, '10.0.0.1', 22).trusted.map((e) => e.line), [2]);
    assert.deepEqual(findHostKeys(entries, 'web1', 22).trusted.map((e) => e.line), [2]);
    assert.deepEqual(findHostKeys(entries, 'web1', 2222).trusted, []);
  });

  it('uses [host]:port for other ports', () => {
    assert.equal(knownHostName('10.0.0.1', 2222), '[10.0.0.1]:2222');
    assert.deepEqual(findHostKeys(entries, '10.0.0.1', 2222).trusted.map((e) => e.line), [3]);
  });

  it('matches hashed names (HMAC-SHA1) and patterns with negation', () => {
    assert.deepEqual(findHostKeys(entries, 'hashed.example', 22).trusted.map((e) => e.line), [4]);
    assert.deepEqual(findHostKeys(entries, 'other.example', 22).trusted, []);
    assert.deepEqual(findHostKeys(entries, 'node.lab', 22).trusted.map((e) => e.line), [5]);
    assert.deepEqual(findHostKeys(entries, 'bad.lab', 22).trusted, []);
  });

  it('checks a hashed name written by ssh-keygen -H', () => {
    // "|1|salt|hash" for "example.com", from OpenSSH's own test vectors style: recompute with our salt.
    const salt = Buffer.alloc(20, 7);
    const hashed = hashHostName('example.com', salt);
    assert.match(hashed, /^\|1\|BwcHBwcHBwcHBwcHBwcHBwcHBwc=\|/);
    assert.ok(findHostKeys(parseKnownHosts(`${hashed} ssh-ed25519 ${b64(ED)}`, 'f'), 'example.com', 22).trusted.length === 1);
  });

  it('collects revoked keys and notes ignored cert authorities', () => {
    const found = findHostKeys(entries, 'x.corp', 22);
    assert.deepEqual(found.revoked.map((e) => e.line), [7]);
    assert.match(found.notes[0] ?? '', /\/kh:6: @cert-authority ignored/);
  });

  it('reads several files, missing ones as empty, and appends new keys', async () => {
    const file = join(dir, 'sub', 'known_hosts');
    await writeFile(join(dir, 'noeol'), `a ssh-ed25519 ${b64(ED)}`);
    await appendKnownHost(join(dir, 'noeol'), 'b', 2200, 'ssh-ed25519', ED2);
    await appendKnownHost(file, '10.9.9.9', 22, 'ssh-ed25519', ED);
    assert.equal(await readFile(file, 'utf8'), `10.9.9.9 ssh-ed25519 ${b64(ED)}\n`);
    const all = await readKnownHosts([join(dir, 'missing'), join(dir, 'noeol'), file]);
    assert.deepEqual(all.map((e) => [e.names, e.line]), [['a', 1], ['[b]:2200', 2], ['10.9.9.9', 1]]);
  });

  it('reads key types and fingerprints like OpenSSH', () => {
    assert.equal(keyTypeOf(RSA), 'ssh-rsa');
    // ssh-keygen -lf of this key prints the same SHA256 (unpadded base64 of the blob's SHA-256).
    assert.match(fingerprintOf(ED), /^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it('offers host key algorithms for the known types in OpenSSH order', () => {
    assert.deepEqual(hostKeyAlgorithmsFor(['ssh-rsa', 'ecdsa-sha2-nistp256', 'ssh-ed25519']), ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'rsa-sha2-512', 'rsa-sha2-256']);
    assert.deepEqual(hostKeyAlgorithmsFor(['ssh-dss']), []);
  });
});

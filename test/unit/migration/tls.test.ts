import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Fleet } from '../../../sdk/model/fleet.ts';
import { HostHandle } from '../../../sdk/api/host-handle.ts';
import { MigrationOptionsError } from '../../../sdk/migration/migration-errors.ts';
import { resolveMigrationOptions } from '../../../sdk/migration/migration-options.ts';
import { planParameters } from '../../../sdk/migration/parameter-plan.ts';
import { objectRemovalLines } from '../../../sdk/migration/tls/tls-apply.ts';
import { tlsFailureOf } from '../../../sdk/migration/tls/tls-errors.ts';
import { DEFAULT_TLS_DIR, resolveTls, tlsDirOf } from '../../../sdk/migration/tls/tls-options.ts';
import { readTlsProbe, tlsChecks, tlsProbeScript } from '../../../sdk/migration/tls/tls-preflight.ts';
import { migrationOptionsFromFlags } from '../../../cli/commands/migrate.ts';
import { parseMigrateArgs } from '../../../repl/command-args.ts';

test('tls: true is libvirt\'s layout; a dir must be absolute; authz is a flag or a subject', () => {
  assert.equal(resolveTls(undefined), false);
  assert.equal(resolveTls(false), false);
  assert.deepEqual(resolveTls(true), { dir: undefined, hostname: undefined, authz: false });
  assert.deepEqual(resolveTls({ dir: '/srv/pki', hostname: 'b.example', authz: 'O=x,CN=a' }), { dir: '/srv/pki', hostname: 'b.example', authz: 'O=x,CN=a' });
  assert.throws(() => resolveTls({ dir: 'pki' }), (error: unknown) => error instanceof MigrationOptionsError && error.option === 'tls.dir');
  assert.throws(() => resolveTls({ authz: 'just a name' }), (error: unknown) => error instanceof MigrationOptionsError && error.option === 'tls.authz');
  assert.throws(() => resolveMigrationOptions({ tls: { dri: '/x' } as never }), MigrationOptionsError);
  assert.equal(resolveMigrationOptions({}).tls, false);
});

test("each host's directory: the migration's, else the host's tlsDir, else /etc/pki/qemu", () => {
  const tls = resolveTls(true);
  assert.ok(tls);
  assert.equal(tlsDirOf(tls, { config: {} }), DEFAULT_TLS_DIR);
  assert.equal(tlsDirOf(tls, { config: { tlsDir: '/srv/pki-a' } }), '/srv/pki-a');
  assert.equal(tlsDirOf({ ...tls, dir: '/opt/pki' }, { config: { tlsDir: '/srv/pki-a' } }), '/opt/pki');
});

test('the plan: x509 objects (client on the source, server on the destination), then tls-creds, tls-hostname and tls-authz', () => {
  const options = resolveMigrationOptions({ tls: { authz: true } });
  const plan = planParameters(options, undefined, { hostname: '10.0.0.2', dirs: { source: '/pki/a', destination: '/pki/b' }, clientIdentity: 'O=lab,CN=a' }, 'a');
  assert.deepEqual(plan.source.objects, [{ 'qom-type': 'tls-creds-x509', id: 'ferry-tls-creds', dir: '/pki/a', endpoint: 'client', 'verify-peer': true }]);
  assert.equal(plan.source.parameters['tls-creds'], 'ferry-tls-creds');
  assert.equal(plan.source.parameters['tls-hostname'], '10.0.0.2');
  assert.deepEqual(plan.destination.objects, [
    { 'qom-type': 'tls-creds-x509', id: 'ferry-tls-creds', dir: '/pki/b', endpoint: 'server', 'verify-peer': true },
    { 'qom-type': 'authz-simple', id: 'ferry-tls-authz', identity: 'O=lab,CN=a' },
  ]);
  assert.deepEqual(plan.destination.parameters, { 'tls-creds': 'ferry-tls-creds', 'tls-authz': 'ferry-tls-authz' });
  // The option's hostname wins over the address.
  assert.equal(planParameters(resolveMigrationOptions({ tls: { hostname: 'b.example' } }), undefined, { hostname: '10.0.0.2', dirs: { source: '/p', destination: '/p' } }).source.parameters['tls-hostname'], 'b.example');
});

test('without TLS the source still resets tls-creds and tls-hostname (a VM that arrived by TLS would keep them), and adds no object', () => {
  const plan = planParameters(resolveMigrationOptions({}));
  assert.deepEqual(plan.source.objects, []);
  assert.equal(plan.source.parameters['tls-creds'], '');
  assert.equal(plan.source.parameters['tls-hostname'], '');
  assert.deepEqual(plan.destination.objects, []);
  assert.equal(plan.destination.parameters['tls-creds'], undefined);
});

test("the source guard's restore lines delete the objects, last added first", () => {
  const lines = objectRemovalLines([
    { 'qom-type': 'tls-creds-x509', id: 'one', dir: '/p', endpoint: 'client' },
    { 'qom-type': 'authz-simple', id: 'two', identity: 'CN=a' },
  ]);
  assert.deepEqual(lines.map((line) => JSON.parse(line) as unknown), [
    { execute: 'object-del', arguments: { id: 'two' } },
    { execute: 'object-del', arguments: { id: 'one' } },
  ]);
});

test("QEMU 7.2's words for a refused handshake (as seen on the lab) map to a failure kind", () => {
  assert.equal(tlsFailureOf('Certificate does not match the hostname c', '')?.failure, 'hostname-mismatch');
  assert.equal(tlsFailureOf("The certificate hasn't got a known issuer", '')?.failure, 'untrusted-certificate');
  assert.equal(tlsFailureOf('Cannot write to TLS channel: Input/output error', '', true)?.failure, 'authz-denied');
  assert.equal(tlsFailureOf('Cannot write to TLS channel: Input/output error', '')?.failure, 'handshake-failed');
  // QEMU 10.0 says it this way.
  assert.equal(tlsFailureOf('Unable to read from socket: Connection reset by peer', '', true)?.failure, 'authz-denied');
  // ... or, when its write comes after the destination closed (seen once in the e2e suite on 10.0), this way.
  assert.equal(tlsFailureOf('Unable to write to socket: Broken pipe', '', true)?.failure, 'authz-denied');
  assert.equal(tlsFailureOf('Unable to write to socket: Broken pipe', ''), undefined);
  assert.equal(tlsFailureOf('Unable to write to socket: Broken pipe', 'qemu: TLS x509 authz check for O=ferry,CN=a is denied')?.failure, 'authz-denied');
  assert.equal(tlsFailureOf('Unable to write to socket: Connection reset by peer', ''), undefined);
});

test('the preflight probe, run by a real sh against a real PKI (make-pki.sh): missing, unreadable, and the subject as QEMU prints it', () => {
  const run = mkdtempSync(join(tmpdir(), 'ferry-pki-'));
  try {
    const script = fileURLToPath(new URL('../../lab/make-pki.sh', import.meta.url));
    execFileSync('bash', [script], { env: { ...process.env, FERRY_LAB_RUN: run, FERRY_LAB_SUBNET: '192.0.2', FERRY_LAB_HOSTS: 'a b' } });
    const dir = join(run, 'a', 'pki');
    const facts = readTlsProbe(execFileSync('sh', ['-c', tlsProbeScript(dir, 'source', true)]).toString());
    assert.deepEqual(facts, { missing: [], unreadable: [], expired: [], subject: 'O=ferry-lab,CN=a', hasOpenssl: true });
    const tls = resolveTls(true);
    assert.ok(tls);
    assert.deepEqual(tlsChecks('a', 'source', tls, dir, facts).map((check) => check.ok), [true]);

    rmSync(join(dir, 'server-key.pem'));
    const destination = readTlsProbe(execFileSync('sh', ['-c', tlsProbeScript(dir, 'destination')]).toString());
    assert.deepEqual(destination.missing, ['server-key.pem']);
    const [check] = tlsChecks('a', 'destination', tls, dir, destination);
    assert.equal(check?.ok, false);
    assert.equal(check?.message, `a needs ca-cert.pem, server-cert.pem, server-key.pem in ${dir} as the destination (TLS server): ${dir}/server-key.pem is missing`);
    if (process.getuid?.() !== 0) {
      chmodSync(join(dir, 'client-key.pem'), 0);
      assert.deepEqual(readTlsProbe(execFileSync('sh', ['-c', tlsProbeScript(dir, 'source')]).toString()).unreadable, ['client-key.pem']);
    }
  } finally {
    rmSync(run, { recursive: true, force: true });
  }
});

test('--tls, --tls-dir, --tls-hostname and --tls-authz (CLI and REPL)', () => {
  assert.equal(migrationOptionsFromFlags({ tls: true }).tls, true);
  assert.deepEqual(migrationOptionsFromFlags({ 'tls-dir': '/srv/pki' }).tls, { dir: '/srv/pki' });
  assert.deepEqual(migrationOptionsFromFlags({ tls: true, 'tls-hostname': 'b.example', 'tls-authz': 'auto' }).tls, { hostname: 'b.example', authz: true });
  assert.deepEqual(parseMigrateArgs(['a/web', 'b', '--tls-authz', 'O=lab,CN=a']).options.tls, { authz: 'O=lab,CN=a' });
});

test('a dry run shows TLS: what preflight checks, the objects and parameters on each side', async () => {
  const fleet = new Fleet();
  fleet.configure({ hosts: { a: { ssh: 'root@192.0.2.1', tlsDir: '/srv/pki-a' }, b: { ssh: 'root@192.0.2.2', migrationAddress: '192.0.2.20' } } });
  const result = await new HostHandle(fleet, 'a').vm('web').migrateTo('b', { tls: { authz: true }, dryRun: true });
  const steps = (result.plan ?? []).map((step) => step.action).join('\n');
  assert.match(steps, /TLS: check a has ca-cert\.pem, client-cert\.pem, client-key\.pem in \/srv\/pki-a and b has ca-cert\.pem, server-cert\.pem, server-key\.pem in \/etc\/pki\/qemu/);
  assert.match(steps, /object-add \{"qom-type":"tls-creds-x509","id":"ferry-tls-creds","dir":"\/etc\/pki\/qemu","endpoint":"server"/);
  assert.match(steps, /"tls-hostname":"192\.0\.2\.20"/);
  assert.equal(result.settings?.source.parameters['tls-hostname'], '192.0.2.20');
  assert.equal(result.settings?.destination.objects[1]?.['qom-type'], 'authz-simple');
});

// An encrypted migration stream on the real lab: QEMU's TLS with the lab's own
// x509 PKI (test/lab/make-pki.sh; each host sees its own credentials at
// /etc/pki/qemu, libvirt's default, through its mount namespace; a host's
// tlsDir in ferry's config points one elsewhere). Every verdict comes
// from raw QMP on the hosts' sockets, their runDirs, the guest's probe, and a
// capture of the stream itself taken inside the destination's namespace.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { configure, disconnect, host, MigrationCancelledError, MigrationTlsError, PreflightError, type TlsFailure } from '../../sdk/index.ts';
import { LOCAL_STORAGE_PATH } from '../lab/lab.ts';
import { checkDiskRecords } from '../lab/disk-records.ts';
import { localQmp } from '../lab/local-qmp.ts';
import { Probe } from '../lab/probe.ts';
import { testLab } from './lab-fixture.ts';

const lab = testLab();
const controllerScript = fileURLToPath(new URL('../support/migration-controller.ts', import.meta.url));
const ferryBin = fileURLToPath(new URL('../../bin/ferry.mjs', import.meta.url));
const VM = 'sealed';
const children = new Set<ChildProcess>();
const probes = new Set<Probe>();

/** Files of the VM left in a host's runDir (the console is the test's own). */
function filesOf(hostName: string): string[] {
  const dir = lab.runDir(hostName);
  return existsSync(dir) ? readdirSync(dir).filter((file) => file.startsWith(`${VM}.`) && !file.endsWith('.console')) : [];
}

/** A host's QEMU of the VM as raw QMP sees it: run state, its TLS parameters, and the objects ferry may have added. */
async function rawTls(hostName: string): Promise<{ runState: string; tlsCreds: string; tlsHostname: string; objects: string[] } | undefined> {
  const replies = await localQmp(`${lab.runDir(hostName)}/${VM}.qmp`, ['query-status', 'query-migrate-parameters', { execute: 'qom-list', arguments: { path: '/objects' } }], 3000);
  if (!replies) return undefined;
  const parameters = replies[1] as { 'tls-creds'?: string; 'tls-hostname'?: string };
  return {
    runState: String(replies[0]?.['status']),
    tlsCreds: parameters['tls-creds'] ?? '',
    tlsHostname: parameters['tls-hostname'] ?? '',
    objects: (replies[2] as unknown as { name: string }[]).map((object) => object.name).filter((name) => name.startsWith('ferry-')),
  };
}

/** The VM runs on `on` with none of the migration's TLS left there, and nothing of it on the other host. */
async function assertClean(on: 'a' | 'b', note: string): Promise<void> {
  const other = on === 'a' ? 'b' : 'a';
  const here = await rawTls(on);
  assert.equal(here?.runState, 'running', `${note}: the VM runs on ${on}`);
  assert.equal(here?.tlsCreds, '', `${note}: tls-creds reset on ${on}`);
  assert.deepEqual(here?.objects, [], `${note}: no ferry object left in ${on}'s QEMU`);
  assert.equal(await lab.vmPid(other, VM), undefined, `${note}: no QEMU of the VM on ${other}`);
  assert.deepEqual(filesOf(other), [], `${note}: no files of the VM on ${other}`);
  assert.equal(existsSync(`${lab.runDir('a')}/${VM}.migration`) || existsSync(`${lab.runDir('b')}/${VM}.migration`), false, `${note}: no lock left`);
}

/**
 * A capture of the migration link inside the destination's network namespace
 * (everything TCP but SSH: the stream and its return path).
 */
class Capture {
  readonly file: string;
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;

  private constructor(file: string, child: ChildProcess) {
    this.file = file;
    this.#child = child;
    this.#exited = new Promise((resolve) => child.once('close', () => resolve()));
  }

  static async start(hostName: string, file: string): Promise<Capture> {
    rmSync(file, { force: true });
    const child = spawn('ip', ['netns', 'exec', lab.namespace(hostName), 'tcpdump', '-i', 'br0', '-U', '-B', '16384', '-s', '0', '-w', file, 'tcp and not port 22'], { stdio: ['ignore', 'ignore', 'pipe'] });
    children.add(child);
    const capture = new Capture(file, child);
    let stderr = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`tcpdump did not start: ${stderr}`)), 10_000);
      child.stderr?.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (stderr.includes('listening on')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('close', () => reject(new Error(`tcpdump exited: ${stderr}`)));
    });
    return capture;
  }

  /** Stops it (tcpdump writes its last packets on SIGINT) and returns the captured bytes. */
  async stop(): Promise<Buffer> {
    this.#child.kill('SIGINT');
    await this.#exited;
    children.delete(this.#child);
    return readFileSync(this.file);
  }
}

/** Strings that sit in the guest's memory: its kernel's banner, its init script and its workload (the initramfs). */
const GUEST_STRINGS = ['Linux version ', 'ferry-workload: ready', 'ferry-init: eth0', 'virtio_net'];

/** Non-overlapping occurrences of `needle` in `haystack`. */
function occurrences(haystack: Buffer, needle: string | Buffer): number {
  const length = typeof needle === 'string' ? Buffer.byteLength(needle) : needle.length;
  let count = 0;
  for (let at = haystack.indexOf(needle); at >= 0; at = haystack.indexOf(needle, at + length)) count++;
  return count;
}

describe('TLS migration on the lab', { timeout: 900_000 }, () => {
  before(async () => {
    await lab.up();
    configure(lab.ferryConfig());
  });
  afterEach(async () => {
    for (const child of children) child.kill('SIGKILL');
    children.clear();
    for (const probe of probes) probe.stop();
    probes.clear();
    execFileSync('sh', ['-c', `pkill -9 -f '[l]abel=${VM}'; rm -rf ${lab.runDir('a')}/${VM}.migration ${lab.runDir('b')}/${VM}.migration; true`]);
    configure(lab.ferryConfig());
    for (const h of ['a', 'b']) {
      await lab.stopVm(h, VM);
      rmSync(`${lab.privateDir(h)}/${VM}.qcow2`, { force: true });
      rmSync(`${lab.privateDir(h)}/${VM}.qcow2.ferry-left`, { force: true });
    }
  });
  after(async () => {
    await disconnect();
    await lab.down();
  });

  test('a TLS migration (authz: only the intended source) keeps the guest answering; the VM leaves with no credentials behind and then moves back in plain TCP', async (t) => {
    const vm = await lab.startVm('a', VM, { memoryMiB: 512, dirtyMiB: 128, dirtyRateMBps: 20 });
    const probe = new Probe(vm.address);
    probes.add(probe);
    await probe.start();
    const dry = await host('a').vm(VM).migrateTo('b', { tls: { authz: true }, dryRun: true });
    const there = await host('a').vm(VM).migrateTo('b', { tls: { authz: true }, maxDowntime: 300 });
    assert.equal(there.status, 'completed');
    // What ran is what the dry run listed, but for the identity only preflight can read.
    const sourceIdentity = there.settings?.destination.objects.find((object) => object['qom-type'] === 'authz-simple');
    assert.deepEqual(sourceIdentity, { 'qom-type': 'authz-simple', id: 'ferry-tls-authz', identity: 'O=ferry-lab,CN=a' });
    assert.deepEqual(there.settings?.source, dry.settings?.source);
    // tls: true is libvirt's /etc/pki/qemu, where each lab host sees its own PKI.
    assert.deepEqual(there.settings?.source.objects, [{ 'qom-type': 'tls-creds-x509', id: 'ferry-tls-creds', dir: '/etc/pki/qemu', endpoint: 'client', 'verify-peer': true }]);
    assert.equal(there.settings?.source.parameters['tls-hostname'], lab.hostAddress('b'));
    assert.deepEqual(there.settings?.destination.parameters, { 'tls-creds': 'ferry-tls-creds', 'tls-authz': 'ferry-tls-authz' });
    assert.ok((dry.plan ?? []).some((step) => /TLS: check a has ca-cert\.pem, client-cert\.pem, client-key\.pem/.test(step.action)), 'the dry run says what preflight checks');
    await assertClean('b', 'after the TLS migration');
    // A VM that arrived by TLS must not carry it into its next (plain) migration.
    const back = await host('b').vm(VM).migrateTo('a', { maxDowntime: 300 });
    assert.equal(back.status, 'completed');
    await assertClean('a', 'after the plain migration back');
    const report = await probe.finish(300);
    t.diagnostic(`TLS a→b: wall ${there.wallTimeMs} ms, QEMU total ${there.totalTimeMs} ms, downtime ${there.downtimeMs} ms; plain b→a downtime ${back.downtimeMs} ms; probe max gap ${report.maxGapMs} ms, lost ${report.lost}/${report.sent}`);
    assert.equal(report.counterWentBackwards, false, 'the guest kept its state');
    assert.ok(report.received > 1000, 'the guest answered throughout');
    assert.ok(report.maxGapMs < 5000, `probe gap ${report.maxGapMs} ms`);
  });

  test('a wrong certificate is refused: the VM runs on the source with its TLS undone, nothing is left on the destination', async (t) => {
    await lab.startVm('a', VM, { memoryMiB: 256 });
    const cases: Array<{ name: string; failure: TlsFailure; options: Record<string, unknown>; bTlsDir?: string; says: RegExp }> = [
      { name: 'tls-hostname mismatch', failure: 'hostname-mismatch', options: { tls: { hostname: 'c' } }, says: /b's certificate .* does not name "c"/ },
      { name: "destination's certificate from another CA", failure: 'untrusted-certificate', options: { tls: true }, bTlsDir: lab.pkiDir('b', true), says: /not signed by the CA a trusts/ },
      { name: 'authz: another source expected', failure: 'authz-denied', options: { tls: { authz: 'O=ferry-lab,CN=c' } }, says: /accepts only the source "O=ferry-lab,CN=c"/ },
    ];
    for (const { name, failure, options, bTlsDir, says } of cases) {
      const config = lab.ferryConfig();
      if (bTlsDir && config.hosts['b']) config.hosts['b'].tlsDir = bTlsDir;
      configure(config);
      const error = await host('a').vm(VM).migrateTo('b', { ...options, maxDowntime: 300 }).then(
        () => assert.fail(`${name}: the migration passed`),
        (caught: unknown) => caught,
      );
      assert.ok(error instanceof MigrationTlsError, `${name}: a MigrationTlsError, got ${String(error)}`);
      assert.equal(error.failure, failure, `${name}: ${error.message}`);
      assert.equal(error.vmState, 'running-on-source', name);
      assert.match(error.message, says);
      assert.match(error.message, /the VM is running on a\]$/);
      await assertClean('a', name);
      t.diagnostic(`${name}: ${error.message}`);
    }
    // The CLI says the same, as JSON, and exits 1 (the VM is on the source).
    const configFile = `${lab.stateDir}/tls-cli-ferry.json`;
    writeFileSync(configFile, JSON.stringify(lab.ferryConfig()));
    const cli = spawnSync(process.execPath, [ferryBin, '--config', configFile, 'migrate', `a/${VM}`, 'b', '--tls', '--tls-hostname', 'c', '--json'], { encoding: 'utf8' });
    assert.equal(cli.status, 1, `exit 1, the VM on the source: ${cli.stdout} ${cli.stderr}`);
    const reply = JSON.parse(cli.stdout) as { ok: boolean; error: { code: string; message: string } };
    assert.equal(reply.ok, false);
    assert.equal(reply.error.code, 'MIGRATION_TLS_REFUSED');
    assert.match(reply.error.message, /does not name "c"/);
    await assertClean('a', 'after the CLI');
    // Credentials missing: refused in preflight, naming each host and file, before anything is touched.
    configure(lab.ferryConfig());
    const missing = `${lab.runDir('a')}/no-pki`;
    const refused = await host('a').vm(VM).migrateTo('b', { tls: { dir: missing } }).then(() => assert.fail('passed without credentials'), (caught: unknown) => caught);
    assert.ok(refused instanceof PreflightError, String(refused));
    assert.match(refused.message, new RegExp(`a needs ca-cert\\.pem, client-cert\\.pem, client-key\\.pem in ${missing} as the source \\(TLS client\\): ${missing}/ca-cert\\.pem is missing`));
    assert.match(refused.message, new RegExp(`b needs ca-cert\\.pem, server-cert\\.pem, server-key\\.pem in ${missing} as the destination \\(TLS server\\)`));
    assert.equal(refused.vmState, 'running-on-source');
    await assertClean('a', 'after a preflight refusal');
    t.diagnostic(refused.message);
  });

  test('a capture of the stream shows no guest memory in clear with TLS, and does without it (control)', async (t) => {
    await lab.startVm('a', VM, { memoryMiB: 256 });
    const file = `${lab.runDir('b')}/capture.pcap`;
    const found: Record<string, Record<string, number>> = {};
    for (const [mode, hostFrom, hostTo, tls] of [['plain', 'a', 'b', false], ['tls', 'b', 'a', true]] as const) {
      // The capture sits in the destination's namespace, on its bridge.
      const capture = await Capture.start(hostTo, file);
      const result = await host(hostFrom).vm(VM).migrateTo(hostTo, { tls, maxDowntime: 300 });
      const bytes = await capture.stop();
      rmSync(file, { force: true });
      found[mode] = Object.fromEntries(GUEST_STRINGS.map((needle) => [needle, occurrences(bytes, needle)]));
      t.diagnostic(`${mode} ${hostFrom}→${hostTo}: QEMU sent ${result.transferredBytes} bytes, captured ${bytes.length}; guest strings found: ${JSON.stringify(found[mode])}`);
      assert.ok(bytes.length > result.transferredBytes * 0.9, `${mode}: the capture holds the stream (${bytes.length} of ${result.transferredBytes} bytes)`);
    }
    const plainHits = Object.values(found['plain'] ?? {}).reduce((sum, n) => sum + n, 0);
    assert.ok(plainHits > 0, `the control finds guest memory in a plain stream: ${JSON.stringify(found['plain'])}`);
    assert.ok(Object.values(found['plain'] ?? {}).filter((n) => n > 0).length >= 2, 'the control finds several of the strings');
    assert.deepEqual(found['tls'], Object.fromEntries(GUEST_STRINGS.map((needle) => [needle, 0])), 'no guest string crosses the TLS link in clear');
  });

  test('a local disk copied over NBD rides the same TLS: the disk arrives whole, and its data never crosses the link in clear (a plain copy shows it)', async (t) => {
    // 64 MiB of 0xab beside the guest's record ring (the disk's first half): a run no TLS record can hold.
    const disk = { path: `${LOCAL_STORAGE_PATH}/${VM}.qcow2`, sizeMiB: 128, recordsPerSecond: 20 };
    await lab.createDiskImage('a', disk);
    await lab.runOnHost('a', ['qemu-io', '-f', 'qcow2', '-c', 'write -P 0xab 64M 64M', disk.path]);
    const vm = await lab.startVm('a', VM, { memoryMiB: 256, disk });
    const probe = new Probe(vm.address);
    probes.add(probe);
    await probe.start();
    const marker = Buffer.alloc(4096, 0xab);
    const runs: Record<string, number> = {};
    for (const [mode, hostFrom, hostTo, tls] of [['tls', 'a', 'b', true], ['plain', 'b', 'a', false]] as const) {
      const file = `${lab.runDir(hostTo)}/capture.pcap`;
      const capture = await Capture.start(hostTo, file);
      // This test is about what crosses the link: a generous budget keeps the downtime guarantee
      // (the mirrors' finish counts in the pause) from cancelling it on a loaded machine.
      const result = await host(hostFrom).vm(VM).migrateTo(hostTo, { tls: tls && { authz: true }, maxDowntime: 1000 });
      const bytes = await capture.stop();
      rmSync(file, { force: true });
      runs[mode] = occurrences(bytes, marker);
      assert.equal(result.disks?.[0]?.action, 'copy', JSON.stringify(result.disks));
      t.diagnostic(`${mode} ${hostFrom}→${hostTo}: disk copy ${result.diskCopyMs} ms, downtime ${result.downtimeMs} ms, captured ${bytes.length} bytes; 4 KiB runs of the disk's 0xab found: ${runs[mode]}`);
      assert.ok(bytes.length > 64 * 1024 ** 2, `${mode}: the capture holds the disk copy (${bytes.length} bytes)`);
      if (tls) {
        const exports = await localQmp(`${lab.runDir('b')}/${VM}.qmp`, ['query-block-exports']);
        assert.deepEqual(exports?.[0], [], 'no NBD export left on b');
        await assertClean('b', 'after the TLS migration with a disk');
      }
    }
    assert.equal(runs['tls'], 0, "the disk's data never crossed the TLS link in clear");
    assert.ok((runs['plain'] ?? 0) > 0, 'the control finds the disk data in a plain copy');
    const report = await probe.finish(300);
    assert.equal(report.counterWentBackwards, false);
    assert.equal(report.diskRecordWentBackwards, false, 'no acknowledged write undone');
    await lab.stopVm('a', VM);
    const image = await checkDiskRecords(`${lab.privateDir('a')}/${VM}.qcow2`);
    assert.equal(image.firstBad, undefined, 'no acknowledged record missing or corrupt');
    assert.ok(image.last >= Number(report.lastDiskRecord), `the image holds record ${image.last}; the guest saw ${report.lastDiskRecord}`);
  });

  test('a TLS migration cancelled mid-transfer: the VM runs on the source with tls-creds reset and no object, nothing on the destination', async () => {
    await lab.startVm('a', VM, { memoryMiB: 512, dirtyMiB: 128, dirtyRateMBps: 20 });
    const migration = host('a').vm(VM).migrateTo('b', { tls: { authz: true }, bandwidth: '8MiB/s', maxDowntime: 300 });
    migration.on('progress', (p) => {
      if (p.transfer === 'transferring' && p.percent > 5) migration.cancel('the test cancels');
    });
    const error = await migration.then(() => assert.fail('the migration was not cancelled'), (caught: unknown) => caught);
    assert.ok(error instanceof MigrationCancelledError, String(error));
    assert.equal(error.vmState, 'running-on-source');
    await assertClean('a', 'after the cancel');
  });

  test('ferry killed mid-transfer of a TLS migration: the source guard leaves the VM running on the source with tls-creds reset and no object', async (t) => {
    const vm = await lab.startVm('a', VM, { memoryMiB: 512, dirtyMiB: 128, dirtyRateMBps: 20 });
    const probe = new Probe(vm.address);
    probes.add(probe);
    await probe.start();
    const configFile = `${lab.stateDir}/tls-ferry.json`;
    writeFileSync(configFile, JSON.stringify(lab.ferryConfig()));
    const child = spawn(process.execPath, ['--import', 'tsx', controllerScript, `a/${VM}`, 'b', JSON.stringify({ tls: true, bandwidth: '8MiB/s', maxDowntime: 300 }), 'transfer'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FERRY_CONFIG: configFile } });
    children.add(child);
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr?.resume();
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    children.delete(child);
    assert.match(out, /"type":"dying"/, `the controller died in transfer: ${out.slice(-600)}`);
    assert.equal(code, null, 'killed by its signal');
    // Its TLS was really in force when it died.
    assert.match(out, /tls-credentials-source/);
    const started = Date.now();
    for (;;) {
      const a = await rawTls('a');
      const guards = execFileSync('sh', ['-c', `pgrep -f '[l]abel=${VM}' || true`]).toString().trim();
      if (a?.runState === 'running' && a.tlsCreds === '' && a.objects.length === 0 && (await lab.vmPid('b', VM)) === undefined && filesOf('b').length === 0 && guards === '' && !existsSync(`${lab.runDir('a')}/${VM}.migration`)) break;
      if (Date.now() - started > 30_000) assert.fail(`not settled on a: ${JSON.stringify(a)}, b pid ${await lab.vmPid('b', VM)}, files ${filesOf('b').join(' ')}, guards ${guards}`);
      await sleep(100);
    }
    await assertClean('a', 'after the kill');
    const report = await probe.finish(300);
    t.diagnostic(`settled on a ${Date.now() - started} ms after the controller's death; probe max gap ${report.maxGapMs} ms`);
    assert.equal(report.counterWentBackwards, false);
    assert.ok(report.maxGapMs < 5000, `probe gap ${report.maxGapMs} ms`);
  });
});

// The smoke suite: the same script under Node, Deno and Bun against the lab
// that smoke-lab.ts brings up. It prints "N passed, N failed".
import { readFileSync } from 'node:fs';
import { configure, disconnect, host, hosts, PreflightError } from '../../sdk/index.ts';
import { QmpClient } from '../../sdk/qmp/index.ts';
import { SshTransport } from '../../sdk/transport/index.ts';
import { Lab } from '../lab/lab.ts';
import { testLab } from '../e2e/lab-fixture.ts';
import { Probe } from '../lab/probe.ts';

const runtime = 'Deno' in globalThis ? 'deno' : 'Bun' in globalThis ? 'bun' : 'node';
// The lab smoke-lab.ts brought up, wherever FERRY_TEST_LAB_RUN put it.
const info = JSON.parse(readFileSync(process.env['FERRY_SMOKE_INFO'] ?? `${testLab().settings.runRoot}/smoke.json`, 'utf8'));
const lab = new Lab(info.settings);
configure(lab.ferryConfig());
const checks: [string, () => Promise<void>][] = [];
const check = (name: string, fn: () => Promise<void>) => checks.push([name, fn]);
const vmName = info.vm.name as string;
/** Where the smoke VM runs now (a previous runtime's run may have left it on either host). */
const home = async () => ((await host('a').vm(vmName).pid()) ? 'a' : 'b');

check('the SDK lists the lab hosts and finds the VM by convention', async () => {
  if (hosts().length < 2) throw new Error('fewer than two hosts');
  const all = [...(await host('a').vms()), ...(await host('b').vms())];
  if (!all.some((vm) => vm.name === vmName && vm.process === 'running')) throw new Error(JSON.stringify(all));
});

check('QmpClient over an ssh2 stream-local channel', async () => {
  const transport = new SshTransport({ target: await home(), configFile: lab.sshConfigFile });
  try {
    const qmp = await QmpClient.connect(await transport.openUnixSocket(`${lab.runDir(await home())}/${vmName}.qmp`));
    const status = await qmp.execute('query-status');
    await qmp.close();
    if (status.status !== 'running') throw new Error(`status ${status.status}`);
  } finally {
    await transport.close();
  }
});

check('a live migration there and back keeps the guest answering', async () => {
  const from = await home();
  const to = from === 'a' ? 'b' : 'a';
  const probe = new Probe(info.vm.address);
  await probe.start(1, 10_000);
  const there = await host(from).vm(vmName).migrateTo(to, { maxDowntime: 300 });
  const back = await host(to).vm(vmName).migrateTo(from);
  const report = await probe.finish(100);
  if (there.status !== 'completed' || back.status !== 'completed') throw new Error('not completed');
  if (report.counterWentBackwards || report.received === 0) throw new Error(JSON.stringify(report));
});

check('a bad request is a typed error', async () => {
  const error = await host('a').vm('no-such-vm').migrateTo('b').then(() => undefined, (e: unknown) => e);
  if (!(error instanceof PreflightError)) throw new Error(`expected PreflightError, got ${String(error)}`);
});

check('the CLI lists VMs with --json and exits 0', async () => {
  const { writeFileSync } = await import('node:fs');
  const { main } = await import('../../cli/main.ts');
  const { capturedStreams } = await import('../support/captured-streams.ts');
  const configFile = `${lab.stateDir}/smoke-ferry.json`;
  writeFileSync(configFile, JSON.stringify(lab.ferryConfig()));
  const output = capturedStreams();
  const code = await main(['--config', configFile, 'ls', '--json'], output.streams);
  const text = output.stdout();
  const parsed = JSON.parse(text) as { ok: boolean; vms: { name: string }[] };
  if (code !== 0 || !parsed.ok || !parsed.vms.some((vm) => vm.name === vmName)) throw new Error(`exit ${code}: ${text}`);
  configure(lab.ferryConfig());
});

let passed = 0;
let failed = 0;
for (const [name, fn] of checks) {
  try {
    await fn();
    passed++;
    console.log(`ok - [${runtime}] ${name}`);
  } catch (error) {
    failed++;
    console.log(`not ok - [${runtime}] ${name}: ${error instanceof Error ? error.message : String(error)}`);
  }
}
await disconnect();
console.log(`${runtime}: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);

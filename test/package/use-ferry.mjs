// Run inside a fresh project that installed the packed tarball, by Node, Deno
// and Bun in turn: the installed `ferry` must import and reach the lab.
// FERRY_CONFIG names the lab's hosts; FERRY_PACKAGE_VM the guest to look for;
// FERRY_PACKAGE_MIGRATE=1 also live-migrates it to the other host.
import { disconnect, host, hosts, VmNotFoundError } from 'ferry';

const runtime = 'Deno' in globalThis ? 'deno' : 'Bun' in globalThis ? 'bun' : `node ${process.versions.node}`;
const vmName = process.env.FERRY_PACKAGE_VM ?? 'smoke';
try {
  if (hosts().length < 2) throw new Error('fewer than two hosts in FERRY_CONFIG');
  const [onA, onB] = await Promise.all([host('a').vms(), host('b').vms()]);
  const home = onA.some((vm) => vm.name === vmName) ? 'a' : onB.some((vm) => vm.name === vmName) ? 'b' : undefined;
  if (!home) throw new Error(`${vmName} is on neither a nor b`);
  const missing = await host('a').vm('no-such-vm').status().then(() => undefined, (error) => error);
  if (!(missing instanceof VmNotFoundError)) throw new Error(`expected VmNotFoundError, got ${String(missing)}`);
  let moved = '';
  if (process.env.FERRY_PACKAGE_MIGRATE === '1') {
    const to = home === 'a' ? 'b' : 'a';
    const result = await host(home).vm(vmName).migrateTo(to, { maxDowntime: 300 });
    if (result.status !== 'completed') throw new Error(`migration ${result.status}`);
    moved = `, migrated ${home} → ${to} (paused ${result.downtimeMs} ms)`;
  }
  console.log(`ok - [${runtime}] the installed package found ${home}/${vmName}${moved}`);
} catch (error) {
  console.log(`not ok - [${runtime}] ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  await disconnect();
}

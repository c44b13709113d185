// A migration in a process of its own, so that a test can kill, stop or cut
// off the controller at the moment it chooses and then judge the hosts.
//   node --import tsx test/support/migration-controller.ts HOST/VM DEST OPTIONS_JSON [DIE_AT]
// FERRY_CONFIG names the lab's config. One JSON line per event on stdout.
// DIE_AT: prepare | disk-copy | transfer | cancel | pre-switchover | source-gate | destination-behind | postcopy | confirm | source-quit
// (SIGKILL itself there, synchronously, before ferry's next step) or stop-in-transfer (SIGSTOP).
// source-quit: in confirm, once the source's guard was told ferry quits its QEMU and the quit was sent.
// cancel: once ferry's own migrate_cancel (a policy's, or the timeout's) was sent, before its rollback.
import { host, MigrationError } from '../../sdk/index.ts';

const [ref = '', destination = '', optionsJson = '{}', dieAt] = process.argv.slice(2);
const [hostName = '', vmName = ''] = ref.split('/');
const say = (line: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(line)}\n`);
const die = (how: NodeJS.Signals): void => {
  say({ type: 'dying', how });
  process.kill(process.pid, how);
};

const migration = host(hostName).vm(vmName).migrateTo(destination, JSON.parse(optionsJson) as Record<string, unknown>);
migration.on('phase', (phase) => {
  say({ type: 'phase', phase });
  if ((dieAt === 'confirm' && phase === 'confirm') || (dieAt === 'finish' && phase === 'finish')) die('SIGKILL');
});
migration.on('log', (entry) => {
  say({ type: 'log', message: entry.message });
  // The destination QEMU has started under its guard: the middle of prepare.
  if (dieAt === 'prepare' && /^launching on/.test(entry.message)) setTimeout(() => die('SIGKILL'), 300);
  if (dieAt === 'source-quit' && /^quitting the source QEMU/.test(entry.message)) die('SIGKILL');
  // The source's guard let QEMU's pause go next to it (switchoverGate 'source'), and ferry has just read so.
  if (dieAt === 'source-gate' && /^switchover: the guard on \S+ let it go/.test(entry.message)) die('SIGKILL');
  // The source's guard left QEMU's pause to ferry, a lagging destination's backlog counted in it.
  if (dieAt === 'destination-behind' && /left the pause to ferry: .*in the sockets of a lagging destination/.test(entry.message)) die('SIGKILL');
  // The destination's guard starts beside preflight and waits for its launch: the checks are being logged.
  if (dieAt === 'preflight' && /^preflight /.test(entry.message)) die('SIGKILL');
});
migration.on('action', (action) => {
  // QEMU is throttling the guest at ferry's request.
  if (dieAt === 'throttle' && action.action.startsWith('throttle')) die('SIGKILL');
  if (dieAt === 'cancel' && action.action === 'cancel') die('SIGKILL');
});
migration.on('progress', (p) => {
  say({ type: 'progress', transfer: p.transfer, percent: p.percent, ...(p.disks && { disks: p.disks }) });
  if (dieAt === 'disk-copy' && p.disks && !p.disks.ready && p.disks.copiedBytes > 0) die('SIGKILL');
  if (dieAt === 'transfer' && p.transfer === 'transferring' && p.percent > 5) die('SIGKILL');
  if (dieAt === 'stop-in-transfer' && p.transfer === 'transferring' && p.percent > 5) die('SIGSTOP');
  if (dieAt === 'pre-switchover' && p.transfer === 'switching-over') die('SIGKILL');
  if (dieAt === 'postcopy' && p.transfer === 'postcopy') die('SIGKILL');
});
try {
  const result = await migration;
  say({ type: 'done', status: result.status, downtimeMs: result.downtimeMs });
  process.exit(0);
} catch (error) {
  say({ type: 'error', code: (error as { code?: string }).code, message: (error as Error).message, vmState: error instanceof MigrationError ? error.vmState : undefined });
  process.exit(1);
}

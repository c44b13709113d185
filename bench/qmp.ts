// QMP round trips per second over SSH vs over a local UNIX socket, and the
// cost of a new SSH connection vs a reused one, measured side by side on the lab.
//   node --import tsx bench/qmp.ts
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import { QmpClient } from '../sdk/qmp/index.ts';
import { SshTransport } from '../sdk/transport/index.ts';
import { benchLab, median, printTable } from './bench-lab.ts';

const lab = benchLab();
const ROUND_TRIPS = Number(process.env['BENCH_ROUND_TRIPS'] ?? 2000);
const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 20);

async function roundTrips(open: () => Promise<Duplex>, concurrency: number): Promise<number> {
  const qmp = await QmpClient.connect(await open());
  try {
    const started = performance.now();
    let left = ROUND_TRIPS;
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (left-- > 0) await qmp.execute('query-status');
    }));
    return (ROUND_TRIPS / (performance.now() - started)) * 1000;
  } finally {
    await qmp.close();
  }
}

await lab.up();
const vm = await lab.startVm('a', 'bench', { memoryMiB: 256 });
const ssh = new SshTransport({ target: 'a', configFile: lab.sshConfigFile });
try {
  const local = () => new Promise<Duplex>((resolve, reject) => {
    const socket = connect(vm.qmpSocket, () => resolve(socket));
    socket.once('error', reject);
  });
  const overSsh = () => ssh.openUnixSocket(vm.qmpSocket);
  await roundTrips(overSsh, 1); // warm the SSH connection
  const rows: (string | number)[][] = [['QMP query-status', 'local socket (rt/s)', 'over SSH (rt/s)', 'SSH / local']];
  for (const concurrency of [1, 16]) {
    const l = await roundTrips(local, concurrency);
    const s = await roundTrips(overSsh, concurrency);
    rows.push([`${concurrency} in flight`, Math.round(l), Math.round(s), (s / l).toFixed(2)]);
  }
  printTable(rows);
  console.log();

  const fresh: number[] = [];
  for (let i = 0; i < CONNECTIONS; i++) {
    const started = performance.now();
    const once = new SshTransport({ target: 'a', configFile: lab.sshConfigFile });
    await once.exec(['true']);
    fresh.push(performance.now() - started);
    await once.close();
  }
  const reused: number[] = [];
  for (let i = 0; i < CONNECTIONS; i++) {
    const started = performance.now();
    await ssh.exec(['true']);
    reused.push(performance.now() - started);
  }
  printTable([
    ['`true` over SSH', 'new connection (ms)', 'reused connection (ms)', 'new / reused'],
    [`median of ${CONNECTIONS}`, median(fresh).toFixed(1), median(reused).toFixed(1), (median(fresh) / median(reused)).toFixed(1)],
  ]);
} finally {
  await ssh.close();
  await lab.stopVm('a', 'bench');
  await lab.down();
}

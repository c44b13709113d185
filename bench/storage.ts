// Storage migration on the bench lab, measured side by side in one run:
//  1. ferry's live disk copy (NBD mirror) against a plain copy of the same
//     image over the same link (busybox nc, no encryption), as a ratio;
//  2. QEMU's downtime for the same guest with no disk, a 2 GiB and an 8 GiB
//     disk (the same 256 MiB of data in each, the guest writing records
//     throughout): the disk's size must not show in the downtime.
//   node --import tsx bench/storage.ts [rounds]
import { configure, disconnect, host, type MigrationResult } from '../sdk/index.ts';
import { LOCAL_STORAGE_PATH, type GuestSpec } from '../test/lab/lab.ts';
import { benchLab, median, printTable } from './bench-lab.ts';

const lab = benchLab();
const rounds = Number(process.argv[2] ?? 3);
const VM = 'benchdisk';
const image = `${LOCAL_STORAGE_PATH}/${VM}.qcow2`;
const MiB = 1024 ** 2;

/** Fresh image on `hostName` of `sizeMiB`, with `dataMiB` of data after the guest's 64 MiB record ring. */
async function makeImage(hostName: string, sizeMiB: number, dataMiB: number): Promise<void> {
  await lab.runOnHost(hostName, ['rm', '-f', image, `${image}.ferry-left`]);
  await lab.runOnHost(hostName, ['qemu-img', 'create', '-q', '-f', 'qcow2', image, `${sizeMiB}M`]);
  if (dataMiB > 0) await lab.runOnHost(hostName, ['qemu-io', '-f', 'qcow2', '-c', `write -P 0xcd 64M ${dataMiB}M`, image]);
}

async function cleanup(): Promise<void> {
  for (const h of ['a', 'b']) {
    await lab.stopVm(h, VM);
    await lab.runOnHost(h, ['rm', '-f', image, `${image}.ferry-left`, `${LOCAL_STORAGE_PATH}/plain-copy`]);
  }
}

/** Bytes the image takes on a's storage (what both copies move). */
async function allocatedBytes(hostName: string): Promise<number> {
  const { stdout } = await lab.runOnHost(hostName, ['qemu-img', 'info', '-U', '--output=json', image]);
  return (JSON.parse(stdout) as { 'actual-size': number })['actual-size'];
}

/**
 * The same image sent a → b over plain TCP by two small Node processes (no
 * encryption, no protocol): the receiver times it from the connection to the
 * last byte written on b.
 */
async function plainCopyMs(): Promise<number> {
  const port = 5000 + Math.floor(Math.random() * 1000);
  const receive = `const net = require('node:net'), fs = require('node:fs');
const server = net.createServer((socket) => { const t0 = performance.now(); const out = fs.createWriteStream(process.argv[2]);
  socket.pipe(out).on('finish', () => { console.log(performance.now() - t0); process.exit(0); }); }).listen(Number(process.argv[1]), process.argv[3]);`;
  const send = `const net = require('node:net'), fs = require('node:fs');
const socket = net.connect(Number(process.argv[2]), process.argv[1], () => fs.createReadStream(process.argv[3]).pipe(socket));`;
  const receiver = lab.runOnHost('b', [process.execPath, '-e', receive, String(port), `${LOCAL_STORAGE_PATH}/plain-copy`, lab.hostAddress('b')]);
  await new Promise((resolve) => setTimeout(resolve, 500));
  await lab.runOnHost('a', [process.execPath, '-e', send, lab.hostAddress('b'), String(port), image]);
  return Number((await receiver).stdout.trim());
}

await lab.up();
configure(lab.ferryConfig());
try {
  // 1. Throughput: 512 MiB of data, copied by ferry and by plain TCP.
  const copyRows: (string | number)[][] = [['round', 'data (MiB)', 'ferry copy (ms)', 'ferry (MiB/s)', 'plain TCP (ms)', 'TCP (MiB/s)', 'ferry / link']];
  const ratios: number[] = [];
  for (let round = 0; round < rounds; round++) {
    await cleanup();
    await makeImage('a', 1024, 512);
    const bytes = await allocatedBytes('a');
    const plain = await plainCopyMs();
    await lab.runOnHost('b', ['rm', '-f', `${LOCAL_STORAGE_PATH}/plain-copy`]);
    const spec: GuestSpec = { memoryMiB: 256, disk: { path: image, sizeMiB: 1024, recordsPerSecond: 20 } };
    await lab.startVm('a', VM, spec);
    const result = await host('a').vm(VM).migrateTo('b', { maxDowntime: 300 });
    const ferryMs = result.diskCopyMs ?? Number.NaN;
    const ferryRate = bytes / MiB / (ferryMs / 1000);
    const plainRate = bytes / MiB / (plain / 1000);
    ratios.push(ferryRate / plainRate);
    copyRows.push([round + 1, Math.round(bytes / MiB), Math.round(ferryMs), ferryRate.toFixed(0), Math.round(plain), plainRate.toFixed(0), (ferryRate / plainRate).toFixed(2)]);
  }
  console.log('Disk copy: ferry (NBD mirror, guest running) vs a plain copy of the image over the same link');
  printTable(copyRows);
  console.log(`median ferry / link: ${median(ratios).toFixed(2)}\n`);

  // 2. Downtime against disk size.
  const sizes: [string, number | undefined][] = [['no disk', undefined], ['2 GiB disk', 2048], ['8 GiB disk', 8192]];
  const downtimeRows: (string | number)[][] = [['guest (256 MiB RAM)', 'downtimes (ms)', 'median', 'disk copy (ms, median)']];
  for (const [label, sizeMiB] of sizes) {
    await cleanup();
    if (sizeMiB) await makeImage('a', sizeMiB, 256);
    const spec: GuestSpec = { memoryMiB: 256, ...(sizeMiB && { disk: { path: image, sizeMiB, recordsPerSecond: 20 } }) };
    await lab.startVm('a', VM, spec);
    const results: MigrationResult[] = [];
    let at = 'a';
    for (let round = 0; round < rounds; round++) {
      const to = at === 'a' ? 'b' : 'a';
      results.push(await host(at).vm(VM).migrateTo(to, { maxDowntime: 300 }));
      at = to;
    }
    downtimeRows.push([label, results.map((r) => r.downtimeMs).join(', '), median(results.map((r) => r.downtimeMs)), sizeMiB ? Math.round(median(results.map((r) => r.diskCopyMs ?? 0))) : '-']);
  }
  console.log('QEMU downtime against disk size (the same 256 MiB of data on each disk)');
  printTable(downtimeRows);
} finally {
  await cleanup().catch(() => undefined);
  await disconnect();
  await lab.down();
}

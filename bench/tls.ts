// What TLS costs: the same guest moved back and forth in plain TCP and with
// TLS (x509, the lab's own PKI), alternating, side by side; single stream and
// multifd. Figures are QEMU's own (total-time, downtime) plus ferry's wall time.
//   node --import tsx bench/tls.ts [rounds]
import { configure, disconnect, host, type MigrationOptions, type MigrationResult } from '../sdk/index.ts';
import type { GuestSpec } from '../test/lab/lab.ts';
import { benchLab, median, printTable } from './bench-lab.ts';

const lab = benchLab();
const rounds = Number(process.argv[2] ?? 3);
const guests: [string, GuestSpec][] = [
  ['idle 512 MiB', { memoryMiB: 512 }],
  ['512 MiB, 128 MiB dirtied at 20 MB/s', { memoryMiB: 512, dirtyMiB: 128, dirtyRateMBps: 20 }],
];
const streams: [string, MigrationOptions][] = [['one stream', {}], ['multifd 4', { multifd: 4 }]];

await lab.up();
configure(lab.ferryConfig());
try {
  const rows: (string | number)[][] = [[
    'guest', 'stream', 'QEMU total: plain / TLS (ms)', 'ratio', 'wall: plain / TLS (ms)', 'downtime: plain / TLS (ms)', 'throughput: plain / TLS (MiB/s)',
  ]];
  for (const [label, spec] of guests) {
    await lab.startVm('a', 'bench', spec);
    let at = 'a';
    for (const [streamLabel, streamOptions] of streams) {
      const plain: MigrationResult[] = [];
      const tls: MigrationResult[] = [];
      for (let round = 0; round < rounds; round++) {
        // Alternate who goes first, so neither always meets the guest just after the other's move.
        for (const encrypted of round % 2 === 0 ? [false, true] : [true, false]) {
          const to = at === 'a' ? 'b' : 'a';
          const result = await host(at).vm('bench').migrateTo(to, { ...streamOptions, maxDowntime: 300, tls: encrypted });
          (encrypted ? tls : plain).push(result);
          at = to;
        }
      }
      const m = (results: MigrationResult[], pick: (r: MigrationResult) => number) => Math.round(median(results.map(pick)));
      const mib = (results: MigrationResult[]) => (median(results.map((r) => r.throughput)) / 1024 ** 2).toFixed(0);
      rows.push([
        label, streamLabel,
        `${m(plain, (r) => r.totalTimeMs)} / ${m(tls, (r) => r.totalTimeMs)}`, (median(tls.map((r) => r.totalTimeMs)) / median(plain.map((r) => r.totalTimeMs))).toFixed(2),
        `${m(plain, (r) => r.wallTimeMs)} / ${m(tls, (r) => r.wallTimeMs)}`,
        `${m(plain, (r) => r.downtimeMs)} / ${m(tls, (r) => r.downtimeMs)}`,
        `${mib(plain)} / ${mib(tls)}`,
      ]);
    }
    await lab.stopVm(at, 'bench');
  }
  console.log(`\n${rounds} rounds each, medians; QEMU total = its total-time (setup to completed); unlimited bandwidth`);
  printTable(rows);
} finally {
  await disconnect();
  await lab.down();
}

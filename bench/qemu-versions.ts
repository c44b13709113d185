// The same guests moved by ferry's defaults between two QEMU 7.2 hosts and
// between two QEMU 10.0 hosts, interleaved round by round so that both meet
// the same load on the machine. Each guest is born on its own version (so
// `-machine pc` is pc-i440fx-7.2 on one side, pc-i440fx-10.0 on the other).
//   node --import tsx bench/qemu-versions.ts [rounds]
import { configure, disconnect, host, type MigrationResult } from '../sdk/index.ts';
import { Lab, type GuestSpec } from '../test/lab/lab.ts';
import { benchLab, median, printTable } from './bench-lab.ts';

const base = benchLab();
const lab = new Lab({ ...base.settings, hosts: ['a', 'b', 'c', 'd'], qemu: { a: '7.2', b: '7.2', c: '10.0', d: '10.0' } });
const rounds = Number(process.argv[2] ?? 5);
const guests: [string, GuestSpec][] = [
  ['idle 512 MiB', { memoryMiB: 512 }],
  ['512 MiB, 64 MiB dirtied at 20 MB/s', { memoryMiB: 512, dirtyMiB: 64, dirtyRateMBps: 20 }],
];
const pairs = [['7.2', 'a', 'b'], ['10.0', 'c', 'd']] as const;

await lab.up();
configure(lab.ferryConfig());
try {
  const rows: (string | number)[][] = [['guest', 'QEMU', 'end to end (ms)', 'transfer (ms)', 'QEMU total (ms)', 'of it setup (ms)', 'downtime (ms)', 'sent (MiB)', 'passes']];
  for (const [label, spec] of guests) {
    const results = new Map<string, MigrationResult[]>(pairs.map(([version]) => [version, []]));
    const at = new Map<string, string>();
    for (const [version, home] of pairs) {
      await lab.startVm(home, `v${version.replace('.', '')}`, { ...spec, addressOctet: version === '7.2' ? 201 : 202 });
      at.set(version, home);
    }
    for (let round = 0; round < rounds; round++) {
      // Alternate who goes first, so neither always moves while the other guest is settling.
      for (const [version, one, other] of round % 2 === 0 ? pairs : [...pairs].reverse()) {
        const from = at.get(version) ?? one;
        const to = from === one ? other : one;
        results.get(version)?.push(await host(from).vm(`v${version.replace('.', '')}`).migrateTo(to, { maxDowntime: 300 }));
        at.set(version, to);
      }
    }
    for (const [version] of pairs) {
      const list = results.get(version) ?? [];
      rows.push([
        label, version,
        Math.round(median(list.map((r) => r.wallTimeMs))),
        Math.round(median(list.map((r) => (r.phases.perform ?? 0) + (r.phases.finish ?? 0)))),
        Math.round(median(list.map((r) => r.totalTimeMs))),
        Math.round(median(list.map((r) => r.setupTimeMs))),
        `${median(list.map((r) => r.downtimeMs))} (max ${Math.max(...list.map((r) => r.downtimeMs))})`,
        (median(list.map((r) => r.transferredBytes)) / 1024 ** 2).toFixed(1),
        median(list.map((r) => r.passes)),
      ]);
    }
    for (const [version] of pairs) await lab.stopVm(at.get(version) ?? 'a', `v${version.replace('.', '')}`);
  }
  console.log(`ferry's default policy, maxDowntime 300 ms, median of ${rounds} migrations each (max downtime in brackets):`);
  printTable(rows);
} finally {
  await disconnect();
  await lab.down();
}

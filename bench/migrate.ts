// ferry's migration vs the same migration driven by a minimal raw-QMP script
// (test/lab/raw-migration.ts), same VM, alternating, several rounds.
//   node --import tsx bench/migrate.ts [rounds]
import { configure, disconnect, host, type MigrationResult } from '../sdk/index.ts';
import type { GuestSpec } from '../test/lab/lab.ts';
import { rawMigrate, type RawMigrationFigures } from '../test/lab/raw-migration.ts';
import { benchLab, median, printTable } from './bench-lab.ts';

const lab = benchLab();
const rounds = Number(process.argv[2] ?? 3);
const guests: [string, GuestSpec][] = [
  ['idle 512 MiB', { memoryMiB: 512 }],
  ['512 MiB, 64 MiB dirtied at 20 MB/s', { memoryMiB: 512, dirtyMiB: 64, dirtyRateMBps: 20 }],
];

await lab.up();
configure(lab.ferryConfig());
try {
  const rows: (string | number)[][] = [[
    'guest', 'ferry policy', 'transfer: ferry / raw (ms)', 'ratio', 'end to end less dst start: ferry / raw (ms)', 'ratio', 'dst start: ferry / raw (ms)', 'downtime: ferry / raw (ms)',
  ]];
  for (const [label, spec] of guests) {
    await lab.startVm('a', 'bench', spec);
    const ferry: MigrationResult[] = [];
    const plain: MigrationResult[] = [];
    const raw: (RawMigrationFigures & { endToEndMs: number })[] = [];
    let at = 'a';
    for (let round = 0; round < rounds; round++) {
      const to = at === 'a' ? 'b' : 'a';
      // Alternate who goes first, so neither always meets a freshly booted guest.
      for (const driver of round % 2 === 0 ? ['ferry', 'plain', 'raw'] : ['raw', 'plain', 'ferry']) {
        const dest = at === 'a' ? 'b' : 'a';
        if (driver === 'ferry') ferry.push(await host(at).vm('bench').migrateTo(dest, { maxDowntime: 300 }));
        // Plain pre-copy, as the raw script does it: no policy (the switchover check stays).
        else if (driver === 'plain') plain.push(await host(at).vm('bench').migrateTo(dest, { maxDowntime: 300, policy: 'none' }));
        else {
          const started = performance.now();
          const figures = await rawMigrate(lab, at, dest, 'bench', spec, 4444);
          await lab.stopVm(at, 'bench'); // the raw script's cleanup: files of the quit QEMU
          raw.push({ ...figures, endToEndMs: performance.now() - started });
        }
        at = dest;
      }
      void to;
    }
    const rawTransfer = median(raw.map((r) => r.wallMs));
    const rawEnd = median(raw.map((r) => r.endToEndMs - r.destinationStartMs));
    for (const [policy, results] of [['ferry (default)', ferry], ['none', plain]] as const) {
      const transfer = median(results.map((r) => (r.phases.perform ?? 0) + (r.phases.finish ?? 0)));
      const end = median(results.map((r) => r.wallTimeMs - r.destinationStartMs));
      rows.push([
        label, policy,
        `${Math.round(transfer)} / ${Math.round(rawTransfer)}`, (transfer / rawTransfer).toFixed(2),
        `${Math.round(end)} / ${Math.round(rawEnd)}`, (end / rawEnd).toFixed(2),
        `${Math.round(median(results.map((r) => r.destinationStartMs)))} / ${Math.round(median(raw.map((r) => r.destinationStartMs)))}`,
        `${median(results.map((r) => r.downtimeMs))} / ${median(raw.map((r) => r.downtimeMs))}`,
      ]);
    }
    const phases = ['preflight', 'prepare', 'perform', 'finish', 'confirm'] as const;
    console.log(`${label}: ferry phases (median ms): ${phases.map((p) => `${p} ${Math.round(median(ferry.map((r) => r.phases[p] ?? 0)))}`).join(', ')}`);
    await lab.stopVm(at, 'bench');
  }
  console.log(`\n${rounds} rounds each, medians; transfer = migrate → running on the destination`);
  printTable(rows);
} finally {
  await disconnect();
  await lab.down();
}

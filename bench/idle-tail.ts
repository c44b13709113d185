// Why does an idle guest sometimes pause far longer than its last few pages
// explain (bench/convergence.ts: 55–82 ms with 0.2 MiB left at a 50 ms
// budget, where busier guests paused 8–21 ms)? Raw QMP on the lab, one idle
// 512 MiB guest moved back and forth, downtime-limit BUDGET, return-path on.
// Each round moves it there and back twice: once with the machine as it is,
// once with its free page reporting held (test/lab/free-page-reporting.ts),
// the order alternating from round to round. For each move it prints the
// downtime, the total time and the destination QEMU's system CPU time (from
// its start to the end of the move: faulting its RAM in).
//   node --import tsx bench/idle-tail.ts [ROUNDS [BUDGET_MS]]
//
// What found the cause (2026-11-29, QEMU 7.2, scratch probes of these moves): in
// the slow moves the destination QEMU spent 250–330 ms of CPU (270 of 290 in
// the kernel, 76 % of its samples in clear_page under huge-page faults, `perf
// record -g -p`), against 60–100 ms in the fast ones, and the migration
// socket held about 10 MiB all through the transfer (source's send queue
// 3–4 MiB, destination's receive queue 6–7 MiB, /proc/PID/net/tcp): the
// destination loaded at 200–330 MB/s (QEMU's mbps: 1646–2645) and the pause waited for that backlog.
// The machine reports freed memory to its hypervisor at once (virtio-balloon,
// page_reporting min_free_ms 0), and memory touched again after a report
// faults in the hypervisor (2 GiB into tmpfs: 4.2 s, then 0.74–0.78 s with
// the reporting held). With it held, 20 moves in a row paused 6–21 ms.
//   node --import tsx bench/idle-tail.ts 6 50     (2026-11-29, the machine to itself)
//   as it is downtime: n 12, median 23, max 54, over 50 ms: 1 (all: 6 8 10 10 11 11 23 37 37 47 49 54);
//            total-time median 330, max 409; destination system CPU median 200, max 270
//   held     downtime: n 12, median 11, max 52, over 50 ms: 1 (all: 6 6 6 7 9 10 11 12 13 13 21 52);
//            total-time median 190, max 250; destination system CPU median 30, max 110
//   Every pause over 21 ms as it is came with 200–270 ms of the destination's system CPU; held, the one
//   (52 ms, 110 ms of CPU) was the first move after the hold began, onto memory reported before it (the
//   hold now touches 2 GiB once first, so that the next allocations reuse memory the hypervisor kept).
// (An earlier version of this bench held QEMU's pause with downtime-limit 0
// after the bulk pass; that holds nothing: QEMU 7.2 completes as soon as
// nothing is pending, and with a threshold of 0 it never syncs the bitmap, so
// the pause came right after the bulk pass either way.)
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { testLab } from '../test/e2e/lab-fixture.ts';
import { holdFreePageReporting } from '../test/lab/free-page-reporting.ts';
import { rawMigrate } from '../test/lab/raw-migration.ts';

const lab = testLab();
const [rounds = 6, budgetMs = 50] = process.argv.slice(2, 4).map(Number);
const spec = { memoryMiB: 512, dirtyMiB: 0, dirtyRateMBps: 0 };
const name = 'tail-idle';
const MODES = ['as it is', 'held'] as const;
type Mode = (typeof MODES)[number];

/** A QEMU's system CPU time so far, ms (page faults are the kernel's). */
async function systemCpuMs(pid: number | undefined): Promise<number> {
  const stat = pid ? await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '') : '';
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[12] ?? 0) * 10;
}

function summary(values: number[]): string {
  const sorted = [...values].sort((x, y) => x - y);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return `n ${sorted.length}, median ${at(0.5)}, max ${sorted.at(-1) ?? '-'}, over ${budgetMs} ms: ${sorted.filter((v) => v > budgetMs).length} (all: ${sorted.join(' ')})`;
}

const figures: Record<Mode, { downtime: number[]; total: number[]; dstSys: number[] }> = {
  'as it is': { downtime: [], total: [], dstSys: [] },
  held: { downtime: [], total: [], dstSys: [] },
};
await lab.up();
try {
  for (const h of ['a', 'b']) await lab.stopVm(h, name);
  await lab.startVm('a', name, spec);
  let on = 'a';
  for (let round = 1; round <= rounds; round++) {
    for (const mode of round % 2 ? MODES : ([...MODES].reverse() as Mode[])) {
      const reporting = mode === 'held' ? await holdFreePageReporting() : undefined;
      if (mode === 'held' && !reporting?.held) throw new Error('this machine has no free page reporting to hold (or refuses it)');
      try {
        for (let leg = 0; leg < 2; leg++) {
          const to = on === 'a' ? 'b' : 'a';
          await sleep(1000); // the guest settles on its new host
          const move = await rawMigrate(lab, on, to, name, spec, 4444, { downtimeLimitMs: budgetMs, capabilities: ['return-path'], timeoutMs: 20_000 });
          const dstSys = await systemCpuMs(await lab.vmPid(to, name));
          await lab.stopVm(on, name);
          console.error(`round ${round} ${mode} ${on}→${to}: downtime ${move.downtimeMs} ms, total ${Math.round(move.totalTimeMs)} ms, destination QEMU's system CPU ${dstSys} ms`);
          on = to;
          figures[mode].downtime.push(move.downtimeMs);
          figures[mode].total.push(Math.round(move.totalTimeMs));
          figures[mode].dstSys.push(dstSys);
        }
      } finally {
        await reporting?.restore();
      }
    }
  }
} finally {
  for (const h of ['a', 'b']) await lab.stopVm(h, name);
  await lab.down();
}
console.log(`idle 512 MiB guest, raw QMP with return-path, downtime-limit ${budgetMs} ms; free page reporting as the machine has it, or held`);
for (const mode of MODES) {
  const f = figures[mode];
  console.log(`${mode.padEnd(8)} downtime: ${summary(f.downtime)}; total-time ${summary(f.total).replace(/, over.*/, '')}; destination system CPU ${summary(f.dstSys).replace(/, over.*/, '')}`);
}

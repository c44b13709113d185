// Why does an idle guest sometimes pause far longer than its last few pages
// explain (bench/convergence.ts: 55–82 ms with 0.2 MiB left at a 50 ms
// budget, where busier guests paused 8–21 ms)? A guess: an idle guest pauses
// right after the bulk pass, while the destination still loads its backlog of
// zero pages, and the source's `completed` waits for that load. If so, holding
// QEMU's pause a moment after the bulk pass removes the tail.
// Raw QMP on the lab, one idle 512 MiB guest moved back and forth, alternating
// two ways: downtime-limit BUDGET from the start, and 0 (no pause while pages
// remain) until HOLD ms after QEMU's first dirty sync past the bulk pass, then BUDGET.
//   node --import tsx bench/idle-tail.ts [ROUNDS [HOLD_MS [BUDGET_MS [FIRST_HOST]]]]
//
// 2026-11-29, QEMU 7.2, the machine to itself:
//   node --import tsx bench/idle-tail.ts 15 200 50      (the guest boots on a)
//   at once  downtime: n 15, median 35, p90 91, max 94, over 50 ms: 7 (all: 6 7 7 9 10 17 27 35 52 55 69 78 90 91 94)
//   held     downtime: n 15, median 12, p90 67, max 69, over 50 ms: 2 (all: 6 8 9 9 9 9 10 12 26 27 30 31 35 67 69)
//   By direction: a→b paused 26–94 ms (median 55; total-time 339–565 ms), b→a 6–27 ms (median 9;
//   total-time 180–269 ms), held or not.
//   node --import tsx bench/idle-tail.ts 5 200 50 b      (the guest boots on b)
//   a→b      downtime: n 5, median 9, max 10 (all: 6 8 9 9 10)
//   b→a      downtime: n 5, median 44, max 53 (all: 23 33 44 48 53)
//   So the slow moves are the guest's 1st, 3rd, 5th, …: those away from the host it booted on, whichever
//   that is, and the whole transfer is twice as slow in them. Not the destination's backlog at the pause
//   (holding the pause did not remove it), and not the source QEMU's memory as the move before left it:
//   node --import tsx bench/idle-tail.ts 4 200 50
//   a→b 27–33 ms (total 357–394 ms), b→a 8–20 ms (186–235 ms); before every move but the first the source
//   held the same: RssAnon 103–104 MiB, AnonHugePages 92 MiB. What the boot host keeps that makes moves
//   away from it slow is not found yet.
import { readFile } from 'node:fs/promises';
import { testLab } from '../test/e2e/lab-fixture.ts';
import { rawMigrate } from '../test/lab/raw-migration.ts';

const lab = testLab();
const [rounds = 15, holdMs = 200, budgetMs = 50] = process.argv.slice(2, 5).map(Number);
const firstHost = process.argv[5] ?? 'a';
const spec = { memoryMiB: 512, dirtyMiB: 0, dirtyRateMBps: 0 };
const name = 'tail-idle';

/** The source QEMU's resident memory (anonymous, and of it huge pages), as the move before left it. */
async function sourceMemory(on: string): Promise<string> {
  const pid = await lab.vmPid(on, name);
  if (!pid) return '?';
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const smaps = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => '');
  const field = (text: string, key: string) => Math.round(Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) / 1024);
  return `RssAnon ${field(status, 'RssAnon')} MiB, AnonHugePages ${field(smaps, 'AnonHugePages')} MiB`;
}

function summary(values: number[]): string {
  const sorted = [...values].sort((x, y) => x - y);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return `n ${sorted.length}, median ${at(0.5)}, p90 ${at(0.9)}, max ${sorted.at(-1) ?? '-'}, over ${budgetMs} ms: ${sorted.filter((v) => v > budgetMs).length} (all: ${sorted.join(' ')})`;
}

await lab.up();
const downtimes: Record<'at once' | 'held', number[]> = { 'at once': [], held: [] };
const totals: Record<'at once' | 'held', number[]> = { 'at once': [], held: [] };
const byDirection: Record<'a→b' | 'b→a', number[]> = { 'a→b': [], 'b→a': [] };
try {
  for (const h of ['a', 'b']) await lab.stopVm(h, name);
  await lab.startVm(firstHost, name, spec);
  let on = firstHost;
  for (let round = 1; round <= rounds; round++) {
    for (const way of round % 2 ? (['at once', 'held'] as const) : (['held', 'at once'] as const)) {
      const to = on === 'a' ? 'b' : 'a';
      await new Promise((resolve) => setTimeout(resolve, 1000)); // the guest settles on its new host
      const rss = await sourceMemory(on);
      const figures = await rawMigrate(lab, on, to, name, spec, 4444, { downtimeLimitMs: budgetMs, capabilities: ['return-path'], timeoutMs: 20_000, ...(way === 'held' && { holdAfterBulkMs: holdMs }) });
      await lab.stopVm(on, name);
      on = to;
      byDirection[on === 'b' ? 'a→b' : 'b→a'].push(figures.downtimeMs);
      downtimes[way].push(figures.downtimeMs);
      totals[way].push(Math.round(figures.totalTimeMs));
      console.error(`round ${round} ${way} ${to === 'a' ? 'b→a' : 'a→b'}: downtime ${figures.downtimeMs} ms, total ${Math.round(figures.totalTimeMs)} ms; the source QEMU's memory before it: ${rss}`);
    }
  }
} finally {
  for (const h of ['a', 'b']) await lab.stopVm(h, name);
  await lab.down();
}
console.log(`idle 512 MiB guest, raw QMP with return-path, downtime-limit ${budgetMs} ms; held: 0 until ${holdMs} ms after the first sync past the bulk pass`);
for (const direction of ['a→b', 'b→a'] as const) console.log(`${direction.padEnd(8)} downtime: ${summary(byDirection[direction])}`);
for (const way of ['at once', 'held'] as const) console.log(`${way.padEnd(8)} downtime: ${summary(downtimes[way])}; total-time median ${[...totals[way]].sort((x, y) => x - y)[Math.floor(totals[way].length / 2)]} ms`);

// Convergence bench on the real lab: a guest dirtying faster than the link,
// migrated with each policy side by side, then the prediction table.
//   node --import tsx bench/convergence.ts [POLICY…]   policies only, or all and the prediction table
//   node --import tsx bench/convergence.ts predict [N]  the prediction table alone, each case N times (median)
//   node --import tsx bench/convergence.ts calibrate [N [CELL]] the switchover gate's estimate beside QEMU's measured
//        downtime, and ferry beside raw QMP, N rounds per cell (default 10); table below
// Uses the test lab settings (FERRY_TEST_LAB_PREFIX/SUBNET/RUN). Not part of npm test.
import { configure, disconnect, host, type MigrationOptions, type PolicyPresetName } from '../sdk/index.ts';
import { testLab } from '../test/e2e/lab-fixture.ts';
import { Probe } from '../test/lab/probe.ts';
import { calibrateCell, calibrationCells, cellRow, loadavg, verdict, type CalibrationRun } from './switchover-calibration.ts';

const lab = testLab();
const fast = { memoryMiB: 256, dirtyMiB: 64, dirtyRateMBps: 40 };
const limits: MigrationOptions = { bandwidth: '16MiB/s', maxDowntime: 1000, timeout: 90_000, postcopy: true };
const args = process.argv.slice(2);
const predictOnly = args[0] === 'predict';
const calibrateOnly = args[0] === 'calibrate';
const repeat = predictOnly ? Math.max(1, Number(args[1] ?? 1)) : 1;
const only = predictOnly || calibrateOnly ? [] : args;

interface Row { policy: string; completed: string; totalMs: string; qemuDowntime: string; probeGap: string; actions: string; setupMs?: number; transferred?: number; passes?: number }

async function once(name: string, spec: typeof fast, options: MigrationOptions): Promise<Row> {
  const vm = await lab.startVm('a', name, spec);
  const probe = new Probe(vm.address);
  await probe.start();
  const migration = host('a').vm(name).migrateTo('b', options);
  const actions: string[] = [];
  migration.on('action', (a) => actions.push(a.action));
  const started = performance.now();
  try {
    const result = await migration;
    const report = await probe.finish(300);
    return { policy: String(options.policy), completed: result.postcopy ? 'yes (post-copy)' : 'yes', totalMs: String(result.totalTimeMs), qemuDowntime: `${result.downtimeMs}`, probeGap: `${report.maxGapMs}${report.counterWentBackwards ? ' LOST STATE' : ''}`, actions: actions.join('; ') || '-', setupMs: result.setupTimeMs, transferred: result.transferredBytes, passes: result.passes };
  } catch (error) {
    const report = await probe.finish(300);
    const where = (error as { vmState?: string }).vmState ?? '?';
    return { policy: String(options.policy), completed: `no (${where})`, totalMs: `>${Math.round(performance.now() - started)}`, qemuDowntime: '-', probeGap: `${report.maxGapMs}`, actions: actions.join('; ') || '-' };
  } finally {
    for (const h of ['a', 'b']) await lab.stopVm(h, name);
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : Math.round(((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2);
}

function table(rows: Array<Record<string, string>>): string {
  const keys = Object.keys(rows[0] ?? {});
  const widths = keys.map((k) => Math.max(k.length, ...rows.map((r) => (r[k] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ');
  return [line(keys), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(keys.map((k) => r[k] ?? '')))].join('\n');
}

async function calibrate(rounds: number, only?: string): Promise<void> {
  const all: CalibrationRun[] = [];
  const rows: Array<Record<string, string>> = [];
  console.log(`calibrate: ${rounds} rounds per cell; load average at start ${loadavg()}`);
  for (const [guest, spec, budget, load] of calibrationCells()) {
    if (only && !`${guest} ${budget}ms ${load}`.includes(only)) continue;
    const runs = await calibrateCell(lab, guest, spec, budget, load, rounds, (run) => console.error(`run ${JSON.stringify(run)}`));
    all.push(...runs);
    rows.push(cellRow(runs));
    console.log(`${table([rows.at(-1) ?? {}])}\n(load average ${loadavg()})`);
  }
  console.log(`\n${table(rows)}\n${verdict(all)}\nload average at end ${loadavg()}`);
}

async function policiesAndPredictions(): Promise<void> {
  const policies: PolicyPresetName[] = predictOnly ? [] : ['none', 'ferry', 'nova', 'ovirt', 'proxmox'];
  const rows: Row[] = [];
  for (const policy of policies.filter((p) => only.length === 0 || only.includes(p))) {
    rows.push(await once(`bench-${policy}`, fast, { ...limits, policy, ...(policy === 'none' && { postcopy: false }) }));
    console.error(`done ${policy}`);
  }
  if (rows.length) {
    console.log(`guest ${JSON.stringify(fast)}, ${JSON.stringify(limits)}\n`);
    console.log(table(rows.map(({ setupMs: _s, transferred: _t, passes: _p, ...cells }) => cells)));
  }

  const cases: Array<[string, typeof fast, MigrationOptions]> = [
    ['idle', { memoryMiB: 256, dirtyMiB: 0, dirtyRateMBps: 0 }, { maxDowntime: 300, bandwidth: '16MiB/s', policy: 'none' }],
    ['moderate', { memoryMiB: 256, dirtyMiB: 64, dirtyRateMBps: 8 }, { maxDowntime: 300, bandwidth: '16MiB/s', policy: 'none' }],
    ['fast', fast, { maxDowntime: 1000, bandwidth: '16MiB/s', policy: 'none' }],
    ['fast+postcopy', fast, { maxDowntime: 1000, bandwidth: '16MiB/s', policy: 'ferry', postcopy: true }],
  ];
  const predictions: Array<Record<string, string>> = [];
  for (const [label, spec, options] of only.length ? [] : cases) {
    // The machine is shared and TCG timings are noisy: N runs, medians and the spread.
    const runs: Array<{ predicted: number; go: boolean; actual: number; done: boolean; row: Row; dirty: number; nonZero: number }> = [];
    for (let i = 0; i < repeat; i++) {
      await lab.startVm('a', 'bench-pred', spec);
      const p = await host('a').vm('bench-pred').predictMigration('b', options);
      await lab.stopVm('a', 'bench-pred');
      const row = await once('bench-pred', spec, { ...options, timeout: 60_000 });
      const done = row.completed.startsWith('yes');
      runs.push({ predicted: p.totalMs, go: p.go, actual: Number(row.totalMs), done, row, dirty: p.measures.dirtyRate, nonZero: p.measures.nonZeroShare });
      console.error(`${label} #${i + 1}: predicted ${p.go ? `${p.totalMs} ms` : 'no-go'} (dirty ${(p.measures.dirtyRate / 1e6).toFixed(1)} MB/s, non-zero ${p.measures.nonZeroShare.toFixed(3)}, link ${(p.measures.link / 1e6).toFixed(0)} MB/s), actual ${row.completed} ${row.totalMs} ms, setup ${row.setupMs ?? '-'} ms, ${row.transferred !== undefined ? (row.transferred / 1e6).toFixed(1) : '-'} MB sent, ${row.passes ?? '-'} passes`);
    }
    const errors = runs.filter((r) => r.go && r.done).map((r) => Math.round(((r.predicted - r.actual) / r.actual) * 100));
    const goRuns = runs.filter((r) => r.go);
    const doneRuns = runs.filter((r) => r.done);
    predictions.push({
      case: label, policy: String(options.policy), runs: String(runs.length),
      'dirty (sampled)': `${(median(runs.map((r) => r.dirty)) / 1e6).toFixed(1)} MB/s`,
      predicted: goRuns.length ? `go ${goRuns.length}/${runs.length}, ${median(goRuns.map((r) => r.predicted))} ms` : 'no-go',
      actual: doneRuns.length ? `done ${doneRuns.length}/${runs.length}, ${median(doneRuns.map((r) => r.actual))} ms` : 'did not finish',
      'time error (median; all)': errors.length ? `${median(errors)}%; ${errors.map((e) => `${e}%`).join(' ')}` : '-',
      'call right?': `${runs.filter((r) => r.go === r.done).length}/${runs.length}`,
    });
  }
  if (predictions.length) console.log(`\n${table(predictions)}`);
}

await lab.up();
configure(lab.ferryConfig());
try {
  if (calibrateOnly) await calibrate(Math.max(1, Number(args[1] ?? 10)), args[2]);
  else await policiesAndPredictions();
} finally {
  await disconnect();
}

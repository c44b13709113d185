// Convergence bench on the real lab: a guest dirtying faster than the link,
// migrated with each policy side by side, then the prediction table.
//   node --import tsx bench/convergence.ts
// Uses the test lab settings (FERRY_TEST_LAB_PREFIX/SUBNET/RUN). Not part of npm test.
import { configure, disconnect, host, type MigrationOptions, type PolicyPresetName } from '../sdk/index.ts';
import { testLab } from '../test/e2e/lab-fixture.ts';
import { Probe } from '../test/lab/probe.ts';

const lab = testLab();
const fast = { memoryMiB: 256, dirtyMiB: 64, dirtyRateMBps: 40 };
const limits: MigrationOptions = { bandwidth: '16MiB/s', maxDowntime: 1000, timeout: 90_000, postcopy: true };
const only = process.argv.slice(2);

interface Row { policy: string; completed: string; totalMs: string; qemuDowntime: string; probeGap: string; actions: string }

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
    return { policy: String(options.policy), completed: result.postcopy ? 'yes (post-copy)' : 'yes', totalMs: String(result.totalTimeMs), qemuDowntime: `${result.downtimeMs}`, probeGap: `${report.maxGapMs}${report.counterWentBackwards ? ' LOST STATE' : ''}`, actions: actions.join('; ') || '-' };
  } catch (error) {
    const report = await probe.finish(300);
    const where = (error as { vmState?: string }).vmState ?? '?';
    return { policy: String(options.policy), completed: `no (${where})`, totalMs: `>${Math.round(performance.now() - started)}`, qemuDowntime: '-', probeGap: `${report.maxGapMs}`, actions: actions.join('; ') || '-' };
  } finally {
    for (const h of ['a', 'b']) await lab.stopVm(h, name);
  }
}

function table(rows: Array<Record<string, string>>): string {
  const keys = Object.keys(rows[0] ?? {});
  const widths = keys.map((k) => Math.max(k.length, ...rows.map((r) => (r[k] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ');
  return [line(keys), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(keys.map((k) => r[k] ?? '')))].join('\n');
}

await lab.up();
configure(lab.ferryConfig());
try {
  const policies: PolicyPresetName[] = ['none', 'ferry', 'nova', 'ovirt', 'proxmox'];
  const rows: Row[] = [];
  for (const policy of policies.filter((p) => only.length === 0 || only.includes(p))) {
    rows.push(await once(`bench-${policy}`, fast, { ...limits, policy, ...(policy === 'none' && { postcopy: false }) }));
    console.error(`done ${policy}`);
  }
  console.log(`guest ${JSON.stringify(fast)}, ${JSON.stringify(limits)}\n`);
  console.log(table(rows as unknown as Array<Record<string, string>>));

  const cases: Array<[string, typeof fast, MigrationOptions]> = [
    ['idle', { memoryMiB: 256, dirtyMiB: 0, dirtyRateMBps: 0 }, { maxDowntime: 300, bandwidth: '16MiB/s', policy: 'none' }],
    ['moderate', { memoryMiB: 256, dirtyMiB: 64, dirtyRateMBps: 8 }, { maxDowntime: 300, bandwidth: '16MiB/s', policy: 'none' }],
    ['fast', fast, { maxDowntime: 1000, bandwidth: '16MiB/s', policy: 'none' }],
    ['fast+postcopy', fast, { maxDowntime: 1000, bandwidth: '16MiB/s', policy: 'ferry', postcopy: true }],
  ];
  const predictions: Array<Record<string, string>> = [];
  for (const [label, spec, options] of only.length ? [] : cases) {
    await lab.startVm('a', 'bench-pred', spec);
    const p = await host('a').vm('bench-pred').predictMigration('b', options);
    await lab.stopVm('a', 'bench-pred');
    const actual = await once('bench-pred', spec, { ...options, timeout: 60_000 });
    const done = actual.completed.startsWith('yes');
    const total = Number(actual.totalMs);
    predictions.push({
      case: label, policy: String(options.policy), 'dirty (sampled)': `${(p.measures.dirtyRate / 1e6).toFixed(0)} MB/s`,
      predicted: p.go ? `go, ${p.totalMs} ms, ${p.downtimeMs} ms down` : 'no-go', actual: done ? `done, ${actual.totalMs} ms, ${actual.qemuDowntime} ms down` : 'did not finish',
      'time error': p.go && done ? `${Math.round(((p.totalMs - total) / total) * 100)}%` : '-', 'call right?': p.go === done ? 'yes' : 'NO',
    });
    console.error(`predicted ${label}`);
  }
  if (predictions.length) console.log(`\n${table(predictions)}`);
} finally {
  await disconnect();
}

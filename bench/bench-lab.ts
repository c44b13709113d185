import { Lab } from '../test/lab/lab.ts';
import { labSettings } from '../test/lab/lab-settings.ts';

/** The benchmarks' own lab (namespaces, subnet, runDirs), apart from the tests' and the demo's. */
export function benchLab(): Lab {
  return new Lab({
    ...labSettings(),
    prefix: process.env['FERRY_BENCH_LAB_PREFIX'] ?? 'ferryb',
    subnet: process.env['FERRY_BENCH_LAB_SUBNET'] ?? '10.213.2',
    runRoot: process.env['FERRY_BENCH_LAB_RUN'] ?? '/run/ferry-bench',
  });
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

export function printTable(rows: readonly (readonly (string | number)[])[]): void {
  const text = rows.map((row) => row.map(String));
  const widths = text[0]?.map((_, i) => Math.max(...text.map((row) => row[i]?.length ?? 0))) ?? [];
  for (const row of text) console.log(row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  '));
}

import type { Host } from '../../model/host.ts';
import type { Vm } from '../../model/vm.ts';
import { resolveMigrationOptions, type MigrationOptions } from '../migration-options.ts';
import { policyName, resolvePolicy } from '../policy/policy-presets.ts';
import { SWITCHOVER_OVERHEAD_MS } from '../policy/switchover-gate.ts';
import { measureDirtyRate, measureNonZeroShare } from './measure-guest.ts';
import { measureLink } from './measure-link.ts';
import { simulatePrecopy, type PrecopyModelOutcome } from './precopy-model.ts';

/** What ferry measured before anything moved. Rates in bytes/s. */
export interface PredictionMeasures {
  memoryBytes: number;
  /** calc-dirty-rate (page sampling): a lower bound, see measureDirtyRate. */
  dirtyRate: number;
  link: number;
  /** Share of RAM that is not zero pages (sampled). */
  nonZeroShare: number;
  /** What the migration stream will get: the link, capped by the bandwidth option. */
  throughput: number;
  measureMs: number;
}

/** The call before a migration: will it converge, how, in how long, with what downtime. */
export interface MigrationPrediction {
  vm: string;
  source: string;
  destination: string;
  policy: string;
  measures: PredictionMeasures;
  /** Plain pre-copy at maxDowntime. */
  precopy: PrecopyModelOutcome;
  /** The go/no-go call for the requested policy and permissions. */
  go: boolean;
  finish: 'pre-copy' | 'post-copy' | 'pause' | 'none';
  totalMs: number;
  downtimeMs: number;
  /** What the model leaves out, in words. */
  notes: string[];
}

// Setup and the zero-page scan, as measured on the lab (TCG): about 1 s per 1 GiB scanned plus a fixed start.
const SETUP_MS = 300;
const ZERO_SCAN_BYTES_PER_S = 512 * 1024 ** 2;

/**
 * Measures the guest and the link, then models the migration.
 *
 * @example
 * const p = await predictMigration(host('a').vm('web'), host('b'), { maxDowntime: 300, bandwidth: '64MiB/s' });
 * if (!p.go) console.log(`would not converge: ${p.notes.join('; ')}`);
 */
export async function predictMigration(vm: Vm, destination: Host, options: MigrationOptions = {}): Promise<MigrationPrediction> {
  const resolved = resolveMigrationOptions({ ...options, dryRun: false });
  const started = performance.now();
  const memoryBytes = await vm.withQmp(async (qmp) => {
    const summary = await qmp.execute('query-memory-size-summary', {}, { signal: options.signal });
    return summary['base-memory'] + (summary['plugged-memory'] ?? 0);
  }, { signal: options.signal });
  const nonZeroShare = await measureNonZeroShare(vm, memoryBytes, { signal: options.signal });
  const dirtyRate = await measureDirtyRate(vm, { signal: options.signal });
  const link = await measureLink(vm.host, destination, { signal: options.signal });
  const throughput = resolved.bandwidth === 'unlimited' ? link : Math.min(link, resolved.bandwidth);
  const measures: PredictionMeasures = { memoryBytes, dirtyRate, link, nonZeroShare, throughput, measureMs: Math.round(performance.now() - started) };
  return predictFromMeasures(measures, resolved, { vm: vm.name, source: vm.host.name, destination: destination.name });
}

/** The model alone, from measures (pure; what predictMigration and the ETA use). */
export function predictFromMeasures(
  measures: PredictionMeasures,
  options: ReturnType<typeof resolveMigrationOptions>,
  names: { vm: string; source: string; destination: string },
): MigrationPrediction {
  const firstPassBytes = Math.max(measures.memoryBytes * measures.nonZeroShare, 16 * 1024 ** 2);
  const setupMs = SETUP_MS + ((measures.memoryBytes - firstPassBytes) / ZERO_SCAN_BYTES_PER_S) * 1000;
  const base = { firstPassBytes, throughput: measures.throughput, dirtyRate: measures.dirtyRate, overheadMs: SWITCHOVER_OVERHEAD_MS, setupMs };
  const precopy = simulatePrecopy({ ...base, downtimeLimitMs: options.maxDowntime });
  const policy = resolvePolicy(options.policy);
  const name = policyName(options.policy);
  const notes: string[] = [];
  if (measures.dirtyRate === 0) notes.push('dirty rate sampled as 0: page sampling misses slow writers, so this is a lower bound');
  const result = (go: boolean, finish: MigrationPrediction['finish'], totalMs: number, downtimeMs: number): MigrationPrediction => ({
    ...names, policy: name, measures, precopy, go, finish, totalMs: Math.round(totalMs), downtimeMs: Math.round(downtimeMs), notes,
  });
  if (precopy.converges) return result(true, 'pre-copy', precopy.totalMs, precopy.downtimeMs);
  if (!policy) {
    notes.push(`the guest dirties ${mb(measures.dirtyRate)} MB/s against ${mb(measures.throughput)} MB/s: pre-copy does not converge within maxDowntime`);
    return result(false, 'none', Number.POSITIVE_INFINITY, precopy.downtimeMs);
  }
  // Non-converging: a policy that may switch finishes with post-copy after
  // the first pass and the passes its stall detection needs (two).
  const firstPassMs = setupMs + (firstPassBytes / measures.throughput) * 1000;
  const workingSet = Math.min(firstPassBytes, measures.dirtyRate * (firstPassBytes / measures.throughput));
  const passMs = (workingSet / measures.throughput) * 1000;
  if (options.postcopy && name !== 'proxmox') {
    notes.push('post-copy is permitted: the guest runs on the destination before all its memory arrived');
    return result(true, 'post-copy', firstPassMs + 2 * passMs + passMs, SWITCHOVER_OVERHEAD_MS);
  }
  if (options.allowPause && name === 'ferry') {
    notes.push('a pause is permitted: the guest stops while its working set is sent');
    return result(true, 'pause', firstPassMs + 4 * passMs + passMs, passMs + SWITCHOVER_OVERHEAD_MS);
  }
  notes.push(`the guest dirties ${mb(measures.dirtyRate)} MB/s against ${mb(measures.throughput)} MB/s; XBZRLE and throttling may still make it converge, but how much depends on how the guest writes: not modelled`);
  return result(false, 'none', Number.POSITIVE_INFINITY, precopy.downtimeMs);
}

function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}

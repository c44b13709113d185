import type { Host } from '../../model/host.ts';
import type { Vm } from '../../model/vm.ts';
import { resolveMigrationOptions, type MigrationOptions } from '../migration-options.ts';
import { policyName, resolvePolicy } from '../policy/policy-presets.ts';
import { outpacesLink } from '../policy/stall-detector.ts';
import { switchoverAllowanceBytes, switchoverPauseCostMs } from '../policy/switchover-gate.ts';
import { measureDirtying, measureNonZeroShare } from './measure-guest.ts';
import { measureLink } from './measure-link.ts';
import { diskBytesToCopy } from './measure-disks.ts';
import { DISK_COPY_SHARE, DISK_COPY_SWITCHOVER_OVERHEAD_MS } from '../storage/disk-copy.ts';
import { simulatePrecopy, type PrecopyModelOutcome } from './precopy-model.ts';

/** What ferry measured before anything moved. Rates in bytes/s. */
export interface PredictionMeasures {
  memoryBytes: number;
  /** calc-dirty-rate (page sampling, short windows): a lower bound, see measureDirtying. */
  dirtyRate: number;
  /** The most the guest dirtied however long it ran, when a long window reached it (see dirtyingFromWindows). */
  workingSetBytes?: number;
  link: number;
  /** Share of RAM that is not zero pages (sampled). */
  nonZeroShare: number;
  /** What the migration stream will get: the link, or what QEMU delivers under the bandwidth option. */
  throughput: number;
  /** Bytes of disk the migration copies first (disks not on shared storage); 0 when none. */
  diskCopyBytes?: number;
  measureMs: number;
}

/** The call before a migration: will it converge, how, in how long, with what downtime. */
export interface MigrationPrediction {
  vm: string;
  source: string;
  destination: string;
  policy: string;
  measures: PredictionMeasures;
  /** Pre-copy alone (no throttle, post-copy or pause), steered to the policy's first downtime target. */
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
// QEMU 7.2 capped at max-bandwidth delivered 0.91–0.94 of it on the lab
// (pass by pass: 15.2–15.4 MB/s of 16.8): its 100 ms rate windows idle at
// their ends. The cap counts wire bytes, and a page costs 4 KiB plus an
// 8-byte header, so headers are noise next to this.
const CAPPED_SHARE = 0.92;

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
  const dirtying = await measureDirtying(vm, { signal: options.signal });
  const link = await measureLink(vm.host, destination, { signal: options.signal });
  const throughput = resolved.bandwidth === 'unlimited' || link < resolved.bandwidth ? link : resolved.bandwidth * CAPPED_SHARE;
  const diskCopyBytes = await diskBytesToCopy(vm, destination, resolved, options.signal);
  const measures: PredictionMeasures = { memoryBytes, ...dirtying, link, nonZeroShare, throughput, ...(diskCopyBytes > 0 && { diskCopyBytes }), measureMs: Math.round(performance.now() - started) };
  return predictFromMeasures(measures, resolved, { vm: vm.name, source: vm.host.name, destination: destination.name });
}

/** The model alone, from measures (pure; what predictMigration and the ETA use). */
export function predictFromMeasures(
  measures: PredictionMeasures,
  options: ReturnType<typeof resolveMigrationOptions>,
  names: { vm: string; source: string; destination: string },
): MigrationPrediction {
  const firstPassBytes = Math.max(measures.memoryBytes * measures.nonZeroShare, 16 * 1024 ** 2);
  // Under a bandwidth cap QEMU scans zero pages while it waits out each 100 ms
  // window's byte budget, so the scan adds no time (idle guest at 32 MiB/s:
  // predicted 26–35% over with it counted, and the actual was bytes over the cap).
  const capped = measures.throughput < measures.link;
  const setupMs = SETUP_MS + (capped ? 0 : ((measures.memoryBytes - firstPassBytes) / ZERO_SCAN_BYTES_PER_S) * 1000);
  const workingSetBytes = Math.min(measures.workingSetBytes ?? firstPassBytes, firstPassBytes);
  // ferry steers QEMU to switch over only a dirty set its gate would accept
  // with room to spare, for the policy's first target; ferry's own policy
  // raises it to the whole budget once a pass stops shrinking the set.
  const policy = resolvePolicy(options.policy);
  const name = policyName(options.policy);
  const cap = options.bandwidth === 'unlimited' ? undefined : options.bandwidth;
  const firstTargetMs = Math.min(options.maxDowntime, policy?.needs?.initialDowntimeMs?.(options.maxDowntime) ?? options.maxDowntime);
  // Steering plans with the pause's whole fixed cost, the mirrors' finish included, as the real run does.
  const pauseCostMs = switchoverPauseCostMs(options.switchoverCost, Boolean(measures.diskCopyBytes));
  const precopy = simulatePrecopy({
    firstPassBytes, workingSetBytes, throughput: measures.throughput, dirtyRate: measures.dirtyRate,
    downtimeLimitMs: options.maxDowntime, overheadMs: options.switchoverCost, setupMs,
    switchoverBytes: switchoverAllowanceBytes(firstTargetMs, measures.throughput, cap, pauseCostMs),
    ...(name === 'ferry' && { stalledSwitchoverBytes: switchoverAllowanceBytes(options.maxDowntime, measures.throughput, cap, pauseCostMs) }),
  });
  const notes: string[] = [];
  // Disks not on shared storage are copied first, at the share of the link the mirrors got on the lab.
  const diskMs = measures.diskCopyBytes ? (measures.diskCopyBytes / (measures.throughput * DISK_COPY_SHARE)) * 1000 : 0;
  const diskPauseMs = measures.diskCopyBytes ? DISK_COPY_SWITCHOVER_OVERHEAD_MS : 0;
  if (measures.diskCopyBytes) notes.push(`copies ${mb(measures.diskCopyBytes)} MB of disk first (about ${Math.round(diskMs / 1000)} s); finishing the mirrors adds about ${DISK_COPY_SWITCHOVER_OVERHEAD_MS} ms to the pause`);
  if (measures.dirtyRate === 0) notes.push('dirty rate sampled as 0: page sampling misses slow writers, so this is a lower bound');
  const result = (go: boolean, finish: MigrationPrediction['finish'], totalMs: number, downtimeMs: number): MigrationPrediction => ({
    ...names, policy: name, measures, precopy, go, finish, totalMs: Math.round(totalMs + diskMs), downtimeMs: Math.round(downtimeMs + diskPauseMs), notes,
  });
  if (precopy.converges) return result(true, 'pre-copy', precopy.totalMs, precopy.downtimeMs);
  if (!policy) {
    notes.push(`the guest dirties ${mb(measures.dirtyRate)} MB/s against ${mb(measures.throughput)} MB/s: pre-copy does not converge within maxDowntime`);
    return result(false, 'none', Number.POSITIVE_INFINITY, precopy.downtimeMs);
  }
  // Non-converging: a policy that may switch finishes with post-copy after
  // the first pass and the whole re-sends of the working set its stall
  // detection needs (see switchAfterPasses). What is left moves after the
  // switch at post-copy's unlimited rate.
  const firstPassMs = setupMs + (firstPassBytes / measures.throughput) * 1000;
  const workingSet = Math.min(workingSetBytes, measures.dirtyRate * (firstPassBytes / measures.throughput));
  const passMs = (workingSet / measures.throughput) * 1000;
  const postcopyMs = (workingSet / measures.link) * 1000 + options.switchoverCost;
  if (options.postcopy && name !== 'proxmox') {
    notes.push('post-copy is permitted: the guest runs on the destination before all its memory arrived');
    return result(true, 'post-copy', firstPassMs + switchAfterPasses(name, measures) * passMs + postcopyMs, options.switchoverCost);
  }
  if (options.allowPause && name === 'ferry') {
    notes.push('a pause is permitted: the guest stops while its working set is sent');
    return result(true, 'pause', firstPassMs + 4 * passMs + passMs, passMs + options.switchoverCost);
  }
  notes.push(`the guest dirties ${mb(measures.dirtyRate)} MB/s against ${mb(measures.throughput)} MB/s; XBZRLE and throttling may still make it converge, but how much depends on how the guest writes: not modelled`);
  return result(false, 'none', Number.POSITIVE_INFINITY, precopy.downtimeMs);
}

/**
 * Whole re-sends of the working set before a policy switches to post-copy.
 * ferry samples the dirty rate live and switches as pass 1 ends when the
 * guest outpaces the link; otherwise its XBZRLE passes stall 0.5–2.9 s
 * after a 4.3 s whole pass on the lab (half of one). Nova switches once a
 * pass made under 10% progress, oVirt after its 7-step schedule, a custom
 * policy is taken to act like Nova.
 */
function switchAfterPasses(policy: string, measures: PredictionMeasures): number {
  switch (policy) {
    case 'ferry':
      return outpacesLink(measures.dirtyRate, measures.throughput) ? 0 : 1.5;
    case 'ovirt':
      return 7;
    default:
      return 1;
  }
}

function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}

// Recipe: spread memory load across hosts by moving the fewest VMs, with the public SDK only.
//
//   ferry run rebalance [--dry-run] [--max-moves 3] [--tolerance 10]
//
// Load is the guest RAM a host holds over its total memory. While the most
// and least loaded hosts differ by more than the tolerance (percentage
// points), the VM that best halves their difference moves from the first to
// the second. Hosts in maintenance neither give nor take.
import { parseArgs } from 'node:util';
import { host, hosts, type MigrationResult } from '../sdk/index.ts';

/** What `ferry run` hands a recipe (a recipe run by hand gets none). */
export interface RunContext {
  signal: AbortSignal;
  journal: string;
  log(message: string): void;
}

interface Load {
  host: string;
  totalBytes: number;
  vms: Map<string, number>;
}

export interface RebalanceReport {
  status: 'completed' | 'planned' | 'partial';
  moves: Array<{ vm: string; from: string; to: string; memoryBytes: number; result?: MigrationResult; error?: string }>;
  /** Load per host (percent) before and after. */
  before: Record<string, number>;
  after: Record<string, number>;
}

export default async function rebalance(args: string[], context?: RunContext): Promise<RebalanceReport> {
  const { values } = parseArgs({ args, options: { 'dry-run': { type: 'boolean' }, 'max-moves': { type: 'string' }, tolerance: { type: 'string' } } });
  const maxMoves = Number(values['max-moves'] ?? 3);
  const tolerance = Number(values.tolerance ?? 10);
  const log = context?.log ?? ((message: string) => console.error(message));
  const signal = context?.signal;

  const loads: Load[] = [];
  for (const h of hosts()) {
    if (await h.maintenance({ ...(signal && { signal }) })) continue;
    const [facts, vms] = await Promise.all([h.facts(), h.vms()]);
    const sizes = new Map<string, number>();
    for (const vm of vms.filter((v) => v.process === 'running' && !v.migrating)) {
      const memory = await h.vm(vm.name).qmp('query-memory-size-summary', {}, { timeoutMs: 5000 });
      sizes.set(vm.name, memory['base-memory'] + (memory['plugged-memory'] ?? 0));
    }
    loads.push({ host: h.name, totalBytes: facts.memTotalBytes, vms: sizes });
  }
  const percent = (load: Load) => (100 * [...load.vms.values()].reduce((sum, bytes) => sum + bytes, 0)) / load.totalBytes;
  const snapshot = () => Object.fromEntries(loads.map((load) => [load.host, Math.round(percent(load) * 10) / 10]));
  const before = snapshot();

  // Plan greedily on the numbers, so the fewest moves close the gap.
  const moves: RebalanceReport['moves'] = [];
  while (moves.length < maxMoves && loads.length > 1) {
    const sorted = [...loads].sort((x, y) => percent(y) - percent(x));
    const [high, low] = [sorted[0], sorted.at(-1)];
    if (!high || !low || percent(high) - percent(low) <= tolerance) break;
    const gap = percent(high) - percent(low);
    let best: { vm: string; bytes: number; after: number } | undefined;
    for (const [vm, bytes] of high.vms) {
      if (low.vms.has(vm)) continue;
      const after = Math.abs(gap - (100 * bytes) / high.totalBytes - (100 * bytes) / low.totalBytes);
      if (after < gap && (!best || after < best.after)) best = { vm, bytes, after };
    }
    if (!best) break;
    high.vms.delete(best.vm);
    low.vms.set(best.vm, best.bytes);
    moves.push({ vm: best.vm, from: high.host, to: low.host, memoryBytes: best.bytes });
  }

  if (values['dry-run']) {
    for (const move of moves) log(`plan: ${move.vm} ${move.from} → ${move.to}`);
    return { status: 'planned', moves, before, after: snapshot() };
  }
  let failed = false;
  for (const move of moves) {
    if (signal?.aborted) break;
    log(`${move.vm}: ${move.from} → ${move.to}`);
    try {
      move.result = await host(move.from).vm(move.vm).migrateTo(move.to, { ...(signal && { signal }) });
    } catch (error) {
      failed = true;
      move.error = error instanceof Error ? error.message : String(error);
      log(`${move.vm}: ${move.error}`);
    }
  }
  return { status: failed ? 'partial' : 'completed', moves, before, after: snapshot() };
}

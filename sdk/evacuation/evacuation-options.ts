import type { MigrationOptions } from '../migration/migration-options.ts';
import { parseBandwidth } from '../migration/byte-units.ts';
import { EvacuationOptionsError } from './evacuation-errors.ts';

/** In which order VMs leave: smallest first (many off quickly), largest first, by name, or as listed. */
export type EvacuationOrder = 'smallest-first' | 'largest-first' | 'name' | readonly string[];

/** What a caller may ask of an evacuation. */
export interface EvacuateOptions {
  /** Destination hosts; default every other configured host. Hosts in maintenance are never used. */
  to?: string | readonly string[];
  /** Migrations at once: a number, or `'adaptive'` (default): more only while aggregate throughput grows and all converge. */
  concurrency?: number | 'adaptive';
  /** The most an adaptive evacuation runs at once (default 8). */
  maxConcurrency?: number;
  /** Each migration's longest pause at switchover, ms (default: the migration's, 300). */
  maxDowntime?: number;
  order?: EvacuationOrder;
  /** Return the plan (destinations, order, predicted times) and touch nothing. */
  dryRun?: boolean;
  /** Retry a failed VM once, elsewhere where possible (default true). */
  retry?: boolean;
  /** Options for each migration (bandwidth, autoConverge, …). */
  migration?: Omit<MigrationOptions, 'signal' | 'dryRun' | 'maxDowntime'>;
  /** The journal file (JSONL, append-only); `false` for none. Default: see defaultJournalPath(). */
  journal?: string | false;
  /** Throughput assumed by predictions when the journal has no measurements: bytes/s or e.g. `'100MiB/s'`. */
  throughput?: number | string;
  /** Why the host goes into maintenance (kept in its mark). */
  reason?: string;
  signal?: AbortSignal;
}

export interface ResolvedEvacuateOptions {
  to: string[] | undefined;
  concurrency: number | 'adaptive';
  maxConcurrency: number;
  maxDowntime: number | undefined;
  order: EvacuationOrder;
  dryRun: boolean;
  retry: boolean;
  migration: Omit<MigrationOptions, 'signal' | 'dryRun' | 'maxDowntime'>;
  journal: string | false | undefined;
  throughput: number | undefined;
  reason: string;
}

const KNOWN = ['to', 'concurrency', 'maxConcurrency', 'maxDowntime', 'order', 'dryRun', 'retry', 'migration', 'journal', 'throughput', 'reason', 'signal'];

/** Validates options and fills in defaults; a bad one is an EvacuationOptionsError naming it. */
export function resolveEvacuateOptions(options: EvacuateOptions = {}): ResolvedEvacuateOptions {
  if (typeof options !== 'object' || options === null) throw new EvacuationOptionsError('options', 'expected an object');
  const unknown = Object.keys(options).find((key) => !KNOWN.includes(key));
  if (unknown) throw new EvacuationOptionsError(unknown, `unknown option (known: ${KNOWN.join(', ')})`);
  const to = typeof options.to === 'string' ? options.to.split(',').map((name) => name.trim()).filter(Boolean) : options.to ? [...options.to] : undefined;
  if (to && to.length === 0) throw new EvacuationOptionsError('to', 'names no host');
  const { concurrency = 'adaptive', maxConcurrency = 8 } = options;
  if (concurrency !== 'adaptive' && !(Number.isInteger(concurrency) && concurrency >= 1)) throw new EvacuationOptionsError('concurrency', "expected a whole number ≥ 1 or 'adaptive'");
  if (!(Number.isInteger(maxConcurrency) && maxConcurrency >= 1)) throw new EvacuationOptionsError('maxConcurrency', 'expected a whole number ≥ 1');
  if (options.maxDowntime !== undefined && !(typeof options.maxDowntime === 'number' && options.maxDowntime > 0)) throw new EvacuationOptionsError('maxDowntime', 'expected ms > 0');
  const order = options.order ?? 'smallest-first';
  if (!Array.isArray(order) && !['smallest-first', 'largest-first', 'name'].includes(order as string)) {
    throw new EvacuationOptionsError('order', "expected 'smallest-first', 'largest-first', 'name' or a list of VM names");
  }
  let throughput: number | undefined;
  if (options.throughput !== undefined) {
    throughput = parseBandwidth(options.throughput);
    if (throughput === undefined) throw new EvacuationOptionsError('throughput', `cannot read ${JSON.stringify(options.throughput)} (try '100MiB/s')`);
  }
  if (options.journal !== undefined && options.journal !== false && (typeof options.journal !== 'string' || !options.journal)) throw new EvacuationOptionsError('journal', 'expected a file path or false');
  if (options.migration !== undefined && (typeof options.migration !== 'object' || options.migration === null)) throw new EvacuationOptionsError('migration', 'expected migration options');
  return {
    to,
    concurrency,
    maxConcurrency,
    maxDowntime: options.maxDowntime,
    order,
    dryRun: options.dryRun ?? false,
    retry: options.retry ?? true,
    migration: options.migration ?? {},
    journal: options.journal,
    throughput,
    reason: options.reason ?? 'evacuation',
  };
}

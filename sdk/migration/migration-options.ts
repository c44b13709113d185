import { Ajv } from 'ajv';
import type { MigrationCapability, MigrationParameters } from '../qmp/index.ts';
import { parseBandwidth } from './byte-units.ts';
import { MigrationOptionsError } from './migration-errors.ts';
import type { ConvergencePolicy } from './policy/convergence-policy.ts';
import type { ResolvedStorage, StorageMode } from './storage/storage-plan.ts';
import { DEFAULT_GUEST_CHECK_MS, type GuestCheckHook } from './guest-check.ts';
import { POLICY_PRESET_NAMES, type PolicyPresetName } from './policy/policy-presets.ts';
import { SWITCHOVER_OVERHEAD_MS } from './policy/switchover-gate.ts';
import { HEAVY_THROTTLE, HEAVY_THROTTLE_LIMIT_MS } from './policy/throttle-steps.ts';
import { resolveTls, TLS_OPTION_SCHEMA, type ResolvedTls, type TlsOptions } from './tls/tls-options.ts';

/** Where the downtime gate answers QEMU's pause: next to the source QEMU, in ferry's guard, or in ferry. */
export type SwitchoverGatePlace = 'source' | 'ferry';

/** What to do when a migration's `timeout` passes. */
export type TimeoutAction = 'cancel' | 'postcopy' | 'pause';

/**
 * What a caller may ask of one migration. Every option is described once in
 * MIGRATION_OPTION_TABLE below: its QEMU capability or parameter, its unit,
 * and which side it is applied on.
 */
export interface MigrationOptions {
  /** The longest pause the guest may see at switchover, in ms (QEMU `downtime-limit`). Default 300. One at or below the switchover's fixed cost (`switchoverCost`) is refused in preflight. */
  maxDowntime?: number;
  /** Bandwidth cap, bytes/s or a string such as `'64MiB/s'`; default: unlimited (QEMU's own default, 128 MiB/s, is far below a real link). */
  bandwidth?: number | string;
  /** Give up (or act, see onTimeout) after this many ms of transfer. Default: 300 s + 150 s per GiB of guest RAM. */
  timeout?: number;
  onTimeout?: TimeoutAction;
  /** Let QEMU throttle the guest's vCPUs when it dirties memory faster than the link sends. */
  autoConverge?: boolean;
  /** Send deltas of re-dirtied pages; `true`, or the cache size in bytes. */
  xbzrle?: boolean | number;
  /** Parallel streams; `true` (4) or the number of channels. */
  multifd?: boolean | number;
  /** Permission to switch to post-copy (the guest then runs on the destination before all memory arrived). */
  postcopy?: boolean;
  /**
   * How to help a migration converge: a preset (`'ferry'`, the default;
   * `'nova'`, `'ovirt'`, `'proxmox'` behave like those tools; `'none'` is
   * plain pre-copy) or your own ConvergencePolicy function.
   */
  policy?: PolicyPresetName | ConvergencePolicy;
  /** Permission for the policy to pause the guest to finish (a pause longer than maxDowntime, said so in the result). */
  allowPause?: boolean;
  /**
   * The longest the `ferry` policy keeps the guest throttled at 95 % or more
   * (as QEMU applies it, when its vCPUs run a twentieth of each second or
   * less) before it finishes another way: post-copy or a pause if permitted,
   * else a cancel. In ms; default 60000. Longer is more patient with a guest
   * that may still converge, at the cost of a guest its users see all but
   * stopped.
   */
  heavyThrottleLimit?: number;
  /**
   * What a switchover's pause costs on your hosts beyond sending the last
   * memory, in ms: stopping the guest, device state, the destination's load
   * and start, the round trips in the pause. The downtime guarantee plans
   * with it, so a `maxDowntime` at or below it is refused. Default 50,
   * measured on a lab of TCG guests on a busy 2-core machine; hosts with
   * KVM and spare cores pay less. Measure yours by migrating idle guests:
   * `result.downtimeMs` is nearly all fixed cost.
   */
  switchoverCost?: number;
  /**
   * Where the downtime gate answers QEMU's pause before switchover:
   * `'source'` (default), in ferry's guard next to the source QEMU, one local
   * round trip after the pause, from a table ferry keeps up to date; a pause
   * that does not fit there is left to ferry. `'ferry'`: always in ferry's own
   * process, so the pause also waits on ferry's link to the source host.
   */
  switchoverGate?: SwitchoverGatePlace;
  /**
   * Cancel (pre-copy) when the transfer moves no byte for this many ms: QEMU's
   * migration sockets have no keepalive, so a link cut for good would otherwise
   * hang until the timeout. Default 15000.
   */
  stallTimeout?: number;
  /**
   * How the VM's disks travel: `'auto'` (the default: a disk on storage both
   * hosts share stays where it is, any other is copied live over NBD),
   * `'shared'` (refuse unless shared), `'copy'` (copy every writable disk);
   * or `{ mode, disks: { '/path/or-device': 'copy' } }` for per-disk choices.
   */
  storage?: StorageMode | { mode?: StorageMode; disks?: Record<string, 'shared' | 'copy'> };
  /**
   * Your own check that the guest lives once it runs on the destination (a
   * service that answers, say); its verdict is in `result.guestCheck` beside
   * what ferry saw itself (run state, pvpanic, the guest agent).
   */
  guestCheck?: GuestCheckHook;
  /** How long to watch a VM with a pvpanic device for a panic after the switchover, ms. Default 2000. */
  guestCheckMs?: number;
  /**
   * Encrypt the migration stream with QEMU's TLS and x509 certificates:
   * `true` reads them from `/etc/pki/qemu` on each host (libvirt's layout),
   * or give the directory, the name the destination's certificate must show,
   * and whether only the intended source is accepted (see TlsOptions).
   */
  tls?: boolean | TlsOptions;
  /** Return the plan of steps and touch nothing. */
  dryRun?: boolean;
  /** Rewrites the destination's QEMU command line after ferry's own runDir rewrite. */
  rewriteCommandLine?: (argv: string[], context: { source: string; destination: string; vm: string }) => string[];
  signal?: AbortSignal;
}

/** The options after validation and defaults: what the migration will really use. */
export interface ResolvedMigrationOptions {
  maxDowntime: number;
  bandwidth: number | 'unlimited';
  timeout: number | 'auto';
  onTimeout: TimeoutAction;
  autoConverge: boolean;
  xbzrle: number | false;
  multifd: number | false;
  postcopy: boolean;
  policy: PolicyPresetName | ConvergencePolicy;
  allowPause: boolean;
  heavyThrottleLimit: number;
  switchoverCost: number;
  switchoverGate: SwitchoverGatePlace;
  stallTimeout: number;
  storage: ResolvedStorage;
  guestCheckMs: number;
  /** false: a plain TCP stream. */
  tls: ResolvedTls | false;
  dryRun: boolean;
}

type Side = 'source' | 'destination' | 'both' | 'ferry';

/** One row of the option table, after libvirt's qemu_migration_params.c. */
export interface MigrationOptionRow {
  option: keyof ResolvedMigrationOptions;
  unit: 'ms' | 'bytes/s' | 'bytes' | 'channels' | 'flag' | 'action' | 'choice' | 'policy' | 'storage';
  side: Side;
  capability?: MigrationCapability;
  parameter?: keyof MigrationParameters;
  cliFlag: string;
  description: string;
}

export const MIGRATION_OPTION_TABLE: readonly MigrationOptionRow[] = [
  { option: 'maxDowntime', unit: 'ms', side: 'source', parameter: 'downtime-limit', cliFlag: '--max-downtime', description: 'longest pause at switchover (ms)' },
  { option: 'bandwidth', unit: 'bytes/s', side: 'source', parameter: 'max-bandwidth', cliFlag: '--bandwidth', description: "bandwidth cap, e.g. 64MiB/s (default: unlimited)" },
  { option: 'timeout', unit: 'ms', side: 'ferry', cliFlag: '--timeout', description: 'give up or act after this many ms' },
  { option: 'onTimeout', unit: 'action', side: 'ferry', cliFlag: '--on-timeout', description: 'cancel | postcopy | pause' },
  { option: 'autoConverge', unit: 'flag', side: 'source', capability: 'auto-converge', cliFlag: '--auto-converge', description: 'throttle the guest when it dirties too fast' },
  { option: 'xbzrle', unit: 'bytes', side: 'source', capability: 'xbzrle', parameter: 'xbzrle-cache-size', cliFlag: '--xbzrle', description: 'delta-compress re-dirtied pages' },
  { option: 'multifd', unit: 'channels', side: 'both', capability: 'multifd', parameter: 'multifd-channels', cliFlag: '--multifd', description: 'parallel streams (channels)' },
  { option: 'postcopy', unit: 'flag', side: 'both', capability: 'postcopy-ram', cliFlag: '--postcopy', description: 'allow switching to post-copy' },
  { option: 'policy', unit: 'policy', side: 'ferry', cliFlag: '--policy', description: `convergence policy: ${POLICY_PRESET_NAMES.join(' | ')} (default ferry)` },
  { option: 'allowPause', unit: 'flag', side: 'ferry', cliFlag: '--allow-pause', description: 'let the policy pause the guest to finish' },
  { option: 'heavyThrottleLimit', unit: 'ms', side: 'ferry', cliFlag: '--heavy-throttle-limit', description: `longest the ferry policy keeps the guest throttled at ${HEAVY_THROTTLE}% or more (ms, default ${HEAVY_THROTTLE_LIMIT_MS})` },
  { option: 'switchoverCost', unit: 'ms', side: 'ferry', cliFlag: '--switchover-cost', description: `a switchover's fixed cost on your hosts (ms, default ${SWITCHOVER_OVERHEAD_MS})` },
  { option: 'switchoverGate', unit: 'choice', side: 'ferry', cliFlag: '--switchover-gate', description: "where the downtime gate answers the pause: source (next to QEMU, default) | ferry" },
  { option: 'stallTimeout', unit: 'ms', side: 'ferry', cliFlag: '--stall-timeout', description: 'cancel when nothing moves for this many ms' },
  { option: 'storage', unit: 'storage', side: 'ferry', cliFlag: '--storage', description: 'disks: auto | shared | copy (default auto: copy what is not shared)' },
  { option: 'tls', unit: 'flag', side: 'both', cliFlag: '--tls', description: "encrypt the stream: TLS, x509 from each host's tlsDir or /etc/pki/qemu" },
  { option: 'dryRun', unit: 'flag', side: 'ferry', cliFlag: '--dry-run', description: 'print the plan, touch nothing' },
];

/**
 * Capabilities ferry always sets, whatever the options (as libvirt's
 * qemuMigrationParamsAlwaysOn): the source stops before switchover for the
 * downtime gate; the return path makes the source's `completed` mean the
 * destination loaded everything (the commit point); the destination, started
 * with -S, takes its disks' locks only when ferry (or its guard) resumes it.
 */
export const ALWAYS_ON_CAPABILITIES: Readonly<Record<'source' | 'destination', readonly MigrationCapability[]>> = {
  source: ['events', 'pause-before-switchover', 'return-path'],
  destination: ['events', 'return-path', 'late-block-activate'],
};

export const DEFAULT_MAX_DOWNTIME_MS = 300;
export const DEFAULT_POLICY: PolicyPresetName = 'ferry';
export const DEFAULT_STALL_TIMEOUT_MS = 15_000;
const DEFAULT_MULTIFD_CHANNELS = 4;
export const DEFAULT_XBZRLE_CACHE = 64 * 1024 ** 2;
// QEMU rejects max-bandwidth above SIZE_MAX/1000; 1 TiB/s is "unlimited" for any link.
export const UNLIMITED_BANDWIDTH = 1024 ** 4;

/** The options' JSON schema (exported for the test that checks it against draft-07). */
export const MIGRATION_OPTIONS_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    maxDowntime: { type: 'number', exclusiveMinimum: 0, maximum: 2_000_000 },
    bandwidth: { anyOf: [{ type: 'number', exclusiveMinimum: 0 }, { type: 'string', minLength: 1 }] },
    timeout: { type: 'number', exclusiveMinimum: 0 },
    onTimeout: { enum: ['cancel', 'postcopy', 'pause'] },
    autoConverge: { type: 'boolean' },
    xbzrle: { anyOf: [{ type: 'boolean' }, { type: 'integer', minimum: 1024 * 1024 }] },
    multifd: { anyOf: [{ type: 'boolean' }, { type: 'integer', minimum: 1, maximum: 255 }] },
    postcopy: { type: 'boolean' },
    policy: {},
    allowPause: { type: 'boolean' },
    heavyThrottleLimit: { type: 'number', minimum: 0 },
    switchoverCost: { type: 'number', minimum: 0, maximum: 10_000 },
    switchoverGate: { enum: ['source', 'ferry'] },
    stallTimeout: { type: 'number', minimum: 1000 },
    storage: {
      anyOf: [
        { enum: ['auto', 'shared', 'copy'] },
        {
          type: 'object',
          additionalProperties: false,
          properties: { mode: { enum: ['auto', 'shared', 'copy'] }, disks: { type: 'object', additionalProperties: { enum: ['shared', 'copy'] } } },
        },
      ],
    },
    tls: TLS_OPTION_SCHEMA,
    dryRun: { type: 'boolean' },
    rewriteCommandLine: {},
    guestCheck: {},
    guestCheckMs: { type: 'number', minimum: 0, maximum: 60_000 },
    signal: {},
  },
} as const;
// No meta-schema check at run time: compiling draft-07's own validator cost every process ~40 ms;
// a unit test (schemas.test.ts) checks this constant schema against it instead.
const validate = new Ajv({ allErrors: false, strict: false, validateSchema: false }).compile(MIGRATION_OPTIONS_SCHEMA);

/**
 * Validates options and fills in defaults; a bad option is a
 * MigrationOptionsError naming it (nothing has been touched yet).
 */
export function resolveMigrationOptions(options: MigrationOptions = {}): ResolvedMigrationOptions {
  if (typeof options !== 'object' || options === null) throw new MigrationOptionsError('options', 'expected an object');
  const plain = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
  if (!validate(plain)) {
    const error = validate.errors?.[0];
    const option = error?.instancePath.slice(1) || String(error?.params['additionalProperty'] ?? 'options');
    const message = error?.keyword === 'additionalProperties' ? `unknown option (known: ${Object.keys(MIGRATION_OPTIONS_SCHEMA.properties).join(', ')})` : `${error?.message ?? 'invalid'}${error?.keyword === 'enum' ? ` (${(error.params['allowedValues'] as string[]).join(', ')})` : ''}`;
    throw new MigrationOptionsError(option, message);
  }
  if (options.rewriteCommandLine !== undefined && typeof options.rewriteCommandLine !== 'function') throw new MigrationOptionsError('rewriteCommandLine', 'expected a function');
  if (options.guestCheck !== undefined && typeof options.guestCheck !== 'function') throw new MigrationOptionsError('guestCheck', 'expected a function');
  let bandwidth: number | 'unlimited' = 'unlimited';
  if (options.bandwidth !== undefined) {
    const parsed = parseBandwidth(options.bandwidth);
    if (parsed === undefined) throw new MigrationOptionsError('bandwidth', `cannot read ${JSON.stringify(options.bandwidth)} (try 1073741824, '64MiB/s' or '10Gbit/s')`);
    bandwidth = Math.round(parsed);
  }
  const policy = options.policy ?? DEFAULT_POLICY;
  if (typeof policy !== 'function' && !POLICY_PRESET_NAMES.includes(policy)) {
    throw new MigrationOptionsError('policy', `unknown policy ${JSON.stringify(policy)} (${POLICY_PRESET_NAMES.join(', ')}, or a function)`);
  }
  if (options.onTimeout === 'postcopy' && !options.postcopy) throw new MigrationOptionsError('onTimeout', "'postcopy' needs postcopy: true (permission to switch)");
  if (options.postcopy && options.multifd) {
    // QEMU 7.2 accepts both, completes, then aborts the destination (yank assertion): the VM is lost.
    throw new MigrationOptionsError('multifd', 'multifd with postcopy loses the VM on QEMU 7.2 (the destination aborts after completing); choose one');
  }
  const tls = resolveTls(options.tls);
  return {
    maxDowntime: options.maxDowntime ?? DEFAULT_MAX_DOWNTIME_MS,
    bandwidth,
    timeout: options.timeout ?? 'auto',
    onTimeout: options.onTimeout ?? 'cancel',
    autoConverge: options.autoConverge ?? false,
    xbzrle: options.xbzrle === true ? DEFAULT_XBZRLE_CACHE : options.xbzrle || false,
    multifd: options.multifd === true ? DEFAULT_MULTIFD_CHANNELS : options.multifd || false,
    postcopy: options.postcopy ?? false,
    policy,
    allowPause: options.allowPause ?? false,
    heavyThrottleLimit: options.heavyThrottleLimit ?? HEAVY_THROTTLE_LIMIT_MS,
    switchoverCost: options.switchoverCost ?? SWITCHOVER_OVERHEAD_MS,
    switchoverGate: options.switchoverGate ?? 'source',
    stallTimeout: options.stallTimeout ?? DEFAULT_STALL_TIMEOUT_MS,
    storage: resolveStorage(options.storage),
    guestCheckMs: options.guestCheckMs ?? DEFAULT_GUEST_CHECK_MS,
    tls,
    dryRun: options.dryRun ?? false,
  };
}

function resolveStorage(storage: MigrationOptions['storage']): ResolvedStorage {
  if (storage === undefined) return { mode: 'auto', disks: {} };
  if (typeof storage === 'string') return { mode: storage, disks: {} };
  return { mode: storage.mode ?? 'auto', disks: { ...storage.disks } };
}

/** The capabilities each side needs, from the table. */
export function capabilitiesFor(options: ResolvedMigrationOptions, side: 'source' | 'destination'): Array<{ capability: MigrationCapability; state: boolean }> {
  const capabilities: Array<{ capability: MigrationCapability; state: boolean }> = [];
  for (const row of MIGRATION_OPTION_TABLE) {
    if (!row.capability || (row.side !== side && row.side !== 'both')) continue;
    capabilities.push({ capability: row.capability, state: options[row.option] !== false });
  }
  return capabilities;
}

/** The parameters each side needs, from the table. */
export function parametersFor(options: ResolvedMigrationOptions, side: 'source' | 'destination'): Partial<MigrationParameters> {
  const parameters: Record<string, number> = {};
  for (const row of MIGRATION_OPTION_TABLE) {
    if (!row.parameter || (row.side !== side && row.side !== 'both')) continue;
    const value = options[row.option];
    if (row.option === 'bandwidth') parameters[row.parameter] = value === 'unlimited' ? UNLIMITED_BANDWIDTH : Number(value);
    else if (typeof value === 'number') parameters[row.parameter] = value;
  }
  return parameters as Partial<MigrationParameters>;
}

/** The timeout in ms for a guest of `memoryBytes`: explicit, or 300 s + 150 s per GiB (KubeVirt's per-GiB figure). */
export function effectiveTimeoutMs(options: ResolvedMigrationOptions, memoryBytes: number): number {
  if (options.timeout !== 'auto') return options.timeout;
  return 300_000 + Math.ceil((memoryBytes / 1024 ** 3) * 150_000);
}

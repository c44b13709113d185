import type { MigrationCapabilityStatus, MigrationParameters, QomObjectArgs } from '../qmp/index.ts';
import { ALWAYS_ON_CAPABILITIES, capabilitiesFor, DEFAULT_XBZRLE_CACHE, parametersFor, type ResolvedMigrationOptions } from './migration-options.ts';
import { resolvePolicy } from './policy/policy-presets.ts';
import { qemuDowntimeLimitFor } from './policy/switchover-gate.ts';
import { tlsSettings, type TlsInputs } from './tls/tls-settings.ts';

/** What ferry sets on one QEMU before the transfer. */
export interface SideSettings {
  /** Objects added first (TLS credentials, authz), removed when the VM stays there. */
  objects: QomObjectArgs[];
  capabilities: MigrationCapabilityStatus[];
  parameters: Partial<MigrationParameters>;
}

/** Everything a migration sets, computed once: the real run applies it, a dry run reports it. */
export interface ParameterPlan {
  /** The options once the policy's needs (auto-converge, …) were added. */
  options: ResolvedMigrationOptions;
  source: SideSettings;
  destination: SideSettings;
  /** The policy's first downtime target, within maxDowntime. */
  initialDowntimeMs: number;
  /** The throttle auto-converge starts at (0 without it). */
  initialThrottlePercent: number;
}

/**
 * The capabilities and parameters of a migration with `options`, on each
 * side, as kysely's compile() is to execute(): performSrc and prepareDst set
 * exactly these, and `dryRun` lists exactly these.
 */
export function planParameters(options: ResolvedMigrationOptions, memoryBytes?: number, tls?: TlsInputs, sourceName?: string): ParameterPlan {
  const needs = resolvePolicy(options.policy)?.needs ?? {};
  let planned = options;
  if (needs.autoConverge && !planned.autoConverge) planned = { ...planned, autoConverge: true };
  if (needs.xbzrle && planned.xbzrle === false) planned = { ...planned, xbzrle: xbzrleCacheFor(memoryBytes) };
  const initialDowntimeMs = Math.min(planned.maxDowntime, Math.max(1, needs.initialDowntimeMs?.(planned.maxDowntime) ?? planned.maxDowntime));
  const initialThrottlePercent = planned.autoConverge ? Math.min(99, Math.max(1, needs.initialThrottlePercent ?? 99)) : 0;
  // Until ferry has measured the link, QEMU may only switch over what it sends in a millisecond (see switchover-gate).
  const sourceParameters: Partial<MigrationParameters> = { ...parametersFor(planned, 'source'), 'downtime-limit': qemuDowntimeLimitFor(initialDowntimeMs, 0, 0) };
  if (planned.autoConverge) Object.assign(sourceParameters, throttleParameters(initialThrottlePercent, true));
  const sourceTls = tlsSettings(planned.tls, 'source', tls, sourceName);
  const destinationTls = tlsSettings(planned.tls, 'destination', tls, sourceName);
  return {
    options: planned,
    source: {
      objects: sourceTls.objects,
      capabilities: [...ALWAYS_ON_CAPABILITIES.source.map((capability) => ({ capability, state: true })), ...capabilitiesFor(planned, 'source')],
      parameters: { ...sourceParameters, ...sourceTls.parameters },
    },
    destination: {
      objects: destinationTls.objects,
      capabilities: [...ALWAYS_ON_CAPABILITIES.destination.map((capability) => ({ capability, state: true })), ...capabilitiesFor(planned, 'destination').filter((capability) => capability.state)],
      parameters: { ...parametersFor(planned, 'destination'), ...destinationTls.parameters },
    },
    initialDowntimeMs,
    initialThrottlePercent,
  };
}

/**
 * Auto-converge's throttle: the first trigger goes straight to `percent`
 * (QEMU ramps from `initial` by `increment`). A start at 99 % with no
 * policy asking for less (`qemuRamp`) keeps QEMU's own ramp as it ships.
 */
export function throttleParameters(percent: number, qemuRamp = false): Partial<MigrationParameters> {
  if (percent >= 99 && qemuRamp) return { 'cpu-throttle-initial': 20, 'cpu-throttle-increment': 10, 'max-cpu-throttle': 99 };
  return { 'cpu-throttle-initial': percent, 'cpu-throttle-increment': percent, 'max-cpu-throttle': percent };
}

/** XBZRLE keeps a cache of sent pages: a quarter of RAM, at least the default, a power of two. */
function xbzrleCacheFor(memoryBytes: number | undefined): number {
  const quarter = (memoryBytes ?? 0) / 4;
  return Math.max(DEFAULT_XBZRLE_CACHE, 2 ** Math.floor(Math.log2(Math.max(quarter, 1))));
}

import type { ConvergencePolicy } from './convergence-policy.ts';
import { ferryPolicy } from './ferry-policy.ts';
import { novaPolicy } from './nova-policy.ts';
import { ovirtPolicy } from './ovirt-policy.ts';
import { proxmoxPolicy } from './proxmox-policy.ts';

/** The built-in policies by name; `none` is plain pre-copy at the caller's maxDowntime. */
export type PolicyPresetName = 'ferry' | 'nova' | 'ovirt' | 'proxmox' | 'none';

export const POLICY_PRESETS: Readonly<Record<Exclude<PolicyPresetName, 'none'>, ConvergencePolicy>> = {
  ferry: ferryPolicy,
  nova: novaPolicy,
  ovirt: ovirtPolicy,
  proxmox: proxmoxPolicy,
};

export const POLICY_PRESET_NAMES: readonly PolicyPresetName[] = ['ferry', 'nova', 'ovirt', 'proxmox', 'none'];

/** A preset by name, or the caller's own function; undefined for `none`. */
export function resolvePolicy(policy: PolicyPresetName | ConvergencePolicy): ConvergencePolicy | undefined {
  if (typeof policy === 'function') return policy;
  return policy === 'none' ? undefined : POLICY_PRESETS[policy];
}

/** A policy's name for results and events. */
export function policyName(policy: PolicyPresetName | ConvergencePolicy): string {
  return typeof policy === 'function' ? (policy.policyName ?? (policy.name || 'custom')) : policy;
}

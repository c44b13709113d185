// Convergence policies: the types, the presets, and the downtime guarantee's estimate.
export { definePolicy } from './convergence-policy.ts';
export type { ConvergencePolicy, ConvergenceAction, ConvergenceSample, PassStats, PolicyInput, PolicyNeeds } from './convergence-policy.ts';
export { POLICY_PRESETS, POLICY_PRESET_NAMES, resolvePolicy } from './policy-presets.ts';
export type { PolicyPresetName } from './policy-presets.ts';
export type { ConvergenceActionRecord } from './policy-runner.ts';
export type { SwitchoverEstimate } from './switchover-gate.ts';

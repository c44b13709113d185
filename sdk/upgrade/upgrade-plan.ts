import type { AntiAffinity } from '../evacuation/anti-affinity.ts';
import type { HostSurvey } from '../evacuation/index.ts';
import { PlacementLedger, placeVms, type PlacementHost, type PlacementVm } from '../evacuation/placement.ts';
import { compareQemuVersions } from '../evacuation/qemu-version.ts';
import { nextStep, type HostProgress, type HostStep } from './upgrade-journal.ts';

/** One VM's planned move: off the host being upgraded, or home again. */
export interface PlannedUpgradeMove {
  vm: string;
  from: string;
  to: string;
  memoryBytes: number;
  /** The QEMU the VM runs when it moves (as planned: a VM returned to an upgraded host runs its new QEMU). */
  qemuVersion?: string;
}

/** One host's turn: evacuate, run the hook, check, return. */
export interface HostUpgradePlan {
  host: string;
  order: number;
  /** `done` (the journal says so), or still to do. */
  status: 'done' | 'to-do';
  /** A resumed upgrade: the step this host's turn goes on with (moves before it were made already). */
  resumesAt?: HostStep;
  /** The host's QEMU now, and the one it must have after its upgrade (undefined: not checked). */
  qemuBefore?: string;
  qemuAfter?: string;
  /** The QEMU of every other host at this turn (what placement compared against). */
  qemuAt: Record<string, string | undefined>;
  evacuate: PlannedUpgradeMove[];
  /** VMs that fit nowhere at this turn, with every host's reason: such a plan is refused. */
  unplaceable: Array<{ vm: string; reason: string }>;
  hook: string;
  check: string;
  returns: PlannedUpgradeMove[];
}

export interface UpgradePlan {
  steps: HostUpgradePlan[];
  /** VMs whose home is one of the hosts but that run on none of them now (not moved by the upgrade). */
  missing: string[];
  /** Why the upgrade cannot run as planned (nothing is touched then). */
  refused?: string;
}

export interface UpgradePlanInput {
  /** The hosts in upgrade order. */
  hosts: readonly string[];
  surveys: ReadonlyMap<string, HostSurvey>;
  /** Each VM's home host. */
  homes: Readonly<Record<string, string>>;
  expectQemu: string | undefined;
  hook: string;
  /** What the journal says of each host (a resumed upgrade). */
  progress?: ReadonlyMap<string, HostProgress>;
  affinity: () => AntiAffinity;
  /** A maintenance mark this upgrade made itself does not exclude a host from taking VMs later. */
  ownMark: (survey: HostSurvey) => boolean;
}

/**
 * The whole rolling upgrade, host by host, with the placement code the
 * evacuation uses (PlacementLedger): at each host's turn every VM is home
 * (the turns before returned them), hosts upgraded before it run the
 * expected QEMU, and so do the VMs that came home to them. A VM only moves
 * to a QEMU at least as new as its own; a VM that fits nowhere at its
 * host's turn makes the plan refused.
 *
 * @example
 * const plan = planRollingUpgrade({ hosts: ['a', 'b', 'c'], surveys, homes, expectQemu: '10.0', hook: 'apt-get …', affinity, ownMark });
 */
export function planRollingUpgrade(input: UpgradePlanInput): UpgradePlan {
  const vmFacts = new Map<string, { memoryBytes: number; qemuVersion?: string }>();
  for (const survey of input.surveys.values()) for (const vm of survey.vms) vmFacts.set(vm.name, { memoryBytes: vm.memoryBytes, ...(vm.qemuVersion !== undefined && { qemuVersion: vm.qemuVersion }) });
  const missing = Object.keys(input.homes).filter((vm) => !vmFacts.has(vm)).sort();
  const upgraded = new Set<string>();
  const steps: HostUpgradePlan[] = [];
  const refusals: string[] = [];
  const qemuOf = (host: string): string | undefined => (upgraded.has(host) ? input.expectQemu ?? input.surveys.get(host)?.qemuVersion : input.surveys.get(host)?.qemuVersion);
  const vmQemu = (vm: string): string | undefined => {
    const home = input.homes[vm];
    return home !== undefined && upgraded.has(home) && input.expectQemu !== undefined ? input.expectQemu : vmFacts.get(vm)?.qemuVersion;
  };
  const homedOn = (host: string): PlacementVm[] =>
    Object.entries(input.homes)
      .filter(([vm, home]) => home === host && vmFacts.has(vm))
      .map(([vm]) => ({ name: vm, memoryBytes: vmFacts.get(vm)?.memoryBytes ?? 0, ...(vmQemu(vm) !== undefined && { qemuVersion: vmQemu(vm) }) }))
      .sort((x, y) => x.name.localeCompare(y.name));

  input.hosts.forEach((host, index) => {
    const others: PlacementHost[] = input.hosts.filter((name) => name !== host).map((name) => {
      const survey = input.surveys.get(name);
      const qemuVersion = qemuOf(name);
      const excluded = !survey ? 'not surveyed' : survey.maintenance && !input.ownMark(survey) ? `in maintenance (${survey.maintenance.reason})` : undefined;
      return {
        name, memAvailableBytes: survey?.memAvailableBytes ?? 0, memoryBudgetBytes: survey?.memoryBudgetBytes, vms: homedOn(name),
        ...(qemuVersion !== undefined && { qemuVersion }), ...(excluded !== undefined && { excluded }),
      };
    });
    const ledger = new PlacementLedger(others, input.affinity());
    const leaving = homedOn(host);
    const evacuate: PlannedUpgradeMove[] = [];
    const unplaceable: HostUpgradePlan['unplaceable'] = [];
    // A resumed host whose evacuation is done: its moves are the journal's, not a plan.
    const evacuated = input.progress?.get(host)?.evacuated;
    for (const move of evacuated?.moves ?? []) {
      const qemuVersion = vmFacts.get(move.vm)?.qemuVersion;
      evacuate.push({ vm: move.vm, from: host, to: move.to, memoryBytes: vmFacts.get(move.vm)?.memoryBytes ?? 0, ...(qemuVersion !== undefined && { qemuVersion }) });
    }
    for (const placement of evacuated ? [] : placeVms(leaving, ledger)) {
      const vm = leaving.find((v) => v.name === placement.vm);
      if (!vm) continue;
      if (placement.to === undefined) unplaceable.push({ vm: vm.name, reason: placement.reason });
      else evacuate.push({ vm: vm.name, from: host, to: placement.to, memoryBytes: vm.memoryBytes, ...(vm.qemuVersion !== undefined && { qemuVersion: vm.qemuVersion }) });
    }
    const qemuBefore = qemuOf(host);
    // Away, each VM runs the QEMU its destination started for it; home again, the upgraded one.
    const returns = evacuate.map((move) => {
      const qemuVersion = qemuOf(move.to);
      return { vm: move.vm, from: move.to, to: host, memoryBytes: move.memoryBytes, ...(qemuVersion !== undefined && { qemuVersion }) };
    });
    upgraded.add(host);
    const qemuAfter = input.expectQemu ?? qemuBefore;
    const done = input.progress?.get(host)?.done === true;
    if (!done) {
      for (const { vm, reason } of unplaceable) refusals.push(`at ${host}'s turn ${vm} fits nowhere: ${reason}`);
      for (const move of returns) {
        if (move.qemuVersion !== undefined && qemuAfter !== undefined && compareQemuVersions(qemuAfter, move.qemuVersion) < 0) {
          refusals.push(`${move.vm} could not come home to ${host}: it would run QEMU ${move.qemuVersion} on ${move.from}, newer than the ${qemuAfter} ${host} gets`);
        }
      }
    }
    const known = input.progress?.get(host);
    const next = known ? nextStep(known) : undefined;
    steps.push({
      host, order: index + 1, status: done ? 'done' : 'to-do', ...(next !== undefined && next !== 'done' && { resumesAt: next }),
      ...(qemuBefore !== undefined && { qemuBefore }), ...(input.expectQemu !== undefined && { qemuAfter: input.expectQemu }),
      qemuAt: Object.fromEntries(others.map((other) => [other.name, other.qemuVersion])),
      evacuate, unplaceable,
      hook: input.hook,
      check: input.expectQemu === undefined ? 'SSH answers again (QEMU version reported, not checked)' : `SSH answers again; qemu-system-x86_64 --version says ${input.expectQemu}.x`,
      returns,
    });
  });
  return { steps, missing, ...(refusals.length > 0 && { refused: refusals.join('; ') }) };
}

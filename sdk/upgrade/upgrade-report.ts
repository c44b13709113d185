import type { HostStep } from './upgrade-journal.ts';
import type { UpgradePlan } from './upgrade-plan.ts';
import type { VmWhereabouts } from './locate-vms.ts';

/** What happened to one host. */
export interface HostUpgradeOutcome {
  host: string;
  /** `done`: evacuated, upgraded, checked, its VMs home; `failed` here; `pending`: not reached (or a dry run). */
  status: 'done' | 'failed' | 'pending';
  /** Where its VMs went while it was upgraded. */
  evacuated: Array<{ vm: string; to: string }>;
  hook?: {
    /** Run by this run; false when the journal says an earlier run's succeeded (it is never run twice unless asked). */
    ran: boolean;
    ok: boolean;
    exitCode: number | null;
    outputTail: string;
    durationMs: number;
    note?: string;
  };
  /** The QEMU the host reported after its upgrade. */
  qemuVersion?: string;
  /** VMs brought home (`from`), or found home already. */
  returned: Array<{ vm: string; from: string; note?: string }>;
  /** Steps skipped because the journal says an earlier run did them. */
  fromJournal: HostStep[];
}

/** What a rolling upgrade did (or, for a dry run, would do). It never throws halfway: look here. */
export interface RollingUpgradeReport {
  /** `completed`; `planned` (dry run); `refused` (the plan cannot be placed: nothing touched); `failed` at `failure`; `cancelled`. */
  status: 'completed' | 'planned' | 'refused' | 'failed' | 'cancelled';
  /** The upgrade's id (a resumed run keeps the id of the one it resumes). */
  id: string;
  resumed: boolean;
  journal: string;
  hosts: HostUpgradeOutcome[];
  plan: UpgradePlan;
  /** Where and why it stopped. */
  failure?: {
    host: string;
    step: HostStep | 'plan';
    message: string;
    /** Hosts that could not be reached over SSH (so the CLI exits 3, as for every command). */
    unreachable?: string[];
  };
  /** After a stop: where every VM is, from QEMU on each host. */
  whereabouts?: VmWhereabouts[];
  /** After a stop: how to carry on. */
  resume?: string;
  wallTimeMs: number;
}

import type { ResolvedMigrationOptions } from './migration-options.ts';
import { planParameters, type SideSettings } from './parameter-plan.ts';

/** One step a migration would take: on which side, and what. */
export interface MigrationStep {
  phase: 'preflight' | 'prepare' | 'perform' | 'finish' | 'confirm';
  side: 'source' | 'destination' | 'ferry';
  action: string;
}

/** The steps of a migration, as `dryRun` reports them; pure, touches nothing. */
export function planMigration(vm: string, source: string, destination: string, options: ResolvedMigrationOptions): MigrationStep[] {
  // The very settings the real run applies (parameter-plan.ts).
  const plan = planParameters(options);
  return [
    { phase: 'preflight', side: 'source', action: `start ferry's guard on ${source} (it relays QMP and settles the migration if ferry is lost): check ${vm} runs there, take the migration lock ${vm}.migration, read its QEMU command line` },
    { phase: 'preflight', side: 'source', action: `read ${vm}'s RAM size, QEMU version and machine type` },
    { phase: 'preflight', side: 'destination', action: `check ${destination} is reachable, has the memory, a QEMU at least as new, the machine type and CPU flags, perl for the guard; no ${vm} there yet` },
    { phase: 'prepare', side: 'destination', action: `start ferry's guard on ${destination}, which launches QEMU from the source's command line with its runtime files moved to ${destination}'s runDir (disk paths kept), -S, -incoming defer` },
    { phase: 'prepare', side: 'destination', action: `set ${describe(plan.destination)}; migrate-incoming on a free port of ${destination}'s migration address` },
    { phase: 'perform', side: 'source', action: `save the current values (the guard can undo them); set ${describe(plan.source)}` },
    { phase: 'perform', side: 'source', action: `migrate; watch progress until completed (timeout: ${options.timeout === 'auto' ? 'auto' : `${options.timeout} ms`}, then ${options.onTimeout})` },
    { phase: 'finish', side: 'destination', action: `once the source reports completed (the destination has loaded everything), resume ${vm} on ${destination}` },
    { phase: 'confirm', side: 'source', action: `quit the source QEMU (postmigrate), remove its files and the lock` },
  ];
}

function describe(settings: SideSettings): string {
  const on = settings.capabilities.filter((c) => c.state).map((c) => c.capability);
  const off = settings.capabilities.filter((c) => !c.state).map((c) => c.capability);
  return `capabilities on [${on.join(', ')}]${off.length ? `, off [${off.join(', ')}]` : ''} and parameters ${JSON.stringify(settings.parameters)}`;
}

import type { ResolvedMigrationOptions } from './migration-options.ts';
import { capabilitiesFor, parametersFor } from './migration-options.ts';

/** One step a migration would take: on which side, and what. */
export interface MigrationStep {
  phase: 'preflight' | 'prepare' | 'perform' | 'finish' | 'confirm';
  side: 'source' | 'destination' | 'ferry';
  action: string;
}

/** The steps of a migration, as `dryRun` reports them; pure, touches nothing. */
export function planMigration(vm: string, source: string, destination: string, options: ResolvedMigrationOptions): MigrationStep[] {
  const srcCaps = capabilitiesFor(options, 'source').filter((c) => c.state).map((c) => c.capability);
  const dstCaps = capabilitiesFor(options, 'destination').filter((c) => c.state).map((c) => c.capability);
  return [
    { phase: 'preflight', side: 'source', action: `check ${vm} runs on ${source}; read its QEMU command line, RAM size and version` },
    { phase: 'preflight', side: 'destination', action: `check ${destination} is reachable, has the memory, a QEMU at least as new, the machine type and CPU flags; no ${vm} there yet` },
    { phase: 'preflight', side: 'source', action: `take the migration lock ${vm}.migration in ${source}'s runDir` },
    { phase: 'prepare', side: 'destination', action: `launch QEMU from the source's command line with runDir paths rewritten, -incoming defer` },
    { phase: 'prepare', side: 'destination', action: `set capabilities [${dstCaps.join(', ') || 'none'}]; migrate-incoming on a free port of ${destination}'s migration address` },
    { phase: 'perform', side: 'source', action: `save parameters; set capabilities [${['events', ...srcCaps].join(', ')}] and parameters ${JSON.stringify(parametersFor(options, 'source'))}` },
    { phase: 'perform', side: 'source', action: `migrate; watch progress until completed (timeout: ${options.timeout === 'auto' ? 'auto' : `${options.timeout} ms`}, then ${options.onTimeout})` },
    { phase: 'finish', side: 'destination', action: `wait until ${vm} runs on ${destination}` },
    { phase: 'confirm', side: 'source', action: `quit the source QEMU (postmigrate), remove its files and the lock` },
  ];
}

import type { ResolvedMigrationOptions } from './migration-options.ts';
import { planParameters, type SideSettings } from './parameter-plan.ts';
import { TLS_FILES } from './tls/tls-preflight.ts';
import type { TlsInputs } from './tls/tls-settings.ts';

/** One step a migration would take: on which side, and what. */
export interface MigrationStep {
  phase: 'preflight' | 'prepare' | 'perform' | 'finish' | 'confirm';
  side: 'source' | 'destination' | 'ferry';
  action: string;
}

/** The steps of a migration, as `dryRun` reports them; pure, touches nothing. */
export function planMigration(vm: string, source: string, destination: string, options: ResolvedMigrationOptions, tls?: TlsInputs): MigrationStep[] {
  // The very settings the real run applies (parameter-plan.ts).
  const plan = planParameters(options, undefined, tls, source);
  const tlsChecks: MigrationStep[] = options.tls
    ? [{ phase: 'preflight', side: 'ferry', action: `TLS: check ${source} has ${TLS_FILES.source.join(', ')} in ${tls?.dirs.source ?? '/etc/pki/qemu'} and ${destination} has ${TLS_FILES.destination.join(', ')} in ${tls?.dirs.destination ?? '/etc/pki/qemu'}, readable and not expired${options.tls.authz === true ? `; read the subject of ${source}'s client certificate (openssl) for authz` : ''}` }]
    : [];
  return [
    { phase: 'preflight', side: 'source', action: `start ferry's guard on ${source} (it relays QMP and settles the migration if ferry is lost): check ${vm} runs there, take the migration lock ${vm}.migration, read its QEMU command line` },
    { phase: 'preflight', side: 'source', action: `read ${vm}'s RAM size, QEMU version and machine type` },
    { phase: 'preflight', side: 'destination', action: `check ${destination} is reachable, has the memory, a QEMU at least as new, the machine type and CPU flags, perl for the guard; no ${vm} there yet` },
    { phase: 'preflight', side: 'destination', action: `start ferry's guard on ${destination}, beside the checks: it waits for its launch and runs nothing until then (a refused migration just lets it go)` },
    ...tlsChecks,
    { phase: 'prepare', side: 'destination', action: `send the guard on ${destination} its launch: QEMU from the source's command line with its runtime files moved to ${destination}'s runDir (disk paths kept), -S, -incoming defer` },
    { phase: 'prepare', side: 'destination', action: `set ${describe(plan.destination)}; migrate-incoming on a free port of ${destination}'s migration address` },
    { phase: 'perform', side: 'source', action: `save the current values (the guard can undo them); set ${describe(plan.source)}` },
    { phase: 'perform', side: 'source', action: `migrate; watch progress until completed (timeout: ${options.timeout === 'auto' ? 'auto' : `${options.timeout} ms`}, then ${options.onTimeout}), steering downtime-limit (and avail-switchover-bandwidth, on QEMU 8.2 or later) so that QEMU switches over only what fits maxDowntime` },
    gateStep(source, options),
    { phase: 'finish', side: 'destination', action: `once the source reports completed (the destination has loaded everything), resume ${vm} on ${destination}` },
    ...(options.tls ? [{ phase: 'finish' as const, side: 'destination' as const, action: `remove the TLS objects and reset tls-creds on ${destination}` }] : []),
    { phase: 'confirm', side: 'source', action: `quit the source QEMU (postmigrate); its guard, told first, removes its files and the lock once it is gone` },
  ];
}

/** Where QEMU's pause before switchover is answered, and by what rule (switchover-gate.ts, source-gate.ts). */
function gateStep(source: string, options: ResolvedMigrationOptions): MigrationStep {
  const rule = `continue only if the pause fits maxDowntime ${options.maxDowntime} ms (else migrate_cancel: the VM runs on at ${source})`;
  if (options.switchoverGate === 'ferry') return { phase: 'perform', side: 'ferry', action: `at QEMU's pause before switchover: ${rule}` };
  return { phase: 'perform', side: 'source', action: `at QEMU's pause before switchover, the guard on ${source} answers next to QEMU from ferry's table (ferry answers a pause that does not fit it, and every pause when disks are copied): ${rule}` };
}

function describe(settings: SideSettings): string {
  const objects = settings.objects.map((object) => `object-add ${JSON.stringify(object)}`);
  const on = settings.capabilities.filter((c) => c.state).map((c) => c.capability);
  const off = settings.capabilities.filter((c) => !c.state).map((c) => c.capability);
  return `${objects.length ? `${objects.join(', ')}; then ` : ''}capabilities on [${on.join(', ')}]${off.length ? `, off [${off.join(', ')}]` : ''} and parameters ${JSON.stringify(settings.parameters)}`;
}

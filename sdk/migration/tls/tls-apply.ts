import { QmpCommandError, type QmpClient, type QomObjectArgs } from '../../qmp/index.ts';
import type { MigrationContext } from '../migration-context.ts';
import { MigrationTlsError } from './tls-errors.ts';

/**
 * Adds the objects to one side's QEMU. An object of the same id left by an
 * earlier migration is replaced, as libvirt does. QEMU checks credentials
 * as it loads them (its own certificate against its own CA, the key
 * against the certificate): a refusal is a MigrationTlsError naming the host.
 */
export async function addObjects(context: MigrationContext, side: 'source' | 'destination', qmp: QmpClient, objects: readonly QomObjectArgs[]): Promise<void> {
  const options = { signal: context.signal };
  for (const object of objects) {
    await qmp.execute('object-del', { id: object.id }, options).catch(() => undefined);
    try {
      await qmp.execute('object-add', object, options);
    } catch (error) {
      if (!(error instanceof QmpCommandError) || object['qom-type'] !== 'tls-creds-x509') throw error;
      const host = context[side].name;
      const details = { vm: context.vm.name, source: context.source.name, destination: context.destination.name, phase: context.phase, vmState: 'unknown' as const };
      throw new MigrationTlsError('credentials-refused', details, `QEMU on ${host} refused its TLS credentials in ${object.dir}: ${error.description}`, error.description, { cause: error });
    }
  }
}

/**
 * The QMP lines that undo the objects on the source, for its guard's
 * `#restore` list: they run after the saved parameters (tls-creds '') are
 * set back, on every path where the VM stays there, ferry alive or not.
 */
export function objectRemovalLines(objects: readonly QomObjectArgs[]): string[] {
  return [...objects].reverse().map((object) => JSON.stringify({ execute: 'object-del', arguments: { id: object.id } }));
}

/**
 * After the commit, on the destination: the VM runs there now and should
 * not carry the migration's credentials or parameters into its next one.
 * Best effort: it is tidying, and the VM runs whatever it answers.
 */
export async function removeObjects(qmp: QmpClient, objects: readonly QomObjectArgs[]): Promise<void> {
  if (objects.length === 0) return;
  await qmp.execute('migrate-set-parameters', { 'tls-creds': '', 'tls-hostname': '', 'tls-authz': '' }, { timeoutMs: 5000 }).catch(() => undefined);
  for (const object of [...objects].reverse()) await qmp.execute('object-del', { id: object.id }, { timeoutMs: 5000 }).catch(() => undefined);
}

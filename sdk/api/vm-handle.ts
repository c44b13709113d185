import { Vm } from '../model/vm.ts';
import { Migration } from '../migration/migration.ts';
import type { MigrationOptions } from '../migration/migration-options.ts';
import { predictMigration, type MigrationPrediction } from '../migration/prediction/predict-migration.ts';
import { recoverMigration, type RecoveryReport } from '../migration/recover-migration.ts';
import type { HostHandle } from './host-handle.ts';

/** A VM as users hold it: the model's VM plus what can be done with it (migrate). */
export class VmHandle extends Vm {
  declare readonly host: HostHandle;

  constructor(host: HostHandle, name: string) {
    super(host, name);
  }

  /**
   * Live-migrates this VM to `destination`. Returns at once with a Migration
   * to await, watch or cancel.
   *
   * @example
   * const result = await host('a').vm('web').migrateTo('b', { maxDowntime: 300, bandwidth: '1GiB/s' });
   * console.log(`moved in ${result.wallTimeMs} ms, paused ${result.downtimeMs} ms`);
   */
  migrateTo(destination: string | HostHandle, options: MigrationOptions = {}): Migration {
    const target = typeof destination === 'string' ? this.host.sibling(destination) : destination;
    return new Migration(this, target, options);
  }

  /**
   * Before anything moves: measures the guest's dirty rate and the link to
   * `destination`, and predicts whether a migration with `options` converges,
   * how, in how long and with what downtime.
   *
   * @example
   * const p = await host('a').vm('web').predictMigration('b', { maxDowntime: 300 });
   * console.log(p.go ? `about ${p.totalMs} ms, ${p.downtimeMs} ms paused` : p.notes.join('; '));
   */
  predictMigration(destination: string | HostHandle, options: MigrationOptions = {}): Promise<MigrationPrediction> {
    const target = typeof destination === 'string' ? this.host.sibling(destination) : destination;
    return predictMigration(this, target, options);
  }

  /**
   * Finishes an interrupted migration of this VM (this handle names its
   * source): reads QEMU's state on both hosts and resumes, completes, cleans
   * up or resumes a paused post-copy. Idempotent; says what it did.
   *
   * @example
   * const report = await host('a').vm('web').recover();
   * console.log(report.summary, report.vmState);
   */
  recover(options: { signal?: AbortSignal } = {}): Promise<RecoveryReport> {
    return recoverMigration(this, options);
  }
}

import { randomUUID } from 'node:crypto';
import { AwaitableOperation } from '../awaitable-operation.ts';
import type { Fleet } from '../model/fleet.ts';
import { RollingUpgradeEvents, type RollingUpgradeEventMap } from './upgrade-events.ts';
import { resolveRollingUpgradeOptions, type ResolvedRollingUpgradeOptions, type RollingUpgradeOptions } from './upgrade-options.ts';
import type { RollingUpgradeReport } from './upgrade-report.ts';
import { runRollingUpgrade } from './run-rolling-upgrade.ts';

/**
 * A fleet upgraded host by host: each host is evacuated, upgraded by the
 * caller's command, checked, and given its VMs back before the next one.
 * `await` it for the RollingUpgradeReport (it never rejects halfway), listen
 * to its events, or `cancel()` it. An unfinished upgrade in the journal is
 * resumed. It starts on the next turn of the event loop, so listeners added
 * in the same tick see the plan.
 *
 * @example
 * const upgrade = rollingUpgrade({ hosts: ['a', 'b', 'c'], command: 'apt-get -y install -t bookworm-backports qemu-system-x86', expectQemu: '10.0' });
 * upgrade.on('step', (s) => console.log(s.host, s.step, s.state, s.note));
 * const report = await upgrade;
 */
export class RollingUpgrade extends AwaitableOperation<RollingUpgradeReport, RollingUpgradeEventMap> {
  readonly id: string = randomUUID();
  readonly options: ResolvedRollingUpgradeOptions;
  readonly #cancel = new AbortController();
  readonly #report: Promise<RollingUpgradeReport>;

  constructor(fleet: Fleet, options: RollingUpgradeOptions) {
    const events = new RollingUpgradeEvents();
    super(events);
    // Bad options and unknown hosts fail here, before anything is touched.
    this.options = resolveRollingUpgradeOptions(options);
    for (const name of this.options.hosts ?? []) fleet.hostConfig(name);
    const signal = options.signal ? AbortSignal.any([this.#cancel.signal, options.signal]) : this.#cancel.signal;
    this.#report = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => runRollingUpgrade({ id: this.id, fleet, options: this.options, signal, events }))
      .finally(() => queueMicrotask(() => events.removeAll()));
  }

  /** Stops: the migration in flight is cancelled (its VM stays where it was), and the report says where every VM is. */
  cancel(reason = 'cancelled by the caller'): void {
    this.#cancel.abort(reason);
  }

  protected get outcome(): Promise<RollingUpgradeReport> {
    return this.#report;
  }
}

import { defaultFleet } from '../model/fleet.ts';
import type { FerryConfig } from '../model/config-schema.ts';
import { HostHandle } from './host-handle.ts';
import { RollingUpgrade, type RollingUpgradeOptions } from '../upgrade/index.ts';

/**
 * A handle on a configured host (or `local`). Cheap and immutable; an
 * unknown name throws UnknownHostError at once.
 *
 * @example
 * const result = await host('a').vm('web').migrateTo('b', { maxDowntime: 300 });
 */
export function host(name: string): HostHandle {
  return new HostHandle(defaultFleet, name);
}

/** Every configured host. */
export function hosts(): HostHandle[] {
  return defaultFleet.hostNames().map((name) => new HostHandle(defaultFleet, name));
}

/**
 * Sets the fleet's hosts, validated against the config schema; or reads them
 * from a file. Without a call, ferry reads `FERRY_CONFIG`, else `./ferry.json`.
 *
 * @example
 * configure({ hosts: { a: { ssh: 'root@10.0.0.1', runDir: '/run/ferry' }, b: { ssh: 'root@10.0.0.2' } } });
 * configure({ file: '/etc/ferry/fleet.json' });
 */
export function configure(config: FerryConfig | { file: string }): void {
  if ('file' in config && typeof config.file === 'string') defaultFleet.configureFromFile(config.file);
  else defaultFleet.configure(config);
}

/** Closes every SSH connection so the process can exit; handles still work afterwards (they reconnect). */
export function disconnect(): Promise<void> {
  return defaultFleet.close();
}

/**
 * Upgrades hosts one after the other: each is evacuated, runs `command`,
 * must come back (with `expectQemu`, if given) and gets its VMs back before
 * the next. Resumes an unfinished upgrade from its journal.
 *
 * @example
 * const report = await rollingUpgrade({ hosts: ['a', 'b', 'c'], command: ['apt-get', '-y', 'install', 'qemu-system-x86'], expectQemu: '10.0' });
 * if (report.status !== 'completed') console.log(report.failure, report.whereabouts, report.resume);
 */
export function rollingUpgrade(options: RollingUpgradeOptions): RollingUpgrade {
  return new RollingUpgrade(defaultFleet, options);
}

import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';

/** Where the lab lives and how it is addressed; every field can be set from the environment (see lab.sh). */
export interface LabSettings {
  prefix: string;
  /** First three octets of the lab's /24. */
  subnet: string;
  hosts: string[];
  /** Runtime root: per-host runDirs and the lab's keys and configs. */
  runRoot: string;
  /** Built guest kernel and initramfs (cached across runs). */
  guestDir: string;
  scriptsDir: string;
  /** QEMU version per host where it is not the system's (`FERRY_LAB_QEMU`, e.g. "c=10.0"). */
  qemu: Record<string, string>;
}

const scriptsDir = dirname(fileURLToPath(import.meta.url));

export function labSettings(env: NodeJS.ProcessEnv = process.env): LabSettings {
  const labDir = env['FERRY_LAB_DIR'] ?? resolve(scriptsDir, '../../.lab');
  const hosts = (env['FERRY_LAB_HOSTS'] ?? 'a b c').split(/\s+/).filter(Boolean);
  return {
    prefix: env['FERRY_LAB_PREFIX'] ?? 'ferry',
    subnet: env['FERRY_LAB_SUBNET'] ?? '10.213.0',
    hosts,
    runRoot: env['FERRY_LAB_RUN'] ?? '/run/ferry-lab',
    guestDir: join(labDir, 'guest'),
    scriptsDir,
    qemu: parseQemuVersions(env['FERRY_LAB_QEMU'] ?? '', hosts),
  };
}

/**
 * `"c=10.0"` or `"a=10.0 b=10.0"` (spaces or commas) as a host → version map;
 * a bare version (`"10.0"`) means every host.
 */
export function parseQemuVersions(text: string, hosts: readonly string[]): Record<string, string> {
  const versions: Record<string, string> = {};
  for (const entry of text.split(/[\s,]+/).filter(Boolean)) {
    const [host, version] = entry.includes('=') ? entry.split('=', 2) : [undefined, entry];
    if (!version || !/^\d+\.\d+$/.test(version)) throw new Error(`lab: QEMU version list: '${entry}' is not HOST=MAJOR.MINOR or MAJOR.MINOR`);
    if (host === undefined) for (const each of hosts) versions[each] = version;
    else if (hosts.includes(host)) versions[host] = version;
    else throw new Error(`lab: QEMU version list: no lab host '${host}' (hosts: ${hosts.join(', ')})`);
  }
  return versions;
}

/** The `FERRY_LAB_QEMU` form of a host → version map. */
export function formatQemuVersions(versions: Readonly<Record<string, string>>): string {
  return Object.entries(versions).map(([host, version]) => `${host}=${version}`).join(' ');
}

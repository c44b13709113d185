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
}

const scriptsDir = dirname(fileURLToPath(import.meta.url));

export function labSettings(env: NodeJS.ProcessEnv = process.env): LabSettings {
  const labDir = env['FERRY_LAB_DIR'] ?? resolve(scriptsDir, '../../.lab');
  return {
    prefix: env['FERRY_LAB_PREFIX'] ?? 'ferry',
    subnet: env['FERRY_LAB_SUBNET'] ?? '10.213.0',
    hosts: (env['FERRY_LAB_HOSTS'] ?? 'a b c').split(/\s+/).filter(Boolean),
    runRoot: env['FERRY_LAB_RUN'] ?? '/run/ferry-lab',
    guestDir: join(labDir, 'guest'),
    scriptsDir,
  };
}

import { Lab } from '../lab/lab.ts';
import { labSettings, parseQemuVersions } from '../lab/lab-settings.ts';

/**
 * The lab the end-to-end tests use: its own namespaces, subnet and runDirs,
 * so a demo lab brought up by hand (`npm run lab -- up`) is left alone.
 * `FERRY_TEST_QEMU=10.0` runs every host on QEMU 10.0 (or `c=10.0`: some),
 * so the suite can run against either version.
 */
export function testLab(): Lab {
  const base = labSettings();
  return new Lab({
    ...base,
    prefix: process.env['FERRY_TEST_LAB_PREFIX'] ?? 'ferryt',
    subnet: process.env['FERRY_TEST_LAB_SUBNET'] ?? '10.213.1',
    runRoot: process.env['FERRY_TEST_LAB_RUN'] ?? '/run/ferry-test',
    qemu: parseQemuVersions(process.env['FERRY_TEST_QEMU'] ?? '', base.hosts),
  });
}

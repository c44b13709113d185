import { Lab } from '../lab/lab.ts';
import { labSettings } from '../lab/lab-settings.ts';

/**
 * The lab the end-to-end tests use: its own namespaces, subnet and runDirs,
 * so a demo lab brought up by hand (`npm run lab -- up`) is left alone.
 */
export function testLab(): Lab {
  const base = labSettings();
  return new Lab({
    ...base,
    prefix: process.env['FERRY_TEST_LAB_PREFIX'] ?? 'ferryt',
    subnet: process.env['FERRY_TEST_LAB_SUBNET'] ?? '10.213.1',
    runRoot: process.env['FERRY_TEST_LAB_RUN'] ?? '/run/ferry-test',
  });
}

// Brings the test lab up with one guest for the smoke suite (`up`), or down;
// `config-file` prints where `up` wrote the lab's ferry config.
// The smoke script itself then runs under each runtime against it.
import { writeFile } from 'node:fs/promises';
import { testLab } from '../e2e/lab-fixture.ts';

const lab = testLab();
export const smokeInfoFile = `${lab.settings.runRoot}/smoke.json`;
/** The lab as a ferry config file, for the CLI and the packaged-install check (test/package/). */
export const smokeConfigFile = `${lab.settings.runRoot}/smoke-ferry.json`;

if (process.argv[2] === 'up') {
  await lab.up();
  const vm = await lab.startVm('a', 'smoke', { memoryMiB: 256, dirtyMiB: 32, dirtyRateMBps: 10 });
  await writeFile(smokeInfoFile, JSON.stringify({ settings: lab.settings, vm }));
  await writeFile(smokeConfigFile, JSON.stringify(lab.ferryConfig()));
  console.log(`smoke lab: a/smoke at ${vm.address}`);
} else if (process.argv[2] === 'down') {
  await lab.down();
} else if (process.argv[2] === 'config-file') {
  console.log(smokeConfigFile);
}

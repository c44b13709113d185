// Brings the test lab up with one guest for the smoke suite (`up`), or down.
// The smoke script itself then runs under each runtime against it.
import { writeFile } from 'node:fs/promises';
import { testLab } from '../e2e/lab-fixture.ts';

const lab = testLab();
export const smokeInfoFile = `${lab.settings.runRoot}/smoke.json`;

if (process.argv[2] === 'up') {
  await lab.up();
  const vm = await lab.startVm('a', 'smoke', { memoryMiB: 256, dirtyMiB: 32, dirtyRateMBps: 10 });
  await writeFile(smokeInfoFile, JSON.stringify({ settings: lab.settings, vm }));
  console.log(`smoke lab: a/smoke at ${vm.address}`);
} else if (process.argv[2] === 'down') {
  await lab.down();
}

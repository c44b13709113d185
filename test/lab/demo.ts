// The quick start's demo: bring up the built-in lab, boot a guest that
// dirties memory on host a, and live-migrate it to host b with ferry's CLI
// while a probe measures what the guest's users see.
//   npm run demo
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Lab } from './lab.ts';
import { Probe } from './probe.ts';

const lab = new Lab();
console.log('demo: building the guest and bringing up hosts a, b, c (network namespaces with their own sshd)…');
await lab.up();
const configFile = join(lab.stateDir, 'ferry.json');
await writeFile(configFile, JSON.stringify(lab.ferryConfig(), null, 2));
for (const h of lab.settings.hosts) await lab.stopVm(h, 'web');
console.log('demo: booting a/web: 512 MiB, its workload dirtying 64 MiB at 20 MB/s…');
const vm = await lab.startVm('a', 'web', { memoryMiB: 512, dirtyMiB: 64, dirtyRateMBps: 20 });
const probe = new Probe(vm.address);
await probe.start();
console.log(`demo: a/web answers the probe at ${vm.address}; migrating it to b with ferry:\n`);

const ferry = join(lab.settings.scriptsDir, '../../bin/ferry.mjs');
const code = await new Promise<number>((resolve) => {
  const child = spawn(process.execPath, [ferry, '--config', configFile, 'migrate', 'a/web', 'b', '--max-downtime', '300'], { stdio: 'inherit' });
  child.on('exit', (exitCode) => resolve(exitCode ?? 1));
});
await new Promise((resolve) => setTimeout(resolve, 300));
const report = await probe.finish();
console.log(`\nprobe: longest gap between replies ${report.maxGapMs} ms (the downtime the guest's users saw), ${report.lost} of ${report.sent} datagrams unanswered`);
console.log(`probe: the guest's counter ${report.counterWentBackwards ? 'WENT BACKWARDS (state lost)' : 'kept increasing: same guest, same memory'}`);
console.log(`\nTry it yourself:\n  export FERRY_CONFIG=${configFile}\n  ./bin/ferry.mjs ls\n  ./bin/ferry.mjs migrate b/web c\n  npm run lab -- down     # when done`);
process.exitCode = code !== 0 || report.counterWentBackwards ? 1 : 0;

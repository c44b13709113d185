// The smoke suite: the same script under Node, Deno and Bun. It needs the
// lab that smoke-lab.ts brings up, and prints "N passed, N failed".
import { readFileSync } from 'node:fs';
import * as ferry from '../../sdk/index.ts';
import { Lab } from '../lab/lab.ts';
import { Probe } from '../lab/probe.ts';
import { RawQmp } from '../lab/raw-qmp.ts';

const runtime = 'Deno' in globalThis ? 'deno' : 'Bun' in globalThis ? 'bun' : 'node';
const info = JSON.parse(readFileSync('/run/ferry-test/smoke.json', 'utf8'));
const lab = new Lab(info.settings);
const checks: [string, () => Promise<void>][] = [];
const check = (name: string, fn: () => Promise<void>) => checks.push([name, fn]);

check('the public entry loads', async () => {
  if (typeof ferry.FerryError !== 'function') throw new Error('FerryError is not exported');
});

check('ssh2 reaches a lab host and QMP answers through a stream-local forward', async () => {
  const qmp = await RawQmp.connect(lab, 'a', info.vm.qmpSocket);
  try {
    const status = (await qmp.execute('query-status')) as { status: string };
    if (status.status !== 'running') throw new Error(`status ${status.status}`);
  } finally {
    qmp.close();
  }
});

check('the guest answers the probe', async () => {
  const probe = new Probe(info.vm.address);
  await probe.start(1, 10_000);
  const report = await probe.finish(50);
  if (report.received === 0 || report.counterWentBackwards) throw new Error(JSON.stringify(report));
});

let passed = 0;
let failed = 0;
for (const [name, fn] of checks) {
  try {
    await fn();
    passed++;
    console.log(`ok - [${runtime}] ${name}`);
  } catch (error) {
    failed++;
    console.log(`not ok - [${runtime}] ${name}: ${error instanceof Error ? error.message : String(error)}`);
  }
}
console.log(`${runtime}: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);

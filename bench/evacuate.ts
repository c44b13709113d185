// One evacuation's makespan (4 guests off host a to b and c) sequential, with
// fixed concurrency 2 and 4, and adaptive, side by side, against the lower
// bound: the bytes the evacuation must send over the link's measured
// throughput. Each mode runs on the same guests; after each, they go home.
//   node --import tsx bench/evacuate.ts [rounds]
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configure, disconnect, host, type EvacuationReport } from '../sdk/index.ts';
import type { GuestSpec } from '../test/lab/lab.ts';
import { benchLab, median, printTable } from './bench-lab.ts';

const lab = benchLab();
const rounds = Number(process.argv[2] ?? 1);
const guests: Record<string, GuestSpec> = {
  w1: { memoryMiB: 256, dirtyMiB: 48, dirtyRateMBps: 15 },
  w2: { memoryMiB: 256, dirtyMiB: 32, dirtyRateMBps: 10 },
  w3: { memoryMiB: 256, dirtyMiB: 64 },
  w4: { memoryMiB: 256 },
};
const modes: Array<[string, 1 | 2 | 4 | 'adaptive']> = [['sequential', 1], ['fixed 2', 2], ['fixed 4', 4], ['adaptive', 'adaptive']];
const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-evacuate-'));
const options = { maxDowntime: 300, migration: { allowPause: true } };

/** Raw TCP from host a's namespace to b's: what the link itself carries (bytes/s). */
function linkThroughput(bytes = 1024 ** 3): Promise<number> {
  const port = 5599;
  const server = spawn('ip', ['netns', 'exec', lab.namespace('b'), process.execPath, '-e',
    `require('net').createServer((s) => s.on('data', () => {}).on('end', () => s.end('ok'))).listen(${port}, '${lab.hostAddress('b')}', () => console.log('up'))`]);
  return new Promise((resolve, reject) => {
    server.stdout.once('data', () => {
      const client = spawn('ip', ['netns', 'exec', lab.namespace('a'), process.execPath, '-e',
        `const s = require('net').connect(${port}, '${lab.hostAddress('b')}'); const chunk = Buffer.alloc(1 << 20, 7); let left = ${bytes}; const t = process.hrtime.bigint();
         const pump = () => { while (left > 0) { left -= chunk.length; if (!s.write(chunk)) return s.once('drain', pump); } s.end(); };
         s.on('connect', pump); s.on('data', () => { console.log(${bytes} / (Number(process.hrtime.bigint() - t) / 1e9)); s.destroy(); });`]);
      let out = '';
      client.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      client.on('exit', () => {
        server.kill();
        const rate = Number(out.trim());
        if (rate > 0) resolve(rate);
        else reject(new Error(`link measurement failed: ${out}`));
      });
    });
    server.on('error', reject);
  });
}

await lab.up();
configure({ ...lab.ferryConfig() });
const mib = (bytes: number) => `${Math.round(bytes / 1024 ** 2)} MiB`;
try {
  for (const h of ['a', 'b', 'c']) for (const vm of Object.keys(guests)) await lab.stopVm(h, vm);
  await host('a').endMaintenance();
  await Promise.all(Object.entries(guests).map(([name, spec]) => lab.startVm('a', name, spec)));
  const link = await linkThroughput();
  const results = new Map<string, EvacuationReport[]>();
  for (let round = 0; round < rounds; round++) {
    for (const [label, concurrency] of modes) {
      const journal = join(dir, `${label}-${round}.jsonl`);
      const report = await host('a').evacuate({ to: ['b', 'c'], concurrency, journal, ...options });
      if (report.moved.length !== 4) console.error(`${label}: ${report.status}: ${JSON.stringify(report.failed.map((f) => f.error.message))}`);
      results.set(label, [...(results.get(label) ?? []), report]);
      await host('a').endMaintenance();
      await host('a').moveBack({ journal, concurrency: 2, ...options });
    }
  }
  // What the evacuation must send: the least any complete run sent (more is re-sent dirty pages).
  const complete = [...results.values()].flat().filter((r) => r.moved.length === Object.keys(guests).length);
  const bytes = Math.min(...complete.map((r) => r.transferredBytes));
  const bestStream = Math.max(...(results.get('sequential') ?? []).flatMap((r) => r.moved.map((m) => m.result?.throughput ?? 0)));
  const bound = (bytes / link) * 1000;
  console.log(`link a→b (raw TCP between the namespaces): ${mib(link)}/s; bytes to move (least sent by a complete run): ${mib(bytes)}; fastest single migration stream: ${mib(bestStream)}/s`);
  console.log(`lower bound = bytes / link = ${Math.round(bound)} ms; bytes / fastest stream = ${Math.round((bytes / bestStream) * 1000)} ms\n`);
  const rows: (string | number)[][] = [['mode', 'makespan (ms)', '× lower bound', 'peak running', 'sent', 'longest pause (ms)', 'moved']];
  for (const [label] of modes) {
    const reports = results.get(label) ?? [];
    const makespan = median(reports.map((r) => r.wallTimeMs));
    rows.push([
      label, Math.round(makespan), (makespan / bound).toFixed(1), Math.max(...reports.map((r) => r.concurrency.peak)),
      mib(median(reports.map((r) => r.transferredBytes))), Math.max(...reports.flatMap((r) => r.moved.map((m) => m.result?.downtimeMs ?? 0))),
      reports.map((r) => r.moved.length).join('/'),
    ]);
  }
  printTable(rows);
} finally {
  for (const h of ['a', 'b', 'c']) for (const vm of Object.keys(guests)) await lab.stopVm(h, vm);
  await host('a').endMaintenance().catch(() => undefined);
  await disconnect();
  await lab.down();
}

// ferry's migration end to end beside the same job done by a minimal raw-QMP
// script over SSH (test/lab/raw-ssh-migration.ts): same VM, alternating, medians.
//   node --import tsx bench/migrate.ts [rounds]
// Both drivers do the whole job: start the destination QEMU, migrate, wait
// until the guest runs there, quit the source QEMU and remove its files.
//  - cold: each run is a fresh process (`node bin/ferry.mjs migrate …` vs
//    `node --import tsx test/lab/raw-migrate-cli.ts …`), so both pay Node,
//    tsx and new SSH connections; timed from spawn to exit.
//  - cold, after npm run build: bin/ferry.mjs in the checkout, which runs the
//    dist/ built from the sources as they are (scripts/source-fingerprint.mjs),
//    beside the compiled raw script; the tsx row sets FERRY_FROM_SOURCES=1.
//  - cold, sources changed since the build: bin/ferry.mjs with dist/'s
//    fingerprint put aside, so it runs the sources transpiled into its cache
//    (scripts/transpiled-sources.mjs), emptied first: the first run pays the
//    transpile, as the first after an edit does.
//  - cold, compiled: the same, with both compiled to JavaScript first (ferry's
//    dist/ as `npm run build` makes it, which an installed package runs; the
//    raw script by tsc beside it): what is left once tsx's per-module loading
//    in a checkout (ferry has ~175 modules, the script 7) is out of the way.
//  - warm: in this process, SSH connections already open (one untimed
//    migration each first); timed around the call.
import { execFileSync, spawn } from 'node:child_process';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FINGERPRINT_FILE } from '../scripts/source-fingerprint.mjs';
import { CACHE_DIR } from '../scripts/transpiled-sources.mjs';
import { configure, disconnect, host, type MigrationResult } from '../sdk/index.ts';
import type { GuestSpec } from '../test/lab/lab.ts';
import { sshConnect } from '../test/lab/raw-qmp.ts';
import { rawSshMigrate, type RawSshPair } from '../test/lab/raw-ssh-migration.ts';
import { benchLab, median, printTable } from './bench-lab.ts';

const lab = benchLab();
const rounds = Number(process.argv[2] ?? 5);
const spec: GuestSpec = { memoryMiB: 512 };
const name = 'bench';
const root = fileURLToPath(new URL('..', import.meta.url));
const MAX_DOWNTIME_MS = 300;
const TARGETS = { cold: 400, warm: 150 };

await lab.up();
const configFile = join(lab.stateDir, 'bench-ferry.json');
writeFileSync(configFile, JSON.stringify(lab.ferryConfig()));
// The raw script's process finds the same lab through FERRY_LAB_* (lab-settings.ts).
// The compiled forms: ferry's dist/ (run as bin/ferry.mjs runs it when installed) and the raw script's.
execFileSync(process.execPath, [join(root, 'scripts/build.mjs')], { cwd: root, stdio: 'ignore' });
const rawCompiledDir = join(root, 'dist/bench-raw');
execFileSync(process.execPath, [
  join(root, 'node_modules/typescript/bin/tsc'), join(root, 'test/lab/raw-migrate-cli.ts'), '--outDir', rawCompiledDir, '--rootDir', root,
  '--target', 'ES2022', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--rewriteRelativeImportExtensions', '--allowImportingTsExtensions', '--skipLibCheck', '--types', 'node', '--verbatimModuleSyntax',
], { cwd: root, stdio: 'ignore' });
const ferryCompiled = join(root, 'dist/bench-ferry.mjs');
writeFileSync(ferryCompiled, "import { main } from './cli/main.js';\nprocess.exitCode = await main(process.argv.slice(2));\n");
const rawEnv = {
  ...process.env,
  FERRY_LAB_PREFIX: lab.settings.prefix,
  FERRY_LAB_SUBNET: lab.settings.subnet,
  FERRY_LAB_HOSTS: lab.settings.hosts.join(' '),
  FERRY_LAB_RUN: lab.settings.runRoot,
  FERRY_LAB_DIR: join(lab.settings.guestDir, '..'),
};
let at = 'a';
const other = (side: string) => (side === 'a' ? 'b' : 'a');

/** Runs a process to its end; its wall time in ms, or throws with its stderr. */
function timedProcess(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, argv, { cwd: root, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(performance.now() - started) : reject(new Error(`${argv.slice(0, 4).join(' ')} exited ${code}: ${stderr.trim().slice(-1500)}`))));
  });
}

/**
 * bin/ferry.mjs from the checkout: through tsx (FERRY_FROM_SOURCES=1), the dist/ built from these sources, or (with
 * dist/'s fingerprint put aside by the caller) the sources transpiled into its cache.
 */
async function coldFerry(from: 'tsx' | 'build' | 'transpiled'): Promise<number> {
  const env = from === 'tsx' ? { ...process.env, FERRY_FROM_SOURCES: '1' } : process.env;
  const ms = await timedProcess([join(root, 'bin/ferry.mjs'), '--config', configFile, 'migrate', `${at}/${name}`, other(at), '--max-downtime', String(MAX_DOWNTIME_MS), '--json'], env);
  at = other(at);
  return ms;
}

async function coldRaw(): Promise<number> {
  const ms = await timedProcess(['--import', 'tsx', join(root, 'test/lab/raw-migrate-cli.ts'), at, other(at), name, String(spec.memoryMiB)], rawEnv);
  at = other(at);
  return ms;
}

async function coldFerryCompiled(): Promise<number> {
  const ms = await timedProcess([ferryCompiled, '--config', configFile, 'migrate', `${at}/${name}`, other(at), '--max-downtime', String(MAX_DOWNTIME_MS), '--json']);
  at = other(at);
  return ms;
}

async function coldRawCompiled(): Promise<number> {
  const ms = await timedProcess([join(rawCompiledDir, 'test/lab/raw-migrate-cli.js'), at, other(at), name, String(spec.memoryMiB)], rawEnv);
  at = other(at);
  return ms;
}

const warmResults: MigrationResult[] = [];
async function warmFerry(): Promise<number> {
  const started = performance.now();
  warmResults.push(await host(at).vm(name).migrateTo(other(at), { maxDowntime: MAX_DOWNTIME_MS }));
  at = other(at);
  return performance.now() - started;
}

async function warmRaw(pair: RawSshPair): Promise<number> {
  const started = performance.now();
  // The pair is (a, b): swap it when the VM is on b.
  await rawSshMigrate(lab, at, other(at), name, spec, at === 'a' ? pair : { source: pair.destination, destination: pair.source });
  at = other(at);
  return performance.now() - started;
}

/** Alternates the two drivers (who goes first alternates too); the times of each. */
async function compare(ferry: () => Promise<number>, raw: () => Promise<number>): Promise<{ ferry: number[]; raw: number[] }> {
  const times = { ferry: [] as number[], raw: [] as number[] };
  for (let round = 0; round < rounds; round++) {
    for (const driver of round % 2 === 0 ? (['ferry', 'raw'] as const) : (['raw', 'ferry'] as const)) {
      times[driver].push(await (driver === 'ferry' ? ferry() : raw()));
    }
  }
  return times;
}

await lab.stopVm('a', name);
await lab.stopVm('b', name);
await lab.startVm('a', name, spec);
let pair: RawSshPair | undefined;
try {
  const cold = await compare(() => coldFerry('tsx'), coldRaw);
  const built = await compare(() => coldFerry('build'), coldRawCompiled);
  // As after an edit: dist/ no longer matches the sources, and the cache has no copy of them yet.
  const fingerprintFile = join(root, FINGERPRINT_FILE);
  renameSync(fingerprintFile, `${fingerprintFile}.aside`);
  rmSync(join(root, CACHE_DIR), { recursive: true, force: true });
  const transpiled = await compare(() => coldFerry('transpiled'), coldRawCompiled).finally(() => renameSync(`${fingerprintFile}.aside`, fingerprintFile));
  const compiled = await compare(coldFerryCompiled, coldRawCompiled);
  configure(lab.ferryConfig());
  pair = { source: await sshConnect(lab, 'a'), destination: await sshConnect(lab, 'b') };
  const warmPair = pair;
  // Untimed: opens ferry's connections (and warms both drivers' code paths).
  await warmFerry();
  await warmRaw(warmPair);
  warmResults.length = 0;
  const warm = await compare(warmFerry, () => warmRaw(warmPair));

  const rows: (string | number)[][] = [['run', 'ferry (ms)', 'raw (ms)', 'overhead ferry − raw (ms)', 'ratio', 'target overhead']];
  for (const [label, times, target] of [
    ['cold CLI from the checkout through tsx (FERRY_FROM_SOURCES=1; raw script through tsx; new SSH connections)', cold, TARGETS.cold],
    ['cold CLI from the checkout after npm run build (bin/ferry.mjs runs dist/; raw script compiled)', built, TARGETS.cold],
    ['cold CLI from the checkout, sources changed since the build (transpiled once into the cache; raw script compiled)', transpiled, TARGETS.cold],
    ['cold CLI compiled (dist/, as installed; raw script compiled too)', compiled, TARGETS.cold],
    ['warm SDK (same process, connections open)', warm, TARGETS.warm],
  ] as const) {
    const [f, r] = [median(times.ferry), median(times.raw)];
    rows.push([label, Math.round(f), Math.round(r), Math.round(f - r), (f / r).toFixed(2), `≤ ${target} ms: ${f - r <= target ? 'met' : 'missed'}`]);
  }
  console.log(`\nidle ${spec.memoryMiB} MiB guest, ${rounds} runs each, medians. End to end for both drivers: destination QEMU start, migration, guest running`);
  console.log('on the destination, source QEMU quit and its files removed. Cold also counts Node start, loading the code (through tsx, or compiled) and the SSH handshakes.');
  printTable(rows);
  console.log(`\ncold, all runs (ms): ferry ${cold.ferry.map(Math.round).join(' ')}; raw ${cold.raw.map(Math.round).join(' ')}`);
  console.log(`cold after npm run build, all runs (ms): ferry ${built.ferry.map(Math.round).join(' ')}; raw ${built.raw.map(Math.round).join(' ')}`);
  console.log(`cold with sources changed, all runs (ms; ferry's first transpiles): ferry ${transpiled.ferry.map(Math.round).join(' ')}; raw ${transpiled.raw.map(Math.round).join(' ')}`);
  console.log(`cold compiled, all runs (ms): ferry ${compiled.ferry.map(Math.round).join(' ')}; raw ${compiled.raw.map(Math.round).join(' ')}`);
  console.log(`warm, all runs (ms): ferry ${warm.ferry.map(Math.round).join(' ')}; raw ${warm.raw.map(Math.round).join(' ')}`);
  const phases = ['preflight', 'prepare', 'perform', 'finish', 'confirm'] as const;
  console.log(`warm ferry phases (median ms): ${phases.map((p) => `${p} ${Math.round(median(warmResults.map((r) => r.phases[p] ?? 0)))}`).join(', ')}; destination start ${Math.round(median(warmResults.map((r) => r.destinationStartMs)))}; QEMU total-time ${Math.round(median(warmResults.map((r) => r.totalTimeMs)))}`);
} finally {
  pair?.source.end();
  pair?.destination.end();
  await disconnect();
  await lab.stopVm(at, name);
  await lab.down();
}

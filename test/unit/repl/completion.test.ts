import { test } from 'node:test';
import assert from 'node:assert/strict';
import { completeLine, type CompletionSources } from '../../../repl/completion.ts';

const vmsByHost: Record<string, string[]> = { alpha: ['web', 'db'], bravo: ['cache'], charlie: [] };
const asked: string[] = [];
const sources: CompletionSources = {
  hostNames: () => ['alpha', 'bravo', 'charlie'],
  vmNames: async (host) => (asked.push(host), vmsByHost[host] ?? []),
  qmpCommands: async () => ['query-migrate', 'query-status', 'migrate-set-parameters', 'stop'],
  cancellable: () => ['alpha/web'],
  inFlight: () => ['alpha/web', 'bravo/cache'],
  dotCommands: () => ['hosts', 'vms', 'migrate', 'cancel', 'qmp', 'watch', 'help', 'exit'],
};

test('dot-commands complete from their first letters', async () => {
  assert.deepEqual(await completeLine('.wa', sources), [['.watch'], '.wa']);
  assert.deepEqual(await completeLine('.m', sources), [['.migrate'], '.m']);
  assert.deepEqual((await completeLine('.', sources))?.[0].length, 8);
});

test('host names complete after .vms and inside host(\'…', async () => {
  assert.deepEqual(await completeLine('.vms al', sources), [['alpha'], 'al']);
  assert.deepEqual(await completeLine(".vms ", sources), [['alpha', 'bravo', 'charlie'], '']);
  assert.deepEqual(await completeLine("host('br", sources), [['bravo'], 'br']);
  assert.deepEqual(await completeLine('await host("ch', sources), [['charlie'], 'ch']);
  assert.deepEqual(await completeLine("host('alpha').vm('web').migrateTo('b", sources), [['bravo'], 'b']);
});

test("VM names complete inside host('alpha').vm('… and as host/vm", async () => {
  assert.deepEqual(await completeLine("const r = host('alpha').vm('w", sources), [['web'], 'w']);
  assert.deepEqual(await completeLine("host('nowhere').vm('", sources), [[], '']);
  assert.deepEqual(await completeLine('.migrate alpha/', sources), [['alpha/db', 'alpha/web'], 'alpha/']);
  assert.deepEqual(await completeLine('.migrate al', sources), [['alpha/'], 'al']);
  // A whole host name goes straight to its VMs.
  assert.deepEqual(await completeLine('.qmp bravo', sources), [['bravo/cache'], 'bravo']);
});

test('.migrate completes the destination (not the source) and then its flags', async () => {
  assert.deepEqual(await completeLine('.migrate alpha/web ', sources), [['bravo', 'charlie'], '']);
  assert.deepEqual(await completeLine('.migrate alpha/web bravo --band', sources), [['--bandwidth'], '--band']);
  assert.deepEqual(await completeLine('.migrate alpha/web bravo --on-timeout p', sources), [['pause', 'postcopy'], 'p']);
});

test('.qmp completes QMP command names from the VM', async () => {
  assert.deepEqual(await completeLine('.qmp alpha/web query-', sources), [['query-migrate', 'query-status'], 'query-']);
});

test('.watch and .cancel complete what is in flight', async () => {
  assert.deepEqual(await completeLine('.watch a', sources), [['all', 'alpha', 'alpha/web'], 'a']);
  assert.deepEqual(await completeLine('.cancel ', sources), [['alpha/web'], '']);
});

test('other JavaScript is left to the REPL\'s own completion', async () => {
  assert.equal(await completeLine('Math.fl', sources), undefined);
  assert.equal(await completeLine("console.log('al", sources), undefined);
});

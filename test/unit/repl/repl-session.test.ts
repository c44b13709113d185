// The REPL on in-memory streams (not a terminal): bad input gets one line
// and the REPL stays alive; .qmp reaches a VM; .watch shows a migration that
// another process records on its source host.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { configure, disconnect, type MigrationRecord } from '../../../sdk/index.ts';
import { startRepl } from '../../../repl/start-repl.ts';
import { FakeQmpError, FakeQmpServer } from '../../fakes/fake-qmp-server.ts';

const root = mkdtempSync(join(tmpdir(), 'ferry-repl-'));
const input = new PassThrough();
const output = new PassThrough();
let transcript = '';
output.on('data', (chunk: Buffer) => (transcript += chunk.toString()));
const qemu = new FakeQmpServer()
  .handle('query-status', () => ({ status: 'running', running: true, singlestep: false }))
  .handle('query-migrate', () => ({}))
  .handle('query-commands', () => [{ name: 'query-status' }, { name: 'stop' }])
  .handle('stop', () => {
    throw new FakeQmpError('GenericError', 'the fake does not stop');
  });
let repl: Promise<void>;

/** Sends a line and returns what the REPL printed for it (once `until` matches). */
async function send(line: string, until: RegExp, timeoutMs = 10_000): Promise<string> {
  const start = transcript.length;
  input.write(`${line}\n`);
  const deadline = Date.now() + timeoutMs;
  while (!until.test(transcript.slice(start))) {
    if (Date.now() > deadline) assert.fail(`no ${until} after ${JSON.stringify(line)}; got ${JSON.stringify(transcript.slice(start))}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return transcript.slice(start);
}

/** The lines printed between the echo-less input and the next prompt. */
function linesOf(text: string): string[] {
  return text.split('\n').map((line) => line.replace(/^(ferry> )+/, '')).filter((line) => line.trim() !== '');
}

before(async () => {
  for (const h of ['alpha', 'bravo']) mkdirSync(join(root, h));
  writeFileSync(join(root, 'alpha', 'vm1.pid'), String(process.pid));
  await qemu.listen(join(root, 'alpha', 'vm1.qmp'));
  configure({ hosts: { alpha: { local: true, runDir: join(root, 'alpha') }, bravo: { local: true, runDir: join(root, 'bravo') } } });
  repl = startRepl({ input, output, terminal: false, historyFile: null });
  await send('', /ferry> /);
});

after(async () => {
  input.end();
  await repl;
  await qemu.close();
  await disconnect();
  rmSync(root, { recursive: true, force: true });
});

test('the SDK and the fleet are preloaded, with top-level await', async () => {
  assert.match(transcript, /hosts: alpha, bravo/);
  assert.match(await send("typeof host + ' ' + Object.keys(fleet).join(',')", /'function alpha,bravo'/), /function alpha,bravo/);
  assert.match(await send("(await host('alpha').vm('vm1').status()).runState", /'running'/), /'running'/);
  assert.match(await send('.vms alpha', /vm1/), /HOST +VM +PID +STATE\nalpha +vm1 +\d+ +running/);
});

test('bad input prints one clear line and the REPL stays alive', async () => {
  const typo = linesOf(await send('.wtch', /\.help lists them/));
  assert.deepEqual(typo, ['ferry: unknown command .wtch — did you mean .watch? (.help lists them)']);

  const unknownHost = linesOf(await send("host('nowhere')", /unknown host/));
  assert.equal(unknownHost.length, 1, unknownHost.join('\n'));
  assert.match(unknownHost[0] ?? '', /unknown host 'nowhere'; configured hosts: alpha, bravo/);

  const qmpError = linesOf(await send('.qmp alpha/vm1 stop', /ferry: .*\n/));
  assert.equal(qmpError.length, 1, qmpError.join('\n'));
  assert.match(qmpError[0] ?? '', /^ferry: .*GenericError: the fake does not stop/);

  const noVm = linesOf(await send('.qmp alpha/ghost query-status', /ferry: .*\n/));
  assert.deepEqual(noVm.length, 1, noVm.join('\n'));
  assert.match(noVm[0] ?? '', /no VM 'ghost' on host 'alpha'/);

  const usage = linesOf(await send('.migrate alpha/vm1', /ferry: .*\n/));
  assert.deepEqual(usage, ['ferry: usage: .migrate HOST/VM DEST [options]']);

  assert.match(await send('1 + 1', /2\n/), /2/);
});

test('.qmp runs a command with key=value arguments and prints the reply', async () => {
  assert.match(await send('.qmp alpha/vm1 query-status', /"running": true/), /"status": "running"/);
});

test("another process's migration shows up in .watch from its status record, and its end too", async () => {
  const dir = join(root, 'alpha', 'web.migration');
  mkdirSync(dir);
  const record: MigrationRecord = {
    id: 'other-1', vm: 'web', source: 'alpha', destination: 'bravo', controller: { host: 'ops1', pid: 4242 },
    startedAt: new Date().toISOString(), heartbeatAt: new Date().toISOString(), phase: 'perform',
    progress: { phase: 'perform', transfer: 'transferring', percent: 33, transferredBytes: 3 << 20, remainingBytes: 6 << 20, totalBytes: 9 << 20, dirtyRate: 0, throughput: 1 << 20, pass: 1, expectedDowntimeMs: 100, throttlePercent: 0, elapsedMs: 3000 },
  };
  writeFileSync(join(dir, 'status.json'), JSON.stringify(record));
  const start = transcript.length;
  input.write('.watch\n');
  await send('', /alpha\/web → bravo perform 33\.0% · sent 3\.0 MiB, left 6\.0 MiB · 1\.0 MiB\/s vs dirty 0 B\/s/);
  rmSync(dir, { recursive: true });
  // Off a terminal the view ends by itself once what it watched is over.
  await send('', /alpha\/web → bravo ended: its record is gone; check \.vms\n[^]*ferry> /, 15_000);
  assert.doesNotMatch(transcript.slice(start), /\x1b\[/, 'no cursor movement off a terminal');
  assert.match(await send('40 + 2', /42\n/), /42/);
});

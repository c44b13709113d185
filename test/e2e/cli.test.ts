// The ferry command as scripts use it: --json output and exit codes, and
// Ctrl-C during a migration rolling back to the source.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { testLab } from './lab-fixture.ts';

const lab = testLab();
const ferryBin = fileURLToPath(new URL('../../bin/ferry.mjs', import.meta.url));
let configFile = '';

function ferry(args: string[], onStderr?: (text: string, child: ReturnType<typeof spawn>) => void): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [ferryBin, '--config', configFile, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      onStderr?.(stderr, child);
    });
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('the ferry CLI on the lab', { timeout: 300_000 }, () => {
  before(async () => {
    await lab.up();
    configFile = `${lab.stateDir}/cli-ferry.json`;
    writeFileSync(configFile, JSON.stringify(lab.ferryConfig()));
  });
  afterEach(async () => {
    for (const h of ['a', 'b']) await lab.stopVm(h, 'cli');
  });
  after(async () => {
    await lab.down();
  });

  test('ls, status and migrate with --json: one JSON object each, exit 0', async () => {
    await lab.startVm('a', 'cli', { memoryMiB: 256 });
    const ls = await ferry(['ls', 'a', '--json']);
    assert.equal(ls.code, 0, ls.stderr);
    assert.ok((JSON.parse(ls.stdout) as { vms: { name: string }[] }).vms.some((vm) => vm.name === 'cli'));
    const status = await ferry(['status', 'a/cli', '--json']);
    assert.equal((JSON.parse(status.stdout) as { runState: string }).runState, 'running');
    const moved = await ferry(['migrate', 'a/cli', 'b', '--max-downtime', '300', '--json']);
    assert.equal(moved.code, 0, moved.stderr);
    const body = JSON.parse(moved.stdout) as { ok: boolean; result: { status: string; destination: string; downtimeMs: number } };
    assert.deepEqual([body.ok, body.result.status, body.result.destination], [true, 'completed', 'b']);
    assert.equal(moved.stderr, '', 'nothing but JSON with --json');
  });

  test('bad input exits 2 and says what is wrong in one line', async () => {
    await lab.startVm('a', 'cli', { memoryMiB: 256 });
    for (const args of [['migrate', 'a/cli', 'nowhere'], ['migrate', 'a/ghost', 'b'], ['migrate', 'a/cli', 'b', '--bandwidth', 'fast'], ['migrate', 'a/cli', 'a']]) {
      const { code, stderr } = await ferry(args);
      assert.equal(code, 2, `${args.join(' ')}: ${stderr}`);
      assert.match(stderr, /^.*ferry: .+/m);
      assert.doesNotMatch(stderr, /\n\s+at /);
    }
  });

  test('Ctrl-C during a migration rolls back: exit 130, the VM runs on the source, nothing on the destination', async () => {
    await lab.startVm('a', 'cli', { memoryMiB: 512, dirtyMiB: 128, dirtyRateMBps: 20 });
    let interrupted = false;
    const { code, stderr } = await ferry(['migrate', 'a/cli', 'b', '--bandwidth', '8MiB/s'], (text, child) => {
      if (!interrupted && /\bperform\b/.test(text)) {
        interrupted = true;
        setTimeout(() => child.kill('SIGINT'), 1500);
      }
    });
    assert.equal(code, 130, stderr);
    assert.match(stderr, /cancelled.*running on a/s);
    assert.notEqual(await lab.vmPid('a', 'cli'), undefined);
    assert.equal(await lab.vmPid('b', 'cli'), undefined);
  });
});

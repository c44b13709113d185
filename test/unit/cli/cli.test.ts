import { test } from 'node:test';
import assert from 'node:assert/strict';
import { main } from '../../../cli/main.ts';
import { capturedStreams } from '../../support/captured-streams.ts';
import { exitCodeFor } from '../../../cli/report-error.ts';
import { EXIT } from '../../../cli/exit-codes.ts';
import { migrationOptionsFromFlags } from '../../../cli/commands/migrate.ts';
import { parseQmpArguments } from '../../../cli/commands/qmp.ts';
import { parseVmRef, UsageError } from '../../../cli/cli-command.ts';
import { MigrationCancelledError, MigrationError, PreflightError, SshConnectError, UnknownHostError } from '../../../sdk/index.ts';

async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = capturedStreams();
  const code = await main(argv, output.streams);
  return { code, stdout: output.stdout(), stderr: output.stderr() };
}

test('usage mistakes exit 2 with one clear line, never a stack', async () => {
  for (const argv of [['frob'], ['migrate'], ['migrate', 'a/web'], ['status', 'noslash'], ['migrate', 'a/web', 'b', '--warp']]) {
    const { code, stderr } = await run(argv);
    assert.equal(code, EXIT.usage, argv.join(' '));
    assert.match(stderr, /^ferry: /);
    assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
  }
});

test('--json errors are one JSON object with the exit code and the typed error', async () => {
  const { code, stdout } = await run(['--json', 'status', 'nowhere/web']);
  assert.equal(code, EXIT.usage);
  const body = JSON.parse(stdout) as { ok: boolean; exitCode: number; error: { code: string } };
  assert.deepEqual([body.ok, body.exitCode, body.error.code], [false, 2, 'UNKNOWN_HOST']);
});

test('help lists every command and the exit codes', async () => {
  const { code, stdout } = await run(['help']);
  assert.equal(code, 0);
  for (const word of ['ls', 'status', 'migrate', 'qmp', 'Exit codes']) assert.match(stdout, new RegExp(word));
  assert.match((await run(['help', 'migrate'])).stdout, /--max-downtime/);
});

test('exit codes follow where the VM is', () => {
  const details = { vm: 'w', source: 'a', destination: 'b', phase: 'perform' as const };
  assert.equal(exitCodeFor(new MigrationError('X', { ...details, vmState: 'running-on-source' }, 'x')), EXIT.failed);
  assert.equal(exitCodeFor(new MigrationError('X', { ...details, vmState: 'unknown' }, 'x')), EXIT.vmStateUnknown);
  assert.equal(exitCodeFor(new MigrationCancelledError('MIGRATION_CANCELLED', { ...details, vmState: 'running-on-source' }, 'x')), EXIT.cancelled);
  assert.equal(exitCodeFor(new PreflightError(details, [{ check: 'source-vm', ok: false, message: 'no VM' }])), EXIT.usage);
  assert.equal(exitCodeFor(new PreflightError(details, [{ check: 'destination-reachable', ok: false, message: 'x' }], { cause: new SshConnectError('b', 'refused', 'refused') })), EXIT.unreachable);
  assert.equal(exitCodeFor(new UnknownHostError('z', [])), EXIT.usage);
  assert.equal(exitCodeFor(new SshConnectError('b', 'timeout', 'timed out')), EXIT.unreachable);
});

test('flags become migration options by the option table; QMP key=value arguments read JSON values', () => {
  assert.deepEqual(migrationOptionsFromFlags({ 'max-downtime': '200', bandwidth: '64MiB/s', 'auto-converge': true, multifd: '8', xbzrle: 'on' }), {
    maxDowntime: 200, bandwidth: '64MiB/s', autoConverge: true, multifd: 8, xbzrle: true,
  });
  assert.throws(() => migrationOptionsFromFlags({ 'max-downtime': 'soon' }), UsageError);
  assert.deepEqual(migrationOptionsFromFlags({ 'max-downtime': '50', 'switchover-cost': '15' }), { maxDowntime: 50, switchoverCost: 15 });
  assert.deepEqual(migrationOptionsFromFlags({ 'heavy-throttle-limit': '120000' }), { heavyThrottleLimit: 120_000 });
  assert.deepEqual(parseQmpArguments(['calc-time=1', 'mode=page-sampling', 'enable=true', 'obj={"a":1}']), { 'calc-time': 1, mode: 'page-sampling', enable: true, obj: { a: 1 } });
  assert.throws(() => parseQmpArguments(['novalue']), UsageError);
  assert.deepEqual(parseVmRef('a/web;x'), { host: 'a', vm: 'web;x' });
});
